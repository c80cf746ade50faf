// Package sigstoretest makes, for tests, a fake Fulcio (a root CA and an
// intermediate that issue short-lived code-signing certificates for an
// email) and a fake Rekor log (a key that signs entry timestamps), and the
// annotations of sigstore signatures made with them, as cosign writes them.
package sigstoretest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// Annotations of a sigstore signature layer, spelled out here rather than
// taken from trust: trust's own tests use this package (importing trust
// would be a cycle), and a fake that writes the format itself catches a
// wrong constant in trust.
const (
	SignatureAnnotation   = "dev.cosignproject.cosign/signature"
	CertificateAnnotation = "dev.sigstore.cosign/certificate"
	ChainAnnotation       = "dev.sigstore.cosign/chain"
	BundleAnnotation      = "dev.sigstore.cosign/bundle"
)

// Fulcio's OIDC issuer extensions: the raw string, and its DER successor.
var (
	OIDIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	OIDIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
)

// World is a fake Fulcio and a fake Rekor, their CA and key in files.
type World struct {
	// CAPath is the root certificate, PEM; RekorPath the Rekor public key.
	CAPath, RekorPath string
	// ChainPEM is the intermediate, then the root.
	ChainPEM []byte
	// Rekor signs SETs; LogID is the sha256 of its public key, hex.
	Rekor *ecdsa.PrivateKey
	LogID string

	interKey *ecdsa.PrivateKey
	inter    *x509.Certificate
	serial   int64
}

// Key makes a P-256 key.
func Key(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// New makes a world whose files are in dir, named after name.
func New(t testing.TB, dir, name string) *World {
	t.Helper()
	w := &World{serial: 10}
	rootKey := Key(t)
	now := time.Now()
	rootTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " root"},
		NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	w.interKey = Key(t)
	interTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name + " intermediate"},
		NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	interDER, err := x509.CreateCertificate(rand.Reader, interTmpl, root, w.interKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	w.inter, _ = x509.ParseCertificate(interDER)
	w.ChainPEM = append(pemCert(interDER), pemCert(rootDER)...)
	w.CAPath = filepath.Join(dir, name+"-fulcio.pem")
	if err := os.WriteFile(w.CAPath, pemCert(rootDER), 0o644); err != nil {
		t.Fatal(err)
	}
	w.Rekor = Key(t)
	w.RekorPath = filepath.Join(dir, name+"-rekor.pub")
	if err := os.WriteFile(w.RekorPath, PublicPEM(t, w.Rekor), 0o644); err != nil {
		t.Fatal(err)
	}
	der, _ := cryptoutils.MarshalPublicKeyToDER(w.Rekor.Public())
	sum := sha256.Sum256(der)
	w.LogID = hex.EncodeToString(sum[:])
	return w
}

// PublicPEM is k's public key, PEM.
func PublicPEM(t testing.TB, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	b, err := cryptoutils.MarshalPublicKeyToPEM(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Cert is what a leaf certificate says.
type Cert struct {
	Email              string
	IssuerV1, IssuerV2 string // "" leaves the extension out
	NotBefore          time.Time
	Life               time.Duration
	EKU                x509.ExtKeyUsage
}

// DefaultCert is for dev@example.com by https://issuer.example (the DER
// extension), valid from a minute ago for ten minutes, for code signing.
func DefaultCert() Cert {
	return Cert{Email: "dev@example.com", IssuerV2: "https://issuer.example", NotBefore: time.Now().Add(-time.Minute), Life: 10 * time.Minute, EKU: x509.ExtKeyUsageCodeSigning}
}

// Issue makes a key and a certificate for it, as Fulcio would.
func (w *World) Issue(t testing.TB, c Cert) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key := Key(t)
	w.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(w.serial), EmailAddresses: []string{c.Email},
		NotBefore: c.NotBefore, NotAfter: c.NotBefore.Add(c.Life),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{c.EKU},
	}
	if c.IssuerV1 != "" {
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: OIDIssuerV1, Value: []byte(c.IssuerV1)})
	}
	if c.IssuerV2 != "" {
		v, _ := asn1.MarshalWithParams(c.IssuerV2, "utf8")
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: OIDIssuerV2, Value: v})
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, w.inter, key.Public(), w.interKey)
	if err != nil {
		t.Fatal(err)
	}
	return key, pemCert(der)
}

