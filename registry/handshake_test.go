package registry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshpull/freshpull/reference"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// fakeRegistry answers /v2/ and manifest HEADs; with basic set it demands
// Basic auth.
func fakeRegistry(t *testing.T, basic *atomic.Bool) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if basic.Load() {
			if u, p, ok := r.BasicAuth(); !ok || u != "u" || p != "p" {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
		}
		if r.URL.Path == "/v2/" {
			return
		}
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Header().Set("Docker-Content-Digest", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
		w.Header().Set("Content-Length", "10")
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func resolveOnce(t *testing.T, c *Client, host string) error {
	t.Helper()
	ref, _ := reference.Parse(host + "/app:1")
	repo, err := c.Repository(context.Background(), ref)
	if err != nil {
		return err
	}
	_, err = repo.Resolve(context.Background(), ref)
	return err
}

// A remembered challenge saves the ping: the second client's check is one
// request. When the registry starts demanding credentials, the stale
// challenge is noticed and the handshake redone.
func TestChallengeCache(t *testing.T) {
	var basic atomic.Bool
	srv, n := fakeRegistry(t, &basic)
	host := strings.TrimPrefix(srv.URL, "http://")
	cache := FileChallengeCache(filepath.Join(t.TempDir(), "c.json"))

	if err := resolveOnce(t, New(Options{Challenges: cache}), host); err != nil {
		t.Fatal(err)
	}
	first := n.Load()
	n.Store(0)
	if err := resolveOnce(t, New(Options{Challenges: cache}), host); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 1 || first < 2 {
		t.Errorf("requests: first check %d (ping + HEAD), second %d; want the second to be one HEAD", first, got)
	}
	// Without a cache every check pings.
	n.Store(0)
	resolveOnce(t, New(Options{}), host)
	if got := n.Load(); got < 2 {
		t.Errorf("without a cache: %d requests, want a ping and a HEAD", got)
	}

	basic.Store(true)
	kc := CredsKeychain(nil, "u", "p")
	n.Store(0)
	if err := resolveOnce(t, New(Options{Challenges: cache, Keychain: kc}), host); err != nil {
		t.Fatalf("after the registry began demanding credentials: %v", err)
	}
	// The new challenge is remembered: next time no ping again.
	n.Store(0)
	if err := resolveOnce(t, New(Options{Challenges: cache, Keychain: kc}), host); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 1 {
		t.Errorf("with Basic remembered: %d requests, want 1", got)
	}
}

// A remembered plain-HTTP answer is not used for a host that may no longer
// be spoken to without TLS: the handshake starts over (and, with no TLS
// there, fails plainly) rather than every run failing on the cache.
func TestInsecureChallengeNotReused(t *testing.T) {
	cache := FileChallengeCache(filepath.Join(t.TempDir(), "c.json"))
	cache.Put("10.0.0.5:5000", transport.Challenge{Insecure: true})
	var pings atomic.Int32
	c := New(Options{Challenges: cache, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		pings.Add(1)
		return nil, errors.New("no route in this test")
	})})
	ref, _ := reference.Parse("10.0.0.5:5000/app:1")
	_, err := c.Repository(context.Background(), ref)
	if err == nil || strings.Contains(err.Error(), "refusing plain HTTP") {
		t.Fatalf("err = %v; want a fresh handshake, not the cached plain-HTTP answer", err)
	}
	if pings.Load() == 0 {
		t.Error("no handshake was attempted")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Two pulls of one repository share its handshake. When the pull that
// started it is cancelled, the other, whose context is live, still
// connects instead of failing with the first one's cancellation.
func TestSharedHandshakeOutlivesCancelledCaller(t *testing.T) {
	pinged := make(chan struct{}, 4)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			pinged <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	defer close(release)
	ref, err := reference.Parse(strings.TrimPrefix(srv.URL, "http://") + "/app:1")
	if err != nil {
		t.Fatal(err)
	}
	c := New(Options{})

	first, cancel := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() {
		_, err := c.Repository(first, ref)
		firstErr <- err
	}()
	<-pinged // the first caller's handshake is under way
	secondErr := make(chan error, 1)
	go func() {
		_, err := c.Repository(context.Background(), ref)
		secondErr <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the second caller join the handshake
	cancel()
	if err := <-firstErr; err == nil {
		t.Errorf("cancelled caller connected")
	}
	select {
	case <-pinged: // the second caller pings again, with its own context
		release <- struct{}{}
		if err := <-secondErr; err != nil {
			t.Errorf("live caller: %v", err)
		}
	case err := <-secondErr:
		t.Errorf("live caller failed with the cancelled caller's handshake: %v", err)
	}
}
