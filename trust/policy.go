package trust

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	dref "github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// Requirement types of containers-policy.json(5).
const (
	TypeInsecureAcceptAnything = "insecureAcceptAnything"
	TypeReject                 = "reject"
	TypeSignedBy               = "signedBy"
	TypeSigstoreSigned         = "sigstoreSigned"
)

// Identity matcher types (signedIdentity) of containers-policy.json(5).
const (
	MatchExact             = "matchExact"
	MatchRepoDigestOrExact = "matchRepoDigestOrExact"
	MatchRepository        = "matchRepository"
	ExactReference         = "exactReference"
	ExactRepository        = "exactRepository"
	RemapIdentity          = "remapIdentity"
)

// Policy is a parsed containers-policy.json.
type Policy struct {
	// Path is the file it was read from.
	Path string
	// Digest identifies the policy in force: the sha256 of the file and of
	// every key file it names, so that an image accepted under one policy
	// is checked again when the policy or a key changes.
	Digest digest.Digest
	// Default applies where no transport scope matches.
	Default []Requirement
	// Transports maps a transport name ("docker") to its scopes and their
	// requirements; the scope "" is the transport's default.
	Transports map[string]map[string][]Requirement
}

// Requirement is one entry of a requirement list; every requirement of the
// list must accept the image.
type Requirement struct {
	// Type is one of the Type* constants.
	Type string
	// Field names the requirement in the file, for messages:
	// `transports.docker["localhost:5000/ns"][0]`.
	Field string
	// KeyType of signedBy ("GPGKeys").
	KeyType string
	// Keys are the keyPath, keyPaths or keyData of signedBy and
	// sigstoreSigned (and sigstoreSigned's keyDatas); none with Fulcio.
	Keys []Key
	// Fulcio is sigstoreSigned's fulcio: signatures are made with keys
	// that a Fulcio CA certified for an OIDC identity.
	Fulcio *Fulcio
	// RekorKeys are sigstoreSigned's rekorPublicKeyPath(s) or
	// rekorPublicKeyData(s): when set, a signature is accepted only with a
	// Rekor SET (signed entry timestamp) by one of them. Fulcio needs them.
	RekorKeys []Key
	// Identity is signedIdentity; its Type is matchRepoDigestOrExact when
	// the file gives none.
	Identity Identity
}

// Fulcio is the fulcio object of a sigstoreSigned requirement.
type Fulcio struct {
	// CA is caPath or caData: the PEM certificates of the Fulcio roots.
	CA Key
	// OIDCIssuer and SubjectEmail must be those the certificate records.
	OIDCIssuer, SubjectEmail string
}

// Key is a key (or CA certificate) file or inline data.
type Key struct {
	// Path is the file; empty for inline data.
	Path string
	// Field names inline data in the policy: keyData, keyDatas[1],
	// caData, rekorPublicKeyData.
	Field string
	// Data is the inline data, or the file's content once read.
	Data []byte
	// Err is why the file could not be read.
	Err error
}

// Name is how messages name the key: its path, or its field.
func (k Key) Name() string {
	switch {
	case k.Path != "":
		return k.Path
	case k.Field != "":
		return k.Field
	}
	return "keyData"
}

// files are the keys of r that Parse reads and the policy digest covers.
func (r *Requirement) files() []*Key {
	var out []*Key
	for i := range r.Keys {
		out = append(out, &r.Keys[i])
	}
	if r.Fulcio != nil {
		out = append(out, &r.Fulcio.CA)
	}
	for i := range r.RekorKeys {
		out = append(out, &r.RekorKeys[i])
	}
	return out
}

// Identity is a signedIdentity matcher.
type Identity struct {
	Type string
	// DockerReference of exactReference.
	DockerReference dref.Named
	// DockerRepository of exactRepository.
	DockerRepository dref.Named
	// Prefix and SignedPrefix of remapIdentity.
	Prefix, SignedPrefix string
}

