package store

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/freshpull/freshpull/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Annotations freshpull records on each index entry, beside the standard
// org.opencontainers.image.ref.name.
const (
	// AnnotationResolvedDigest is the digest the reference resolved to at
	// the registry: an index for a multi-platform image, else the
	// manifest itself. `newer` compares the registry's answer with it.
	AnnotationResolvedDigest = "io.freshpull.resolved-digest"
	// AnnotationPulled is when the entry was written (RFC 3339, UTC).
	AnnotationPulled = "io.freshpull.pulled"
	// AnnotationRequestedPlatform is the platform the pull asked for, when
	// the image (a single-platform one) is for another: the entry is then
	// found for the platform asked for too.
	AnnotationRequestedPlatform = "io.freshpull.requested-platform"
	// AnnotationTrust records what accepted the image under the
	// signature policy (JSON: the policy's digest, scope, requirement,
	// signer), so that a local use can tell whether the policy in force
	// now is the one that accepted it.
	AnnotationTrust = "io.freshpull.trust"
)

// Entry is one image in the store: the platform-specific manifest that a
// reference resolved to.
type Entry struct {
	// Reference is the canonical reference, as pulled
	// ("docker.io/library/ubuntu:24.04").
	Reference string
	// Manifest describes the platform-specific image manifest.
	Manifest ocispec.Descriptor
	// ResolvedDigest is what Reference resolved to at the registry.
	ResolvedDigest digest.Digest
	// Platform of the image.
	Platform ocispec.Platform
	// Pulled is when the entry was written.
	Pulled time.Time
	// Requested is the platform the pull asked for, when it differs from
	// Platform; zero otherwise.
	Requested ocispec.Platform
	// Trust is what accepted the image under the signature policy (the
	// AnnotationTrust JSON); empty when it was pulled without a policy.
	Trust string
}

// matches reports whether the entry serves platform: the image's own, or
// the one it was pulled for.
func (e Entry) matches(platform ocispec.Platform) bool {
	return PlatformMatches(e.Platform, platform) || (e.Requested.OS != "" && PlatformMatches(e.Requested, platform))
}

func (e Entry) descriptor() ocispec.Descriptor {
	d := ocispec.Descriptor{
		MediaType: e.Manifest.MediaType,
		Digest:    e.Manifest.Digest,
		Size:      e.Manifest.Size,
		Annotations: map[string]string{
			ocispec.AnnotationRefName: e.Reference,
			AnnotationResolvedDigest:  e.ResolvedDigest.String(),
			AnnotationPulled:          e.Pulled.UTC().Format(time.RFC3339Nano),
		},
	}
	if e.Requested.OS != "" {
		d.Annotations[AnnotationRequestedPlatform] = FormatPlatform(e.Requested)
	}
	if e.Trust != "" {
		d.Annotations[AnnotationTrust] = e.Trust
	}
	if e.Platform.OS != "" {
		p := e.Platform
		d.Platform = &p
	}
	return d
}

// entryOf reads an index descriptor as an Entry; ok is false for entries
// another tool wrote without a reference name.
func entryOf(d ocispec.Descriptor) (Entry, bool) {
	ref := d.Annotations[ocispec.AnnotationRefName]
	if ref == "" {
		return Entry{}, false
	}
	e := Entry{
		Reference:      ref,
		Manifest:       ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size},
		ResolvedDigest: digest.Digest(d.Annotations[AnnotationResolvedDigest]),
		Trust:          d.Annotations[AnnotationTrust],
	}
	if e.ResolvedDigest == "" {
		e.ResolvedDigest = d.Digest
	}
	if d.Platform != nil {
		e.Platform = *d.Platform
	}
	if p, ok := parsePlatform(d.Annotations[AnnotationRequestedPlatform]); ok {
		e.Requested = p
	}
	if t, err := time.Parse(time.RFC3339Nano, d.Annotations[AnnotationPulled]); err == nil {
		e.Pulled = t
	}
	return e, true
}

// PlatformMatches reports whether an image for have runs where want is
// asked for. An empty want.Variant accepts any variant.
func PlatformMatches(have, want ocispec.Platform) bool {
	if have.OS != want.OS || have.Architecture != want.Architecture {
		return false
	}
	return want.Variant == "" || normVariant(have) == normVariant(want)
}

// normVariant treats arm64's implicit v8 as equal to no variant, as the
// registries and runtimes do.
func normVariant(p ocispec.Platform) string {
	if p.Architecture == "arm64" && p.Variant == "v8" {
		return ""
	}
	return p.Variant
}

