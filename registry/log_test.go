package registry

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Debug logs show Docker Hub's rate-limit headers, and never a credential,
// a token or a signed URL's query string.
func TestLogTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("RateLimit-Remaining", "57;w=21600")
		w.Header().Set("Www-Authenticate", `Bearer realm="x",token="SECRET-IN-HEADER"`)
	}))
	defer srv.Close()
	var buf bytes.Buffer
	lt := &logTransport{inner: http.DefaultTransport, log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/x/blobs/sha256:abc?X-Amz-Signature=SECRET-IN-QUERY", nil)
	req.Header.Set("Authorization", "Bearer SECRET-IN-REQUEST")
	resp, err := lt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	log := buf.String()
	if !strings.Contains(log, `ratelimit-remaining="57;w=21600"`) || !strings.Contains(log, "/v2/x/blobs/sha256:abc") {
		t.Errorf("debug log lacks the rate limit or the path: %s", log)
	}
	if strings.Contains(log, "SECRET") {
		t.Errorf("debug log shows a secret: %s", log)
	}
	// Failed requests: the URL in the error loses its query too.
	buf.Reset()
	srv.Close()
	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/v2/?token=SECRET-IN-QUERY", nil)
	if _, err := lt.RoundTrip(req); err == nil {
		t.Fatal("request to a closed server succeeded")
	}
	if strings.Contains(buf.String(), "SECRET") {
		t.Errorf("debug log of a failure shows a secret: %s", buf.String())
	}
}
