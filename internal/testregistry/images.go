package testregistry

import (
	"github.com/freshpull/freshpull/internal/localregistry"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Image returns a random image of n layers of size bytes each, for the
// given platform, with OCI media types.
func Image(t testing.TB, layers int, size int64, platform v1.Platform) v1.Image {
	t.Helper()
	img, err := localregistry.RandomImage(layers, size, platform)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// DockerImage is Image with Docker schema 2 media types.
func DockerImage(t testing.TB, layers int, size int64, platform v1.Platform) v1.Image {
	t.Helper()
	img := Image(t, layers, size, platform)
	img = mutate.MediaType(img, types.DockerManifestSchema2)
	return mutate.ConfigMediaType(img, types.DockerConfigJSON)
}

// Index returns a multi-platform OCI index with one random image per
// platform.
func Index(t testing.TB, platforms ...v1.Platform) v1.ImageIndex {
	t.Helper()
	var idx v1.ImageIndex = mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range platforms {
		p := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        Image(t, 2, 1024, p),
			Descriptor: v1.Descriptor{Platform: &p},
		})
	}
	return idx
}

// Push writes img to ref ("HOST/repo:tag") and returns its digest.
func Push(t testing.TB, ref string, img v1.Image) v1.Hash {
	t.Helper()
	d, err := localregistry.Push(ref, img)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// PushIndex writes idx and its images to ref and returns the index digest.
func PushIndex(t testing.TB, ref string, idx v1.ImageIndex) v1.Hash {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Linux returns linux/ARCH.
func Linux(arch string) v1.Platform { return v1.Platform{OS: "linux", Architecture: arch} }