// Paths where containers/image looks for policy.json when none is named.
var (
	SystemPolicyPath = "/etc/containers/policy.json"
	userPolicyPath   = filepath.Join(".config", "containers", "policy.json")
)

// PolicyPath finds the policy file as podman and skopeo do: named (from
// --signature-policy) if given, else ~/.config/containers/policy.json if it
// exists, else /etc/containers/policy.json. It does not check that the last
// exists: [Load] says what to do when it does not.
func PolicyPath(named string) string {
	if named != "" {
		return named
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, userPolicyPath)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return SystemPolicyPath
}

// Load reads and parses the policy file at path.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("signature policy %s does not exist: create it (see containers-policy.json(5); {\"default\": [{\"type\": \"insecureAcceptAnything\"}]} accepts every image) or name another with --signature-policy FILE", path)
		}
		return nil, fmt.Errorf("signature policy: %w", err)
	}
	return Parse(path, data)
}

// Parse parses policy.json content; path names it in errors. Like
// containers/image, it is strict: unknown fields, duplicate fields, wrong
// types and empty requirement lists are errors, each naming the file, the
// line and the field.
func Parse(path string, data []byte) (*Policy, error) {
	p := &Policy{Path: path}
	root, err := parseTree(data)
	if err != nil {
		var se *syntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%s:%d: invalid JSON: %s", path, lineOf(data, se.offset), se.msg)
		}
		return nil, fmt.Errorf("%s: invalid JSON: %v", path, err)
	}
	ps := &parser{path: path, data: data}
	if err := ps.policy(root, p); err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write(data)
	for _, reqs := range p.lists() {
		for i := range reqs {
			for _, k := range reqs[i].files() {
				if k.Path != "" {
					k.Data, k.Err = os.ReadFile(k.Path)
				}
				fmt.Fprintf(h, "\x00%s\x00%d\x00", k.Path, len(k.Data))
				h.Write(k.Data)
			}
		}
	}
	p.Digest = digest.NewDigest(digest.SHA256, h)
	return p, nil
}

// lists returns every requirement list of the policy.
func (p *Policy) lists() [][]Requirement {
	out := [][]Requirement{p.Default}
	for _, scopes := range p.Transports {
		for _, reqs := range scopes {
			out = append(out, reqs)
		}
	}
	return out
}

type parser struct {
	path string
	data []byte
}

func (ps *parser) errorf(n *node, field, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s: %s", ps.path, lineOf(ps.data, n.offset), field, fmt.Sprintf(format, args...))
}

// object checks that n is an object whose keys are all in allowed.
func (ps *parser) object(n *node, field string, allowed ...string) error {
	if n.kind != "object" {
		return ps.errorf(n, field, "want an object, got %s", n.kind)
	}
	for i, k := range n.keys {
		ok := false
		for _, a := range allowed {
			ok = ok || a == k
		}
		if !ok {
			return ps.errorf(n.vals[i], field, "unknown field %q", k)
		}
	}
	return nil
}

func (ps *parser) str(n *node, field string) (string, error) {
	if n.kind != "string" {
		return "", ps.errorf(n, field, "want a string, got %s", n.kind)
	}
	return n.str, nil
}

func (ps *parser) policy(root *node, p *Policy) error {
	if err := ps.object(root, "policy", "default", "transports"); err != nil {
		return err
	}
	def := root.field("default")
	if def == nil {
		return ps.errorf(root, "default", "missing: a policy needs a default requirement list")
	}
	var err error
	if p.Default, err = ps.requirements(def, "default"); err != nil {
		return err
	}
	p.Transports = map[string]map[string][]Requirement{}
	tr := root.field("transports")
	if tr == nil || tr.kind == "null" {
		return nil
	}
	if err := ps.object(tr, "transports", tr.keys...); err != nil {
		return err
	}
	for i, name := range tr.keys {
		scopesNode := tr.vals[i]
		field := "transports." + name
		if err := ps.object(scopesNode, field, scopesNode.keys...); err != nil {
			return err
		}
		scopes := map[string][]Requirement{}
		for j, scope := range scopesNode.keys {
			sfield := fmt.Sprintf("%s[%s]", field, strconv.Quote(scope))
			// Scopes are not validated, as containers/image does not
			// validate docker's: a scope that never matches is harmless.
			if scopes[scope], err = ps.requirements(scopesNode.vals[j], sfield); err != nil {
				return err
			}
		}
		p.Transports[name] = scopes
	}
	return nil
}

