package trust

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// SigstoreSignatureAnnotation holds a sigstore attachment's signature, in
// base64, on the layer whose blob is the payload.
const SigstoreSignatureAnnotation = "dev.cosignproject.cosign/signature"

// SigstorePayloadMediaType is the media type of a sigstore attachment's
// signature layers.
const SigstorePayloadMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"

type sigstoreKey struct {
	name   string
	signer string
	pub    crypto.PublicKey
	der    []byte // PKIX, as a Rekor entry records it
}

// verifyRaw checks sig over payload with pub as sigstore's
// signature.LoadVerifier(pub, crypto.SHA256) does: ECDSA (ASN.1) and RSA
// PKCS #1 v1.5 over the SHA-256 of the payload, Ed25519 over the payload.
// The standard library does the cryptography; sigstore's pkg/signature is
// not linked because it brings protobuf descriptors whose initialisation
// costs every freshpull command about a millisecond at start.
func verifyRaw(pub crypto.PublicKey, sig, payload []byte) error {
	sum := sha256.Sum256(payload)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, sum[:], sig) {
			return errors.New("invalid ECDSA signature")
		}
		return nil
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig)
	case ed25519.PublicKey:
		if !ed25519.Verify(k, payload, sig) {
			return errors.New("invalid Ed25519 signature")
		}
		return nil
	}
	return fmt.Errorf("unsupported key type %T", pub)
}

// sigstoreVerifier checks sigstore signatures with public keys or Fulcio
// certificates, and Rekor SETs where the policy names Rekor keys.
type sigstoreVerifier struct {
	keys   []sigstoreKey
	fulcio *fulcioRoot
	rekor  []rekorKey
}

func newSigstoreVerifier(r Requirement) (*sigstoreVerifier, error) {
	v := &sigstoreVerifier{}
	for _, k := range r.Keys {
		pub, err := cryptoutils.UnmarshalPEMToPublicKey(k.Data)
		if err != nil {
			return nil, fmt.Errorf("key %s is not a PEM public key: %v (%s)", k.Name(), err, r.Field)
		}
		der, err := cryptoutils.MarshalPublicKeyToDER(pub)
		if err != nil {
			return nil, fmt.Errorf("key %s: %v (%s)", k.Name(), err, r.Field)
		}
		v.keys = append(v.keys, sigstoreKey{name: k.Name(), signer: fmt.Sprintf("sha256:%x", sha256.Sum256(der)), pub: pub, der: der})
	}
	var err error
	if r.Fulcio != nil {
		if v.fulcio, err = newFulcioRoot(r.Fulcio, r.Field); err != nil {
			return nil, err
		}
	}
	if v.rekor, err = newRekorKeys(r.RekorKeys, r.Field); err != nil {
		return nil, err
	}
	if (v.fulcio == nil) == (len(v.keys) == 0) || v.fulcio != nil && len(v.rekor) == 0 {
		// Parse never builds such a requirement; a hand-built one
		// must not accept unchecked.
		return nil, fmt.Errorf("sigstoreSigned needs keys, or fulcio with Rekor keys, not both (%s)", r.Field)
	}
	return v, nil
}

func (v *sigstoreVerifier) verify(s Signature) ([]byte, accepted, error) {
	b64, ok := s.Annotations[SigstoreSignatureAnnotation]
	if !ok {
		return nil, accepted{}, fmt.Errorf("no %s annotation", SigstoreSignatureAnnotation)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, accepted{}, fmt.Errorf("%s is not base64: %v", SigstoreSignatureAnnotation, err)
	}
	var entry rekorEntry
	if len(v.rekor) > 0 {
		bundle, ok := s.Annotations[SigstoreSETAnnotation]
		if !ok {
			return nil, accepted{}, fmt.Errorf("no %s annotation: the policy requires a Rekor SET", SigstoreSETAnnotation)
		}
		if entry, err = verifySET(v.rekor, []byte(bundle)); err != nil {
			return nil, accepted{}, err
		}
	}
	if v.fulcio != nil {
		return v.verifyFulcio(s, raw, entry)
	}
	var fails []string
	for _, k := range v.keys {
		err := verifyRaw(k.pub, raw, s.Data)
		if err == nil && len(v.rekor) > 0 {
			err = entry.matches(k.der, raw, s.Data)
		}
		if err == nil {
			return s.Data, accepted{Key: k.name, Signer: k.signer}, nil
		}
		fails = append(fails, fmt.Sprintf("%s: %v", k.name, err))
	}
	return nil, accepted{}, fmt.Errorf("cryptographic signature verification failed (%s)", strings.Join(fails, "; "))
}

// verifyFulcio checks a signature made with a Fulcio certificate, in
// containers/image's order: the Rekor entry (already verified) records
// this certificate, signature and payload; the certificate was valid when
// the log recorded it; its key made the signature.
func (v *sigstoreVerifier) verifyFulcio(s Signature, raw []byte, entry rekorEntry) ([]byte, accepted, error) {
	certPEM, ok := s.Annotations[SigstoreCertificateAnnotation]
	if !ok {
		return nil, accepted{}, fmt.Errorf("no %s annotation: the policy requires a Fulcio certificate", SigstoreCertificateAnnotation)
	}
	certDER, err := singlePEM([]byte(certPEM))
	if err != nil {
		return nil, accepted{}, fmt.Errorf("%s: %v", SigstoreCertificateAnnotation, err)
	}
	if err := entry.matches(certDER, raw, s.Data); err != nil {
		return nil, accepted{}, err
	}
	cert, err := v.fulcio.verify(entry.integrated, []byte(certPEM), []byte(s.Annotations[SigstoreChainAnnotation]))
	if err != nil {
		return nil, accepted{}, err
	}
	if err := verifyRaw(cert.PublicKey, raw, s.Data); err != nil {
		return nil, accepted{}, fmt.Errorf("cryptographic signature verification with the certificate's key failed: %v", err)
	}
	return s.Data, accepted{Key: v.fulcio.name, Signer: v.fulcio.email, Issuer: v.fulcio.issuer}, nil
}
