// Package trust decides whether an image may be used, as
// containers-policy.json(5) says: it reads policy.json and registries.d
// (containers-registries.d(5)), picks the requirements of the most specific
// scope for a reference, and evaluates them over facts — the reference, the
// digest it resolved to, and the signatures found for that digest — so that
// freshpull accepts exactly the images that containers/image (podman,
// buildah, skopeo, CRI-O, OpenShift builds) accepts.
//
// The decision ([Policy.Evaluate]) does no I/O: fetching signatures is the
// caller's, through [Registries] (where the lookaside and sigstore
// attachments are) and [ReadLookaside]. Table tests cover the decision
// without a registry.
//
// Why the evaluation is written here and not taken from containers/image:
// its evaluator answers only yes or no, where freshpull must say which
// scope, requirement and key decided (the trust field of -o json, and the
// message of a rejection); it reads signatures only through its own docker
// transport, a second registry client with its own credentials, TLS and
// mirror logic that would fetch the manifest again and bypass freshpull's;
// and its dependency tree would weigh on the start of every command. The
// cryptography and formats are libraries': OpenPGP from
// github.com/ProtonMail/go-crypto, sigstore public keys and certificates
// from github.com/sigstore/sigstore's cryptoutils, Rekor's canonical JSON
// (RFC 8785) from github.com/cyberphone/json-canonicalization (which
// containers/image and cosign use), the signature arithmetic and the
// certificate chains from the standard library (see verifyRaw and
// fulcioRoot.verify). Rekor entries are read with encoding/json rather
// than sigstore's rekor models, whose generated OpenAPI code and
// dependencies would weigh on every start for the four fields used.
package trust
