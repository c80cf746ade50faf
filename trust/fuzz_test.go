package trust

import (
	"strings"
	"testing"

	"github.com/freshpull/freshpull/internal/sigstoretest"
)

// FuzzParse: no policy.json, however malformed, makes Parse panic, and one
// it accepts yields a default requirement list that is never empty.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"default": [{"type": "insecureAcceptAnything"}]}`,
		`{"default": [{"type": "reject"}], "transports": {"docker": {"quay.io/ns": [{"type": "signedBy", "keyType": "GPGKeys", "keyData": "AA==", "signedIdentity": {"type": "remapIdentity", "prefix": "a.io", "signedPrefix": "b.io/x"}}]}}}`,
		`{"default": [{"type": "sigstoreSigned", "keyPaths": ["/a", "/b"], "signedIdentity": {"type": "exactReference", "dockerReference": "quay.io/a:1"}}]}`,
		`{"default": [{"type": "sigstoreSigned", "fulcio": {}}]}`,
		`{"default": [{"type": "sigstoreSigned", "fulcio": {"caData": "AA==", "oidcIssuer": "i", "subjectEmail": "e"}, "rekorPublicKeyDatas": ["AA=="]}]}`,
		`{"default": [], "default": []}`,
		`[1, 2`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("policy.json", data)
		if err == nil && len(p.Default) == 0 {
			t.Fatalf("accepted a policy without default requirements: %q", data)
		}
	})
}

// FuzzVerifySET: no bundle annotation, however malformed, makes verifySET
// panic, and one it accepts yields a whole hashedrekord entry.
func FuzzVerifySET(f *testing.F) {
	w := sigstoretest.New(f, f.TempDir(), "fuzz")
	keys, err := newRekorKeys([]Key{{Path: w.RekorPath, Data: sigstoretest.PublicPEM(f, w.Rekor)}}, "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	p := []byte(payload(sigstoreType, "sha256:"+strings.Repeat("f", 64), "quay.io/a:1"))
	good := w.FulcioSign(f, p, sigstoretest.DefaultCert(), nil)[SigstoreSETAnnotation]
	for _, s := range []string{good, `{"SignedEntryTimestamp": "AA==", "Payload": {"body": "e30=", "integratedTime": 1, "logIndex": 1, "logID": ""}}`, `{"Payload": 1}`, `[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, bundle []byte) {
		e, err := verifySET(keys, bundle)
		if err == nil && (len(e.signature) == 0 || len(e.payloadSum) != 32 || len(e.keyOrCert) == 0) {
			t.Fatalf("accepted an incomplete entry %+v from %q", e, bundle)
		}
	})
}
