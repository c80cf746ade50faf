package store

import (
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// FuzzChildren: the walk gc and fsck do over stored manifests and indexes
// must not panic on any bytes.
func FuzzChildren(f *testing.F) {
	f.Add(ocispec.MediaTypeImageManifest, []byte(`{"config":{"digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},"layers":[]}`))
	f.Add(ocispec.MediaTypeImageIndex, []byte(`{"manifests":[{"digest":"sha256:x"}]}`))
	f.Add("", []byte(`{"manifests":null}`))
	f.Add("", []byte(`{}`))
	f.Add(DockerManifest, []byte(`{"config":{"digest":""}}`))
	f.Fuzz(func(t *testing.T, mt string, body []byte) {
		children(ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(body)}, body)
	})
}
