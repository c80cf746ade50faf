// Package faultproxy is a fault-injecting reverse proxy for tests. It stands
// in front of a real registry and, for the requests its rules select,
// answers the way a failing registry or network does: a 5xx, a 429 with
// Retry-After, a connection reset or a truncated body part-way through a
// blob, HEAD refused, a missing Docker-Content-Digest, corrupted bytes, no
// answer at all, a slow answer. Requests no rule selects reach the registry
// untouched.
//
// A rule selects requests by method and path, and applies its fault to the
// Nth request it matches, to the first N, or to all of them:
//
//	p := faultproxy.Start(t, reg.Host)
//	p.Add(faultproxy.Rule{Method: "GET", Path: faultproxy.Digest(layer), First: 1, Fault: faultproxy.Reset(1 << 20)})
//
// Each rule counts the requests it matches on its own; the first rule (in
// the order added) that applies to a request decides its fault.
//
// The proxy logs every request (method, path, Range header, fault applied),
// so a test can prove how often each blob was fetched and where a resumed
// download started. After a Retry-After it gave, it marks requests for the
// same path that come back too early.
package faultproxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Match selects requests by URL path.
type Match func(path string) bool

// registryPath splits /v2/NAME/manifests/REF and /v2/NAME/blobs/DIGEST.
var registryPath = regexp.MustCompile(`^/v2/.+/(manifests|blobs)/([^/]+)$`)

func kind(path string) (what, ref string) {
	m := registryPath.FindStringSubmatch(path)
	if m == nil {
		return "", ""
	}
	return m[1], m[2]
}

// isDigest tells a digest from a tag: tags cannot contain ':'.
func isDigest(ref string) bool { return strings.Contains(ref, ":") }

// Predefined matches.
var (
	// Any selects every request, the /v2/ ping included.
	Any Match = func(string) bool { return true }
	// Manifests selects manifest and index requests, by tag or digest.
	Manifests Match = func(p string) bool { w, _ := kind(p); return w == "manifests" }
	// ManifestsByTag selects manifest requests by tag (what resolves a tag).
	ManifestsByTag Match = func(p string) bool { w, r := kind(p); return w == "manifests" && !isDigest(r) }
	// ManifestsByDigest selects manifest requests by digest.
	ManifestsByDigest Match = func(p string) bool { w, r := kind(p); return w == "manifests" && isDigest(r) }
	// Blobs selects blob requests (layers and configs).
	Blobs Match = func(p string) bool { w, _ := kind(p); return w == "blobs" }
)

// Digest selects the manifest or blob with digest d ("sha256:…").
func Digest(d fmt.Stringer) Match {
	s := d.String()
	return func(p string) bool { w, r := kind(p); return w != "" && r == s }
}

// Rule selects requests and says what to do with them.
type Rule struct {
	// Method is the HTTP method to match; empty matches any.
	Method string
	// Path selects by URL path; nil matches any.
	Path Match
	// Nth applies the fault to the Nth matching request only (from 1).
	Nth int
	// First applies the fault to the first First matching requests.
	// With neither Nth nor First, every matching request gets the fault.
	First int
	// Fault is what the proxy does instead of forwarding untouched.
	Fault Fault

	seen int
}

// applies counts a matching request and reports whether its fault applies.
func (r *Rule) applies(method, path string) bool {
	if (r.Method != "" && r.Method != method) || (r.Path != nil && !r.Path(path)) {
		return false
	}
	r.seen++
	switch {
	case r.Nth > 0:
		return r.seen == r.Nth
	case r.First > 0:
		return r.seen <= r.First
	}
	return true
}

// Request is one request the proxy received.
type Request struct {
	Method, Path string
	// Range is the request's Range header ("" for none).
	Range string
	// Fault names the fault applied ("" when forwarded untouched).
	Fault string
	// Early is set when the request came for a path before the
	// Retry-After the proxy gave for it had passed.
	Early bool
}

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	// Host is "127.0.0.1:PORT" of the proxy.
	Host     string
	upstream string
	client   *http.Transport
	closed   chan struct{}

	mu        sync.Mutex
	rules     []*Rule
	log       []Request
	notBefore map[string]time.Time // path → end of the Retry-After given for it
}

// Start proxies to upstream ("127.0.0.1:PORT") for the life of the test.
func Start(t testing.TB, upstream string) *Proxy {
	t.Helper()
	p := &Proxy{
		upstream: upstream,
		// No compression: the proxy passes bytes and lengths through as
		// the registry sent them.
		client:    &http.Transport{DisableCompression: true},
		closed:    make(chan struct{}),
		notBefore: map[string]time.Time{},
	}
	srv := httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(func() {
		close(p.closed) // releases requests held by Hang and Stall
		srv.Close()
		p.client.CloseIdleConnections()
	})
	p.Host = strings.TrimPrefix(srv.URL, "http://")
	return p
}

// Add installs rules after those already there.
func (p *Proxy) Add(rules ...Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range rules {
		p.rules = append(p.rules, &rules[i])
	}
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	var fault *Fault
	for _, rule := range p.rules {
		// Every rule counts the request, even when an earlier one
		// already decided its fault.
		if rule.applies(r.Method, r.URL.Path) && fault == nil {
			fault = &rule.Fault
		}
	}
	req := Request{Method: r.Method, Path: r.URL.Path, Range: r.Header.Get("Range")}
	if nb, ok := p.notBefore[r.URL.Path]; ok && time.Now().Before(nb) {
		req.Early = true
	}
	if fault != nil {
		req.Fault = fault.name
		if fault.retryAfter > 0 {
			p.notBefore[r.URL.Path] = time.Now().Add(time.Duration(fault.retryAfter) * time.Second)
		}
	}
	p.log = append(p.log, req)
	p.mu.Unlock()

	if fault == nil {
		p.forward(w, r, nil)
		return
	}
	fault.serve(p, w, r)
}

// Requests returns the log, in order of arrival.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.log...)
}

// Count returns how many requests had method ("" for any) and a path m
// selects (nil for any).
func (p *Proxy) Count(method string, m Match) int {
	n := 0
	for _, r := range p.Requests() {
		if (method == "" || r.Method == method) && (m == nil || m(r.Path)) {
			n++
		}
	}
	return n
}

// Ranges returns the Range headers of the requests m selects that had one,
// in order.
func (p *Proxy) Ranges(m Match) []string {
	var out []string
	for _, r := range p.Requests() {
		if r.Range != "" && (m == nil || m(r.Path)) {
			out = append(out, r.Range)
		}
	}
	return out
}

// Early returns the requests that came back before a Retry-After passed.
func (p *Proxy) Early() []Request {
	var out []Request
	for _, r := range p.Requests() {
		if r.Early {
			out = append(out, r)
		}
	}
	return out
}

// String lists the requests, for test failure messages.
func (p *Proxy) String() string {
	var b strings.Builder
	for _, r := range p.Requests() {
		fmt.Fprintf(&b, "%s %s", r.Method, r.Path)
		if r.Range != "" {
			fmt.Fprintf(&b, " Range:%s", r.Range)
		}
		if r.Fault != "" {
			fmt.Fprintf(&b, " [%s]", r.Fault)
		}
		if r.Early {
			b.WriteString(" [early]")
		}
		b.WriteByte('\n')
	}
	return b.String()
}