func (ps *parser) requirements(n *node, field string) ([]Requirement, error) {
	if n.kind != "array" {
		return nil, ps.errorf(n, field, "want a list of requirements, got %s", n.kind)
	}
	if len(n.vals) == 0 {
		return nil, ps.errorf(n, field, "the list of requirements is empty; it needs at least one (reject, insecureAcceptAnything, signedBy, sigstoreSigned)")
	}
	reqs := make([]Requirement, len(n.vals))
	for i, v := range n.vals {
		r, err := ps.requirement(v, fmt.Sprintf("%s[%d]", field, i))
		if err != nil {
			return nil, err
		}
		reqs[i] = r
	}
	return reqs, nil
}

// typed returns the "type" of n, an object that must have one (a
// requirement, a signedIdentity).
func (ps *parser) typed(n *node, field string) (string, error) {
	if n.kind != "object" {
		return "", ps.errorf(n, field, "want an object, got %s", n.kind)
	}
	tn := n.field("type")
	if tn == nil {
		return "", ps.errorf(n, field, "missing \"type\"")
	}
	return ps.str(tn, field+".type")
}

func (ps *parser) requirement(n *node, field string) (Requirement, error) {
	r := Requirement{Field: field}
	var err error
	if r.Type, err = ps.typed(n, field); err != nil {
		return r, err
	}
	switch r.Type {
	case TypeInsecureAcceptAnything, TypeReject:
		return r, ps.object(n, field, "type")
	case TypeSignedBy:
		if err := ps.object(n, field, "type", "keyType", "keyPath", "keyPaths", "keyData", "signedIdentity"); err != nil {
			return r, err
		}
		kt := n.field("keyType")
		if kt == nil {
			return r, ps.errorf(n, field, "signedBy needs \"keyType\" (GPGKeys)")
		}
		if r.KeyType, err = ps.str(kt, field+".keyType"); err != nil {
			return r, err
		}
		switch r.KeyType {
		case "GPGKeys":
		case "signedByGPGKeys", "X509Certificates", "signedByX509CAs":
			return r, ps.errorf(kt, field+".keyType", "%q is not implemented (by containers/image either); use GPGKeys", r.KeyType)
		default:
			return r, ps.errorf(kt, field+".keyType", "unknown key type %q; use GPGKeys", r.KeyType)
		}
		if r.Keys, err = ps.keys(n, field); err != nil {
			return r, err
		}
	case TypeSigstoreSigned:
		if err := ps.object(n, field, "type", "keyPath", "keyPaths", "keyData", "keyDatas", "fulcio",
			"rekorPublicKeyPath", "rekorPublicKeyPaths", "rekorPublicKeyData", "rekorPublicKeyDatas", "signedIdentity"); err != nil {
			return r, err
		}
		if r.Keys, err = ps.keySource(n, field, "sigstoreSigned", sigstoreKeyFields); err != nil {
			return r, err
		}
		if f := n.field("fulcio"); f != nil {
			if r.Keys != nil {
				return r, ps.errorf(f, field, "sigstoreSigned takes one of keyPath, keyPaths, keyData, keyDatas and fulcio, not several")
			}
			if r.Fulcio, err = ps.fulcio(f, field+".fulcio"); err != nil {
				return r, err
			}
		} else if r.Keys == nil {
			return r, ps.errorf(n, field, "sigstoreSigned needs one of keyPath, keyPaths, keyData, keyDatas (or fulcio)")
		}
		if r.RekorKeys, err = ps.keySource(n, field, "sigstoreSigned", rekorKeyFields); err != nil {
			return r, err
		}
		if r.Fulcio != nil && r.RekorKeys == nil {
			// As containers/image: a Fulcio certificate lives minutes, and
			// only a Rekor SET says that the signature was made then.
			return r, ps.errorf(n.field("fulcio"), field, "fulcio needs one of rekorPublicKeyPath, rekorPublicKeyPaths, rekorPublicKeyData, rekorPublicKeyDatas: a short-lived Fulcio certificate is checked at the time a Rekor SET records")
		}
	default:
		return r, ps.errorf(n.field("type"), field+".type", "unknown requirement type %q (want insecureAcceptAnything, reject, signedBy or sigstoreSigned)", r.Type)
	}
	r.Identity = Identity{Type: MatchRepoDigestOrExact}
	if id := n.field("signedIdentity"); id != nil {
		if r.Identity, err = ps.identity(id, field+".signedIdentity"); err != nil {
			return r, err
		}
	}
	return r, nil
}

