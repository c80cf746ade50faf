package trust

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
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// sigstoreWorld is a fake Fulcio (root CA and intermediate) and a fake
// Rekor log, made in the test.
type sigstoreWorld struct {
	interKey  *ecdsa.PrivateKey
	inter     *x509.Certificate
	chainPEM  []byte // the intermediate, then the root
	caPath    string
	rekor     *ecdsa.PrivateKey
	rekorPath string
	logID     string
	serial    int64
}

func mustEC(t *testing.T) *ecdsa.PrivateKey {
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

func newSigstoreWorld(t *testing.T, dir, name string) *sigstoreWorld {
	t.Helper()
	w := &sigstoreWorld{serial: 10}
	rootKey := mustEC(t)
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
	w.interKey = mustEC(t)
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
	w.chainPEM = append(pemCert(interDER), pemCert(rootDER)...)
	w.caPath = filepath.Join(dir, name+"-fulcio.pem")
	if err := os.WriteFile(w.caPath, pemCert(rootDER), 0o644); err != nil {
		t.Fatal(err)
	}
	w.rekor = mustEC(t)
	pub, err := cryptoutils.MarshalPublicKeyToPEM(w.rekor.Public())
	if err != nil {
		t.Fatal(err)
	}
	w.rekorPath = filepath.Join(dir, name+"-rekor.pub")
	if err := os.WriteFile(w.rekorPath, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	der, _ := cryptoutils.MarshalPublicKeyToDER(w.rekor.Public())
	sum := sha256.Sum256(der)
	w.logID = hex.EncodeToString(sum[:])
	return w
}

// certSpec is what a leaf certificate says.
type certSpec struct {
	email              string
	issuerV1, issuerV2 string // "" leaves the extension out
	notBefore          time.Time
	life               time.Duration
	eku                x509.ExtKeyUsage
}

func defaultCert() certSpec {
	return certSpec{email: "dev@example.com", issuerV2: "https://issuer.example", notBefore: time.Now().Add(-time.Minute), life: 10 * time.Minute, eku: x509.ExtKeyUsageCodeSigning}
}

// issue makes a key and a Fulcio-like certificate for it.
func (w *sigstoreWorld) issue(t *testing.T, c certSpec) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key := mustEC(t)
	w.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(w.serial), EmailAddresses: []string{c.email},
		NotBefore: c.notBefore, NotAfter: c.notBefore.Add(c.life),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{c.eku},
	}
	if c.issuerV1 != "" {
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: oidIssuerV1, Value: []byte(c.issuerV1)})
	}
	if c.issuerV2 != "" {
		v, _ := asn1.MarshalWithParams(c.issuerV2, "utf8")
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: oidIssuerV2, Value: v})
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, w.inter, key.Public(), w.interKey)
	if err != nil {
		t.Fatal(err)
	}
	return key, pemCert(der)
}

// entry is what a Rekor log records and signs.
type entry struct {
	keyOrCert  []byte // PEM
	sig        []byte
	payload    []byte
	integrated time.Time
	logID      string
	rekor      *ecdsa.PrivateKey
}

