// Package freshpull is the image-acquisition engine of a daemonless
// container builder, as a library: it pulls images from OCI and Docker
// registries into a local OCI image-layout store under a pull policy, and
// tells exactly which image a build starts from and why.
//
// The operations are plain functions over the parts in the subpackages:
// [Pull] and [PullAll] fetch under a policy, [Resolve] asks the registry
// what a reference points to now, [Extract] writes an image's files out,
// [Pin] pins a Dockerfile's images, [Verify] checks an image against the
// signature policy without pulling it, and [Build] builds a Dockerfile with
// an [Engine] on exactly the images it pulled. Each takes an [Options] that
// names the store, the registry client, the pull policy and the signature
// policy.
//
// The rules it keeps (see DESIGN.md): a tag is resolved exactly once per
// pull, with one HEAD, and everything after that is fetched by digest;
// every byte is verified before it becomes visible in the store; no image
// the signature policy rejects is stored or used; a fallback to a local
// copy is never silent.
package freshpull
