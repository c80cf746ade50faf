package freshpull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/freshpull/freshpull/reference"
	"github.com/freshpull/freshpull/registries"
	"github.com/freshpull/freshpull/registry"
	"github.com/opencontainers/go-digest"
)

// source is where one pull gets its answers and bytes: the endpoints of the
// reference's route (registries.conf mirrors, then the primary location),
// tried in order. A tag is resolved at the first endpoint that answers
// among those allowed to resolve tags; content by digest comes from the
// first that has it among those allowed to serve digests. Every byte is
// verified against its digest whichever endpoint sent it.
type source struct {
	client *registry.Client
	route  registries.Route
	log    *slog.Logger

	mu sync.Mutex
	// fetch lists the endpoints for content, fixed once the tag is
	// resolved.
	fetch []registries.Endpoint
	// dead holds endpoints that failed to connect: not tried again in
	// this pull.
	dead map[string]error
	// served is the endpoint that sent the first content bytes.
	served string
}

func newSource(c *registry.Client, ref reference.Reference, log *slog.Logger) (*source, error) {
	if c == nil {
		return nil, errors.New("no registry client configured")
	}
	route, err := c.Route(ref)
	if err != nil {
		return nil, err
	}
	return &source{client: c, route: route, log: log, dead: map[string]error{}}, nil
}

// resolveOnce is the one resolution of ref by the operations that look
// without pulling (resolve, verify, pin): the source it was asked at, and
// what it resolved to. Errors are "OP REF: …".
func resolveOnce(ctx context.Context, op string, ref reference.Reference, opts Options) (*source, registry.Resolved, error) {
	src, err := newSource(opts.Registry, ref, opts.logger())
	if err != nil {
		return nil, registry.Resolved{}, opError(op, ref.String(), err)
	}
	r, _, err := src.resolve(ctx)
	if err != nil {
		return nil, registry.Resolved{}, opError(op, ref.String(), err)
	}
	return src, r, nil
}

// resolve asks what ref points to now, once, at the first resolving
// endpoint that answers.
func (s *source) resolve(ctx context.Context) (registry.Resolved, registries.Endpoint, error) {
	var lastErr error
	eps := s.route.ResolveEndpoints()
	for i, ep := range eps {
		repo, err := s.client.Endpoint(ctx, ep)
		if err != nil && ctx.Err() == nil {
			// Not tried again for content in this pull: another
			// --timeout for nothing.
			s.mu.Lock()
			s.dead[ep.Ref.Repository()] = err
			s.mu.Unlock()
		}
		if err == nil {
			var r registry.Resolved
			if r, err = repo.Resolve(ctx, ep.Ref); err == nil {
				s.mu.Lock()
				s.fetch = s.route.FetchEndpoints(ep)
				s.mu.Unlock()
				return r, ep, nil
			}
		}
		if ctx.Err() != nil {
			return registry.Resolved{}, ep, err
		}
		lastErr = err
		if i < len(eps)-1 {
			s.log.Debug("endpoint failed; trying the next", "endpoint", ep.Ref.Repository(), "err", err)
		}
	}
	return registry.Resolved{}, registries.Endpoint{}, lastErr
}

// fetchEndpoints returns where content may come from: set by resolve, or,
// for a digest reference that was never resolved, the route's digest list.
func (s *source) fetchEndpoints() []registries.Endpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fetch == nil {
		s.fetch = s.route.FetchEndpoints(registries.Endpoint{})
	}
	return s.fetch
}

// try runs op against each content endpoint in turn until one succeeds,
// and notes the first endpoint that sent content.
func (s *source) try(ctx context.Context, what string, op func(repo *registry.Repository, ep registries.Endpoint) error) error {
	return s.attempt(ctx, what, true, op)
}

// attempt is try; content says whether op fetches image content (which
// servedBy reports) rather than, say, signatures.
func (s *source) attempt(ctx context.Context, what string, content bool, op func(repo *registry.Repository, ep registries.Endpoint) error) error {
	var lastErr error
	for _, ep := range s.fetchEndpoints() {
		key := ep.Ref.Repository()
		s.mu.Lock()
		dead := s.dead[key]
		s.mu.Unlock()
		if dead != nil {
			lastErr = dead
			continue
		}
		repo, err := s.client.Endpoint(ctx, ep)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			s.mu.Lock()
			s.dead[key] = err
			s.mu.Unlock()
			s.log.Debug("endpoint unreachable; trying the next", "endpoint", key, "err", err)
			lastErr = err
			continue
		}
		if err = op(repo, ep); err == nil {
			s.mu.Lock()
			if content && s.served == "" {
				s.served = key
			}
			s.mu.Unlock()
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		s.log.Debug("endpoint failed; trying the next", "endpoint", key, "what", what, "err", err)
		lastErr = err
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("%s: no endpoint to fetch from", what)
	}
	return lastErr
}

// manifest fetches a manifest or index by digest, verified.
func (s *source) manifest(ctx context.Context, d digest.Digest) ([]byte, error) {
	var body []byte
	err := s.try(ctx, d.String(), func(repo *registry.Repository, _ registries.Endpoint) error {
		b, _, err := repo.Manifest(ctx, d)
		body = b
		return err
	})
	return body, err
}

// blob opens a blob from offset; see registry.Repository.Blob.
func (s *source) blob(ctx context.Context, d digest.Digest, offset int64) (io.ReadCloser, int64, error) {
	var rc io.ReadCloser
	var start int64
	err := s.try(ctx, d.String(), func(repo *registry.Repository, _ registries.Endpoint) error {
		var err error
		rc, start, err = repo.Blob(ctx, d, offset)
		return err
	})
	return rc, start, err
}

// servedBy names the endpoint that sent content, or "" if none did.
func (s *source) servedBy() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.served
}
