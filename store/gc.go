package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
)

// GCResult says what garbage collection freed.
type GCResult struct {
	// Blobs and Bytes: blobs no index entry reaches.
	Blobs int   `json:"blobs"`
	Bytes int64 `json:"bytes"`
	// TempFiles and TempBytes: leftovers of interrupted writes.
	TempFiles int   `json:"tempFiles"`
	TempBytes int64 `json:"tempBytes"`
	// Kept is how many blobs remain.
	Kept int `json:"kept"`
}

// GC removes the blobs that no index entry reaches and the temp files of
// interrupted writes. It holds the store's exclusive lock, so it waits for
// pulls in flight to finish and they wait for it: it never deletes a blob a
// running pull still needs. A store whose index or manifests cannot be read
// is left alone (run fsck), since what they reach is then unknown.
func (s *Store) GC(ctx context.Context) (GCResult, error) {
	var res GCResult
	release, err := s.Exclusive(ctx)
	if err != nil {
		return res, fmt.Errorf("gc %s: %w", s.dir, err)
	}
	defer release()

	idx, err := s.readIndex()
	if err != nil {
		return res, fmt.Errorf("gc: %w", err)
	}
	keep, err := s.reachable(idx)
	if err != nil {
		return res, fmt.Errorf("gc %s: %v; nothing was deleted: run freshpull fsck", s.dir, err)
	}

	algs, err := os.ReadDir(s.path("blobs"))
	if err != nil {
		return res, fmt.Errorf("gc %s: %w", s.dir, err)
	}
	for _, alg := range algs {
		if !alg.IsDir() {
			continue
		}
		files, err := os.ReadDir(s.path("blobs", alg.Name()))
		if err != nil {
			return res, fmt.Errorf("gc %s: %w", s.dir, err)
		}
		for _, f := range files {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			d := digest.NewDigestFromEncoded(digest.Algorithm(alg.Name()), f.Name())
			if keep[d] {
				res.Kept++
				continue
			}
			p := s.path("blobs", alg.Name(), f.Name())
			n := fileSize(p)
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return res, fmt.Errorf("gc %s: %w", s.dir, err)
			}
			res.Blobs++
			res.Bytes += n
		}
	}
	// No pull runs now, so every temp file and per-blob lock file is
	// garbage. The store and index lock files stay.
	n, b, err := clearDir(s.TempDir())
	if err != nil {
		return res, fmt.Errorf("gc %s: %w", s.dir, err)
	}
	res.TempFiles, res.TempBytes = n, b
	if _, _, err := clearDir(s.path(metaDir, "locks")); err != nil {
		return res, fmt.Errorf("gc %s: %w", s.dir, err)
	}
	return res, nil
}

func fileSize(p string) int64 {
	fi, err := os.Lstat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// clearDir removes everything in dir, returning the count and bytes of the
// removed files.
func clearDir(dir string) (int, int64, error) {
	es, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, 0, nil
		}
		return 0, 0, err
	}
	var n int
	var b int64
	for _, e := range es {
		p := filepath.Join(dir, e.Name())
		size := fileSize(p)
		if err := os.RemoveAll(p); err != nil {
			return n, b, err
		}
		n++
		b += size
	}
	return n, b, nil
}
