package freshpull

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/freshpull/freshpull/store"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Docker's schema 1 media types, which freshpull refuses.
const (
	dockerSchema1    = "application/vnd.docker.distribution.manifest.v1+json"
	dockerSchema1Sig = "application/vnd.docker.distribution.manifest.v1+prettyjws"
)

// sniffMediaType returns the media type of a manifest body: the one the
// registry sent, else the body's own mediaType field, else what its shape
// says (OCI allows the field to be absent).
func sniffMediaType(sent string, body []byte) (string, error) {
	var probe struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		Manifests     []json.RawMessage `json:"manifests"`
		Layers        []json.RawMessage `json:"layers"`
		Config        json.RawMessage   `json:"config"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return "", fmt.Errorf("manifest is not valid JSON: %v", err)
	}
	if probe.SchemaVersion == 1 || sent == dockerSchema1 || sent == dockerSchema1Sig {
		return "", errors.New("unsupported Docker schema 1 manifest (deprecated since 2017); rebuild or re-push the image")
	}
	mt := probe.MediaType
	if mt == "" && (store.IsIndex(sent) || store.IsManifest(sent)) {
		mt = sent
	}
	if mt == "" {
		switch {
		case probe.Manifests != nil:
			mt = ocispec.MediaTypeImageIndex
		case probe.Config != nil:
			mt = ocispec.MediaTypeImageManifest
		}
	}
	if !store.IsIndex(mt) && !store.IsManifest(mt) {
		return "", fmt.Errorf("unsupported manifest media type %q", mt)
	}
	return mt, nil
}

// choosePlatform picks the image for want from an index.
func choosePlatform(idx ocispec.Index, want ocispec.Platform) (ocispec.Descriptor, error) {
	var have []string
	var loose *ocispec.Descriptor
	for i, d := range idx.Manifests {
		if d.Platform == nil || !store.IsManifest(d.MediaType) && d.MediaType != "" {
			continue
		}
		have = append(have, store.FormatPlatform(*d.Platform))
		if !store.PlatformMatches(*d.Platform, want) {
			continue
		}
		if d.Platform.Variant == want.Variant {
			return d, nil
		}
		if loose == nil {
			loose = &idx.Manifests[i]
		}
	}
	if loose != nil {
		return *loose, nil
	}
	return ocispec.Descriptor{}, fmt.Errorf("no image for platform %s (the index has %v); choose one with --platform", store.FormatPlatform(want), have)
}

// checkManifest rejects descriptors freshpull cannot verify. A size is
// required: it bounds the download, so that a hostile registry cannot fill
// the disk before the digest check.
func checkManifest(m ocispec.Manifest) error {
	if m.Config.Digest.Validate() != nil {
		return fmt.Errorf("config digest %q is invalid", m.Config.Digest)
	}
	if m.Config.Size <= 0 {
		return fmt.Errorf("config %s has size %d; rejected", m.Config.Digest, m.Config.Size)
	}
	for _, l := range m.Layers {
		if err := l.Digest.Validate(); err != nil {
			return fmt.Errorf("layer digest %q is invalid: %v", l.Digest, err)
		}
		if l.Size <= 0 {
			return fmt.Errorf("layer %s has size %d; rejected", l.Digest, l.Size)
		}
	}
	return nil
}

// configPlatform reads the image's platform from its config, which is in the
// store by now; the index's word is used when the config is silent.
func configPlatform(st *store.Store, config ocispec.Descriptor, fromIndex *ocispec.Platform) (ocispec.Platform, error) {
	b, err := st.ReadBlob(config)
	if err != nil {
		return ocispec.Platform{}, err
	}
	var c ocispec.Image
	if err := json.Unmarshal(b, &c); err != nil {
		return ocispec.Platform{}, fmt.Errorf("config %s: malformed: %v", config.Digest, err)
	}
	p := c.Platform
	if fromIndex != nil && (p.OS == "" || p.Architecture == "") {
		p = *fromIndex
	}
	if fromIndex != nil && p.Variant == "" {
		p.Variant = fromIndex.Variant
	}
	p.OSFeatures, p.OSVersion = nil, ""
	return p, nil
}
