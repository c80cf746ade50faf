package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Problem is one thing wrong with a blob an entry needs.
type Problem struct {
	Digest digest.Digest `json:"digest"`
	// Kind is "missing", "size" (partial or overlong), "corrupt" (digest
	// mismatch) or "malformed" (a manifest that does not parse).
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

// EntryReport is fsck's verdict on one index entry.
type EntryReport struct {
	Reference string    `json:"reference"`
	Platform  string    `json:"platform"`
	Digest    string    `json:"digest"`
	OK        bool      `json:"ok"`
	Problems  []Problem `json:"problems,omitempty"`
	// Dropped is set when --repair removed the entry.
	Dropped bool `json:"dropped,omitempty"`
}

// FsckReport is the result of [Store.Fsck].
type FsckReport struct {
	Store   string        `json:"store"`
	Entries []EntryReport `json:"entries"`
	// BlobsChecked counts distinct blobs hashed.
	BlobsChecked int `json:"blobsChecked"`
	// IndexProblem is set when index.json itself is unreadable.
	IndexProblem string `json:"indexProblem,omitempty"`
	// Repairs lists what --repair did, in words.
	Repairs []string `json:"repairs,omitempty"`
	// OK is true when nothing is wrong (after repair, when repairing).
	OK bool `json:"ok"`
}

// Fsck checks that every index entry's manifest, config and layers are
// present with the right size and digest. With repair it drops broken
// entries, deletes corrupt or partial blobs so the next pull fetches them
// again, and replaces an unreadable index.json (kept beside it as
// index.json.broken-TIME) with an empty one. Repair holds the store's
// exclusive lock; a plain check holds the shared one, so it runs beside
// pulls.
func (s *Store) Fsck(ctx context.Context, repair bool) (FsckReport, error) {
	rep := FsckReport{Store: s.dir, Entries: []EntryReport{}}
	lock := s.Use
	if repair {
		lock = s.Exclusive
	}
	release, err := lock(ctx)
	if err != nil {
		return rep, fmt.Errorf("fsck %s: %w", s.dir, err)
	}
	defer release()

	idx, err := s.readIndex()
	if err != nil {
		rep.IndexProblem = err.Error()
		if !repair {
			return rep, nil
		}
		if err := s.replaceBrokenIndex(&rep); err != nil {
			return rep, err
		}
		rep.OK = true
		return rep, nil
	}

	checked := map[digest.Digest]*Problem{}
	var bad []digest.Digest
	for _, d := range idx.Manifests {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		er := EntryReport{Reference: d.Annotations[ocispec.AnnotationRefName], Digest: d.Digest.String(), OK: true}
		if d.Platform != nil {
			er.Platform = FormatPlatform(*d.Platform)
		}
		er.Problems = s.checkTree(d, true, checked, map[digest.Digest]bool{})
		er.OK = len(er.Problems) == 0
		for _, p := range er.Problems {
			if p.Kind != "missing" {
				bad = append(bad, p.Digest)
			}
		}
		rep.Entries = append(rep.Entries, er)
	}
	rep.BlobsChecked = len(checked)
	rep.OK = !slices.ContainsFunc(rep.Entries, func(e EntryReport) bool { return !e.OK })
	if !repair || rep.OK {
		return rep, nil
	}

	// Repair: blobs first (so no entry is left pointing at a bad blob
	// that a later check might trust), then the entries.
	for _, d := range uniq(bad) {
		if d.Validate() != nil {
			// Not a digest, so not a blob path: an index naming
			// "sha256:../../x" must not make repair delete x.
			continue
		}
		if err := os.Remove(s.BlobPath(d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return rep, fmt.Errorf("fsck --repair %s: %w", s.dir, err)
		}
		rep.Repairs = append(rep.Repairs, fmt.Sprintf("deleted bad blob %s", d))
	}
	broken := map[int]bool{}
	for i := range rep.Entries {
		if !rep.Entries[i].OK {
			broken[i] = true
		}
	}
	err = s.updateIndex(ctx, func(cur *ocispec.Index) error {
		// index.json may have changed since it was read (rm runs
		// without the store lock): drop by identity, not position.
		cur.Manifests = slices.DeleteFunc(cur.Manifests, func(d ocispec.Descriptor) bool {
			for i := range broken {
				if sameDescriptor(d, idx.Manifests[i]) {
					return true
				}
			}
			return false
		})
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("fsck --repair: %w", err)
	}
	for i := range broken {
		rep.Entries[i].Dropped = true
		name := rep.Entries[i].Reference
		if name == "" {
			name = rep.Entries[i].Digest
		}
		rep.Repairs = append(rep.Repairs, fmt.Sprintf("dropped entry %s (%s); pull it again", name, rep.Entries[i].Platform))
	}
	slices.Sort(rep.Repairs)
	rep.OK = true
	return rep, nil
}

func sameDescriptor(a, b ocispec.Descriptor) bool {
	return a.Digest == b.Digest && a.Annotations[ocispec.AnnotationRefName] == b.Annotations[ocispec.AnnotationRefName] &&
		FormatPlatform(platformOf(a)) == FormatPlatform(platformOf(b))
}

func platformOf(d ocispec.Descriptor) ocispec.Platform {
	if d.Platform == nil {
		return ocispec.Platform{}
	}
	return *d.Platform
}

func uniq(ds []digest.Digest) []digest.Digest {
	slices.Sort(ds)
	return slices.Compact(ds)
}

// checkTree verifies desc and everything it reaches, caching results per
// digest so shared layers are hashed once. inIndex: desc is listed in
// index.json or in an index.
func (s *Store) checkTree(desc ocispec.Descriptor, inIndex bool, checked map[digest.Digest]*Problem, onPath map[digest.Digest]bool) []Problem {
	var out []Problem
	if p, ok := checked[desc.Digest]; ok {
		if p != nil {
			out = append(out, *p)
		}
	} else {
		p := s.checkBlob(desc)
		checked[desc.Digest] = p
		if p != nil {
			out = append(out, *p)
		}
	}
	if len(out) > 0 || onPath[desc.Digest] {
		return out
	}
	if !pointsAtManifest(desc, inIndex) {
		return out
	}
	body, err := os.ReadFile(s.BlobPath(desc.Digest))
	if err != nil {
		return append(out, Problem{Digest: desc.Digest, Kind: "missing", Detail: err.Error()})
	}
	kids, err := children(desc, body)
	if err != nil {
		return append(out, Problem{Digest: desc.Digest, Kind: "malformed", Detail: err.Error()})
	}
	onPath[desc.Digest] = true
	defer delete(onPath, desc.Digest)
	isIndex := IsIndex(desc.MediaType) || (desc.MediaType == "" && isIndexBody(body))
	for _, k := range kids {
		if isIndex && !s.HasBlob(k) {
			// Only the pulled platform of an index is stored.
			continue
		}
		out = append(out, s.checkTree(k, isIndex, checked, onPath)...)
	}
	return out
}

// checkBlob hashes one blob and compares it with its descriptor.
func (s *Store) checkBlob(desc ocispec.Descriptor) *Problem {
	if err := desc.Digest.Validate(); err != nil {
		return &Problem{Digest: desc.Digest, Kind: "malformed", Detail: err.Error()}
	}
	f, err := os.Open(s.BlobPath(desc.Digest))
	if err != nil {
		return &Problem{Digest: desc.Digest, Kind: "missing", Detail: "blob is not in the store"}
	}
	defer f.Close()
	h := desc.Digest.Algorithm().Hash()
	n, err := io.Copy(h, f)
	if err != nil {
		return &Problem{Digest: desc.Digest, Kind: "corrupt", Detail: err.Error()}
	}
	if desc.Size > 0 && n != desc.Size {
		return &Problem{Digest: desc.Digest, Kind: "size", Detail: fmt.Sprintf("blob has %d bytes, want %d", n, desc.Size)}
	}
	if got := digest.NewDigest(desc.Digest.Algorithm(), h); got != desc.Digest {
		return &Problem{Digest: desc.Digest, Kind: "corrupt", Detail: fmt.Sprintf("content hashes to %s", got)}
	}
	return nil
}

// replaceBrokenIndex keeps the unreadable index.json aside and starts an
// empty one, so the store works again; images are pulled anew.
func (s *Store) replaceBrokenIndex(rep *FsckReport) error {
	aside := s.path("index.json.broken-" + time.Now().UTC().Format("20060102T150405Z"))
	if err := os.Rename(s.path("index.json"), aside); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("fsck --repair %s: %w", s.dir, err)
	}
	empty, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}})
	if err != nil {
		return err
	}
	if err := s.createIfAbsent("index.json", empty); err != nil {
		return fmt.Errorf("fsck --repair %s: %w", s.dir, err)
	}
	rep.Repairs = append(rep.Repairs, fmt.Sprintf("moved the unreadable index.json to %s and started an empty index; pull images again (run gc to reclaim their old blobs)", aside))
	return nil
}
