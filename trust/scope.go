package trust

import (
	"strings"

	dref "github.com/distribution/reference"
)

// Scope names of the two defaults, for messages and the trust record.
const (
	// ScopeDefault is the policy's top-level "default".
	ScopeDefault = "default"
	// ScopeDockerDefault is the docker transport's "" scope.
	ScopeDockerDefault = `transports.docker[""]`
)

// scopeIdentity is the most specific docker scope of ref: the repository
// with its tag or digest (a digest when it has both: freshpull pulls the
// digest).
func scopeIdentity(ref dref.Named) string {
	if c, ok := ref.(dref.Canonical); ok {
		return ref.Name() + "@" + c.Digest().String()
	}
	if t, ok := ref.(dref.Tagged); ok {
		return ref.Name() + ":" + t.Tag()
	}
	return ref.Name()
}

// scopeNamespaces lists the less specific docker scopes of ref, most
// specific first, as containers/image's docker transport does: the
// repository, each parent namespace, the host[:port], then wildcards of the
// host without its port (*.example.com, *.com).
func scopeNamespaces(ref dref.Named) []string {
	var out []string
	name := ref.Name()
	for {
		out = append(out, name)
		i := strings.LastIndex(name, "/")
		if i < 0 {
			break
		}
		name = name[:i]
	}
	if i := strings.Index(name, ":"); i >= 0 {
		name = name[:i]
	}
	for {
		i := strings.Index(name, ".")
		if i < 0 {
			break
		}
		name = name[i+1:]
		out = append(out, "*."+name)
	}
	return out
}

// Requirements returns the requirement list that applies to ref (a docker
// reference with a tag or digest) and the scope that chose it: the most
// specific docker scope, else the docker transport's default, else the
// policy's default.
func (p *Policy) Requirements(ref dref.Named) (scope string, reqs []Requirement) {
	if scopes, ok := p.Transports["docker"]; ok {
		for _, s := range append([]string{scopeIdentity(ref)}, scopeNamespaces(ref)...) {
			if r, ok := scopes[s]; ok {
				return s, r
			}
		}
		if r, ok := scopes[""]; ok {
			return ScopeDockerDefault, r
		}
	}
	return ScopeDefault, p.Default
}

// Needs reports which kinds of signature the requirements for ref can use:
// the caller fetches only those (none at all for insecureAcceptAnything or
// reject, so such a policy costs no request).
func (p *Policy) Needs(ref dref.Named) (simple, sigstore bool) {
	_, reqs := p.Requirements(ref)
	for _, r := range reqs {
		switch r.Type {
		case TypeSignedBy:
			simple = true
		case TypeSigstoreSigned:
			sigstore = true
		}
	}
	return simple, sigstore
}
