package reference

import (
	// sha512 digests are valid in OCI references; go-digest needs the hash
	// registered to accept them.
	_ "crypto/sha512"
	"errors"
	"fmt"
	"strings"

	dref "github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// DefaultTag is the tag pulled when a reference names neither tag nor digest.
const DefaultTag = "latest"

// Reference is a parsed, normalised image reference. The zero value is not
// valid; obtain one from [Parse] or [Join].
type Reference struct {
	named dref.Named
}

// Parse parses s with Docker's grammar and normalisation. The error names the
// input and says what is wrong with it.
func Parse(s string) (Reference, error) {
	if s == "" {
		return Reference{}, errors.New("invalid reference \"\": empty; expected NAME[:TAG][@DIGEST], e.g. docker.io/library/ubuntu:24.04")
	}
	if strings.TrimSpace(s) != s {
		return Reference{}, fmt.Errorf("invalid reference %q: leading or trailing white space", s)
	}
	named, err := dref.ParseNormalizedNamed(s)
	if err != nil {
		if i := strings.LastIndex(s, ":sha256:"); i > 0 && !strings.Contains(s, "@") {
			return Reference{}, fmt.Errorf("invalid reference %q: a digest is joined with '@', not ':'; did you mean %q?", s, s[:i]+"@"+s[i+1:])
		}
		return Reference{}, fmt.Errorf("invalid reference %q: %v; expected NAME[:TAG][@DIGEST], e.g. docker.io/library/ubuntu:24.04", s, err)
	}
	if d, ok := named.(dref.Digested); ok {
		if err := d.Digest().Validate(); err != nil {
			return Reference{}, fmt.Errorf("invalid reference %q: digest: %v", s, err)
		}
	}
	return Reference{named: named}, nil
}

// Join builds a reference from a repository and a tag or digest. It is the
// one place where references are assembled from parts.
//
// tagOrDigest may be empty (repository only), a tag ("1.4"), a digest with or
// without a leading "@" ("sha256:…", "@sha256:…"), or a tag and a digest
// ("1.4@sha256:…"). Anything that parses as a digest is joined with "@";
// a "tag" that looks like a digest but is malformed is an error rather than
// being glued on with ":".
func Join(repository, tagOrDigest string) (Reference, error) {
	repo, err := Parse(repository)
	if err != nil {
		return Reference{}, err
	}
	if !dref.IsNameOnly(repo.named) {
		return Reference{}, fmt.Errorf("join %q with %q: repository already has a tag or digest", repository, tagOrDigest)
	}
	tag, dig, err := splitTagDigest(tagOrDigest)
	if err != nil {
		return Reference{}, fmt.Errorf("join %q with %q: %v", repository, tagOrDigest, err)
	}
	named := repo.named
	if tag != "" {
		if named, err = dref.WithTag(named, tag); err != nil {
			return Reference{}, fmt.Errorf("join %q with %q: invalid tag %q: %v", repository, tagOrDigest, tag, err)
		}
	}
	if dig != "" {
		if named, err = dref.WithDigest(named, dig); err != nil {
			return Reference{}, fmt.Errorf("join %q with %q: invalid digest %q: %v", repository, tagOrDigest, dig, err)
		}
	}
	return Reference{named: named}, nil
}

// splitTagDigest splits "TAG", "DIGEST", "@DIGEST" or "TAG@DIGEST".
func splitTagDigest(s string) (tag string, dig digest.Digest, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", "", nil
	}
	if i := strings.IndexByte(s, '@'); i >= 0 {
		tag, s = s[:i], s[i+1:]
		d, err := digest.Parse(s)
		if err != nil {
			return "", "", fmt.Errorf("invalid digest %q: %v", s, err)
		}
		return tag, d, nil
	}
	// A "tag" containing ':' can only be a digest: ':' is not allowed in
	// tags. This is the case that naive "repo:" + tag concatenation gets
	// wrong.
	if strings.Contains(s, ":") {
		d, err := digest.Parse(s)
		if err != nil {
			return "", "", fmt.Errorf("invalid digest %q: %v", s, err)
		}
		return "", d, nil
	}
	return s, "", nil
}

// String returns the canonical, fully qualified form with the tag and/or
// digest as given and no default tag added.
func (r Reference) String() string {
	if r.named == nil {
		return ""
	}
	return r.named.String()
}

// Familiar returns Docker's short form ("ubuntu:24.04").
func (r Reference) Familiar() string {
	if r.named == nil {
		return ""
	}
	return dref.FamiliarString(r.named)
}

// Domain returns the registry host, with its port if any ("docker.io",
// "localhost:5000").
func (r Reference) Domain() string { return dref.Domain(r.named) }

// Path returns the repository path within the registry ("library/ubuntu").
func (r Reference) Path() string { return dref.Path(r.named) }

// Repository returns the fully qualified repository name without tag or
// digest ("docker.io/library/ubuntu").
func (r Reference) Repository() string { return r.named.Name() }

// Tag returns the tag, or "" when the reference has none.
func (r Reference) Tag() string {
	if t, ok := r.named.(dref.Tagged); ok {
		return t.Tag()
	}
	return ""
}

// Digest returns the digest, or "" when the reference has none.
func (r Reference) Digest() digest.Digest {
	if d, ok := r.named.(dref.Digested); ok {
		return d.Digest()
	}
	return ""
}

// IsZero reports whether r is the zero Reference.
func (r Reference) IsZero() bool { return r.named == nil }

// WithDefaultTag returns r with the tag "latest" when it names neither a tag
// nor a digest: the reference that is actually pulled.
func (r Reference) WithDefaultTag() Reference {
	if r.Tag() != "" || r.Digest() != "" {
		return r
	}
	named, err := dref.WithTag(r.named, DefaultTag)
	if err != nil {
		// "latest" is a valid tag on every valid name.
		panic(err)
	}
	return Reference{named: named}
}

// WithDigest returns the reference to d in the same repository, with no tag:
// what a pull asks the registry for once a tag has been resolved.
func (r Reference) WithDigest(d digest.Digest) (Reference, error) {
	return Join(r.Repository(), d.String())
}

// Pinned returns "repository:tag@digest" (keeping r's tag for humans) when r
// has a tag, or "repository@digest" when it has none.
func (r Reference) Pinned(d digest.Digest) (Reference, error) {
	return Join(r.Repository(), r.Tag()+"@"+d.String())
}
