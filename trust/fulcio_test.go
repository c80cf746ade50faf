package trust

import (
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/freshpull/freshpull/internal/sigstoretest"
	"github.com/opencontainers/go-digest"
)

// fulcioSign signs a payload for d with a fresh certificate per c from w's
// Fulcio, logged in w's Rekor; edit changes the log entry first.
func fulcioSign(t *testing.T, w *sigstoretest.World, d, ref string, c sigstoretest.Cert, edit func(*sigstoretest.Entry)) Signature {
	t.Helper()
	p := []byte(payload(sigstoreType, d, ref))
	return Signature{Kind: Sigstore, Data: p, Source: "test", Annotations: w.FulcioSign(t, p, c, edit)}
}

// keySign signs with a public-key sigstore key, logged in w's Rekor.
func keySign(t *testing.T, w *sigstoretest.World, k testKeys, d, ref string) Signature {
	t.Helper()
	p := []byte(payload(sigstoreType, d, ref))
	return Signature{Kind: Sigstore, Data: p, Source: "test", Annotations: w.KeySign(t, k.sig, p)}
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
	w, other := sigstoretest.New(t, dir, "w"), sigstoretest.New(t, dir, "other")
	a, b := newKeys(t, dir, "a"), newKeys(t, dir, "b")
	dA := "sha256:" + strings.Repeat("a", 64)
	dB := "sha256:" + strings.Repeat("b", 64)
	ref := "quay.io/ns/app:1"
	fulcioPolicy := func(ca, issuer, email, rekor string) string {
		return fmt.Sprintf(`{"default": [{"type": "sigstoreSigned", "fulcio": {"caPath": %q, "oidcIssuer": %q, "subjectEmail": %q}, "rekorPublicKeyPath": %q}]}`, ca, issuer, email, rekor)
	}
	good := fulcioPolicy(w.CAPath, "https://issuer.example", "dev@example.com", w.RekorPath)
	keyRekor := fmt.Sprintf(`{"default": [{"type": "sigstoreSigned", "keyPath": %q, "rekorPublicKeyPath": %q}]}`, a.sigPath, w.RekorPath)
	spec := sigstoretest.DefaultCert()
	ok := fulcioSign(t, w, dA, ref, spec, nil)
	v1 := spec
	v1.IssuerV1, v1.IssuerV2 = "https://issuer.example", ""
	both := spec
	both.IssuerV1 = "https://other.example"
	noCodeSigning := spec
	noCodeSigning.EKU = x509.ExtKeyUsageServerAuth
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
		{"fulcio legacy issuer extension", good, dA, fulcioSign(t, w, dA, ref, v1, nil), ""},
		{"fulcio inconsistent issuers", good, dA, fulcioSign(t, w, dA, ref, both, nil), "names two OIDC issuers"},
		{"fulcio another CA", fulcioPolicy(other.CAPath, "https://issuer.example", "dev@example.com", w.RekorPath), dA, ok, "not accepted by Fulcio CA " + other.CAPath},
		{"fulcio wrong email", fulcioPolicy(w.CAPath, "https://issuer.example", "boss@example.com", w.RekorPath), dA, ok, `certificate is for ["dev@example.com"], not "boss@example.com"`},
		{"fulcio wrong issuer", fulcioPolicy(w.CAPath, "https://accounts.example", "dev@example.com", w.RekorPath), dA, ok, `OIDC issuer is "https://issuer.example", not "https://accounts.example"`},
		{"fulcio not for code signing", good, dA, fulcioSign(t, w, dA, ref, noCodeSigning, nil), "incompatible key usage"},
		{"fulcio certificate expired when logged", good, dA, fulcioSign(t, w, dA, ref, spec, func(e *sigstoretest.Entry) { e.Integrated = time.Now().Add(time.Hour) }), "certificate has expired or is not yet valid"},
		{"fulcio logged before the certificate", good, dA, fulcioSign(t, w, dA, ref, spec, func(e *sigstoretest.Entry) { e.Integrated = time.Now().Add(-time.Hour) }), "not accepted by Fulcio CA"},
		{"fulcio no intermediate", good, dA, without(ok, SigstoreChainAnnotation), "certificate signed by unknown authority"},
		{"fulcio no certificate", good, dA, without(ok, SigstoreCertificateAnnotation), "no dev.sigstore.cosign/certificate annotation"},
		{"fulcio signature of digest A for digest B", good, dB, ok, "signed for digest " + dA},
		{"fulcio identity", good, dA, fulcioSign(t, w, dA, "quay.io/ns/app:2", spec, nil), "does not match"},
		{"SET by another Rekor key", good, dA, fulcioSign(t, w, dA, ref, spec, func(e *sigstoretest.Entry) { e.Rekor = other.Rekor }), "Rekor SET is not signed by Rekor key " + w.RekorPath},
		{"SET policy trusts another Rekor", fulcioPolicy(w.CAPath, "https://issuer.example", "dev@example.com", other.RekorPath), dA, ok, "Rekor SET is not signed"},
		{"SET logID of another log", good, dA, fulcioSign(t, w, dA, ref, spec, func(e *sigstoretest.Entry) { e.LogID = other.LogID }), "logID \"" + other.LogID + "\" is not that of Rekor key"},
		{"entry hashes another payload", good, dA, fulcioSign(t, w, dA, ref, spec, func(e *sigstoretest.Entry) { e.Payload = []byte(payload(sigstoreType, dB, ref)) }), "records the signature of another payload"},
		{"entry records another signature", good, dA, fulcioSign(t, w, dA, ref, spec, func(e *sigstoretest.Entry) { e.Sig = []byte("other") }), "records another signature"},
		{"entry records another certificate", good, dA, fulcioSign(t, w, dA, ref, spec, func(e *sigstoretest.Entry) { _, e.KeyOrCert = w.Issue(t, spec) }), "records another public key or certificate"},
		{"no bundle", good, dA, without(ok, SigstoreSETAnnotation), "no dev.sigstore.cosign/bundle annotation"},
		{"bundle not JSON", good, dA, with(ok, SigstoreSETAnnotation, "{"), "dev.sigstore.cosign/bundle is not JSON"},
		{"bundle unknown field", good, dA, with(ok, SigstoreSETAnnotation, bundleOf(`"Extra": 1`)), `dev.sigstore.cosign/bundle has unknown field "Extra"`},
		{"bundle duplicate field", good, dA, with(ok, SigstoreSETAnnotation, bundleOf(`"SignedEntryTimestamp": "AA=="`)), `duplicate field "SignedEntryTimestamp"`},
		{"bundle SET not base64", good, dA, with(ok, SigstoreSETAnnotation, `{"SignedEntryTimestamp": "!!", "Payload": {}}`), "dev.sigstore.cosign/bundle: illegal base64"},
		{"bundle SET a number", good, dA, with(ok, SigstoreSETAnnotation, `{"SignedEntryTimestamp": 1, "Payload": {}}`), "SignedEntryTimestamp is a number, not a base64 string"},
		{"bundle without Payload", good, dA, with(ok, SigstoreSETAnnotation, `{"SignedEntryTimestamp": "AA=="}`), `dev.sigstore.cosign/bundle has no "Payload"`},
		{"key and Rekor, logged", keyRekor, dA, keySign(t, w, a, dA, ref), ""},
		{"key and Rekor, no SET", keyRekor, dA, a.sigstoreSign(t, dA, ref), "no dev.sigstore.cosign/bundle annotation: the policy requires a Rekor SET"},
		{"key and Rekor, SET of another key's signature", keyRekor, dA, with(a.sigstoreSign(t, dA, ref), SigstoreSETAnnotation, keySign(t, w, b, dA, ref).Annotations[SigstoreSETAnnotation]), "records another"},
		{"key and Rekor, other key", keyRekor, dA, keySign(t, w, b, dA, ref), "verification failed"},
		{"key and Rekor, digest A for B", keyRekor, dB, keySign(t, w, a, dA, ref), "signed for digest " + dA},
		{"unreadable CA", fulcioPolicy("/nonexistent/ca.pem", "https://issuer.example", "dev@example.com", w.RekorPath), dA, ok, "cannot read Fulcio CA /nonexistent/ca.pem"},
		{"CA not PEM", fulcioPolicy(w.RekorPath, "https://issuer.example", "dev@example.com", w.RekorPath), dA, ok, "Fulcio CA " + w.RekorPath + " holds no PEM certificate"},
		{"unreadable Rekor key", fulcioPolicy(w.CAPath, "https://issuer.example", "dev@example.com", "/nonexistent/rekor.pub"), dA, ok, "cannot read Rekor public key /nonexistent/rekor.pub"},
		{"Rekor key not ECDSA", fulcioPolicy(w.CAPath, "https://issuer.example", "dev@example.com", w.CAPath), dA, ok, "Rekor public key " + w.CAPath + " is not a PEM public key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := parse(t, c.policy)
			dec, err := p.Evaluate(Image{Ref: mustRef(t, ref), Digest: digest.Digest(c.digest)}, []Signature{c.sig})
			if c.reason == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if p.Default[0].Fulcio != nil && (dec.Signer != "dev@example.com" || dec.Issuer != "https://issuer.example" || dec.Key != w.CAPath) {
					t.Errorf("decision %+v: want signer dev@example.com, issuer https://issuer.example, key %s", dec, w.CAPath)
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
	w := sigstoretest.New(t, dir, "w")
	d, ref := "sha256:"+strings.Repeat("c", 64), "quay.io/ns/app:1"
	_, cert := w.Issue(t, sigstoretest.DefaultCert())
	impostor := sigstoretest.Key(t)
	p := []byte(payload(sigstoreType, d, ref))
	sig := sigstoretest.Sign(t, impostor, p)
	s := Signature{Kind: Sigstore, Data: p, Source: "test", Annotations: map[string]string{
		SigstoreSignatureAnnotation:   base64.StdEncoding.EncodeToString(sig),
		SigstoreCertificateAnnotation: string(cert),
		SigstoreChainAnnotation:       string(w.ChainPEM),
		SigstoreSETAnnotation:         sigstoretest.Entry{KeyOrCert: cert, Sig: sig, Payload: p, Integrated: time.Now(), LogID: w.LogID, Rekor: w.Rekor}.Bundle(t),
	}}
	pol := parse(t, fmt.Sprintf(`{"default": [{"type": "sigstoreSigned", "fulcio": {"caPath": %q, "oidcIssuer": "https://issuer.example", "subjectEmail": "dev@example.com"}, "rekorPublicKeyPath": %q}]}`, w.CAPath, w.RekorPath))
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
	w := sigstoretest.New(t, dir, "w")
	a := newKeys(t, dir, "a")
	d, ref := "sha256:"+strings.Repeat("d", 64), "quay.io/ns/app:1"
	ca, _ := os.ReadFile(w.CAPath)
	rk, _ := os.ReadFile(w.RekorPath)
	ak, _ := os.ReadFile(a.sigPath)
	enc := base64.StdEncoding.EncodeToString
	inline := parse(t, fmt.Sprintf(`{"default": [{"type": "sigstoreSigned", "fulcio": {"caData": %q, "oidcIssuer": "https://issuer.example", "subjectEmail": "dev@example.com"}, "rekorPublicKeyDatas": [%q, %q]}]}`, enc(ca), enc(ak), enc(rk)))
	dec, err := inline.Evaluate(Image{Ref: mustRef(t, ref), Digest: digest.Digest(d)}, []Signature{fulcioSign(t, w, d, ref, sigstoretest.DefaultCert(), nil)})
	if err != nil || dec.Key != "caData" || dec.Signer != "dev@example.com" {
		t.Fatalf("inline fulcio: %+v, %v", dec, err)
	}
	keys := parse(t, fmt.Sprintf(`{"default": [{"type": "sigstoreSigned", "keyDatas": [%q], "rekorPublicKeyPaths": [%q]}]}`, enc(ak), w.RekorPath))
	if dec, err := keys.Evaluate(Image{Ref: mustRef(t, ref), Digest: digest.Digest(d)}, []Signature{keySign(t, w, a, d, ref)}); err != nil || dec.Key != "keyDatas[0]" {
		t.Fatalf("keyDatas with rekorPublicKeyPaths: %+v, %v", dec, err)
	}

	content := fmt.Sprintf(`{"default": [{"type": "sigstoreSigned", "fulcio": {"caPath": %q, "oidcIssuer": "i", "subjectEmail": "e"}, "rekorPublicKeyPath": %q}]}`, w.CAPath, w.RekorPath)
	before := parse(t, content).Digest
	os.WriteFile(w.CAPath, []byte("changed"), 0o644)
	afterCA := parse(t, content).Digest
	os.WriteFile(w.RekorPath, []byte("changed"), 0o644)
	afterRekor := parse(t, content).Digest
	if before == afterCA || afterCA == afterRekor {
		t.Fatal("a changed CA or Rekor key file leaves the policy digest unchanged")
	}
}

// A requirement built by hand, not by Parse, with fulcio but no Rekor key,
// or with both keys and fulcio, rejects rather than checks less.
func TestHandBuiltFulcioFailsClosed(t *testing.T) {
	dir := t.TempDir()
	w := sigstoretest.New(t, dir, "w")
	a := newKeys(t, dir, "a")
	ca, _ := os.ReadFile(w.CAPath)
	ak, _ := os.ReadFile(a.sigPath)
	d, ref := "sha256:"+strings.Repeat("e", 64), "quay.io/ns/app:1"
	sig := fulcioSign(t, w, d, ref, sigstoretest.DefaultCert(), nil)
	f := &Fulcio{CA: Key{Field: "caData", Data: ca}, OIDCIssuer: "https://issuer.example", SubjectEmail: "dev@example.com"}
	for _, r := range []Requirement{
		{Type: TypeSigstoreSigned, Field: "x", Fulcio: f, Identity: Identity{Type: MatchRepoDigestOrExact}},
		{Type: TypeSigstoreSigned, Field: "x", Fulcio: f, Keys: []Key{{Field: "keyData", Data: ak}}, RekorKeys: []Key{{Path: w.RekorPath, Data: sigstoretest.PublicPEM(t, w.Rekor)}}, Identity: Identity{Type: MatchRepoDigestOrExact}},
	} {
		p := &Policy{Path: "hand", Default: []Requirement{r}}
		if _, err := p.Evaluate(Image{Ref: mustRef(t, ref), Digest: digest.Digest(d)}, []Signature{sig}); !IsRejected(err) || !strings.Contains(err.Error(), "sigstoreSigned needs keys, or fulcio with Rekor keys") {
			t.Errorf("%+v: error %v, want a rejection", r, err)
		}
	}
}
