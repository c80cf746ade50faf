package trust

import (
	"fmt"
	"strings"

	dref "github.com/distribution/reference"
)

// matches reports whether a signature claiming the identity signed is
// valid for an image pulled as intended, under the signedIdentity matcher.
// The rules are containers-policy.json(5)'s.
func (id Identity) matches(intended, signed dref.Named) bool {
	switch id.Type {
	case MatchExact:
		return matchExact(intended, signed)
	case MatchRepository:
		return intended.Name() == signed.Name()
	case ExactReference:
		return matchExact(id.DockerReference, signed)
	case ExactRepository:
		return id.DockerRepository.Name() == signed.Name()
	case RemapIdentity:
		if hasPrefix(intended, id.Prefix) {
			remapped, err := dref.ParseNormalizedNamed(id.SignedPrefix + intended.String()[len(id.Prefix):])
			if err != nil {
				return false
			}
			intended = remapped
		}
		return matchRepoDigestOrExact(intended, signed)
	default: // MatchRepoDigestOrExact
		return matchRepoDigestOrExact(intended, signed)
	}
}

// wanted says, for messages, what a signature's identity must match for an
// image pulled as intended.
func (id Identity) wanted(intended dref.Named) string {
	switch id.Type {
	case ExactReference:
		return fmt.Sprintf("%s, the reference exactReference requires", id.DockerReference)
	case ExactRepository:
		return fmt.Sprintf("repository %s, which exactRepository requires", id.DockerRepository.Name())
	case RemapIdentity:
		if hasPrefix(intended, id.Prefix) {
			return fmt.Sprintf("%s remapped from %s to %s (remapIdentity, then matchRepoDigestOrExact)", intended, id.Prefix, id.SignedPrefix)
		}
		return fmt.Sprintf("%s (remapIdentity: prefix %s does not apply; matchRepoDigestOrExact)", intended, id.Prefix)
	case MatchRepository:
		return fmt.Sprintf("repository %s (matchRepository)", intended.Name())
	}
	return fmt.Sprintf("%s (%s)", intended, id.Type)
}

// matchExact: both name a tag or digest, and the same one.
func matchExact(a, b dref.Named) bool {
	if dref.IsNameOnly(a) || dref.IsNameOnly(b) {
		return false
	}
	return a.String() == b.String()
}

// matchRepoDigestOrExact: a tag must be signed exactly; a digest may be
// signed under any tag of the same repository (the digest itself is
// checked against the signature's separately).
func matchRepoDigestOrExact(intended, signed dref.Named) bool {
	if dref.IsNameOnly(signed) {
		return false
	}
	if _, ok := intended.(dref.Tagged); ok {
		return signed.String() == intended.String()
	}
	if _, ok := intended.(dref.Canonical); ok {
		return signed.Name() == intended.Name()
	}
	return false
}

// hasPrefix: ref's repository is prefix or lies under it (at a "/").
func hasPrefix(ref dref.Named, prefix string) bool {
	name := ref.Name()
	switch {
	case len(name) < len(prefix):
		return false
	case len(name) == len(prefix):
		return name == prefix
	default:
		return strings.HasPrefix(name, prefix) && name[len(prefix)] == '/'
	}
}
