package localregistry

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// RandomImage returns an image of n random layers of size bytes each, for
// platform, with OCI media types.
func RandomImage(layers int, size int64, platform v1.Platform) (v1.Image, error) {
	img, err := random.Image(size, int64(layers))
	if err != nil {
		return nil, err
	}
	return AsOCI(mutate.MediaType(img, types.OCIManifestSchema1), platform)
}

// AsOCI sets the image's platform in its config and gives it OCI media
// types for manifest and config.
func AsOCI(img v1.Image, platform v1.Platform) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = platform.OS, platform.Architecture, platform.Variant
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, err
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	return mutate.ConfigMediaType(img, types.OCIConfigJSON), nil
}

// Push writes img to ref ("HOST/repo:tag") and returns its digest.
func Push(ref string, img v1.Image) (v1.Hash, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.Write(r, img); err != nil {
		return v1.Hash{}, fmt.Errorf("push %s: %w", ref, err)
	}
	return img.Digest()
}
