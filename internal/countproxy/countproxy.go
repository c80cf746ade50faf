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
	"sync/atomic"
	"testing"
	"time"
)

// Proxy counts requests by "METHOD PATH".
type Proxy struct {
	// Host is "127.0.0.1:PORT" of the proxy.
	Host  string
	mu    sync.Mutex
	hits  map[string]int
	bytes map[string]int64
	// agents holds, for each User-Agent, the "METHOD PATH" of its requests.
	agents map[string][]string
	srv    *httptest.Server
	// rate limits response bodies to this many bytes per second; 0 is
	// unlimited. Tests slow pulls down to interrupt them part-way.
	rate atomic.Int64
	// latency delays every request, as a network round trip would.
	latency atomic.Int64
}

// SetLatency delays every request by d before it is forwarded: one network
// round trip per request (connection set-up is not delayed).
func (p *Proxy) SetLatency(d time.Duration) { p.latency.Store(int64(d)) }

// SetRate limits response bodies to bytesPerSec (0: unlimited).
func (p *Proxy) SetRate(bytesPerSec int64) { p.rate.Store(bytesPerSec) }

// throttled paces writes to the proxy's rate.
type throttled struct {
	http.ResponseWriter
	p   *Proxy
	key string
}

func (w throttled) Write(b []byte) (int, error) {
	written := 0
	defer func() {
		w.p.mu.Lock()
		w.p.bytes[w.key] += int64(written)
		w.p.mu.Unlock()
	}()
	for len(b) > 0 {
		rate := w.p.rate.Load()
		chunk := len(b)
		if rate > 0 {
			chunk = min(chunk, 32<<10)
			time.Sleep(time.Duration(int64(chunk) * int64(time.Second) / rate))
		}
		n, err := w.ResponseWriter.Write(b[:chunk])
		written += n
		if err != nil {
			return written, err
		}
		b = b[chunk:]
	}
	return written, nil
}

func (w throttled) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Start proxies to upstream ("127.0.0.1:PORT") for the life of the test.
func Start(t testing.TB, upstream string) *Proxy {
	t.Helper()
	p := New(upstream)
	t.Cleanup(p.Close)
	return p
}

// Close stops the proxy.
func (p *Proxy) Close() { p.srv.Close() }

// New starts a proxy to upstream ("127.0.0.1:PORT"); Close stops it.
func New(upstream string) *Proxy {
	p := &Proxy{hits: map[string]int{}, bytes: map[string]int64{}, agents: map[string][]string{}}
	target := &url.URL{Scheme: "http", Host: upstream}
	rp := httputil.NewSingleHostReverseProxy(target)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.hits[r.Method+" "+r.URL.Path]++
		p.agents[r.UserAgent()] = append(p.agents[r.UserAgent()], r.Method+" "+r.URL.Path)
		p.mu.Unlock()
		if d := time.Duration(p.latency.Load()); d > 0 {
			time.Sleep(d)
		}
		rp.ServeHTTP(throttled{w, p, r.Method + " " + r.URL.Path}, r)
	}))
	p.Host = strings.TrimPrefix(p.srv.URL, "http://")
	return p
}

// Reset forgets the counts.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hits = map[string]int{}
	p.bytes = map[string]int64{}
	p.agents = map[string][]string{}
}

// NotFrom lists the requests ("USER-AGENT: METHOD PATH") whose User-Agent
// does not begin with prefix: to prove that only one program asked.
func (p *Proxy) NotFrom(prefix string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for ua, reqs := range p.agents {
		if !strings.HasPrefix(ua, prefix) {
			for _, r := range reqs {
				out = append(out, ua+": "+r)
			}
		}
	}
	return out
}

// Bytes returns the response body bytes sent for requests matching method
// and a path containing sub.
func (p *Proxy) Bytes(method, sub string) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n int64
	for k, v := range p.bytes {
		m, path, _ := strings.Cut(k, " ")
		if (method == "" || m == method) && strings.Contains(path, sub) {
			n += v
		}
	}
	return n
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
