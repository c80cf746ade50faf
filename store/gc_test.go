package store

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// putImage stores a one-layer image under ref and returns its blobs'
// descriptors: manifest, config, layer.
func putImage(t *testing.T, s *Store, ref string, layer []byte) []ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}` + ref)
	cd := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))}
	ld := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromBytes(layer), Size: int64(len(layer))}
	m, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: []ocispec.Descriptor{ld}})
	md := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(m), Size: int64(len(m))}
	for _, b := range []struct {
		d ocispec.Descriptor
		b []byte
	}{{cd, config}, {ld, layer}, {md, m}} {
		if err := s.PutBlob(ctx, b.d, b.b); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(ctx, Entry{Reference: ref, Manifest: md, ResolvedDigest: md.Digest, Platform: amd64}); err != nil {
		t.Fatal(err)
	}
	return []ocispec.Descriptor{md, cd, ld}
}

func TestGCKeepsReachableRemovesRest(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	shared := []byte(strings.Repeat("shared layer", 100))
	a := putImage(t, s, "example.com/a:1", shared)
	b := putImage(t, s, "example.com/b:1", shared)
	ob, orphan := randomBlob(t, 1000)
	if err := s.PutBlob(ctx, orphan, ob); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(s.TempDir(), "blob-123-abc"), []byte("partial"), 0o644)

	if _, err := s.Remove(ctx, "example.com/a:1", nil); err != nil {
		t.Fatal(err)
	}
	res, err := s.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// a's manifest and config go; the shared layer stays for b.
	if res.Blobs != 3 || res.TempFiles != 1 || res.TempBytes != 7 {
		t.Errorf("gc = %+v, want 3 blobs (a's manifest and config, the orphan) and 1 temp file", res)
	}
	for _, d := range b {
		if !s.HasBlob(d) {
			t.Errorf("gc removed %s, which b needs", d.Digest)
		}
	}
	for _, d := range a[:2] {
		if s.HasBlob(d) {
			t.Errorf("gc kept %s, which nothing reaches", d.Digest)
		}
	}
	if rep, _ := s.Fsck(ctx, false); !rep.OK {
		t.Errorf("fsck after gc: %+v", rep)
	}
}

func TestGCRefusesWhenManifestUnreadable(t *testing.T) {
	s := openTemp(t)
	a := putImage(t, s, "example.com/a:1", []byte("layer"))
	os.Remove(s.BlobPath(a[0].Digest)) // the manifest
	_, err := s.GC(context.Background())
	if err == nil || !strings.Contains(err.Error(), "nothing was deleted") {
		t.Fatalf("gc with a missing manifest = %v, want a refusal", err)
	}
	if !s.HasBlob(a[2]) {
		t.Error("gc deleted a layer while the manifest reaching it was unreadable")
	}
	os.WriteFile(filepath.Join(s.Dir(), "index.json"), []byte("{bad"), 0o644)
	if _, err := s.GC(context.Background()); err == nil || !s.HasBlob(a[2]) {
		t.Errorf("gc on a malformed index = %v", err)
	}
}

func TestFsckFindsAndRepairs(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		damage func(s *Store, d []ocispec.Descriptor)
		kind   string
	}{
		{"missing layer", func(s *Store, d []ocispec.Descriptor) { os.Remove(s.BlobPath(d[2].Digest)) }, "missing"},
		{"truncated layer", func(s *Store, d []ocispec.Descriptor) { os.Truncate(s.BlobPath(d[2].Digest), 3) }, "size"},
		{"corrupt layer", func(s *Store, d []ocispec.Descriptor) {
			os.WriteFile(s.BlobPath(d[2].Digest), []byte("LAYER"), 0o644)
		}, "corrupt"},
		{"missing config", func(s *Store, d []ocispec.Descriptor) { os.Remove(s.BlobPath(d[1].Digest)) }, "missing"},
		{"corrupt manifest", func(s *Store, d []ocispec.Descriptor) {
			b, _ := os.ReadFile(s.BlobPath(d[0].Digest))
			b[len(b)-2] ^= 1
			os.WriteFile(s.BlobPath(d[0].Digest), b, 0o644)
		}, "corrupt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t)
			good := putImage(t, s, "example.com/good:1", []byte("good layer"))
			bad := putImage(t, s, "example.com/bad:1", []byte("layer"))
			if rep, err := s.Fsck(ctx, false); err != nil || !rep.OK || rep.BlobsChecked != 6 {
				t.Fatalf("fsck of a healthy store = %+v, %v", rep, err)
			}
			tc.damage(s, bad)
			rep, err := s.Fsck(ctx, false)
			if err != nil || rep.OK {
				t.Fatalf("fsck after damage = %+v, %v; want problems", rep, err)
			}
			var found bool
			for _, e := range rep.Entries {
				if e.Reference == "example.com/good:1" && !e.OK {
					t.Errorf("healthy entry reported broken: %+v", e)
				}
				if e.Reference == "example.com/bad:1" && len(e.Problems) > 0 && e.Problems[0].Kind == tc.kind {
					found = true
				}
			}
			if !found {
				t.Fatalf("fsck did not report a %q problem for bad:1: %+v", tc.kind, rep.Entries)
			}
			rep, err = s.Fsck(ctx, true)
			if err != nil || !rep.OK || len(rep.Repairs) == 0 {
				t.Fatalf("fsck --repair = %+v, %v", rep, err)
			}
			if _, ok, _ := s.Lookup(mustParse(t, "example.com/bad:1"), amd64); ok {
				t.Error("broken entry not dropped")
			}
			if _, ok, _ := s.Lookup(mustParse(t, "example.com/good:1"), amd64); !ok {
				t.Error("healthy entry dropped")
			}
			for _, d := range good {
				if !s.HasBlob(d) {
					t.Errorf("repair removed healthy blob %s", d.Digest)
				}
			}
			if rep, _ := s.Fsck(ctx, false); !rep.OK {
				t.Errorf("fsck after repair: %+v", rep)
			}
		})
	}
}

func TestFsckRepairsMalformedIndex(t *testing.T) {
	s := openTemp(t)
	os.WriteFile(filepath.Join(s.Dir(), "index.json"), []byte("{bad"), 0o644)
	rep, err := s.Fsck(context.Background(), false)
	if err != nil || rep.OK || rep.IndexProblem == "" {
		t.Fatalf("fsck on malformed index = %+v %v", rep, err)
	}
	if b, _ := os.ReadFile(filepath.Join(s.Dir(), "index.json")); string(b) != "{bad" {
		t.Fatal("fsck without --repair changed index.json")
	}
	rep, err = s.Fsck(context.Background(), true)
	if err != nil || !rep.OK || len(rep.Repairs) != 1 {
		t.Fatalf("fsck --repair = %+v %v", rep, err)
	}
	if _, err := s.Entries(); err != nil {
		t.Errorf("store unusable after repair: %v", err)
	}
	aside, _ := filepath.Glob(filepath.Join(s.Dir(), "index.json.broken-*"))
	if len(aside) != 1 {
		t.Errorf("broken index not kept aside: %v", aside)
	}
}

// An index.json entry whose "digest" is a path must not make repair delete
// a file outside the store.
func TestFsckRepairStaysInsideStore(t *testing.T) {
	s := openTemp(t)
	victim := filepath.Join(filepath.Dir(s.Dir()), "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostile := `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../../victim","size":4}]}`
	os.WriteFile(filepath.Join(s.Dir(), "index.json"), []byte(hostile), 0o644)
	rep, err := s.Fsck(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(victim); err != nil {
		t.Fatalf("fsck --repair deleted a file outside the store: %v", err)
	}
	if !rep.OK || len(rep.Entries) != 1 || !rep.Entries[0].Dropped {
		t.Errorf("the hostile entry was not dropped: %+v", rep)
	}
}

// An index.json entry another tool wrote without a media type still keeps
// its image's config and layers from gc, and fsck checks them.
func TestGCEntryWithoutMediaType(t *testing.T) {
	s := openTemp(t)
	blobs := putImage(t, s, "example.com/a:1", []byte("layer"))
	m := blobs[0]
	idx := fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"digest":%q,"size":%d}]}`, m.Digest, m.Size)
	os.WriteFile(filepath.Join(s.Dir(), "index.json"), []byte(idx), 0o644)
	res, err := s.GC(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range blobs {
		if !s.HasBlob(d) {
			t.Errorf("gc removed %s of an entry without media type (%+v)", d.Digest, res)
		}
	}
	os.Remove(s.BlobPath(blobs[2].Digest))
	if rep, _ := s.Fsck(context.Background(), false); rep.OK {
		t.Error("fsck missed a missing layer under an entry without media type")
	}
}
