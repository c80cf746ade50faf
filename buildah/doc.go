// Package buildah is freshpull's build engine on buildah
// (https://github.com/containers/buildah), run as a command: daemonless,
// and what openshift/builder builds with.
//
// [Engine] runs "buildah build --pull=never" on the Dockerfile freshpull
// rewrote, whose images are all "oci:DIR:NAME" references to a layout
// holding exactly the digests freshpull pulled, so buildah never asks a
// registry about them. It then writes the image where it is asked to with
// "buildah push" (an oci: directory, a registry) and reports the image ID
// and manifest digest.
//
// A failed build is a [*StepError] naming the step that failed, as buildah
// printed it ("STEP 3/5: RUN make"), and carrying buildah's exit status,
// which for a failed RUN is the command's own.
package buildah
