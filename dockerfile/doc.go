// Package dockerfile pins the images a Dockerfile builds on to digests, and
// checks that the pins are current: the engine of "freshpull pin".
//
// A build that names its base by digest cannot be changed by a moved tag, a
// pull policy or a pre-pulled copy. Writing digests by hand is tedious and
// they go stale silently, so this package finds the references, pins them,
// and tells when a pinned tag has moved on.
//
// # Finding references
//
// [Parse] reads a Dockerfile with buildkit's parser
// (github.com/moby/buildkit/frontend/dockerfile/parser), the one docker build
// uses, and finds every external image reference: each FROM image, and each
// COPY --from= and RUN --mount=…,from= that names an image rather than a
// stage. A value names a stage when it is the name of any stage (stage names
// are case-insensitive) or a number (a stage index); "scratch" is no image
// either. A FROM names an earlier stage the same way.
//
// ARGs declared before the first FROM are substituted as docker build does,
// build args overriding their defaults. When a FROM image is exactly one ARG
// ("FROM ${BASE}" or "FROM $BASE"), the token that holds the reference is
// that ARG's default ("ARG BASE=registry/img:1", quotes allowed), so a pin
// goes there and the FROM line keeps its form (unless the ARG is also part
// of a longer word, such as "${BASE}-slim", which the pin would break). A
// reference that cannot be resolved from the file alone (an ARG without a
// default, an ARG set by the builder per platform such as TARGETARCH, or a
// reference only partly made of ARGs such as "golang:${GO_VERSION}") has
// [Ref.Skip] set to the reason.
// COPY --from and RUN --mount from= do not expand ARGs in docker build, so
// a "$" there is skipped too.
//
// Each reference records the line and byte offsets of its token in the file.
// The parser reports only line ranges and a joined logical line, so the
// token is located by rebuilding that logical line from the raw bytes with
// the parser's rules (line continuations, comment lines, escape directive,
// CRLF) and checking the result against the parser's: a disagreement is an
// error, never a wrong edit. A reference that is written with quotes or
// escapes inside it, split by a line continuation, or set by a build arg is
// reported and resolved but not rewritten ([Ref.NoEdit] says why).
// ONBUILD instructions are not examined: they run in another build.
//
// # Building
//
// A build needs every reference resolved, not just those a pin could be
// written for: [Ref.Build] is the reference with ARGs substituted even when
// it is made of ARGs and other text, and [File.Stages] says what each
// stage builds on. [File.Rewrite] returns a copy of the file in which the
// image word of chosen references ([Ref.UseStart], [Ref.UseEnd]: for a
// FROM, the word in the FROM line itself, never an ARG's default) names
// another image, so that "freshpull build" can hand its builder exactly
// the images it pulled.
//
// # Pinning
//
// [Pin] works on parsed files in one of four modes, asking a [Resolver]
// (one HEAD request in the registry implementation) what a tag points at
// now. For a multi-platform image that is the index digest, so a pinned
// file still builds on every platform. Each tag is resolved once per call.
//
//   - [ModePrint] reports each reference and the digest it resolves to now.
//   - [ModeWrite] rewrites each unpinned reference to NAME:TAG@DIGEST,
//     keeping the tag for humans and the spelling of the name ("ubuntu:22.04"
//     becomes "ubuntu:22.04@sha256:…", not "docker.io/library/ubuntu…"). A
//     reference without a tag is pinned as NAME:latest@DIGEST, so the pin
//     says which tag it follows and can be checked.
//   - [ModeCheck] asks, for each NAME:TAG@DIGEST, whether TAG still points
//     at DIGEST, and reports unpinned references; [Report.CheckFailed] tells
//     the CLI to exit 4.
//   - [ModeUpdate] rewrites stale pins to the tag's current digest.
//
// A reference pinned by digest only ("img@sha256:…") is reported as pinned:
// without a tag there is nothing to check it against.
//
// Writes change only the reference tokens; comments, spacing, line
// continuations, heredocs and every other byte stay as they were. A file is
// replaced atomically (temp file in the same directory, fsync, rename),
// keeps its permissions, and is not written if it changed since it was read.
//
// Each reference gets one [Result] with a [Status]:
//
//	unpinned  no digest in the file; Digest is what the tag points at now
//	          (Reason says so if the file cannot hold a pin for it)
//	pinned    digest in the file (Digest); not checked in print and write
//	          modes, or cannot be: digest only, no tag
//	current   check/update: the tag still points at the pinned digest
//	stale     check, or update when the pin cannot be rewritten: the tag
//	          now points at Digest, not at the pinned digest (in Reason)
//	written   write: pinned to Digest in the file
//	updated   update: stale pin replaced by Digest in the file
//	skipped   cannot be resolved, or (write) cannot be rewritten;
//	          Reason says why and what to do
//	error     resolving or writing failed; Reason holds the error
package dockerfile
