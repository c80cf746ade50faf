package registry

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshpull/freshpull/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		"0":                             0,
		"-1":                            0,
		"soon":                          0,
		"Fri, 02 Jan 2026 03:04:15 GMT": 10 * time.Second,
	}
	for in, want := range tests {
		if got := retryAfter(in, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

// A 429 with Retry-After is retried after the time the registry asked for,
// and 5xx are retried with backoff; a permanent 5xx surfaces after the
// attempts run out.
func TestRetryTransport(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		switch {
		case r.URL.Path == "/always500":
			w.WriteHeader(http.StatusInternalServerError)
		case n == 1:
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
		case n == 2:
			w.WriteHeader(http.StatusBadGateway)
		default:
			w.Write([]byte("ok"))
		}
	}))
	defer srv.Close()
	var waits []time.Duration
	rt := &retryTransport{inner: http.DefaultTransport, attempts: 4, base: 10 * time.Millisecond, maxWait: time.Minute,
		wait: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }}
	client := &http.Client{Transport: rt}
	resp, err := client.Get(srv.URL + "/ok")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET = %v, %v", resp, err)
	}
	resp.Body.Close()
	if calls.Load() != 3 {
		t.Errorf("%d calls, want 3", calls.Load())
	}
	if len(waits) != 2 || waits[0] != 7*time.Second || waits[1] < 10*time.Millisecond {
		t.Errorf("waits = %v, want [7s (Retry-After), >=10ms (backoff)]", waits)
	}

	calls.Store(0)
	resp, err = client.Get(srv.URL + "/always500")
	if err != nil || resp.StatusCode != 500 {
		t.Fatalf("permanent 500: %v, %v", resp, err)
	}
	resp.Body.Close()
	if calls.Load() != 4 {
		t.Errorf("permanent 500 tried %d times, want 4", calls.Load())
	}
}

type countingTransport struct {
	inner http.RoundTripper
	n     atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.inner.RoundTrip(r)
}

// A refused connection is not retried: newer falls back at once.
func TestRefusedIsNotRetried(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := strings.TrimPrefix(srv.URL, "http://")
	srv.Close()
	ct := &countingTransport{inner: http.DefaultTransport}
	c := New(Options{Transport: ct})
	ref, _ := reference.Parse(addr + "/app:1")
	_, err := c.Repository(context.Background(), ref)
	if err == nil || !strings.Contains(err.Error(), "cannot reach registry") || !strings.Contains(err.Error(), addr) {
		t.Fatalf("err = %v, want 'cannot reach registry' naming %s", err, addr)
	}
	// The ping tries https, then http: two attempts, no retries.
	if n := ct.n.Load(); n != 2 {
		t.Errorf("%d connection attempts, want 2 (https and http, no retry)", n)
	}
}

func TestClassify(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v2/":
			w.WriteHeader(200)
		case strings.Contains(r.URL.Path, "/private/"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(404)
			w.Write([]byte(`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`))
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	c := New(Options{})
	for path, want := range map[string]error{"/app:1": ErrNotFound, "/private/app:1": ErrUnauthorized} {
		ref, _ := reference.Parse(host + path)
		repo, err := c.Repository(context.Background(), ref)
		if err != nil {
			t.Fatal(err)
		}
		_, err = repo.Resolve(context.Background(), ref)
		if !errors.Is(err, want) {
			t.Errorf("Resolve %s: %v, want %v", path, err, want)
		}
		if want == ErrUnauthorized && !strings.Contains(err.Error(), "login") {
			t.Errorf("unauthorized error %q does not say how to log in", err)
		}
	}
}

func TestFileKeychain(t *testing.T) {
	dir := t.TempDir()
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	auth := `{"auths":{
		"registry.example.com": {"auth": "` + enc("host:pw1") + `"},
		"registry.example.com/team": {"auth": "` + enc("team:pw2") + `"},
		"https://index.docker.io/v1/": {"auth": "` + enc("hub:pw3") + `"}
	}}`
	path := filepath.Join(dir, "auth.json")
	os.WriteFile(path, []byte(auth), 0o600)
	kc, err := FileKeychain(path)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		"registry.example.com/other/app": "host",
		"registry.example.com/team/app":  "team",
		"docker.io/library/ubuntu":       "hub",
		"quay.io/org/app":                "",
	}
	for repo, wantUser := range tests {
		if got := userFor(t, kc, repo); got != wantUser {
			t.Errorf("%s: user %q, want %q", repo, got, wantUser)
		}
	}
	if a, err := kc.Resolve(name.MustParseReference("quay.io/org/app").Context()); err != nil || a != authn.Anonymous {
		t.Errorf("quay.io/org/app: %v, %v; want anonymous", a, err)
	}
	if _, err := FileKeychain(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing authfile: %v", err)
	}
}
