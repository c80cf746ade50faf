// Package registry is freshpull's access to OCI and Docker registries.
//
// It stands on go-containerregistry: its transport package does the
// registry handshake (the /v2/ ping, basic and bearer-token auth), its authn
// package finds credentials (docker config.json with credential helpers,
// containers auth.json), and its remote package reads manifests. On top of
// that this package adds what a resolve-once, verify-everything pull needs:
//
//   - one authenticated transport per repository, built once and reused by
//     every request of a pull (no second ping or token round trip);
//   - Resolve, which asks what a tag points at with one HEAD and falls back
//     to GET only when the registry gives no Docker-Content-Digest, handing
//     back the GET's body so the manifest is not fetched twice;
//   - Blob, a ranged blob GET, so a broken download continues where it
//     stopped instead of starting over (go-containerregistry has no ranged
//     reads);
//   - retries that honour 429 Retry-After, which go-containerregistry's
//     retry transport ignores;
//   - errors classified for the caller (not found, unauthorized, unreachable)
//     and worded with what to do.
package registry