// keys reads exactly one of signedBy's keyPath, keyPaths and keyData.
func (ps *parser) keys(n *node, field string) ([]Key, error) {
	keys, err := ps.keySource(n, field, "signedBy", keyFields{"keyPath", "keyPaths", "keyData", ""})
	if err == nil && keys == nil {
		err = ps.errorf(n, field, "signedBy needs one of keyPath, keyPaths, keyData")
	}
	return keys, err
}

// keyFields names the fields that may give keys: a path, a list of paths,
// inline base64 data and a list of it; "" where the requirement has no
// such field.
type keyFields struct{ path, paths, data, datas string }

var (
	sigstoreKeyFields = keyFields{"keyPath", "keyPaths", "keyData", "keyDatas"}
	rekorKeyFields    = keyFields{"rekorPublicKeyPath", "rekorPublicKeyPaths", "rekorPublicKeyData", "rekorPublicKeyDatas"}
	caFields          = keyFields{"caPath", "", "caData", ""}
)

// keySource reads the one of f's fields that n has; nil when it has none.
// what names the object in the message when it has several.
func (ps *parser) keySource(n *node, field, what string, f keyFields) ([]Key, error) {
	var names []string
	var found []string
	for _, name := range []string{f.path, f.paths, f.data, f.datas} {
		if name == "" {
			continue
		}
		names = append(names, name)
		if n.field(name) != nil {
			found = append(found, name)
		}
	}
	switch {
	case len(found) == 0:
		return nil, nil
	case len(found) > 1:
		return nil, ps.errorf(n.field(found[1]), field, "%s takes one of %s, not several", what, strings.Join(names, ", "))
	}
	name := found[0]
	v, vfield := n.field(name), field+"."+name
	var keys []Key
	switch name {
	case f.path, f.data:
		k, err := ps.key(v, vfield, name == f.path)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	default:
		if v.kind != "array" || len(v.vals) == 0 {
			return nil, ps.errorf(v, vfield, "want a non-empty list")
		}
		for i, e := range v.vals {
			k, err := ps.key(e, fmt.Sprintf("%s[%d]", vfield, i), name == f.paths)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// key reads one path, or one base64 string of inline data.
func (ps *parser) key(v *node, field string, path bool) (Key, error) {
	s, err := ps.str(v, field)
	if err != nil {
		return Key{}, err
	}
	if path {
		if s == "" {
			return Key{}, ps.errorf(v, field, "empty path")
		}
		return Key{Path: s}, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return Key{}, ps.errorf(v, field, "not base64: %v", err)
	}
	name := field[strings.LastIndexByte(field, '.')+1:]
	return Key{Field: name, Data: b}, nil
}

// fulcio reads a sigstoreSigned requirement's fulcio object.
func (ps *parser) fulcio(n *node, field string) (*Fulcio, error) {
	if err := ps.object(n, field, "caPath", "caData", "oidcIssuer", "subjectEmail"); err != nil {
		return nil, err
	}
	ca, err := ps.keySource(n, field, "fulcio", caFields)
	if err != nil {
		return nil, err
	}
	if ca == nil {
		return nil, ps.errorf(n, field, "fulcio needs one of caPath, caData")
	}
	f := &Fulcio{CA: ca[0]}
	if f.OIDCIssuer, err = ps.requiredStr(n, field, "oidcIssuer"); err != nil {
		return nil, err
	}
	if f.SubjectEmail, err = ps.requiredStr(n, field, "subjectEmail"); err != nil {
		return nil, err
	}
	return f, nil
}

func (ps *parser) identity(n *node, field string) (Identity, error) {
	var id Identity
	var err error
	if id.Type, err = ps.typed(n, field); err != nil {
		return id, err
	}
	switch id.Type {
	case MatchExact, MatchRepoDigestOrExact, MatchRepository:
		return id, ps.object(n, field, "type")
	case ExactReference:
		if err := ps.object(n, field, "type", "dockerReference"); err != nil {
			return id, err
		}
		s, err := ps.requiredStr(n, field, "dockerReference")
		if err != nil {
			return id, err
		}
		r, err := dref.ParseNormalizedNamed(s)
		if err != nil {
			return id, ps.errorf(n.field("dockerReference"), field+".dockerReference", "invalid reference %q: %v", s, err)
		}
		if dref.IsNameOnly(r) {
			return id, ps.errorf(n.field("dockerReference"), field+".dockerReference", "%q has neither tag nor digest; exactReference needs one (or use exactRepository)", s)
		}
		id.DockerReference = r
	case ExactRepository:
		if err := ps.object(n, field, "type", "dockerRepository"); err != nil {
			return id, err
		}
		s, err := ps.requiredStr(n, field, "dockerRepository")
		if err != nil {
			return id, err
		}
		r, err := dref.ParseNormalizedNamed(s)
		if err != nil {
			return id, ps.errorf(n.field("dockerRepository"), field+".dockerRepository", "invalid repository %q: %v", s, err)
		}
		id.DockerRepository = r
	case RemapIdentity:
		if err := ps.object(n, field, "type", "prefix", "signedPrefix"); err != nil {
			return id, err
		}
		for _, f := range []struct {
			name string
			dst  *string
		}{{"prefix", &id.Prefix}, {"signedPrefix", &id.SignedPrefix}} {
			s, err := ps.requiredStr(n, field, f.name)
			if err != nil {
				return id, err
			}
			if !validRemapPrefix(s) {
				return id, ps.errorf(n.field(f.name), field+"."+f.name, "%q is not a host[:port], a host[:port]/namespace or a repository in full (docker.io/library/busybox, not busybox)", s)
			}
			*f.dst = s
		}
	default:
		return id, ps.errorf(n.field("type"), field+".type", "unknown identity type %q (want matchRepoDigestOrExact, matchRepository, matchExact, exactReference, exactRepository or remapIdentity)", id.Type)
	}
	return id, nil
}

func (ps *parser) requiredStr(n *node, field, key string) (string, error) {
	v := n.field(key)
	if v == nil {
		return "", ps.errorf(n, field, "missing %q", key)
	}
	s, err := ps.str(v, field+"."+key)
	if err == nil && s == "" {
		err = ps.errorf(v, field+"."+key, "empty")
	}
	return s, err
}

// remapRegexps are compiled on first use, not at every command's start.
var remapRegexps = sync.OnceValue(func() [3]*regexp.Regexp {
	return [3]*regexp.Regexp{
		regexp.MustCompile(`^` + dref.DomainRegexp.String() + `$`),
		regexp.MustCompile(`^` + dref.NameRegexp.String() + `$`),
		regexp.MustCompile(`^` + dref.DomainRegexp.String() + `/`),
	}
})

// validRemapPrefix accepts what containers/image does: a host[:port], or a
// repository name that starts with one. Like containers/image it lets a
// short name through; such a prefix never matches.
func validRemapPrefix(s string) bool {
	re := remapRegexps()
	return re[0].MatchString(s) || (re[1].MatchString(s) && re[2].MatchString(s))
}
