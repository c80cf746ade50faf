package trust

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// SigstoreSETAnnotation holds a sigstore signature's Rekor bundle: the
// SET (signed entry timestamp) that a Rekor log signed over its entry
// for the signature.
const SigstoreSETAnnotation = "dev.sigstore.cosign/bundle"

// rekorKey is a Rekor log's public key. A log names itself by the sha256
// of its key (logID).
type rekorKey struct {
	name  string
	pub   *ecdsa.PublicKey
	logID string
}

func newRekorKeys(keys []Key, field string) ([]rekorKey, error) {
	var out []rekorKey
	for _, k := range keys {
		pub, err := cryptoutils.UnmarshalPEMToPublicKey(k.Data)
		if err != nil {
			return nil, fmt.Errorf("the Rekor public key %s is not a PEM public key: %v (%s)", k.Name(), err, field)
		}
		// Rekor signs SETs with ECDSA only; containers/image refuses
		// other keys too.
		ec, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("the Rekor public key %s is a %T key, not ECDSA (%s)", k.Name(), pub, field)
		}
		der, err := cryptoutils.MarshalPublicKeyToDER(pub)
		if err != nil {
			return nil, fmt.Errorf("the Rekor public key %s: %v (%s)", k.Name(), err, field)
		}
		sum := sha256.Sum256(der)
		out = append(out, rekorKey{name: k.Name(), pub: ec, logID: hex.EncodeToString(sum[:])})
	}
	return out, nil
}

// rekorEntry is what a verified SET says a Rekor log recorded: a
// hashedrekord entry (a signature, the key or certificate that made it,
// and the sha256 of what it signs) and when the log integrated it.
type rekorEntry struct {
	log        string // the Rekor key that signed the SET
	integrated time.Time
	keyOrCert  []byte // DER
	signature  []byte
	payloadSum []byte
}

