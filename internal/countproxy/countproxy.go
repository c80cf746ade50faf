// Package countproxy is a test reverse proxy that counts the requests going
// through it to a registry, so tests can prove how many requests an
// operation made and which ones (resolve once, fetch by digest, one
// download per blob).
package countproxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Proxy counts requests by "METHOD PATH".
type Proxy struct {
	// Host is "127.0.0.1:PORT" of the proxy.
	Host string
	mu   sync.Mutex
	hits map[string]int
	srv  *httptest.Server
}

// Start proxies to upstream ("127.0.0.1:PORT") for the life of the test.
func Start(t testing.TB, upstream string) *Proxy {
	t.Helper()
	p := &Proxy{hits: map[string]int{}}
	target := &url.URL{Scheme: "http", Host: upstream}
	rp := httputil.NewSingleHostReverseProxy(target)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.hits[r.Method+" "+r.URL.Path]++
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	p.Host = strings.TrimPrefix(p.srv.URL, "http://")
	return p
}

// Reset forgets the counts.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hits = map[string]int{}
}

// Count returns how many requests matched method and a path containing
// sub ("" matches any).
func (p *Proxy) Count(method, sub string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for k, v := range p.hits {
		m, path, _ := strings.Cut(k, " ")
		if (method == "" || m == method) && strings.Contains(path, sub) {
			n += v
		}
	}
	return n
}

// Hits returns a copy of all counts.
func (p *Proxy) Hits() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.hits))
	for k, v := range p.hits {
		out[k] = v
	}
	return out
}

// String lists the counts, for test failure messages.
func (p *Proxy) String() string {
	var b strings.Builder
	for k, v := range p.Hits() {
		fmt.Fprintf(&b, "%d× %s\n", v, k)
	}
	return b.String()
}