// Entry is what a Rekor log records (a hashedrekord) and signs.
type Entry struct {
	KeyOrCert  []byte // PEM
	Sig        []byte
	Payload    []byte
	Integrated time.Time
	LogID      string
	Rekor      *ecdsa.PrivateKey
}

// Bundle is the dev.sigstore.cosign/bundle annotation for e. The SET signs
// the canonical JSON of the payload, while the annotation carries it
// indented and in another field order: a verifier must canonicalise.
func (e Entry) Bundle(t testing.TB) string {
	t.Helper()
	sum := sha256.Sum256(e.Payload)
	body, _ := json.Marshal(map[string]any{
		"apiVersion": "0.0.1", "kind": "hashedrekord",
		"spec": map[string]any{
			"data":      map[string]any{"hash": map[string]any{"algorithm": "sha256", "value": hex.EncodeToString(sum[:])}},
			"signature": map[string]any{"content": e.Sig, "publicKey": map[string]any{"content": e.KeyOrCert}},
		},
	})
	b64 := base64.StdEncoding.EncodeToString(body)
	ts := e.Integrated.Unix()
	// encoding/json writes a map's keys sorted and no space: for these
	// ASCII keys and integers, RFC 8785's form.
	canonical, _ := json.Marshal(map[string]any{"body": b64, "integratedTime": ts, "logIndex": 7, "logID": e.LogID})
	h := sha256.Sum256(canonical)
	set, err := ecdsa.SignASN1(rand.Reader, e.Rekor, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("{\n  \"SignedEntryTimestamp\": %q,\n  \"Payload\": {\n    \"logID\": %q,\n    \"logIndex\": 7,\n    \"integratedTime\": %d,\n    \"body\": %q\n  }\n}", base64.StdEncoding.EncodeToString(set), e.LogID, ts, b64)
}

// Sign signs payload with key: ECDSA over its SHA-256, as cosign does.
func Sign(t testing.TB, key *ecdsa.PrivateKey, payload []byte) []byte {
	t.Helper()
	sum := sha256.Sum256(payload)
	sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// FulcioSign signs payload with a fresh certificate per c, logs it now,
// and returns the signature layer's annotations; edit changes the log
// entry first.
func (w *World) FulcioSign(t testing.TB, payload []byte, c Cert, edit func(*Entry)) map[string]string {
	t.Helper()
	key, cert := w.Issue(t, c)
	sig := Sign(t, key, payload)
	e := Entry{KeyOrCert: cert, Sig: sig, Payload: payload, Integrated: time.Now(), LogID: w.LogID, Rekor: w.Rekor}
	if edit != nil {
		edit(&e)
	}
	return map[string]string{
		SignatureAnnotation:   base64.StdEncoding.EncodeToString(sig),
		CertificateAnnotation: string(cert),
		ChainAnnotation:       string(w.ChainPEM),
		BundleAnnotation:      e.Bundle(t),
	}
}

// KeySign signs payload with a sigstore key and logs it now.
func (w *World) KeySign(t testing.TB, key *ecdsa.PrivateKey, payload []byte) map[string]string {
	t.Helper()
	sig := Sign(t, key, payload)
	return map[string]string{
		SignatureAnnotation: base64.StdEncoding.EncodeToString(sig),
		BundleAnnotation:    Entry{KeyOrCert: PublicPEM(t, key), Sig: sig, Payload: payload, Integrated: time.Now(), LogID: w.LogID, Rekor: w.Rekor}.Bundle(t),
	}
}
