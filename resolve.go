package freshpull

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/freshpull/freshpull/reference"
	"github.com/freshpull/freshpull/store"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Resolution is what a reference points to in the registry now.
type Resolution struct {
	// Reference is the input as given.
	Reference string `json:"reference"`
	// Canonical is the fully qualified reference asked about.
	Canonical string `json:"canonical"`
	// Digest is what the reference resolves to (an index or a manifest).
	Digest string `json:"digest"`
	// MediaType of what Digest names.
	MediaType string `json:"mediaType"`
	// PlatformDigest is the manifest for the requested platform when
	// Digest names an index.
	PlatformDigest string `json:"platformDigest,omitempty"`
	// Platform is the platform PlatformDigest was chosen for.
	Platform string `json:"platform,omitempty"`
	// Error is the failure, when there was one.
	Error string `json:"error,omitempty"`
	// Err is the failure as an error, for errors.Is and errors.As.
	Err error `json:"-"`
}

// Resolve asks the registry what input points to now, without pulling: one
// HEAD for the reference, and for an index one GET of the index by digest
// to name the platform's manifest.
func Resolve(ctx context.Context, input string, opts Options) (Resolution, error) {
	res := Resolution{Reference: input}
	err := resolve(ctx, input, opts, &res)
	if err != nil {
		res.Error, res.Err = err.Error(), err
	}
	return res, err
}

func resolve(ctx context.Context, input string, opts Options, res *Resolution) error {
	ref, err := reference.Parse(input)
	if err != nil {
		return &InputError{err}
	}
	target := ref.WithDefaultTag()
	res.Canonical = target.String()
	src, r, err := resolveOnce(ctx, "resolve", target, opts)
	if err != nil {
		return err
	}
	res.Digest = r.Descriptor.Digest.String()
	body := r.Manifest
	if store.IsIndex(r.Descriptor.MediaType) || r.Descriptor.MediaType == "" {
		if body == nil {
			if body, err = src.manifest(ctx, r.Descriptor.Digest); err != nil {
				return opError("resolve", res.Canonical, err)
			}
		}
	}
	res.MediaType = r.Descriptor.MediaType
	if body != nil {
		if res.MediaType, err = sniffMediaType(r.Descriptor.MediaType, body); err != nil {
			return fmt.Errorf("resolve %s: %s: %w", res.Canonical, res.Digest, err)
		}
	}
	if store.IsIndex(res.MediaType) {
		var idx ocispec.Index
		if err := json.Unmarshal(body, &idx); err != nil {
			return fmt.Errorf("resolve %s: index %s: malformed: %v", res.Canonical, res.Digest, err)
		}
		child, err := choosePlatform(idx, opts.platform())
		if err != nil {
			return fmt.Errorf("resolve %s: %s: %w", res.Canonical, res.Digest, err)
		}
		res.PlatformDigest = child.Digest.String()
		if child.Platform != nil {
			res.Platform = store.FormatPlatform(*child.Platform)
		}
	}
	return nil
}
