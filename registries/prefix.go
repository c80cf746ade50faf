package registries

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	dref "github.com/distribution/reference"
	"github.com/freshpull/freshpull/reference"
	"github.com/opencontainers/go-digest"
)

// The grammar of prefixes and locations is the reference grammar of
// distribution/reference, applied without Docker's normalisation: a prefix
// "docker.io/alpine" means the namespace docker.io/alpine/…, not the image
// docker.io/library/alpine, exactly as containers-registries.conf(5) says.
var (
	anchoredDomain    = regexp.MustCompile(`^(?:` + dref.DomainRegexp.String() + `)$`)
	anchoredReference = dref.ReferenceRegexp // anchored already: name, tag, digest
)

// errNoHost marks a prefix that does not start with a registry host. No
// reference can match it (references are fully qualified); containers/image
// ignores such tables silently, freshpull ignores them with a warning.
var errNoHost = errors.New("does not start with a registry host (a name with a dot or a port, or localhost), so it matches no image")

// pattern is a parsed prefix.
type pattern struct {
	text string // as written, without trailing '/'
	// suffix is ".example.com" for the wildcard "*.example.com"; host is
	// then empty.
	suffix string
	host   string // "example.com:5000"; docker hub as "docker.io"
	path   string // repository path prefix, "" for a whole registry
	tag    string
	digest digest.Digest
}

func parsePattern(s string) (pattern, error) {
	s = strings.TrimRight(s, "/")
	p := pattern{text: s}
	if err := checkNoScheme(s); err != nil {
		return p, err
	}
	if rest, ok := strings.CutPrefix(s, "*."); ok {
		if !anchoredDomain.MatchString(rest) || strings.Contains(rest, "*") {
			return p, errors.New("a wildcard prefix must be *.DOMAIN[:PORT], with no repository path")
		}
		p.suffix = strings.ToLower(s[1:])
		return p, nil
	}
	if strings.Contains(s, "*") {
		return p, errors.New("a wildcard is only allowed as the first label of the host: *.example.com")
	}
	if !strings.Contains(s, "/") {
		// host[:port] alone; a ':' here is a port, never a tag.
		if !anchoredDomain.MatchString(s) {
			return p, errors.New("not a registry host[:port]")
		}
		if !isHost(s) {
			return p, errNoHost
		}
		p.host = canonicalHost(s)
		return p, nil
	}
	m := anchoredReference.FindStringSubmatch(s)
	if m == nil {
		return p, errors.New("not of the form HOST[:PORT][/PATH][:TAG][@DIGEST]")
	}
	host, path, _ := strings.Cut(m[1], "/")
	if !isHost(host) {
		return p, errNoHost
	}
	p.host, p.path, p.tag = canonicalHost(host), path, m[2]
	if m[3] != "" {
		d, err := digest.Parse(m[3])
		if err != nil {
			return p, fmt.Errorf("digest: %v", err)
		}
		p.digest = d
	}
	return p, nil
}

// matchLen returns how much of ref the pattern covers, counted in
// characters of the canonical reference, or -1 when it does not match.
// Longer is more specific.
//
// A prefix whose host names no port matches the host on any port, as
// containers/image does: otherwise "blocked.example.com:443/app" would slip
// past a block of blocked.example.com, and the same for wildcards.
func (p pattern) matchLen(ref reference.Reference) int {
	domain := ref.Domain()
	host := domain
	if i := strings.LastIndexByte(domain, ':'); i > strings.LastIndexByte(domain, ']') {
		host = domain[:i]
	}
	if p.suffix != "" {
		h := strings.ToLower(host)
		if len(h) <= len(p.suffix) || !strings.HasSuffix(h, p.suffix) {
			return -1
		}
		return len(domain)
	}
	portless := !strings.Contains(strings.TrimPrefix(p.host, "["), "]:") && (strings.HasPrefix(p.host, "[") || !strings.Contains(p.host, ":"))
	if !strings.EqualFold(domain, p.host) && !(portless && strings.EqualFold(host, p.host)) {
		return -1
	}
	n := len(domain)
	path := ref.Path()
	if p.path != "" {
		if path != p.path && !strings.HasPrefix(path, p.path+"/") {
			return -1
		}
		n += 1 + len(p.path)
	}
	// A tag or digest in the prefix names one image: the path must be the
	// whole repository path, not a namespace of it.
	if p.tag != "" || p.digest != "" {
		if path != p.path {
			return -1
		}
	}
	if p.tag != "" {
		if ref.Tag() != p.tag {
			return -1
		}
		n += 1 + len(p.tag)
	}
	if p.digest != "" {
		if ref.Digest() != p.digest {
			return -1
		}
		n += 1 + len(p.digest)
	}
	return n
}

