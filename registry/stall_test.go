package registry

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A body that goes silent part-way fails after the timeout, with an error
// that says so; a body that keeps coming, however slowly in total, does not.
func TestStalledBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "2000")
		for range 10 {
			w.Write(make([]byte, 100))
			w.(http.Flusher).Flush()
			time.Sleep(20 * time.Millisecond)
		}
		if r.URL.Path == "/stall" {
			<-r.Context().Done() // until the client gives up
			return
		}
		w.Write(make([]byte, 1000))
	}))
	defer srv.Close()
	client := &http.Client{Transport: &stallTransport{inner: http.DefaultTransport, timeout: 500 * time.Millisecond}}
	for path, wantErr := range map[string]bool{"/steady": false, "/stall": true} {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if !wantErr && (err != nil || n != 2000) {
			t.Errorf("%s: %d bytes, %v; want all 2000 (each wait is under the timeout)", path, n, err)
		}
		if wantErr && (err == nil || n != 1000 || !strings.Contains(err.Error(), "sent nothing for 500ms")) {
			t.Errorf("%s: %d bytes, %v; want 1000 bytes, then an error saying the registry went silent", path, n, err)
		}
	}
}
