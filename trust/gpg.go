package trust

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// gpgVerifier checks simple signing signatures: an OpenPGP signed message
// (not detached) whose literal data is the payload.
type gpgVerifier struct {
	keyring openpgp.EntityList
	// names maps a key's fingerprint to the key file it came from.
	names map[string]string
}

func newGPGVerifier(keys []Key, field string) (*gpgVerifier, error) {
	v := &gpgVerifier{names: map[string]string{}}
	for _, k := range keys {
		var ring openpgp.EntityList
		var err error
		if bytes.HasPrefix(bytes.TrimSpace(k.Data), []byte("-----BEGIN")) {
			ring, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(k.Data))
		} else {
			ring, err = openpgp.ReadKeyRing(bytes.NewReader(k.Data))
		}
		if err == nil && len(ring) == 0 {
			err = errors.New("no keys in it")
		}
		if err != nil {
			return nil, fmt.Errorf("key %s is not an OpenPGP key ring: %v (%s)", k.Name(), err, field)
		}
		for _, e := range ring {
			v.names[fingerprint(e.PrimaryKey.Fingerprint)] = k.Name()
			for _, sub := range e.Subkeys {
				v.names[fingerprint(sub.PublicKey.Fingerprint)] = k.Name()
			}
		}
		v.keyring = append(v.keyring, ring...)
	}
	return v, nil
}

func fingerprint(b []byte) string { return strings.ToUpper(fmt.Sprintf("%x", b)) }

func (v *gpgVerifier) verify(s Signature) ([]byte, accepted, error) {
	md, err := openpgp.ReadMessage(bytes.NewReader(s.Data), v.keyring, nil, nil)
	if err != nil {
		return nil, accepted{}, fmt.Errorf("not a valid OpenPGP signature: %v", err)
	}
	if !md.IsSigned {
		return nil, accepted{}, errors.New("not signed")
	}
	payload, err := io.ReadAll(io.LimitReader(md.UnverifiedBody, 4<<20))
	if err != nil {
		return nil, accepted{}, fmt.Errorf("reading signed data: %v", err)
	}
	if md.SignedBy == nil {
		return nil, accepted{}, fmt.Errorf("signed by key %016X, which is not among the trusted keys", md.SignedByKeyId)
	}
	if md.SignatureError != nil {
		return nil, accepted{}, fmt.Errorf("invalid signature: %v", md.SignatureError)
	}
	// The signer reported is the primary key's fingerprint, as gpg
	// names keys; a subkey may have made the signature.
	fp := fingerprint(md.SignedBy.Entity.PrimaryKey.Fingerprint)
	return payload, accepted{Key: v.names[fingerprint(md.SignedBy.PublicKey.Fingerprint)], Signer: fp}, nil
}
