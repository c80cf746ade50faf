package trust

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	dref "github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

func mustRef(t *testing.T, s string) dref.Named {
	t.Helper()
	r, err := dref.ParseNormalizedNamed(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func parse(t *testing.T, content string) *Policy {
	t.Helper()
	p, err := Parse("policy.json", []byte(content))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseErrorsNameFileLineAndField(t *testing.T) {
	for _, c := range []struct {
		name, content, want string
	}{
		{"syntax", "{\n  \"default\": [\n    {\"type\": \"reject\"},,\n  ]\n}", "policy.json:3: invalid JSON"},
		{"unknown top field", "{\"default\": [{\"type\": \"reject\"}],\n \"transport\": {}}", `policy.json:2: policy: unknown field "transport"`},
		{"no default", `{"transports": {}}`, "policy.json:1: default: missing"},
		{"empty default", "{\n\"default\": []}", "policy.json:2: default: the list of requirements is empty"},
		{"unknown type", "{\"default\": [\n{\"type\": \"acceptAll\"}]}", `policy.json:2: default[0].type: unknown requirement type "acceptAll"`},
		{"reject with a field", `{"default": [{"type": "reject", "keyPath": "/k"}]}`, `default[0]: unknown field "keyPath"`},
		{"type not a string", `{"default": [{"type": 1}]}`, "default[0].type: want a string, got number"},
		{"duplicate field", "{\"default\": [{\"type\": \"reject\"}],\n\"default\": []}", `policy.json:2: invalid JSON: duplicate field "default"`},
		{"signedBy without keyType", `{"default": [{"type": "signedBy", "keyPath": "/k"}]}`, `signedBy needs "keyType"`},
		{"signedBy two keys", `{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k", "keyData": "AA=="}]}`, "takes one of keyPath, keyPaths, keyData, not several"},
		{"signedBy no key", `{"default": [{"type": "signedBy", "keyType": "GPGKeys"}]}`, "signedBy needs one of keyPath, keyPaths, keyData"},
		{"keyData not base64", `{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyData": "!!"}]}`, "default[0].keyData: not base64"},
		{"scope requirement", "{\"default\": [{\"type\": \"reject\"}], \"transports\": {\"docker\": {\n\"quay.io/ns\": [{\"type\": \"signedBy\", \"keyType\": \"GPGKeys\", \"keyPath\": 3}]}}}", `policy.json:2: transports.docker["quay.io/ns"][0].keyPath: want a string, got number`},
		{"identity unknown", `{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k", "signedIdentity": {"type": "matchAll"}}]}`, `default[0].signedIdentity.type: unknown identity type "matchAll"`},
		{"exactReference name only", `{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k", "signedIdentity": {"type": "exactReference", "dockerReference": "quay.io/a/b"}}]}`, "has neither tag nor digest"},
		{"remap short prefix", `{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k", "signedIdentity": {"type": "remapIdentity", "prefix": "quay.io/ns:1", "signedPrefix": "quay.io"}}]}`, `signedIdentity.prefix: "quay.io/ns:1" is not`},
		{"sigstore without key", `{"default": [{"type": "sigstoreSigned"}]}`, "sigstoreSigned needs one of keyPath"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("policy.json", []byte(c.content))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestLoadMissingSaysWhatToDo(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "policy.json"))
	if err == nil || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "--signature-policy") {
		t.Fatalf("error %v, want it to say the file does not exist and how to name one", err)
	}
}

func TestScopes(t *testing.T) {
	p := parse(t, `{"default": [{"type": "reject"}], "transports": {"docker": {
		"": [{"type": "reject"}],
		"*.example.com": [{"type": "reject"}],
		"*.com": [{"type": "reject"}],
		"reg.example.com": [{"type": "reject"}],
		"reg.example.com:5000": [{"type": "reject"}],
		"reg.example.com/ns": [{"type": "reject"}],
		"reg.example.com/ns/app": [{"type": "reject"}],
		"reg.example.com/ns/app:1": [{"type": "reject"}],
		"reg.example.com/ns/app@sha256:1111111111111111111111111111111111111111111111111111111111111111": [{"type": "reject"}]
	}}}`)
	for _, c := range []struct{ ref, scope string }{
		{"reg.example.com/ns/app:1", "reg.example.com/ns/app:1"},
		{"reg.example.com/ns/app:2", "reg.example.com/ns/app"},
		{"reg.example.com/ns/app@sha256:1111111111111111111111111111111111111111111111111111111111111111", "reg.example.com/ns/app@sha256:1111111111111111111111111111111111111111111111111111111111111111"},
		{"reg.example.com/ns/app@sha256:2222222222222222222222222222222222222222222222222222222222222222", "reg.example.com/ns/app"},
		{"reg.example.com/ns/other:1", "reg.example.com/ns"},
		{"reg.example.com/ns/sub/deep:1", "reg.example.com/ns"},
		{"reg.example.com/top:1", "reg.example.com"},
		{"reg.example.com:5000/ns/app:1", "reg.example.com:5000"},
		{"reg.example.com:6000/ns/app:1", "*.example.com"},
		{"other.example.com/a:1", "*.example.com"},
		{"a.b.example.com/a:1", "*.example.com"},
		{"quay.com/a:1", "*.com"},
		{"quay.io/a:1", ScopeDockerDefault},
		{"localhost:5000/a:1", ScopeDockerDefault},
	} {
		scope, _ := p.Requirements(mustRef(t, c.ref))
		if scope != c.scope {
			t.Errorf("%s: scope %q, want %q", c.ref, scope, c.scope)
		}
	}
	noDocker := parse(t, `{"default": [{"type": "reject"}], "transports": {"docker-daemon": {"": [{"type": "insecureAcceptAnything"}]}}}`)
	if scope, _ := noDocker.Requirements(mustRef(t, "quay.io/a:1")); scope != ScopeDefault {
		t.Errorf("without docker scopes: scope %q, want %q", scope, ScopeDefault)
	}
}

func TestIdentityMatchers(t *testing.T) {
	d := "sha256:" + strings.Repeat("1", 64)
	exactRef := mustRef(t, "quay.io/ns/app:signed")
	repo := mustRef(t, "quay.io/ns/app")
	for _, c := range []struct {
		id       Identity
		intended string
		signed   string
		want     bool
	}{
		{Identity{Type: MatchRepoDigestOrExact}, "quay.io/ns/app:1", "quay.io/ns/app:1", true},
		{Identity{Type: MatchRepoDigestOrExact}, "quay.io/ns/app:1", "quay.io/ns/app:2", false},
		{Identity{Type: MatchRepoDigestOrExact}, "quay.io/ns/app@" + d, "quay.io/ns/app:2", true},
		{Identity{Type: MatchRepoDigestOrExact}, "quay.io/ns/app@" + d, "quay.io/ns/other:2", false},
		{Identity{Type: MatchRepoDigestOrExact}, "quay.io/ns/app@" + d, "quay.io/ns/app", false},
		{Identity{Type: MatchExact}, "quay.io/ns/app:1", "quay.io/ns/app:1", true},
		{Identity{Type: MatchExact}, "quay.io/ns/app@" + d, "quay.io/ns/app:1", false},
		{Identity{Type: MatchRepository}, "quay.io/ns/app:1", "quay.io/ns/app:9", true},
		{Identity{Type: MatchRepository}, "quay.io/ns/app:1", "quay.io/ns/app", true},
		{Identity{Type: MatchRepository}, "quay.io/ns/app:1", "quay.io/ns/apps:1", false},
		{Identity{Type: ExactReference, DockerReference: exactRef}, "quay.io/other/x:1", "quay.io/ns/app:signed", true},
		{Identity{Type: ExactReference, DockerReference: exactRef}, "quay.io/ns/app:signed", "quay.io/ns/app:1", false},
		{Identity{Type: ExactRepository, DockerRepository: repo}, "quay.io/other/x:1", "quay.io/ns/app:7", true},
		{Identity{Type: ExactRepository, DockerRepository: repo}, "quay.io/ns/app:1", "quay.io/ns/other:1", false},
		{Identity{Type: RemapIdentity, Prefix: "mirror.local/quay", SignedPrefix: "quay.io"}, "mirror.local/quay/ns/app:1", "quay.io/ns/app:1", true},
		{Identity{Type: RemapIdentity, Prefix: "mirror.local/quay", SignedPrefix: "quay.io"}, "mirror.local/quayx/ns/app:1", "quay.io/ns/app:1", false},
		{Identity{Type: RemapIdentity, Prefix: "mirror.local", SignedPrefix: "docker.io"}, "mirror.local/library/busybox:1", "busybox:1", true},
		{Identity{Type: RemapIdentity, Prefix: "mirror.local/quay", SignedPrefix: "quay.io"}, "quay.io/ns/app:1", "quay.io/ns/app:1", true},
	} {
		got := c.id.matches(mustRef(t, c.intended), mustRef(t, c.signed))
		if got != c.want {
			t.Errorf("%s: intended %s, signed %s: %v, want %v", c.id.Type, c.intended, c.signed, got, c.want)
		}
	}
}

// keys makes an OpenPGP key and a sigstore (ECDSA P-256) key in dir.
type testKeys struct {
	gpg       *openpgp.Entity
	gpgPath   string
	sig       *ecdsa.PrivateKey
	sigPath   string
	gpgSigner string
}

func newKeys(t *testing.T, dir, who string) testKeys {
	t.Helper()
	e, err := openpgp.NewEntity(who, "", who+"@test.invalid", nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := e.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	k := testKeys{gpg: e, gpgPath: filepath.Join(dir, who+".gpg"), sigPath: filepath.Join(dir, who+".pub")}
	if err := os.WriteFile(k.gpgPath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	k.gpgSigner = fingerprint(e.PrimaryKey.Fingerprint)
	if k.sig, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	pub, err := cryptoutils.MarshalPublicKeyToPEM(k.sig.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k.sigPath, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	return k
}

func payload(typ, d, ref string) string {
	return fmt.Sprintf(`{"critical":{"identity":{"docker-reference":%q},"image":{"docker-manifest-digest":%q},"type":%q},"optional":{"creator":"test"}}`, ref, d, typ)
}

func (k testKeys) gpgSign(t *testing.T, d, ref string) Signature {
	t.Helper()
	var buf bytes.Buffer
	w, err := openpgp.Sign(&buf, k.gpg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(payload(simpleSigningType, d, ref)))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return Signature{Kind: SimpleSigning, Data: buf.Bytes(), Source: "test"}
}

func (k testKeys) sigstoreSign(t *testing.T, d, ref string) Signature {
	t.Helper()
	sv, err := signature.LoadECDSASignerVerifier(k.sig, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	p := payload(sigstoreType, d, ref)
	sig, err := sv.SignMessage(strings.NewReader(p))
	if err != nil {
		t.Fatal(err)
	}
	return Signature{Kind: Sigstore, Data: []byte(p), Annotations: map[string]string{SigstoreSignatureAnnotation: base64.StdEncoding.EncodeToString(sig)}, Source: "test"}
}

func TestEvaluate(t *testing.T) {
	dir := t.TempDir()
	a, b := newKeys(t, dir, "a"), newKeys(t, dir, "b")
	dA := digest.Digest("sha256:" + strings.Repeat("a", 64))
	dB := digest.Digest("sha256:" + strings.Repeat("b", 64))
	ref := "quay.io/ns/app:1"
	gpgPolicy := fmt.Sprintf(`{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": %q}]}`, a.gpgPath)
	sigPolicy := fmt.Sprintf(`{"default": [{"type": "sigstoreSigned", "keyPath": %q}]}`, a.sigPath)
	badSig := a.sigstoreSign(t, dA.String(), ref)
	badSig.Annotations = map[string]string{SigstoreSignatureAnnotation: b.sigstoreSign(t, dB.String(), ref).Annotations[SigstoreSignatureAnnotation]}
	for _, c := range []struct {
		name   string
		policy string
		digest digest.Digest
		sigs   []Signature
		reason string // "" when accepted
		signer string
	}{
		{"gpg signed", gpgPolicy, dA, []Signature{a.gpgSign(t, dA.String(), ref)}, "", a.gpgSigner},
		// A signature that verifies for digest A never admits digest B,
		// whatever the tag does.
		{"gpg signature of digest A for digest B", gpgPolicy, dB, []Signature{a.gpgSign(t, dA.String(), ref)}, "signed for digest " + dA.String(), ""},
		{"gpg other key", gpgPolicy, dA, []Signature{b.gpgSign(t, dA.String(), ref)}, "not among the trusted keys", ""},
		{"gpg none", gpgPolicy, dA, nil, "no signature of " + dA.String(), ""},
		{"gpg one good among bad", gpgPolicy, dA, []Signature{b.gpgSign(t, dA.String(), ref), a.gpgSign(t, dA.String(), ref)}, "", a.gpgSigner},
		{"gpg identity", gpgPolicy, dA, []Signature{a.gpgSign(t, dA.String(), "quay.io/ns/app:2")}, "does not match", ""},
		{"gpg garbage", gpgPolicy, dA, []Signature{{Kind: SimpleSigning, Data: []byte("not openpgp"), Source: "test"}}, "not a valid OpenPGP signature", ""},
		{"gpg wrong payload type", gpgPolicy, dA, []Signature{func() Signature {
			var buf bytes.Buffer
			w, _ := openpgp.Sign(&buf, a.gpg, nil, nil)
			w.Write([]byte(payload(sigstoreType, dA.String(), ref)))
			w.Close()
			return Signature{Kind: SimpleSigning, Data: buf.Bytes(), Source: "test"}
		}()}, "signature payload type", ""},
		{"sigstore signed", sigPolicy, dA, []Signature{a.sigstoreSign(t, dA.String(), ref)}, "", "sha256:"},
		{"sigstore digest A for B", sigPolicy, dB, []Signature{a.sigstoreSign(t, dA.String(), ref)}, "signed for digest " + dA.String(), ""},
		{"sigstore other key", sigPolicy, dA, []Signature{b.sigstoreSign(t, dA.String(), ref)}, "verification failed", ""},
		{"sigstore payload swapped", sigPolicy, dA, []Signature{badSig}, "verification failed", ""},
		{"sigstore ignores gpg", sigPolicy, dA, []Signature{a.gpgSign(t, dA.String(), ref)}, "no sigstore signature", ""},
		{"unreadable key", `{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/nonexistent/key.gpg"}]}`, dA, []Signature{a.gpgSign(t, dA.String(), ref)}, "cannot read key /nonexistent/key.gpg", ""},
		{"not a key", fmt.Sprintf(`{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": %q}]}`, a.sigPath), dA, []Signature{a.gpgSign(t, dA.String(), ref)}, "key " + a.sigPath + " is not an OpenPGP key ring", ""},
		{"all requirements must pass", fmt.Sprintf(`{"default": [{"type": "insecureAcceptAnything"}, {"type": "signedBy", "keyType": "GPGKeys", "keyPath": %q}]}`, a.gpgPath), dA, nil, "no signature", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := parse(t, c.policy)
			dec, err := p.Evaluate(Image{Ref: mustRef(t, ref), Digest: c.digest}, c.sigs)
			if c.reason == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if !strings.HasPrefix(dec.Signer, c.signer) || dec.Signer == "" {
					t.Errorf("signer %q, want %q", dec.Signer, c.signer)
				}
				return
			}
			if !IsRejected(err) || !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("error %v, want a rejection saying %q", err, c.reason)
			}
			if !strings.Contains(err.Error(), "rejected by policy policy.json: the default scope requires") {
				t.Errorf("error %q does not name the policy and scope", err)
			}
		})
	}
}

func TestParsePayload(t *testing.T) {
	d := "sha256:" + strings.Repeat("e", 64)
	crit := fmt.Sprintf(`"critical":{"identity":{"docker-reference":"quay.io/a:1"},"image":{"docker-manifest-digest":%q},"type":"atomic container signature"}`, d)
	for _, c := range []struct {
		payload, err string
	}{
		{"{" + crit + `,"optional":{"creator":"x","timestamp":1700000000,"other":[1]}}`, ""},
		{"{" + crit + "}", "no optional object"},
		{"{" + crit + `,"optional":{},"extra":1}`, `unknown field "extra"`},
		{"{" + crit + `,"optional":{"timestamp":"now"}}`, "optional.timestamp is not an integer"},
		{"{" + crit + `,"optional":{"creator":7}}`, "optional.creator is not a string"},
		{strings.Replace("{"+crit+`,"optional":{}}`, `"type"`, `"kind"`, 1), `has no "type"`},
		{strings.Replace("{"+crit+`,"optional":{}}`, `"docker-reference":"quay.io/a:1"`, `"docker-reference":"quay.io/a:1","x":1`, 1), "exactly the fields"},
	} {
		_, err := parsePayload([]byte(c.payload), SimpleSigning)
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: error %v, want %q", c.payload, err, c.err)
		}
	}
}

func TestPolicyDigestFollowsKeys(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k.gpg")
	os.WriteFile(key, []byte("one"), 0o644)
	content := fmt.Sprintf(`{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": %q}]}`, key)
	p1 := parse(t, content)
	os.WriteFile(key, []byte("two"), 0o644)
	p2 := parse(t, content)
	if p1.Digest == p2.Digest {
		t.Fatal("a changed key file leaves the policy digest unchanged: an image accepted with the old key would not be checked again")
	}
}

func TestRegistriesD(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("default-docker:\n  lookaside: file:///sigs\ndocker:\n  quay.io/ns:\n    lookaside: https://sigs.example.com/quay\n    use-sigstore-attachments: true\n  quay.io/ns/app:\n    use-sigstore-attachments: false\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "b.yaml"), []byte("docker:\n  quay.io:\n    sigstore: file:///old\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "ignored.txt"), []byte("not: [yaml"), 0o644)
	r, err := LoadRegistries(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ref, lookaside string
		attach         bool
	}{
		{"quay.io/ns/app:1", "https://sigs.example.com/quay/ns/app", false},
		{"quay.io/ns/other:1", "https://sigs.example.com/quay/ns/other", true},
		{"quay.io/top:1", "file:///old/top", false},
		{"docker.io/library/busybox:1", "file:///sigs/library/busybox", false},
	} {
		u, err := r.Lookaside(mustRef(t, c.ref))
		if err != nil {
			t.Fatal(err)
		}
		if u.String() != c.lookaside {
			t.Errorf("%s: lookaside %s, want %s", c.ref, u, c.lookaside)
		}
		if got := r.UseSigstoreAttachments(mustRef(t, c.ref)); got != c.attach {
			t.Errorf("%s: attachments %v, want %v", c.ref, got, c.attach)
		}
	}

	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "x.yaml"), []byte("docker:\n  quay.io:\n    lookaside: [1\n"), 0o644)
	if _, err := LoadRegistries(bad); err == nil || !strings.Contains(err.Error(), filepath.Join(bad, "x.yaml")) || !strings.Contains(err.Error(), "line") {
		t.Errorf("malformed registries.d: error %v, want the file and the line", err)
	}
	dup := t.TempDir()
	os.WriteFile(filepath.Join(dup, "1.yaml"), []byte("docker:\n  quay.io:\n    lookaside: file:///a\n"), 0o644)
	os.WriteFile(filepath.Join(dup, "2.yaml"), []byte("docker:\n  quay.io:\n    lookaside: file:///b\n"), 0o644)
	if _, err := LoadRegistries(dup); err == nil || !strings.Contains(err.Error(), `"quay.io" is set in`) {
		t.Errorf("a scope in two files: error %v", err)
	}
}

func TestReadLookaside(t *testing.T) {
	dir := t.TempDir()
	d := digest.Digest("sha256:" + strings.Repeat("c", 64))
	sigDir := filepath.Join(dir, "ns", "app@sha256="+strings.Repeat("c", 64))
	os.MkdirAll(sigDir, 0o755)
	os.WriteFile(filepath.Join(sigDir, "signature-1"), []byte("one"), 0o644)
	os.WriteFile(filepath.Join(sigDir, "signature-2"), []byte("two"), 0o644)
	os.WriteFile(filepath.Join(sigDir, "signature-4"), []byte("after a gap: not read"), 0o644)
	base, _ := (&Registries{Default: &Namespace{Lookaside: "file://" + dir}}).Lookaside(mustRef(t, "quay.io/ns/app:1"))
	sigs, err := ReadLookaside(t.Context(), nil, base, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 2 || string(sigs[0].Data) != "one" || string(sigs[1].Data) != "two" {
		t.Fatalf("read %d signatures: %+v", len(sigs), sigs)
	}
	other, err := ReadLookaside(t.Context(), nil, base, digest.Digest("sha256:"+strings.Repeat("d", 64)))
	if err != nil || len(other) != 0 {
		t.Fatalf("another digest: %d signatures, %v; want none", len(other), err)
	}
}
