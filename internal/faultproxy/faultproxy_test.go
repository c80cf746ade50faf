package faultproxy

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const blobPath = "/v2/app/blobs/sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// upstream serves a random body of size bytes for every path, with
// Docker-Content-Digest, and honours Range as the registry does.
func upstream(t *testing.T, size int) (host string, body []byte) {
	body = make([]byte, size)
	for i := range body {
		body[i] = byte(rand.IntN(256))
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Docker-Content-Digest", "sha256:x")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), body
}

// get sends a request through p; the client gives up after 10s.
func get(t *testing.T, p *Proxy, method, path string) (*http.Response, []byte, error) {
	t.Helper()
	return getWithin(t, p, method, path, 10*time.Second)
}

func getWithin(t *testing.T, p *Proxy, method, path string, timeout time.Duration) (*http.Response, []byte, error) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+p.Host+path, nil)
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: timeout}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func TestFaultProxyForwardsAndCounts(t *testing.T) {
	host, body := upstream(t, 100<<10)
	p := Start(t, host)
	resp, got, err := get(t, p, "GET", blobPath)
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, body) {
		t.Fatalf("untouched GET: %v %v, %d of %d bytes", resp, err, len(got), len(body))
	}
	resp, _, err = get(t, p, "HEAD", "/v2/app/manifests/1")
	if err != nil || resp.ContentLength != int64(len(body)) || resp.Header.Get("Docker-Content-Digest") == "" {
		t.Fatalf("untouched HEAD: %v %v", resp, err)
	}
	if p.Count("GET", Blobs) != 1 || p.Count("HEAD", ManifestsByTag) != 1 || p.Count("", ManifestsByDigest) != 0 || p.Count("", nil) != 2 {
		t.Errorf("counts wrong:\n%s", p)
	}
}

// Nth, First and every: each rule counts its own matches.
func TestFaultProxySelection(t *testing.T) {
	host, _ := upstream(t, 10)
	p := Start(t, host)
	p.Add(
		Rule{Method: "HEAD", Path: ManifestsByTag, Nth: 2, Fault: Status(502)},
		Rule{Method: "GET", Path: Blobs, First: 2, Fault: Status(503)},
		Rule{Path: ManifestsByDigest, Fault: Status(500)},
	)
	var codes []string
	for _, req := range [][2]string{
		{"HEAD", "/v2/app/manifests/1"}, {"HEAD", "/v2/app/manifests/1"}, {"HEAD", "/v2/app/manifests/1"},
		{"GET", blobPath}, {"GET", blobPath}, {"GET", blobPath},
		{"GET", "/v2/app/manifests/sha256:abc"}, {"GET", "/v2/app/manifests/sha256:abc"},
		{"GET", "/v2/"},
	} {
		resp, _, err := get(t, p, req[0], req[1])
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, strconv.Itoa(resp.StatusCode))
	}
	if got, want := strings.Join(codes, " "), "200 502 200 503 503 200 500 500 200"; got != want {
		t.Errorf("statuses %s, want %s\n%s", got, want, p)
	}
}

func TestFaultProxyBodyFaults(t *testing.T) {
	const n = 300 << 10
	host, body := upstream(t, 2<<20)
	t.Run("reset", func(t *testing.T) {
		p := Start(t, host)
		p.Add(Rule{Fault: Reset(n)})
		_, got, err := get(t, p, "GET", blobPath)
		if !errors.Is(err, syscall.ECONNRESET) || len(got) != n || !bytes.Equal(got, body[:n]) {
			t.Errorf("got %d bytes, err %v; want %d bytes then connection reset", len(got), err, n)
		}
	})
	t.Run("truncate", func(t *testing.T) {
		p := Start(t, host)
		p.Add(Rule{Fault: Truncate(n, true)})
		resp, got, err := get(t, p, "GET", blobPath)
		if !errors.Is(err, io.ErrUnexpectedEOF) || resp.ContentLength != int64(len(body)) || !bytes.Equal(got, body[:n]) {
			t.Errorf("got %d bytes, err %v; want %d bytes then unexpected EOF", len(got), err, n)
		}
	})
	t.Run("truncate without length", func(t *testing.T) {
		p := Start(t, host)
		p.Add(Rule{Fault: Truncate(n, false)})
		resp, got, err := get(t, p, "GET", blobPath)
		if err != nil || resp.ContentLength != -1 || !bytes.Equal(got, body[:n]) {
			t.Errorf("got %d bytes (length %d), err %v; want %d bytes ending cleanly", len(got), resp.ContentLength, err, n)
		}
	})
	t.Run("corrupt", func(t *testing.T) {
		p := Start(t, host)
		p.Add(Rule{Fault: Corrupt()})
		_, got, err := get(t, p, "GET", blobPath)
		if err != nil || len(got) != len(body) || bytes.Equal(got, body) {
			t.Errorf("got %d bytes, err %v; want %d bytes, not the original", len(got), err, len(body))
		}
	})
	t.Run("drop header", func(t *testing.T) {
		p := Start(t, host)
		p.Add(Rule{Method: "HEAD", Fault: DropHeader("Docker-Content-Digest")})
		resp, _, err := get(t, p, "HEAD", "/v2/app/manifests/1")
		if err != nil || resp.Header.Get("Docker-Content-Digest") != "" || resp.ContentLength != int64(len(body)) {
			t.Errorf("HEAD: %v %v; want Content-Length and no Docker-Content-Digest", resp, err)
		}
	})
	t.Run("stall", func(t *testing.T) {
		p := Start(t, host)
		p.Add(Rule{Fault: Stall(n)})
		_, got, err := getWithin(t, p, "GET", blobPath, time.Second)
		if err == nil || len(got) != n {
			t.Errorf("got %d bytes, err %v; want %d bytes, then the client's timeout", len(got), err, n)
		}
	})
	t.Run("range passes through", func(t *testing.T) {
		p := Start(t, host)
		req, _ := http.NewRequest("GET", "http://"+p.Host+blobPath, nil)
		req.Header.Set("Range", "bytes=1000-")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 206 || !bytes.Equal(got, body[1000:]) || strings.Join(p.Ranges(Blobs), ",") != "bytes=1000-" {
			t.Errorf("ranged GET: %d, %d bytes, ranges %q", resp.StatusCode, len(got), p.Ranges(Blobs))
		}
	})
}

func TestFaultProxyHang(t *testing.T) {
	host, _ := upstream(t, 10)
	p := Start(t, host)
	p.Add(Rule{Path: Any, Fault: Hang()})
	_, _, err := getWithin(t, p, "GET", "/v2/", time.Second)
	var ne interface{ Timeout() bool }
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("hung request: %v, want the client's timeout", err)
	}
}

// A request that comes back before the Retry-After passed is marked early;
// one that waited is not.
func TestFaultProxyRetryAfter(t *testing.T) {
	host, _ := upstream(t, 10)
	p := Start(t, host)
	p.Add(Rule{Path: Blobs, Nth: 1, Fault: RetryAfter(429, 1)})
	resp, _, err := get(t, p, "GET", blobPath)
	if err != nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("first GET: %v %v, want 429 with Retry-After: 1", resp, err)
	}
	get(t, p, "GET", blobPath)
	if early := p.Early(); len(early) != 1 {
		t.Fatalf("immediate retry not marked early:\n%s", p)
	}
	time.Sleep(1100 * time.Millisecond)
	get(t, p, "GET", blobPath)
	if early := p.Early(); len(early) != 1 {
		t.Errorf("retry after waiting marked early:\n%s", p)
	}
}
