package store

import (
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Media types of Docker's manifests, which registries serve beside the OCI
// ones and the store keeps as pulled.
const (
	DockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// IsIndex reports whether mt is a multi-platform index (OCI) or manifest
// list (Docker).
func IsIndex(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == DockerManifestList
}

// IsManifest reports whether mt is an image manifest (OCI or Docker schema 2).
func IsManifest(mt string) bool {
	return mt == ocispec.MediaTypeImageManifest || mt == DockerManifest
}

// pointsAtManifest reports whether d names a manifest or an index: by its
// media type, or, without one, by where it is listed (index.json and
// indexes list only manifests and indexes; OCI lets a descriptor there omit
// its media type).
func pointsAtManifest(d ocispec.Descriptor, inIndex bool) bool {
	return IsIndex(d.MediaType) || IsManifest(d.MediaType) || (d.MediaType == "" && inIndex)
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
	if IsIndex(mt) || (mt == "" && probe.Manifests != nil) {
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
	// inIndex: d is listed in index.json or in an index; a member of an
	// index may be absent (only the pulled platform is stored).
	var visit func(d ocispec.Descriptor, inIndex, optional bool) error
	visit = func(d ocispec.Descriptor, inIndex, optional bool) error {
		if seen[d.Digest] {
			return nil
		}
		if !pointsAtManifest(d, inIndex) {
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
		isIndex := IsIndex(d.MediaType) || (d.MediaType == "" && isIndexBody(body))
		for _, k := range kids {
			if err := visit(k, isIndex, isIndex); err != nil {
				return err
			}
		}
		return nil
	}
	for _, d := range idx.Manifests {
		if err := d.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("index.json entry with invalid digest %q: %v", d.Digest, err)
		}
		if err := visit(d, true, false); err != nil {
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

// isIndexBody reports whether a manifest body without a known media type is
// an index (it lists manifests).
func isIndexBody(body []byte) bool {
	var probe struct {
		Manifests []json.RawMessage `json:"manifests"`
	}
	return json.Unmarshal(body, &probe) == nil && probe.Manifests != nil
}
