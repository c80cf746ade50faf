package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// DigestMismatchError reports content whose bytes do not hash to the digest
// (or size) it was fetched under. Nothing of it is stored.
type DigestMismatchError struct {
	Want, Got         digest.Digest
	WantSize, GotSize int64
}

func (e *DigestMismatchError) Error() string {
	if e.Got == "" {
		return fmt.Sprintf("content of %s has %d bytes, want %d; rejected", e.Want, e.GotSize, e.WantSize)
	}
	return fmt.Sprintf("content of %s hashes to %s; rejected", e.Want, e.Got)
}

// BlobPath returns where the blob with digest d lives in the layout.
func (s *Store) BlobPath(d digest.Digest) string {
	return s.path("blobs", d.Algorithm().String(), d.Encoded())
}

// HasBlob reports whether the blob is present with the expected size. A
// present blob was verified before it was renamed into place.
func (s *Store) HasBlob(desc ocispec.Descriptor) bool {
	if desc.Digest.Validate() != nil {
		return false
	}
	fi, err := os.Stat(s.BlobPath(desc.Digest))
	return err == nil && fi.Mode().IsRegular() && (desc.Size <= 0 || fi.Size() == desc.Size)
}

// OpenBlob opens a stored blob for reading.
func (s *Store) OpenBlob(d digest.Digest) (*os.File, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("store %s: blob %q: %w", s.dir, d, err)
	}
	f, err := os.Open(s.BlobPath(d))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("store %s: blob %s is missing; run freshpull fsck --repair and pull again: %w", s.dir, d, err)
		}
		return nil, fmt.Errorf("store %s: %w", s.dir, err)
	}
	return f, nil
}

// ReadBlob reads a small blob (a manifest, an index, a config) and verifies
// it against desc.
func (s *Store) ReadBlob(desc ocispec.Descriptor) ([]byte, error) {
	f, err := s.OpenBlob(desc.Digest)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("store %s: read blob %s: %w", s.dir, desc.Digest, err)
	}
	if err := Verify(desc, b); err != nil {
		return nil, fmt.Errorf("store %s: blob %s is corrupt (%v); run freshpull fsck --repair", s.dir, desc.Digest, err)
	}
	return b, nil
}

// Verify checks that b is the content desc names: its size, when desc
// declares one, and its digest.
func Verify(desc ocispec.Descriptor, b []byte) error {
	if desc.Size > 0 && int64(len(b)) != desc.Size {
		return &DigestMismatchError{Want: desc.Digest, WantSize: desc.Size, GotSize: int64(len(b))}
	}
	if got := desc.Digest.Algorithm().FromBytes(b); got != desc.Digest {
		return &DigestMismatchError{Want: desc.Digest, Got: got}
	}
	return nil
}

// PutBlob stores content already in memory (manifests, indexes) after
// verifying it against desc.
func (s *Store) PutBlob(ctx context.Context, desc ocispec.Descriptor, b []byte) error {
	if err := Verify(desc, b); err != nil {
		return err
	}
	_, _, err := s.EnsureBlob(ctx, desc, func(context.Context, int64) (io.ReadCloser, int64, error) {
		return io.NopCloser(bytes.NewReader(b)), 0, nil
	})
	return err
}

// Fetcher opens a blob's bytes starting at offset. A source that cannot start
// at offset returns the whole blob and start 0.
type Fetcher func(ctx context.Context, offset int64) (rc io.ReadCloser, start int64, err error)

// maxResumes bounds how often one blob download continues after its stream
// breaks.
const maxResumes = 5

// EnsureBlob makes the blob described by desc present in the store. When it
// is already there it returns fetched=false and fetch is not called. When
// another process is downloading it, EnsureBlob waits for that download and
// reuses it. Otherwise it calls fetch, hashes the bytes as they stream into a
// temp file, and renames the file into place only when digest and size
// match. A stream that breaks part-way is continued from where it stopped
// (fetch is called again with the offset reached), and the whole blob is
// still verified.
func (s *Store) EnsureBlob(ctx context.Context, desc ocispec.Descriptor, fetch Fetcher) (fetched bool, n int64, err error) {
	if err := desc.Digest.Validate(); err != nil {
		return false, 0, fmt.Errorf("blob %q: %w", desc.Digest, err)
	}
	if s.HasBlob(desc) {
		return false, 0, nil
	}
	l, err := lockFile(ctx, s.path(metaDir, "locks", desc.Digest.Algorithm().String()+"-"+desc.Digest.Encoded()+".lock"), false)
	if err != nil {
		return false, 0, err
	}
	defer l.Unlock()
	// Another process may have stored it while this one waited.
	if s.HasBlob(desc) {
		return false, 0, nil
	}
	n, err = s.download(ctx, desc, fetch)
	if err != nil {
		return false, n, err
	}
	return true, n, nil
}