// parsePlatform reads what FormatPlatform wrote.
func parsePlatform(s string) (ocispec.Platform, bool) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return ocispec.Platform{}, false
	}
	p := ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, true
}

// FormatPlatform renders os/arch[/variant].
func FormatPlatform(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Entries lists the store's images in index order.
func (s *Store) Entries() ([]Entry, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, d := range idx.Manifests {
		if e, ok := entryOf(d); ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// Lookup returns the first entry Find returns for ref on platform.
func (s *Store) Lookup(ref reference.Reference, platform ocispec.Platform) (Entry, bool, error) {
	entries, err := s.Find(ref, &platform)
	if err != nil || len(entries) == 0 {
		return Entry{}, false, err
	}
	return entries[0], true, nil
}

// Find returns every entry ref names: its own (ref with the default tag if
// it has neither tag nor digest) and, when ref has a digest, those of the
// same repository with that resolved or manifest digest. A nil platform
// means any platform.
func (s *Store) Find(ref reference.Reference, platform *ocispec.Platform) ([]Entry, error) {
	ref = ref.WithDefaultTag()
	entries, err := s.Entries()
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, e := range entries {
		if platform != nil && !e.matches(*platform) {
			continue
		}
		if e.Reference == ref.String() || (ref.Digest() != "" && hasDigest(e, ref.Repository(), ref.Digest())) {
			out = append(out, e)
		}
	}
	return out, nil
}

func hasDigest(e Entry, repository string, d digest.Digest) bool {
	return repoOf(e.Reference) == repository && (e.ResolvedDigest == d || e.Manifest.Digest == d)
}

// repoOf returns the repository of a canonical reference, or "" when it does
// not parse (an entry another tool wrote).
func repoOf(ref string) string {
	r, err := reference.Parse(ref)
	if err != nil {
		return ""
	}
	return r.Repository()
}

// Put adds e, replacing any entry for the same reference and platform. It
// must be called only after every blob the entry reaches is stored.
func (s *Store) Put(ctx context.Context, e Entry) error {
	if e.Pulled.IsZero() {
		e.Pulled = time.Now()
	}
	// Make the renames of the entry's blobs durable before the entry
	// (see download).
	if err := s.SyncBlobs(); err != nil {
		return err
	}
	return s.updateIndex(ctx, func(idx *ocispec.Index) error {
		idx.Manifests = slices.DeleteFunc(idx.Manifests, func(d ocispec.Descriptor) bool {
			old, ok := entryOf(d)
			return ok && old.Reference == e.Reference && samePlatform(old.Platform, e.Platform)
		})
		idx.Manifests = append(idx.Manifests, e.descriptor())
		return nil
	})
}

func samePlatform(a, b ocispec.Platform) bool {
	return a.OS == b.OS && a.Architecture == b.Architecture && normVariant(a) == normVariant(b)
}

// Remove deletes the entries for a canonical reference (all platforms when
// platform is nil) and returns them. Their blobs stay until garbage
// collection.
func (s *Store) Remove(ctx context.Context, ref string, platform *ocispec.Platform) ([]Entry, error) {
	var removed []Entry
	err := s.updateIndex(ctx, func(idx *ocispec.Index) error {
		idx.Manifests = slices.DeleteFunc(idx.Manifests, func(d ocispec.Descriptor) bool {
			e, ok := entryOf(d)
			if !ok || e.Reference != ref || (platform != nil && !PlatformMatches(e.Platform, *platform)) {
				return false
			}
			removed = append(removed, e)
			return true
		})
		if len(removed) == 0 {
			return errNoChange
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("remove %s: %w", ref, err)
	}
	return removed, nil
}

// SyncBlobs makes the blobs renamed into place so far durable (one fsync of
// each blob directory). Put calls it before writing an entry.
func (s *Store) SyncBlobs() error {
	algs, err := os.ReadDir(s.path("blobs"))
	if err != nil {
		return s.writeErr(err)
	}
	for _, a := range algs {
		if a.IsDir() {
			if err := syncDir(s.path("blobs", a.Name())); err != nil {
				return s.writeErr(err)
			}
		}
	}
	return nil
}

// Manifest reads and decodes an entry's image manifest, verified against
// its digest; raw is the stored bytes.
func (s *Store) Manifest(e Entry) (m ocispec.Manifest, raw []byte, err error) {
	raw, err = s.ReadBlob(e.Manifest)
	if err != nil {
		return m, nil, err
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, nil, fmt.Errorf("store %s: manifest %s is malformed: %v; run freshpull fsck --repair", s.dir, e.Manifest.Digest, err)
	}
	return m, raw, nil
}