// bundle is the dev.sigstore.cosign/bundle annotation for e: the SET
// signs the canonical JSON of the payload, while the annotation carries it
// indented and in another field order, as a verifier must canonicalise.
func (e entry) bundle(t *testing.T) string {
	t.Helper()
	sum := sha256.Sum256(e.payload)
	body, _ := json.Marshal(map[string]any{
		"apiVersion": "0.0.1", "kind": "hashedrekord",
		"spec": map[string]any{
			"data":      map[string]any{"hash": map[string]any{"algorithm": "sha256", "value": hex.EncodeToString(sum[:])}},
			"signature": map[string]any{"content": e.sig, "publicKey": map[string]any{"content": e.keyOrCert}},
		},
	})
	b64 := base64.StdEncoding.EncodeToString(body)
	ts := e.integrated.Unix()
	// encoding/json writes a map's keys sorted and no space: for these
	// ASCII keys and integers, RFC 8785's form.
	canonical, _ := json.Marshal(map[string]any{"body": b64, "integratedTime": ts, "logIndex": 7, "logID": e.logID})
	h := sha256.Sum256(canonical)
	set, err := ecdsa.SignASN1(rand.Reader, e.rekor, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("{\n  \"SignedEntryTimestamp\": %q,\n  \"Payload\": {\n    \"logID\": %q,\n    \"logIndex\": 7,\n    \"integratedTime\": %d,\n    \"body\": %q\n  }\n}", base64.StdEncoding.EncodeToString(set), e.logID, ts, b64)
}

func signPayload(t *testing.T, key *ecdsa.PrivateKey, p []byte) []byte {
	t.Helper()
	sum := sha256.Sum256(p)
	sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// fulcioSign signs a payload for d with a fresh certificate per c and logs
// it; edit changes the log entry first.
func (w *sigstoreWorld) fulcioSign(t *testing.T, d, ref string, c certSpec, edit func(*entry)) Signature {
	t.Helper()
	key, cert := w.issue(t, c)
	p := []byte(payload(sigstoreType, d, ref))
	sig := signPayload(t, key, p)
	e := entry{keyOrCert: cert, sig: sig, payload: p, integrated: time.Now(), logID: w.logID, rekor: w.rekor}
	if edit != nil {
		edit(&e)
	}
	return Signature{Kind: Sigstore, Data: p, Source: "test", Annotations: map[string]string{
		SigstoreSignatureAnnotation:   base64.StdEncoding.EncodeToString(sig),
		SigstoreCertificateAnnotation: string(cert),
		SigstoreChainAnnotation:       string(w.chainPEM),
		SigstoreSETAnnotation:         e.bundle(t),
	}}
}

// keySign signs with a public-key sigstore key and logs it in w's Rekor.
func (w *sigstoreWorld) keySign(t *testing.T, k testKeys, d, ref string) Signature {
	t.Helper()
	s := k.sigstoreSign(t, d, ref)
	sig, _ := base64.StdEncoding.DecodeString(s.Annotations[SigstoreSignatureAnnotation])
	pub, _ := cryptoutils.MarshalPublicKeyToPEM(k.sig.Public())
	s.Annotations[SigstoreSETAnnotation] = entry{keyOrCert: pub, sig: sig, payload: s.Data, integrated: time.Now(), logID: w.logID, rekor: w.rekor}.bundle(t)
	return s
}

func without(s Signature, annotation string) Signature {
	a := map[string]string{}
	for k, v := range s.Annotations {
		if k != annotation {
			a[k] = v
		}
	}
	s.Annotations = a
	return s
}

func with(s Signature, annotation, value string) Signature {
	s = without(s, annotation)
	s.Annotations[annotation] = value
	return s
}

func TestFulcioRekor(t *testing.T) {
	dir := t.TempDir()
	w, other := newSigstoreWorld(t, dir, "w"), newSigstoreWorld(t, dir, "other")
	a, b := newKeys(t, dir, "a"), newKeys(t, dir, "b")
	dA := "sha256:" + strings.Repeat("a", 64)
	dB := "sha256:" + strings.Repeat("b", 64)
	ref := "quay.io/ns/app:1"
	fulcioPolicy := func(ca, issuer, email, rekor string) string {
		return fmt.Sprintf(`{"default": [{"type": "sigstoreSigned", "fulcio": {"caPath": %q, "oidcIssuer": %q, "subjectEmail": %q}, "rekorPublicKeyPath": %q}]}`, ca, issuer, email, rekor)
	}
	good := fulcioPolicy(w.caPath, "https://issuer.example", "dev@example.com", w.rekorPath)
	keyRekor := fmt.Sprintf(`{"default": [{"type": "sigstoreSigned", "keyPath": %q, "rekorPublicKeyPath": %q}]}`, a.sigPath, w.rekorPath)
	spec := defaultCert()
	ok := w.fulcioSign(t, dA, ref, spec, nil)
	v1 := spec
	v1.issuerV1, v1.issuerV2 = "https://issuer.example", ""
	both := spec
	both.issuerV1 = "https://other.example"
	noCodeSigning := spec
	noCodeSigning.eku = x509.ExtKeyUsageServerAuth
	bundleOf := func(p string) string {
		return strings.Replace(ok.Annotations[SigstoreSETAnnotation], `"Payload": {`, p+`, "Payload": {`, 1)
	}
	for _, c := range []struct {
		name   string
		policy string
		digest string
		sig    Signature
		reason string // "" when accepted
	}{
		{"fulcio accepted", good, dA, ok, ""},
		{"fulcio legacy issuer extension", good, dA, w.fulcioSign(t, dA, ref, v1, nil), ""},
		{"fulcio inconsistent issuers", good, dA, w.fulcioSign(t, dA, ref, both, nil), "names two OIDC issuers"},
		{"fulcio another CA", fulcioPolicy(other.caPath, "https://issuer.example", "dev@example.com", w.rekorPath), dA, ok, "not accepted by Fulcio CA " + other.caPath},
		{"fulcio wrong email", fulcioPolicy(w.caPath, "https://issuer.example", "boss@example.com", w.rekorPath), dA, ok, `certificate is for ["dev@example.com"], not "boss@example.com"`},
		{"fulcio wrong issuer", fulcioPolicy(w.caPath, "https://accounts.example", "dev@example.com", w.rekorPath), dA, ok, `OIDC issuer is "https://issuer.example", not "https://accounts.example"`},
		{"fulcio not for code signing", good, dA, w.fulcioSign(t, dA, ref, noCodeSigning, nil), "incompatible key usage"},
		{"fulcio certificate expired when logged", good, dA, w.fulcioSign(t, dA, ref, spec, func(e *entry) { e.integrated = time.Now().Add(time.Hour) }), "certificate has expired or is not yet valid"},
		{"fulcio logged before the certificate", good, dA, w.fulcioSign(t, dA, ref, spec, func(e *entry) { e.integrated = time.Now().Add(-time.Hour) }), "not accepted by Fulcio CA"},
		{"fulcio no intermediate", good, dA, without(ok, SigstoreChainAnnotation), "certificate signed by unknown authority"},
		{"fulcio no certificate", good, dA, without(ok, SigstoreCertificateAnnotation), "no dev.sigstore.cosign/certificate annotation"},
		{"fulcio signature of digest A for digest B", good, dB, ok, "signed for digest " + dA},
		{"fulcio identity", good, dA, w.fulcioSign(t, dA, "quay.io/ns/app:2", spec, nil), "does not match"},
		{"SET by another Rekor key", good, dA, w.fulcioSign(t, dA, ref, spec, func(e *entry) { e.rekor = other.rekor }), "Rekor SET is not signed by Rekor key " + w.rekorPath},
		{"SET policy trusts another Rekor", fulcioPolicy(w.caPath, "https://issuer.example", "dev@example.com", other.rekorPath), dA, ok, "Rekor SET is not signed"},
		{"SET logID of another log", good, dA, w.fulcioSign(t, dA, ref, spec, func(e *entry) { e.logID = other.logID }), "logID \"" + other.logID + "\" is not that of Rekor key"},
		{"entry hashes another payload", good, dA, w.fulcioSign(t, dA, ref, spec, func(e *entry) { e.payload = []byte(payload(sigstoreType, dB, ref)) }), "records the signature of another payload"},
		{"entry records another signature", good, dA, w.fulcioSign(t, dA, ref, spec, func(e *entry) { e.sig = []byte("other") }), "records another signature"},
		{"entry records another certificate", good, dA, w.fulcioSign(t, dA, ref, spec, func(e *entry) { _, e.keyOrCert = w.issue(t, spec) }), "records another public key or certificate"},
		{"no bundle", good, dA, without(ok, SigstoreSETAnnotation), "no dev.sigstore.cosign/bundle annotation"},
		{"bundle not JSON", good, dA, with(ok, SigstoreSETAnnotation, "{"), "dev.sigstore.cosign/bundle is not JSON"},
		{"bundle unknown field", good, dA, with(ok, SigstoreSETAnnotation, bundleOf(`"Extra": 1`)), `dev.sigstore.cosign/bundle has unknown field "Extra"`},
		{"bundle duplicate field", good, dA, with(ok, SigstoreSETAnnotation, bundleOf(`"SignedEntryTimestamp": "AA=="`)), `duplicate field "SignedEntryTimestamp"`},
		{"bundle SET not base64", good, dA, with(ok, SigstoreSETAnnotation, `{"SignedEntryTimestamp": "!!", "Payload": {}}`), "dev.sigstore.cosign/bundle: illegal base64"},
		{"bundle SET a number", good, dA, with(ok, SigstoreSETAnnotation, `{"SignedEntryTimestamp": 1, "Payload": {}}`), "SignedEntryTimestamp is a number, not a base64 string"},
		{"bundle without Payload", good, dA, with(ok, SigstoreSETAnnotation, `{"SignedEntryTimestamp": "AA=="}`), `dev.sigstore.cosign/bundle has no "Payload"`},
		{"key and Rekor, logged", keyRekor, dA, w.keySign(t, a, dA, ref), ""},
		{"key and Rekor, no SET", keyRekor, dA, a.sigstoreSign(t, dA, ref), "no dev.sigstore.cosign/bundle annotation: the policy requires a Rekor SET"},
		{"key and Rekor, SET of another key's signature", keyRekor, dA, with(a.sigstoreSign(t, dA, ref), SigstoreSETAnnotation, w.keySign(t, b, dA, ref).Annotations[SigstoreSETAnnotation]), "records another"},
		{"key and Rekor, other key", keyRekor, dA, w.keySign(t, b, dA, ref), "verification failed"},
		{"key and Rekor, digest A for B", keyRekor, dB, w.keySign(t, a, dA, ref), "signed for digest " + dA},
		{"unreadable CA", fulcioPolicy("/nonexistent/ca.pem", "https://issuer.example", "dev@example.com", w.rekorPath), dA, ok, "cannot read Fulcio CA /nonexistent/ca.pem"},
		{"CA not PEM", fulcioPolicy(w.rekorPath, "https://issuer.example", "dev@example.com", w.rekorPath), dA, ok, "Fulcio CA " + w.rekorPath + " holds no PEM certificate"},
		{"unreadable Rekor key", fulcioPolicy(w.caPath, "https://issuer.example", "dev@example.com", "/nonexistent/rekor.pub"), dA, ok, "cannot read Rekor public key /nonexistent/rekor.pub"},
		{"Rekor key not ECDSA", fulcioPolicy(w.caPath, "https://issuer.example", "dev@example.com", w.caPath), dA, ok, "Rekor public key " + w.caPath + " is not a PEM public key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := parse(t, c.policy)
			dec, err := p.Evaluate(Image{Ref: mustRef(t, ref), Digest: digest.Digest(c.digest)}, []Signature{c.sig})
			if c.reason == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if p.Default[0].Fulcio != nil && (dec.Signer != "dev@example.com" || dec.Issuer != "https://issuer.example" || dec.Key != w.caPath) {
					t.Errorf("decision %+v: want signer dev@example.com, issuer https://issuer.example, key %s", dec, w.caPath)
				}
				if p.Default[0].Fulcio == nil && (!strings.HasPrefix(dec.Signer, "sha256:") || dec.Key != a.sigPath) {
					t.Errorf("decision %+v: want the key's sha256 and %s", dec, a.sigPath)
				}
				return
			}
			if !IsRejected(err) || !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("error %v, want a rejection saying %q", err, c.reason)
			}
		})
	}
}

