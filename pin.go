package freshpull

import (
	"context"

	"github.com/freshpull/freshpull/dockerfile"
	"github.com/freshpull/freshpull/reference"
	"github.com/opencontainers/go-digest"
)

// PinOptions configure [Pin].
type PinOptions struct {
	// Mode: print, write, check or update.
	Mode dockerfile.Mode
	// BuildArgs override ARG defaults, as docker build --build-arg does.
	BuildArgs map[string]string
}

// Pin reads Dockerfiles and pins, checks or updates the digests of the
// images they build on (see package dockerfile), asking the registry with
// one HEAD per distinct tag.
func Pin(ctx context.Context, paths []string, opts Options, popts PinOptions) (*dockerfile.Report, error) {
	files := make([]*dockerfile.File, 0, len(paths))
	for _, p := range paths {
		f, err := dockerfile.ParseFile(p, popts.BuildArgs)
		if err != nil {
			return nil, &InputError{err}
		}
		files = append(files, f)
	}
	return dockerfile.Pin(ctx, files, popts.Mode, RegistryResolver(opts))
}

// RegistryResolver answers what a tag points at now with one HEAD request:
// the digest of the index for a multi-platform image, so a pin names every
// platform. With opts.Trust set, the digest is checked against the
// signature policy before it is returned: a pin never names a digest the
// policy rejects (the pinned build would pull it and fail).
func RegistryResolver(opts Options) dockerfile.Resolver {
	return dockerfile.ResolverFunc(func(ctx context.Context, ref reference.Reference) (digest.Digest, error) {
		src, r, err := resolveOnce(ctx, "resolve", ref, opts)
		if err != nil {
			return "", err
		}
		if opts.Trust != nil {
			if _, err := checkTrust(ctx, opts, src, ref, r.Descriptor.Digest); err != nil {
				return "", opError("pin", ref.String(), err)
			}
		}
		return r.Descriptor.Digest, nil
	})
}
