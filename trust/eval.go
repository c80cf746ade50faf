package trust

import (
	"errors"
	"fmt"
	"strings"

	dref "github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// Kinds of signature.
const (
	// SimpleSigning is a GPG "atomic container signature", from a
	// lookaside or the registry's signature API.
	SimpleSigning = "simple-signing"
	// Sigstore is a sigstore signature stored as an attachment
	// (tag sha256-<hex>.sig).
	Sigstore = "sigstore"
)

// Signature is one signature found for an image digest.
type Signature struct {
	// Kind is SimpleSigning or Sigstore.
	Kind string
	// Data is the OpenPGP message of a simple signing signature, or the
	// payload of a sigstore signature.
	Data []byte
	// Annotations of a sigstore attachment's layer (the signature
	// itself is in dev.cosignproject.cosign/signature).
	Annotations map[string]string
	// Source says where it was found, for messages.
	Source string
}

// Image is what the decision is about.
type Image struct {
	// Ref is the reference as pulled, with a tag or a digest.
	Ref dref.Named
	// Digest is what Ref resolved to: the manifest (or index) whose
	// bytes freshpull fetches and verifies. A signature must name it.
	Digest digest.Digest
}

// Decision says what accepted an image, or what rejected it.
type Decision struct {
	// Policy is the policy file.
	Policy string `json:"policy"`
	// PolicyDigest identifies the policy and keys in force.
	PolicyDigest digest.Digest `json:"policyDigest"`
	// Scope chose the requirements: a docker scope, ScopeDockerDefault or
	// ScopeDefault.
	Scope string `json:"scope"`
	// Type is the requirement type that decided: for a rejection the one
	// that failed, for an acceptance the types of the list, joined by
	// "+".
	Type string `json:"type"`
	// Key names the key that verified a signature (its path, or
	// "keyData").
	Key string `json:"key,omitempty"`
	// Signer identifies the signing key: the OpenPGP fingerprint, the
	// sha256 of a sigstore public key, or the subject email of a Fulcio
	// certificate.
	Signer string `json:"signer,omitempty"`
	// Issuer is the OIDC issuer that vouched for a Fulcio certificate's
	// subject email.
	Issuer string `json:"issuer,omitempty"`
	// Identity is the docker reference the accepted signature claims.
	Identity string `json:"identity,omitempty"`
}

// SignedBy says, for messages, who signed: "SIGNER (key KEY)", or for a
// Fulcio certificate "EMAIL (OIDC issuer ISSUER, Fulcio CA KEY)"; "" when
// no signature decided.
func (d Decision) SignedBy() string {
	switch {
	case d.Signer == "":
		return ""
	case d.Issuer != "":
		return fmt.Sprintf("%s (OIDC issuer %s, Fulcio CA %s)", d.Signer, d.Issuer, d.Key)
	}
	return fmt.Sprintf("%s (key %s)", d.Signer, d.Key)
}

// RejectedError is an image the policy does not accept. A CLI exits 5 on
// it.
type RejectedError struct {
	Decision Decision
	// Reason says why, in words.
	Reason string
}

func (e *RejectedError) Error() string {
	scope := fmt.Sprintf("scope %q", e.Decision.Scope)
	switch e.Decision.Scope {
	case ScopeDefault:
		scope = "the default scope"
	case ScopeDockerDefault:
		scope = "the docker transport's default scope"
	}
	return fmt.Sprintf("rejected by policy %s: %s requires %s: %s", e.Decision.Policy, scope, e.Decision.Type, e.Reason)
}

// IsRejected reports whether err is a [RejectedError].
func IsRejected(err error) bool {
	var re *RejectedError
	return errors.As(err, &re)
}

// Evaluate decides whether img is accepted given the signatures found for
// img.Digest. It does no I/O beyond what Load did. The error is a
// *RejectedError when the policy rejects the image.
func (p *Policy) Evaluate(img Image, sigs []Signature) (Decision, error) {
	scope, reqs := p.Requirements(img.Ref)
	d := Decision{Policy: p.Path, PolicyDigest: p.Digest, Scope: scope}
	var types []string
	for _, r := range reqs {
		acc, reason := r.evaluate(img, sigs)
		if reason != "" {
			d.Type = r.Type
			return d, &RejectedError{Decision: d, Reason: reason}
		}
		types = append(types, r.Type)
		if acc.Signer != "" {
			d.Key, d.Signer, d.Issuer, d.Identity = acc.Key, acc.Signer, acc.Issuer, acc.Identity
		}
	}
	d.Type = strings.Join(types, "+")
	return d, nil
}

// accepted is who signed an accepted signature.
type accepted struct {
	Key, Signer, Issuer, Identity string
}

// evaluate returns the reason r rejects img, or "" and who signed.
func (r Requirement) evaluate(img Image, sigs []Signature) (accepted, string) {
	switch r.Type {
	case TypeInsecureAcceptAnything:
		return accepted{}, ""
	case TypeReject:
		return accepted{}, fmt.Sprintf("every image in this scope is rejected (%s)", r.Field)
	case TypeSignedBy, TypeSigstoreSigned:
	default:
		return accepted{}, fmt.Sprintf("unknown requirement type %q", r.Type)
	}
	kind := SimpleSigning
	if r.Type == TypeSigstoreSigned {
		kind = Sigstore
	}
	v, err := r.verifier()
	if err != nil {
		return accepted{}, err.Error()
	}
	var reasons []string
	n := 0
	for _, s := range sigs {
		if s.Kind != kind {
			continue
		}
		n++
		acc, err := r.check(v, img, s)
		if err == nil {
			return acc, ""
		}
		reasons = append(reasons, fmt.Sprintf("%s: %v", s.Source, err))
	}
	trusted := r.trusted()
	if n == 0 {
		what := "signature"
		if kind == Sigstore {
			what = "sigstore signature"
		}
		return accepted{}, fmt.Sprintf("no %s of %s exists (%s); sign it, or see where signatures are looked for in registries.d", what, img.Digest, trusted)
	}
	return accepted{}, fmt.Sprintf("no signature verified with %s (%s)", trusted, strings.Join(reasons, "; "))
}

// trusted says, for messages, what r trusts to sign.
func (r Requirement) trusted() string {
	names := func(keys []Key) string {
		var out []string
		for _, k := range keys {
			out = append(out, k.Name())
		}
		return strings.Join(out, ", ")
	}
	var s string
	switch {
	case r.Fulcio != nil:
		s = fmt.Sprintf("a certificate of Fulcio CA %s for %s by %s", r.Fulcio.CA.Name(), r.Fulcio.SubjectEmail, r.Fulcio.OIDCIssuer)
	case len(r.Keys) == 1:
		s = "key " + names(r.Keys)
	default:
		s = "keys " + names(r.Keys)
	}
	if len(r.RekorKeys) > 0 {
		s += ", logged by Rekor key " + names(r.RekorKeys)
	}
	return s
}

// check verifies one signature and what it claims.
func (r Requirement) check(v verifier, img Image, s Signature) (accepted, error) {
	payload, acc, err := v.verify(s)
	if err != nil {
		return accepted{}, err
	}
	claim, err := parsePayload(payload, s.Kind)
	if err != nil {
		return accepted{}, err
	}
	if claim.digest != img.Digest {
		return accepted{}, fmt.Errorf("signed for digest %s, not %s", claim.digest, img.Digest)
	}
	signed, err := dref.ParseNormalizedNamed(claim.identity)
	if err != nil {
		return accepted{}, fmt.Errorf("signed identity %q is not a valid reference: %v", claim.identity, err)
	}
	if !r.Identity.matches(img.Ref, signed) {
		return accepted{}, fmt.Errorf("signed identity %s does not match %s", signed, r.Identity.wanted(img.Ref))
	}
	acc.Identity = signed.String()
	return acc, nil
}

// verifier checks the cryptography of a signature against a requirement's
// keys and returns the signed payload.
type verifier interface {
	verify(s Signature) (payload []byte, acc accepted, err error)
}

func (r Requirement) verifier() (verifier, error) {
	unread := func(what string, keys ...Key) error {
		for _, k := range keys {
			if k.Err != nil {
				return fmt.Errorf("cannot read %s %s: %v (%s)", what, k.Path, k.Err, r.Field)
			}
		}
		return nil
	}
	if err := unread("key", r.Keys...); err != nil {
		return nil, err
	}
	if err := unread("Rekor public key", r.RekorKeys...); err != nil {
		return nil, err
	}
	if r.Fulcio != nil {
		if err := unread("Fulcio CA", r.Fulcio.CA); err != nil {
			return nil, err
		}
	}
	if r.Type == TypeSignedBy {
		return newGPGVerifier(r.Keys, r.Field)
	}
	return newSigstoreVerifier(r)
}