// A certificate for an email, logged by Rekor, is made by Fulcio for one
// signature only: its key must be the one that made the signature.
func TestFulcioCertificateKeyMadeTheSignature(t *testing.T) {
	dir := t.TempDir()
	w := newSigstoreWorld(t, dir, "w")
	d, ref := "sha256:"+strings.Repeat("c", 64), "quay.io/ns/app:1"
	_, cert := w.issue(t, defaultCert())
	impostor := mustEC(t)
	p := []byte(payload(sigstoreType, d, ref))
	sig := signPayload(t, impostor, p)
	s := Signature{Kind: Sigstore, Data: p, Source: "test", Annotations: map[string]string{
		SigstoreSignatureAnnotation:   base64.StdEncoding.EncodeToString(sig),
		SigstoreCertificateAnnotation: string(cert),
		SigstoreChainAnnotation:       string(w.chainPEM),
		SigstoreSETAnnotation:         entry{keyOrCert: cert, sig: sig, payload: p, integrated: time.Now(), logID: w.logID, rekor: w.rekor}.bundle(t),
	}}
	pol := parse(t, fmt.Sprintf(`{"default": [{"type": "sigstoreSigned", "fulcio": {"caPath": %q, "oidcIssuer": "https://issuer.example", "subjectEmail": "dev@example.com"}, "rekorPublicKeyPath": %q}]}`, w.caPath, w.rekorPath))
	_, err := pol.Evaluate(Image{Ref: mustRef(t, ref), Digest: digest.Digest(d)}, []Signature{s})
	if !IsRejected(err) || !strings.Contains(err.Error(), "with the certificate's key failed") {
		t.Fatalf("error %v, want the signature rejected for not being the certificate key's", err)
	}
}

