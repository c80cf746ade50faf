package registry

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// The registry handshake, done with go-containerregistry's public pieces
// (Ping, Exchange, FromToken) instead of transport.NewWithContext so that
// its answer can be remembered. A registry's challenge (no auth, Basic, or
// Bearer with a realm and service) almost never changes, yet pinging /v2/
// to learn it costs a round trip — two on a loopback registry, where the
// ping tries https before http. With the challenge remembered, an
// up-to-date check against a registry without auth is one HEAD, and against
// a token registry a token request and a HEAD.

// ChallengeCache remembers how each registry host wants to be
// authenticated. It holds no credentials or tokens.
type ChallengeCache interface {
	// Get returns the challenge remembered for host, if any.
	Get(host string) (transport.Challenge, bool)
	// Put remembers host's challenge.
	Put(host string, ch transport.Challenge)
	// Forget drops host's challenge, when it proved stale.
	Forget(host string)
}

// handshake connects to repo: from a remembered challenge when there is
// one, else by pinging the registry. scheme is what the registry speaks,
// "https" or "http".
func (c *Client) handshake(ctx context.Context, repo name.Repository, auth authn.Authenticator) (rt http.RoundTripper, scheme string, err error) {
	host := repo.RegistryStr()
	scopes := []string{repo.Scope(transport.PullScope)}
	if cache := c.opts.Challenges; cache != nil {
		// A remembered plain-HTTP answer is used only where plain HTTP
		// is still allowed (the user may have dropped
		// --insecure-registry since, or the registry moved to TLS).
		if ch, ok := cache.Get(host); ok && (!ch.Insecure || c.allowHTTP(host)) {
			rt, err := c.fromChallenge(ctx, repo, auth, ch, scopes)
			if err == nil {
				return c.wrap(&staleChallenge{inner: rt, redo: func(ctx context.Context) (http.RoundTripper, error) {
					cache.Forget(host)
					rt, _, err := c.ping(ctx, repo, auth, scopes)
					return rt, err
				}}), schemeOf(ch), nil
			}
			cache.Forget(host)
		}
	}
	rt, scheme, err = c.ping(ctx, repo, auth, scopes)
	if err != nil {
		return nil, "", err
	}
	return c.wrap(rt), scheme, nil
}

func (c *Client) ping(ctx context.Context, repo name.Repository, auth authn.Authenticator, scopes []string) (http.RoundTripper, string, error) {
	ch, err := transport.Ping(ctx, repo.Registry, c.base)
	if err != nil {
		return nil, "", err
	}
	rt, err := c.fromChallenge(ctx, repo, auth, *ch, scopes)
	if err != nil {
		return nil, "", err
	}
	if c.opts.Challenges != nil {
		c.opts.Challenges.Put(repo.RegistryStr(), *ch)
	}
	return rt, schemeOf(*ch), nil
}

func schemeOf(ch transport.Challenge) string {
	if ch.Insecure {
		return "http"
	}
	return "https"
}

// fromChallenge builds the authenticated transport for a challenge: a
// token exchange for Bearer, credentials on each request for Basic,
// nothing for a registry without auth.
func (c *Client) fromChallenge(ctx context.Context, repo name.Repository, auth authn.Authenticator, ch transport.Challenge, scopes []string) (http.RoundTripper, error) {
	t := &schemeTransport{host: repo.RegistryStr(), scheme: schemeOf(ch), inner: c.base}
	tok := &transport.Token{}
	if strings.EqualFold(ch.Scheme, "bearer") {
		var err error
		if tok, err = transport.Exchange(ctx, repo.Registry, auth, t, scopes, &ch); err != nil {
			return nil, err
		}
	}
	return transport.FromToken(repo.Registry, auth, t, &ch, tok)
}

// wrap makes rt a *transport.Wrapper, the type that tells remote the
// handshake is done and no ping, retry or token logic is to be added.
// FromToken with an anonymous, non-bearer challenge is the public way to
// build one around a transport of our own: it adds no header.
func (c *Client) wrap(rt http.RoundTripper) http.RoundTripper {
	if _, ok := rt.(*transport.Wrapper); ok {
		return rt
	}
	w, err := transport.FromToken(name.Registry{}, authn.Anonymous, rt, &transport.Challenge{}, &transport.Token{})
	if err != nil {
		// FromToken fails only for a bearer challenge without realm.
		panic(err)
	}
	return w
}

// schemeTransport sends requests for host with the scheme the handshake
// found (https, or http for a registry that only speaks it).
type schemeTransport struct {
	host, scheme string
	inner        http.RoundTripper
}

func (s *schemeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == s.host && req.URL.Scheme != s.scheme {
		req = req.Clone(req.Context())
		req.URL.Scheme = s.scheme
	}
	return s.inner.RoundTrip(req)
}

// staleChallenge redoes the handshake, once, when a transport built from a
// remembered challenge meets a 401: the registry changed how it
// authenticates. Only requests without a body are repeated; freshpull
// sends no others.
type staleChallenge struct {
	mu    sync.Mutex
	inner http.RoundTripper
	redo  func(context.Context) (http.RoundTripper, error)
}

func (s *staleChallenge) RoundTrip(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	inner, redo := s.inner, s.redo
	s.mu.Unlock()
	resp, err := inner.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || redo == nil || req.Body != nil {
		return resp, err
	}
	resp.Body.Close()
	fresh, err := redo(req.Context())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.inner, s.redo = fresh, nil
	s.mu.Unlock()
	return fresh.RoundTrip(req.Clone(req.Context()))
}

// FileChallengeCache keeps challenges in a JSON file (a cache: a lost
// update only costs a ping). The file holds hosts, schemes, realms and
// services, never credentials or tokens.
func FileChallengeCache(path string) ChallengeCache {
	return &fileCache{path: path}
}

type fileCache struct {
	path string
	mu   sync.Mutex
}

type cachedChallenge struct {
	Scheme     string            `json:"scheme"`
	Parameters map[string]string `json:"parameters,omitempty"`
	Insecure   bool              `json:"insecure,omitempty"`
}

func (f *fileCache) load() map[string]cachedChallenge {
	m := map[string]cachedChallenge{}
	if b, err := os.ReadFile(f.path); err == nil {
		json.Unmarshal(b, &m)
	}
	return m
}

func (f *fileCache) Get(host string) (transport.Challenge, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.load()[host]
	return transport.Challenge{Scheme: c.Scheme, Parameters: c.Parameters, Insecure: c.Insecure}, ok
}

func (f *fileCache) Put(host string, ch transport.Challenge) {
	f.update(func(m map[string]cachedChallenge) {
		m[host] = cachedChallenge{Scheme: ch.Scheme, Parameters: ch.Parameters, Insecure: ch.Insecure}
	})
}

func (f *fileCache) Forget(host string) {
	f.update(func(m map[string]cachedChallenge) { delete(m, host) })
}

// update rewrites the file atomically; concurrent processes may overwrite
// each other's additions, which only costs them a ping later.
func (f *fileCache) update(fn func(map[string]cachedChallenge)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.load()
	fn(m)
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.path), ".challenges-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), f.path) != nil {
		os.Remove(tmp.Name())
	}
}
