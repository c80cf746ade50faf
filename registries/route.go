package registries

import (
	"errors"
	"fmt"

	"github.com/freshpull/freshpull/reference"
)

// ErrBlocked is wrapped by the error [Config.Route] returns for a
// reference that a [[registry]] table with blocked = true matches.
var ErrBlocked = errors.New("blocked by the registries configuration")

// Endpoint is one place a pull may go.
type Endpoint struct {
	// Ref is the reference rewritten to this location, with the original
	// reference's tag and digest.
	Ref reference.Reference
	// Insecure is the configuration's insecure = true: plain HTTP, or TLS
	// without certificate verification, is allowed for this endpoint.
	Insecure bool
	// Mirror is true for a [[registry.mirror]], false for the primary
	// location.
	Mirror bool
	// PullFromMirror is the mirror's pull-from-mirror (with
	// mirror-by-digest-only folded in as PullDigestOnly); "" for the
	// primary.
	PullFromMirror PullFromMirror
}

// Route is where a pull of one reference may go.
type Route struct {
	// Prefix is the prefix of the [[registry]] table that matched, as
	// written; "" when none did and the reference is used as it is.
	Prefix string
	// File is the file that defined that table.
	File string
	// Primary is the registry's location: the source of truth for tags.
	Primary Endpoint
	// Mirrors are all the table's mirrors, in configuration order. Use
	// ResolveEndpoints and FetchEndpoints rather than this list: they
	// apply pull-from-mirror.
	Mirrors []Endpoint
}

// Route returns where a pull of ref may go: the endpoints of the
// [[registry]] table whose prefix matches ref longest, each with ref
// rewritten to its location. When no table matches, the route is ref
// itself, with no mirrors. A blocked table gives an error that wraps
// ErrBlocked and names the prefix and file.
//
// Route the reference that is pulled, with its default tag applied
// ([reference.Reference.WithDefaultTag]): a prefix may name a tag, and
// "app" is a pull of "app:latest".
func (c *Config) Route(ref reference.Reference) (Route, error) {
	if ref.IsZero() {
		return Route{}, errors.New("route: empty reference")
	}
	r := Route{Primary: Endpoint{Ref: ref}}
	e := c.match(ref)
	if e == nil {
		return r, nil
	}
	r.Prefix, r.File = e.prefix.text, e.file
	if e.blocked {
		return Route{}, fmt.Errorf("%s: %w: prefix %q in %s has blocked = true; pull from another registry, or ask whoever manages that file", ref, ErrBlocked, e.prefix.text, e.file)
	}
	primary, err := e.prefix.rewrite(ref, e.location)
	if err != nil {
		return Route{}, fmt.Errorf("%s: prefix %q: %w", e.file, e.prefix.text, err)
	}
	r.Primary = Endpoint{Ref: primary, Insecure: e.insecure}
	for _, m := range e.mirrors {
		mref, err := e.prefix.rewrite(ref, m.location)
		if err != nil {
			return Route{}, fmt.Errorf("%s: prefix %q: mirror: %w", e.file, e.prefix.text, err)
		}
		r.Mirrors = append(r.Mirrors, Endpoint{Ref: mref, Insecure: m.insecure, Mirror: true, PullFromMirror: m.pull})
	}
	return r, nil
}

// match returns the table whose prefix covers most of ref. At equal
// length an exact host beats a wildcard, and a longer wildcard beats a
// shorter one ("*.b.example.com" over "*.example.com").
func (c *Config) match(ref reference.Reference) *entry {
	if c == nil {
		return nil
	}
	var best *entry
	bestLen := -1
	for _, e := range c.entries {
		n := e.prefix.matchLen(ref)
		if n < 0 {
			continue
		}
		if n > bestLen || (n == bestLen && better(e.prefix, best.prefix)) {
			best, bestLen = e, n
		}
	}
	return best
}

func better(a, b pattern) bool {
	if (a.suffix == "") != (b.suffix == "") {
		return a.suffix == ""
	}
	return len(a.suffix) > len(b.suffix)
}

// ResolveEndpoints returns, in order, where the reference may be resolved
// to a digest.
//
// For a reference by tag: the mirrors whose pull-from-mirror is "all" or
// "tag-only", then the primary. With digest-only mirrors that is the
// primary alone: one HEAD at the source of truth.
//
// For a reference with a digest (name@digest, and name:tag@digest, where
// the digest wins) there is no tag to resolve; the list is
// FetchEndpoints(Endpoint{}), for a caller that asks for the media type.
func (r Route) ResolveEndpoints() []Endpoint {
	// Rewriting keeps the digest, so the primary tells for all endpoints.
	if r.Primary.Ref.Digest() != "" {
		return r.FetchEndpoints(Endpoint{})
	}
	var eps []Endpoint
	for _, m := range r.Mirrors {
		if m.PullFromMirror != PullDigestOnly {
			eps = append(eps, m)
		}
	}
	return append(eps, r.Primary)
}

// FetchEndpoints returns, in order, where content may be fetched by digest:
// the mirrors whose pull-from-mirror is "all" or "digest-only", then the
// primary. Call each endpoint's Ref.WithDigest with the digest to fetch.
//
// resolvedAt is the endpoint of ResolveEndpoints that resolved the tag, or
// the zero Endpoint when the reference carried its digest. A tag-only
// mirror serves no digest pulls, except the content of the tag it resolved
// itself, so that a tag-only mirror in front of an unreachable primary
// (a disconnected site) still serves whole pulls; it keeps its place in
// the mirror order.
func (r Route) FetchEndpoints(resolvedAt Endpoint) []Endpoint {
	var eps []Endpoint
	for _, m := range r.Mirrors {
		if m.PullFromMirror != PullTagOnly || (resolvedAt.Mirror && resolvedAt.Ref.String() == m.Ref.String()) {
			eps = append(eps, m)
		}
	}
	return append(eps, r.Primary)
}