func TestParseFulcioRekor(t *testing.T) {
	for _, c := range []struct{ name, req, want string }{
		{"fulcio without rekor", `"fulcio": {"caPath": "/ca", "oidcIssuer": "i", "subjectEmail": "e"}`, "policy.json:2: default[0]: fulcio needs one of rekorPublicKeyPath"},
		{"fulcio and keyPath", `"keyPath": "/k", "fulcio": {"caPath": "/ca", "oidcIssuer": "i", "subjectEmail": "e"}, "rekorPublicKeyPath": "/r"`, "takes one of keyPath, keyPaths, keyData, keyDatas and fulcio, not several"},
		{"fulcio no CA", `"fulcio": {"oidcIssuer": "i", "subjectEmail": "e"}, "rekorPublicKeyPath": "/r"`, "default[0].fulcio: fulcio needs one of caPath, caData"},
		{"fulcio both CAs", `"fulcio": {"caPath": "/ca", "caData": "AA==", "oidcIssuer": "i", "subjectEmail": "e"}, "rekorPublicKeyPath": "/r"`, "default[0].fulcio: fulcio takes one of caPath, caData, not several"},
		{"fulcio no issuer", `"fulcio": {"caPath": "/ca", "subjectEmail": "e"}, "rekorPublicKeyPath": "/r"`, `default[0].fulcio: missing "oidcIssuer"`},
		{"fulcio empty email", `"fulcio": {"caPath": "/ca", "oidcIssuer": "i", "subjectEmail": ""}, "rekorPublicKeyPath": "/r"`, "default[0].fulcio.subjectEmail: empty"},
		{"fulcio unknown field", `"fulcio": {"caPath": "/ca", "oidcIssuer": "i", "subjectEmail": "e", "subjectURI": "u"}, "rekorPublicKeyPath": "/r"`, `default[0].fulcio: unknown field "subjectURI"`},
		{"fulcio caData not base64", `"fulcio": {"caData": "!", "oidcIssuer": "i", "subjectEmail": "e"}, "rekorPublicKeyPath": "/r"`, "default[0].fulcio.caData: not base64"},
		{"two rekor fields", `"keyPath": "/k", "rekorPublicKeyPath": "/r", "rekorPublicKeyData": "AA=="`, "sigstoreSigned takes one of rekorPublicKeyPath, rekorPublicKeyPaths, rekorPublicKeyData, rekorPublicKeyDatas, not several"},
		{"empty rekorPublicKeyPaths", `"keyPath": "/k", "rekorPublicKeyPaths": []`, "default[0].rekorPublicKeyPaths: want a non-empty list"},
		{"rekorPublicKeyDatas not base64", `"keyPath": "/k", "rekorPublicKeyDatas": ["AA==", "!"]`, "default[0].rekorPublicKeyDatas[1]: not base64"},
		{"keyDatas not a list", `"keyDatas": "AA=="`, "default[0].keyDatas: want a non-empty list"},
		{"pki", `"pki": {}`, `default[0]: unknown field "pki"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("policy.json", []byte("{\"default\": [\n{\"type\": \"sigstoreSigned\", "+c.req+"}]}"))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

// Inline data (caData, rekorPublicKeyDatas, keyDatas) works as the files
// do, and the policy digest covers the CA and Rekor key files.
func TestFulcioRekorInlineAndDigest(t *testing.T) {
	dir := t.TempDir()
	w := newSigstoreWorld(t, dir, "w")
	a := newKeys(t, dir, "a")
	d, ref := "sha256:"+strings.Repeat("d", 64), "quay.io/ns/app:1"
	ca, _ := os.ReadFile(w.caPath)
	rk, _ := os.ReadFile(w.rekorPath)
	ak, _ := os.ReadFile(a.sigPath)
	enc := base64.StdEncoding.EncodeToString
	inline := parse(t, fmt.Sprintf(`{"default": [{"type": "sigstoreSigned", "fulcio": {"caData": %q, "oidcIssuer": "https://issuer.example", "subjectEmail": "dev@example.com"}, "rekorPublicKeyDatas": [%q, %q]}]}`, enc(ca), enc(ak), enc(rk)))
	dec, err := inline.Evaluate(Image{Ref: mustRef(t, ref), Digest: digest.Digest(d)}, []Signature{w.fulcioSign(t, d, ref, defaultCert(), nil)})
	if err != nil || dec.Key != "caData" || dec.Signer != "dev@example.com" {
		t.Fatalf("inline fulcio: %+v, %v", dec, err)
	}
	keys := parse(t, fmt.Sprintf(`{"default": [{"type": "sigstoreSigned", "keyDatas": [%q], "rekorPublicKeyPaths": [%q]}]}`, enc(ak), w.rekorPath))
	if dec, err := keys.Evaluate(Image{Ref: mustRef(t, ref), Digest: digest.Digest(d)}, []Signature{w.keySign(t, a, d, ref)}); err != nil || dec.Key != "keyDatas[0]" {
		t.Fatalf("keyDatas with rekorPublicKeyPaths: %+v, %v", dec, err)
	}

	content := fmt.Sprintf(`{"default": [{"type": "sigstoreSigned", "fulcio": {"caPath": %q, "oidcIssuer": "i", "subjectEmail": "e"}, "rekorPublicKeyPath": %q}]}`, w.caPath, w.rekorPath)
	before := parse(t, content).Digest
	os.WriteFile(w.caPath, []byte("changed"), 0o644)
	afterCA := parse(t, content).Digest
	os.WriteFile(w.rekorPath, []byte("changed"), 0o644)
	afterRekor := parse(t, content).Digest
	if before == afterCA || afterCA == afterRekor {
		t.Fatal("a changed CA or Rekor key file leaves the policy digest unchanged")
	}
}
