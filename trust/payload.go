package trust

import (
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
)

// Payload types, in critical.type.
const (
	simpleSigningType = "atomic container signature"
	sigstoreType      = "cosign container image signature"
)

// claim is what a verified signature payload says: which manifest digest
// it signs, under which docker reference.
type claim struct {
	digest   digest.Digest
	identity string
}

// parsePayload reads a signature payload as containers/image does, as
// strictly: critical must hold exactly type, image and identity, and
// image and identity exactly one field each.
func parsePayload(b []byte, kind string) (claim, error) {
	root, err := parseTree(b)
	if err != nil {
		return claim{}, fmt.Errorf("signature payload is not JSON: %v", err)
	}
	if root.kind != "object" {
		return claim{}, errors.New("signature payload is not a JSON object")
	}
	for _, k := range root.keys {
		if k != "critical" && k != "optional" {
			return claim{}, fmt.Errorf("signature payload has unknown field %q", k)
		}
	}
	crit := root.field("critical")
	if crit == nil || crit.kind != "object" {
		return claim{}, errors.New("signature payload has no critical object")
	}
	opt := root.field("optional")
	if kind == SimpleSigning && (opt == nil || opt.kind != "object") {
		return claim{}, errors.New("signature payload has no optional object")
	}
	if opt != nil && opt.kind == "object" {
		// Other optional fields are ignored, these two type-checked,
		// as containers/image does.
		if c := opt.field("creator"); c != nil && c.kind != "string" {
			return claim{}, errors.New("signature payload: optional.creator is not a string")
		}
		if ts := opt.field("timestamp"); ts != nil && (ts.kind != "number" || strings.ContainsAny(ts.str, ".eE")) {
			return claim{}, errors.New("signature payload: optional.timestamp is not an integer")
		}
	}
	want := simpleSigningType
	if kind == Sigstore {
		want = sigstoreType
	}
	if err := exactFields(crit, "critical", "type", "image", "identity"); err != nil {
		return claim{}, err
	}
	t := crit.field("type")
	if t.kind != "string" || t.str != want {
		return claim{}, fmt.Errorf("signature payload type is %q, not %q", t.str, want)
	}
	img, id := crit.field("image"), crit.field("identity")
	if err := exactFields(img, "critical.image", "docker-manifest-digest"); err != nil {
		return claim{}, err
	}
	if err := exactFields(id, "critical.identity", "docker-reference"); err != nil {
		return claim{}, err
	}
	dn, rn := img.field("docker-manifest-digest"), id.field("docker-reference")
	if dn.kind != "string" || rn.kind != "string" {
		return claim{}, errors.New("signature payload: docker-manifest-digest and docker-reference must be strings")
	}
	d, err := digest.Parse(dn.str)
	if err != nil {
		return claim{}, fmt.Errorf("signature payload: docker-manifest-digest %q: %v", dn.str, err)
	}
	return claim{digest: d, identity: rn.str}, nil
}

func exactFields(n *node, field string, keys ...string) error {
	if n == nil || n.kind != "object" {
		return fmt.Errorf("signature payload: %s is not an object", field)
	}
	if len(n.keys) != len(keys) {
		return fmt.Errorf("signature payload: %s must have exactly the fields %q", field, keys)
	}
	for _, k := range keys {
		if n.field(k) == nil {
			return fmt.Errorf("signature payload: %s has no %q", field, k)
		}
	}
	return nil
}
