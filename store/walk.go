package store

import (
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Media types of Docker's manifests, which the store keeps as pulled.
const (
	dockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

func isIndexType(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == dockerManifestList
}

// children returns the descriptors a manifest or index blob refers to. A
// body whose media type is not given is read by its shape.
func children(desc ocispec.Descriptor, body []byte) ([]ocispec.Descriptor, error) {
	var probe struct {
		MediaType string               `json:"mediaType"`
		Manifests []ocispec.Descriptor `json:"manifests"`
		Config    *ocispec.Descriptor  `json:"config"`
		Layers    []ocispec.Descriptor `json:"layers"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON: %v", desc.Digest, err)
	}
	mt := desc.MediaType
	if mt == "" {
		mt = probe.MediaType
	}
	if isIndexType(mt) || (mt == "" && probe.Manifests != nil) {
		return probe.Manifests, nil
	}
	if probe.Config == nil {
		return nil, fmt.Errorf("%s: manifest has no config", desc.Digest)
	}
	out := append([]ocispec.Descriptor{*probe.Config}, probe.Layers...)
	for _, d := range out {
		if err := d.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("%s: invalid digest %q: %v", desc.Digest, d.Digest, err)
		}
	}
	return out, nil
}

// reachable returns every blob the index reaches: its manifests, their
// configs and layers, the manifests of nested indexes, and the index blobs
// freshpull entries resolved through. A manifest that is missing or cannot
// be read makes it fail, since what that manifest reaches is then unknown.
// Children of an index that are not in the store are skipped: a
// single-platform pull stores one manifest of a multi-platform index.
func (s *Store) reachable(idx *ocispec.Index) (map[digest.Digest]bool, error) {
	seen := map[digest.Digest]bool{}
	var visit func(d ocispec.Descriptor, optional bool) error
	visit = func(d ocispec.Descriptor, optional bool) error {
		if seen[d.Digest] {
			return nil
		}
		isManifest := isIndexType(d.MediaType) || d.MediaType == ocispec.MediaTypeImageManifest || d.MediaType == dockerManifest
		if !isManifest {
			seen[d.Digest] = true
			return nil
		}
		if optional && !s.HasBlob(d) {
			return nil
		}
		seen[d.Digest] = true
		body, err := s.ReadBlob(d)
		if err != nil {
			return err
		}
		kids, err := children(d, body)
		if err != nil {
			return err
		}
		for _, k := range kids {
			if err := visit(k, isIndexType(d.MediaType)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, d := range idx.Manifests {
		if err := d.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("index.json entry with invalid digest %q: %v", d.Digest, err)
		}
		if err := visit(d, false); err != nil {
			return nil, err
		}
		if r := digest.Digest(d.Annotations[AnnotationResolvedDigest]); r != "" && r != d.Digest && r.Validate() == nil {
			// The index the entry was chosen from: kept, but not
			// walked, since only the pulled platform is stored.
			seen[r] = true
		}
	}
	return seen, nil
}
