package extract

import (
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ImageLayers returns the layers of a go-containerregistry image (from an
// OCI layout, a registry, a tarball), base first, for Extract.
func ImageLayers(img v1.Image) ([]Layer, error) {
	ls, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("list image layers: %w", err)
	}
	out := make([]Layer, len(ls))
	for i, l := range ls {
		d, err := l.Digest()
		if err != nil {
			return nil, fmt.Errorf("layer %d: digest: %w", i, err)
		}
		mt, err := l.MediaType()
		if err != nil {
			return nil, fmt.Errorf("layer %s: media type: %w", d, err)
		}
		out[i] = v1Layer{l: l, digest: d.String(), mediaType: string(mt)}
	}
	return out, nil
}

type v1Layer struct {
	l                 v1.Layer
	digest, mediaType string
}

func (l v1Layer) MediaType() string            { return l.mediaType }
func (l v1Layer) Digest() string               { return l.digest }
func (l v1Layer) Open() (io.ReadCloser, error) { return l.l.Compressed() }
