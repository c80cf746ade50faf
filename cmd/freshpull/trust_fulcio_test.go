package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/freshpull/freshpull/internal/sigstoretest"
	"github.com/freshpull/freshpull/internal/testregistry"
)

// An image signed with a Fulcio certificate and logged in Rekor is pulled
// under a fulcio policy, and says who signed it; the same signature under
// another email, a SET by another log, a signature without its bundle, a
// certificate from another CA each exit 5 and store nothing. (Debian's
// skopeo has sigstore disabled: the answers are asserted.)
func TestTrustFulcioRekorPull(t *testing.T) {
	testregistry.Require(t)
	s := newSigning(t)
	R := s.reg
	w := sigstoretest.New(t, s.dir, "fulcio")
	other := sigstoretest.New(t, s.dir, "other")
	sign := func(repoTag string, world *sigstoretest.World, edit func(*sigstoretest.Entry), drop string) {
		s.push(repoTag)
		p := s.sigstorePayload(repoTag, R+"/"+repoTag)
		a := world.FulcioSign(t, p, sigstoretest.DefaultCert(), edit)
		delete(a, drop)
		s.attach(repoTag, p, a)
	}
	sign("ns/keyless:1", w, nil, "")
	sign("ns/otherlog:1", w, func(e *sigstoretest.Entry) { e.Rekor = other.Rekor }, "")
	sign("ns/nobundle:1", w, nil, sigstoretest.BundleAnnotation)
	sign("ns/otherca:1", other, func(e *sigstoretest.Entry) { e.Rekor, e.LogID = w.Rekor, w.LogID }, "")

	policy := func(email string) string {
		return s.policy(fmt.Sprintf(`{"default": [{"type": "reject"}], "transports": {"docker": {%q: [{"type": "sigstoreSigned", "fulcio": {"caPath": %q, "oidcIssuer": "https://issuer.example", "subjectEmail": %q}, "rekorPublicKeyPath": %q}]}}}`, R+"/ns", w.CAPath, email, w.RekorPath))
	}
	good, wrongEmail := policy("dev@example.com"), policy("boss@example.com")
	for _, c := range []struct {
		name, policy, ref, reason string // reason "" when accepted
	}{
		{"accepted", good, "ns/keyless:1", ""},
		{"another email", wrongEmail, "ns/keyless:1", `certificate is for ["dev@example.com"], not "boss@example.com"`},
		{"SET by another log", good, "ns/otherlog:1", "the Rekor SET is not signed by Rekor key " + w.RekorPath},
		{"no bundle", good, "ns/nobundle:1", "no dev.sigstore.cosign/bundle annotation"},
		{"another CA", good, "ns/otherca:1", "not accepted by Fulcio CA " + w.CAPath},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := t.TempDir()
			ref := R + "/" + c.ref
			args := []string{"--signature-policy", c.policy, "--registries-d", s.regsD, "--policy", "always", ref}
			if c.reason == "" {
				r := pullOne(t, st, 0, args...)
				if r.Trust == nil || r.Trust.Type != "sigstoreSigned" || r.Trust.Signer != "dev@example.com" || r.Trust.Issuer != "https://issuer.example" || r.Trust.Key != w.CAPath {
					t.Fatalf("trust %+v: want sigstoreSigned by dev@example.com of https://issuer.example, key %s", r.Trust, w.CAPath)
				}
				if a := storeAnnotations(t, st, ref); a == nil || !strings.Contains(a["io.freshpull.trust"], `"issuer":"https://issuer.example"`) {
					t.Errorf("the store does not record the issuer: %v", a)
				}
				in := fp(t, "--store", st, "inspect", ref)
				if want := "signed by dev@example.com (OIDC issuer https://issuer.example, Fulcio CA " + w.CAPath + ")"; in.code != 0 || !strings.Contains(in.stdout, want) {
					t.Errorf("inspect does not say %q: %s%s", want, in.stdout, in.stderr)
				}
				return
			}
			r := pullOne(t, st, exitRejected, args...)
			if !strings.Contains(r.Error, "requires sigstoreSigned") || !strings.Contains(r.Error, c.reason) {
				t.Errorf("error %q, want the rejection to say %q", r.Error, c.reason)
			}
			if a := storeAnnotations(t, st, ref); a != nil {
				t.Errorf("the rejected image is in the store: %v", a)
			}
		})
	}
}
