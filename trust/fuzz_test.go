package trust

import "testing"

// FuzzParse: no policy.json, however malformed, makes Parse panic, and one
// it accepts yields a default requirement list that is never empty.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"default": [{"type": "insecureAcceptAnything"}]}`,
		`{"default": [{"type": "reject"}], "transports": {"docker": {"quay.io/ns": [{"type": "signedBy", "keyType": "GPGKeys", "keyData": "AA==", "signedIdentity": {"type": "remapIdentity", "prefix": "a.io", "signedPrefix": "b.io/x"}}]}}}`,
		`{"default": [{"type": "sigstoreSigned", "keyPaths": ["/a", "/b"], "signedIdentity": {"type": "exactReference", "dockerReference": "quay.io/a:1"}}]}`,
		`{"default": [{"type": "sigstoreSigned", "fulcio": {}}]}`,
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