// location is where a prefix-rooted namespace really lives: a registry host
// and an optional repository path, never a tag or digest.
type location struct {
	text string // "mirror.example.com:5000/hub", "" for "no rewrite"
	host string // canonical host of text
}

func parseLocation(s string) (location, error) {
	s = strings.TrimRight(s, "/")
	if err := checkNoScheme(s); err != nil {
		return location{}, err
	}
	host, _, hasPath := strings.Cut(s, "/")
	if !anchoredDomain.MatchString(host) || !isHost(host) {
		return location{}, errors.New("must start with a registry host (a name with a dot or a port, or localhost)")
	}
	if hasPath {
		m := anchoredReference.FindStringSubmatch(s)
		if m == nil {
			return location{}, errors.New("not of the form HOST[:PORT][/PATH]")
		}
		if m[2] != "" || m[3] != "" {
			return location{}, errors.New("a location is a registry host and repository path; it cannot have a tag or digest")
		}
	}
	return location{text: s, host: canonicalHost(host)}, nil
}

// rewrite returns ref with the part p matched replaced by loc, keeping ref's
// own tag and digest.
func (p pattern) rewrite(ref reference.Reference, loc location) (reference.Reference, error) {
	if loc.text == "" {
		return ref, nil
	}
	// What p matched of the name is the host and p.path; what follows it
	// moves under the location unchanged.
	rest := ref.Path()
	if p.path != "" {
		rest = strings.TrimPrefix(rest[len(p.path):], "/")
	}
	repo := loc.text
	if rest != "" {
		repo += "/" + rest
	}
	part := ref.Tag()
	if d := ref.Digest(); d != "" {
		part += "@" + d.String()
	}
	out, err := reference.Join(repo, part)
	if err != nil {
		return reference.Reference{}, fmt.Errorf("rewrite %s to location %q: %v", ref, loc.text, err)
	}
	// A location without a path, for a prefix that is a whole repository,
	// leaves no repository name: Docker's normalisation would then read
	// the location host as an image on Docker Hub.
	if !strings.EqualFold(out.Domain(), loc.host) {
		return reference.Reference{}, fmt.Errorf("rewrite %s to location %q: no repository name is left at %s; give the location a repository path", ref, loc.text, loc.host)
	}
	return out, nil
}

func checkNoScheme(s string) error {
	if strings.Contains(s, "://") {
		return errors.New("URI schemes are not supported: write HOST[:PORT][/PATH], and insecure = true for plain HTTP")
	}
	return nil
}

// isHost reports whether the first component of a name is a registry host,
// by Docker's rule: localhost, or contains a dot or a colon, or has
// upper-case letters (which repository paths cannot have).
func isHost(s string) bool {
	return s == "localhost" || strings.ContainsAny(s, ".:") || strings.ToLower(s) != s
}

// canonicalHost maps Docker Hub's legacy host to the one references use.
func canonicalHost(h string) string {
	if strings.EqualFold(h, "index.docker.io") {
		return "docker.io"
	}
	return h
}