// verifySET checks a bundle annotation as containers/image does: the SET
// is an ECDSA signature by one of keys over the RFC 8785 canonical form of
// the bundle's payload, and the payload's body a hashedrekord v0.0.1
// entry. Unlike containers/image, and like cosign, it also requires the
// payload's logID to be the signing key's: a SET of one log is not taken
// as another's. What the entry says must still be matched against the
// signature ([rekorEntry.matches]).
func verifySET(keys []rekorKey, bundle []byte) (rekorEntry, error) {
	root, err := parseTree(bundle)
	if err != nil {
		return rekorEntry{}, fmt.Errorf("%s is not JSON: %v", SigstoreSETAnnotation, err)
	}
	if err := exactObject(root, SigstoreSETAnnotation, "SignedEntryTimestamp", "Payload"); err != nil {
		return rekorEntry{}, err
	}
	if k := root.field("SignedEntryTimestamp").kind; k != "string" {
		return rekorEntry{}, fmt.Errorf("%s: SignedEntryTimestamp is a %s, not a base64 string", SigstoreSETAnnotation, k)
	}
	if k := root.field("Payload").kind; k != "object" {
		return rekorEntry{}, fmt.Errorf("%s: Payload is a %s, not an object", SigstoreSETAnnotation, k)
	}
	// The tree checked names and duplicates, which encoding/json does
	// not; encoding/json gives the payload's bytes, which the tree does
	// not keep.
	var raw struct {
		SignedEntryTimestamp []byte
		Payload              json.RawMessage
	}
	if err := json.Unmarshal(bundle, &raw); err != nil {
		return rekorEntry{}, fmt.Errorf("%s: %v", SigstoreSETAnnotation, err)
	}
	canonical, err := jsoncanonicalizer.Transform(raw.Payload)
	if err != nil {
		return rekorEntry{}, fmt.Errorf("%s: canonicalising Payload: %v", SigstoreSETAnnotation, err)
	}
	sum := sha256.Sum256(canonical)
	var log *rekorKey
	for i := range keys {
		if ecdsa.VerifyASN1(keys[i].pub, sum[:], raw.SignedEntryTimestamp) {
			log = &keys[i]
			break
		}
	}
	if log == nil {
		var names []string
		for _, k := range keys {
			names = append(names, k.name)
		}
		return rekorEntry{}, fmt.Errorf("the Rekor SET is not signed by Rekor key %s", strings.Join(names, ", "))
	}

	// From here on the data is the log's, but read as strictly: the
	// canonical form, which is what was signed.
	p, err := parseTree(canonical)
	if err != nil {
		return rekorEntry{}, fmt.Errorf("the Rekor SET payload: %v", err)
	}
	if err := exactObject(p, "Rekor SET payload", "body", "integratedTime", "logIndex", "logID"); err != nil {
		return rekorEntry{}, err
	}
	e := rekorEntry{log: log.name}
	ts, err := integer(p.field("integratedTime"), "Rekor SET payload integratedTime")
	if err != nil {
		return rekorEntry{}, err
	}
	if _, err := integer(p.field("logIndex"), "Rekor SET payload logIndex"); err != nil {
		return rekorEntry{}, err
	}
	e.integrated = time.Unix(ts, 0)
	if id := p.field("logID"); id.kind != "string" || id.str != log.logID {
		return rekorEntry{}, fmt.Errorf("the Rekor SET payload logID %q is not that of Rekor key %s (%s)", id.str, log.name, log.logID)
	}
	b := p.field("body")
	if b.kind != "string" {
		return rekorEntry{}, errors.New("the Rekor SET payload body is not a base64 string")
	}
	body, err := base64.StdEncoding.DecodeString(b.str)
	if err != nil {
		return rekorEntry{}, fmt.Errorf("the Rekor SET payload body is not base64: %v", err)
	}
	// Like containers/image, fields of the entry it does not use are
	// let through: the log, not the signer, wrote them.
	var rec struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
		Spec       struct {
			Data struct {
				Hash struct {
					Algorithm string `json:"algorithm"`
					Value     string `json:"value"`
				} `json:"hash"`
			} `json:"data"`
			Signature struct {
				Content   []byte `json:"content"`
				PublicKey struct {
					Content []byte `json:"content"`
				} `json:"publicKey"`
			} `json:"signature"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(body, &rec); err != nil {
		return rekorEntry{}, fmt.Errorf("the Rekor entry: %v", err)
	}
	if rec.Kind != "hashedrekord" || rec.APIVersion != "0.0.1" {
		return rekorEntry{}, fmt.Errorf("the Rekor entry is %q version %q, not hashedrekord 0.0.1", rec.Kind, rec.APIVersion)
	}
	spec := rec.Spec
	if spec.Data.Hash.Algorithm != "sha256" {
		return rekorEntry{}, fmt.Errorf("the Rekor entry hashes the payload with %q, not sha256", spec.Data.Hash.Algorithm)
	}
	if e.payloadSum, err = hex.DecodeString(spec.Data.Hash.Value); err != nil || len(e.payloadSum) != sha256.Size {
		return rekorEntry{}, fmt.Errorf("the Rekor entry data.hash.value %q is not a hex sha256", spec.Data.Hash.Value)
	}
	if len(spec.Signature.Content) == 0 {
		return rekorEntry{}, errors.New("the Rekor entry has no signature.content")
	}
	e.signature = spec.Signature.Content
	if e.keyOrCert, err = singlePEM(spec.Signature.PublicKey.Content); err != nil {
		return rekorEntry{}, fmt.Errorf("the Rekor entry signature.publicKey: %v", err)
	}
	return e, nil
}

// matches checks that the entry records this signature: made with the key
// or certificate keyOrCert (DER), over payload.
func (e rekorEntry) matches(keyOrCert, signature, payload []byte) error {
	if !bytes.Equal(e.keyOrCert, keyOrCert) {
		return errors.New("the Rekor entry records another public key or certificate")
	}
	if !bytes.Equal(e.signature, signature) {
		return errors.New("the Rekor entry records another signature")
	}
	sum := sha256.Sum256(payload)
	if !bytes.Equal(e.payloadSum, sum[:]) {
		return errors.New("the Rekor entry records the signature of another payload")
	}
	return nil
}

// singlePEM returns the DER of the one PEM block b holds.
func singlePEM(b []byte) ([]byte, error) {
	block, rest := pem.Decode(b)
	if block == nil {
		return nil, errors.New("not PEM")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("data after the PEM block")
	}
	return block.Bytes, nil
}

// exactObject checks that n is an object with exactly the fields keys.
func exactObject(n *node, what string, keys ...string) error {
	if n.kind != "object" {
		return fmt.Errorf("%s is a %s, not an object", what, n.kind)
	}
	for _, k := range n.keys {
		if !slices.Contains(keys, k) {
			return fmt.Errorf("%s has unknown field %q", what, k)
		}
	}
	for _, k := range keys {
		if n.field(k) == nil {
			return fmt.Errorf("%s has no %q", what, k)
		}
	}
	return nil
}

// integer reads a JSON number that is an int64.
func integer(n *node, what string) (int64, error) {
	if n.kind != "number" {
		return 0, fmt.Errorf("%s is a %s, not an integer", what, n.kind)
	}
	v, err := strconv.ParseInt(n.str, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %s is not an integer", what, n.str)
	}
	return v, nil
}