func (s *Store) download(ctx context.Context, desc ocispec.Descriptor, fetch Fetcher) (int64, error) {
	f, err := s.createTemp("blob")
	if err != nil {
		return 0, fmt.Errorf("store %s: %w", s.dir, err)
	}
	tmp := f.Name()
	committed := false
	defer func() {
		if !committed {
			f.Close()
			os.Remove(tmp)
		}
	}()

	h := desc.Digest.Algorithm().Hash()
	var written int64
	var lastErr error
	for attempt := 0; attempt <= maxResumes; attempt++ {
		if err := ctx.Err(); err != nil {
			return written, err
		}
		rc, start, err := fetch(ctx, written)
		if err != nil {
			return written, err
		}
		if start != written {
			// The source restarted from the beginning: drop what we have.
			if start != 0 {
				rc.Close()
				return written, fmt.Errorf("blob %s: source resumed at %d, want %d or 0", desc.Digest, start, written)
			}
			if err := f.Truncate(0); err != nil {
				rc.Close()
				return written, s.writeErr(err)
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				rc.Close()
				return written, s.writeErr(err)
			}
			h.Reset()
			written = 0
		}
		var src io.Reader = rc
		if desc.Size > 0 {
			// One byte more than expected is enough to detect an
			// over-long body without reading all of it.
			src = io.LimitReader(rc, desc.Size-written+1)
		}
		n, cerr := copyWithErrors(io.MultiWriter(newWritebackWriter(f, written), h), src)
		rc.Close()
		written += n
		if cerr == nil && desc.Size > 0 && written < desc.Size {
			// A body that ends early without an error (no
			// Content-Length) is a broken stream too.
			cerr = &copyError{read: io.ErrUnexpectedEOF}
		}
		if cerr == nil {
			lastErr = nil
			break
		}
		if cerr.write != nil {
			return written, s.writeErr(cerr.write)
		}
		lastErr = cerr.read
		if ctx.Err() != nil {
			return written, ctx.Err()
		}
	}
	if lastErr != nil {
		return written, fmt.Errorf("blob %s: download broke off after %d of %d bytes, %d resumes: %w", desc.Digest, written, desc.Size, maxResumes, lastErr)
	}
	if desc.Size > 0 && written != desc.Size {
		return written, &DigestMismatchError{Want: desc.Digest, WantSize: desc.Size, GotSize: written}
	}
	if got := digest.NewDigest(desc.Digest.Algorithm(), h); got != desc.Digest {
		return written, &DigestMismatchError{Want: desc.Digest, Got: got}
	}
	if err := f.Sync(); err != nil {
		return written, s.writeErr(err)
	}
	if err := f.Close(); err != nil {
		return written, s.writeErr(err)
	}
	dir := s.path("blobs", desc.Digest.Algorithm().String())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return written, s.writeErr(err)
	}
	if err := os.Rename(tmp, s.BlobPath(desc.Digest)); err != nil {
		return written, s.writeErr(err)
	}
	committed = true
	// The directory is synced once per pull, in Put, before the entry
	// that needs these blobs is written: a crash before then may lose
	// the rename, but then no entry refers to the blob. One fsync per
	// blob directory per pull instead of one per blob.
	return written, nil
}

func (s *Store) writeErr(err error) error {
	return fmt.Errorf("store %s: write: %w", s.dir, err)
}

type copyError struct{ read, write error }

func (e *copyError) Error() string {
	if e.write != nil {
		return e.write.Error()
	}
	return e.read.Error()
}

// copyWithErrors is io.Copy that tells a failed read (the network: worth
// resuming) from a failed write (the disk: not).
func copyWithErrors(dst io.Writer, src io.Reader) (int64, *copyError) {
	buf := make([]byte, 256<<10)
	var n int64
	for {
		nr, rerr := src.Read(buf)
		if nr > 0 {
			nw, werr := dst.Write(buf[:nr])
			n += int64(nw)
			if werr != nil {
				return n, &copyError{write: werr}
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, &copyError{read: rerr}
		}
	}
}
