package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	metaDir = ".freshpull"
	// lockPoll is how often a waiting process retries a busy file lock.
	// flock(2) has no timed wait, and a context must be able to cancel the
	// wait, so gofrs/flock polls.
	lockPoll = 10 * time.Millisecond
)

// ErrNotStore is returned by [Open] for a directory that holds something
// other than an OCI image layout.
var ErrNotStore = errors.New("not an OCI image layout")

// Store is an OCI image layout directory shared by many processes.
type Store struct {
	dir string
}

// Open opens the store at dir, creating it when dir is absent or empty. A
// non-empty directory that is not an OCI image layout is refused rather
// than written into.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", dir, err)
	}
	s := &Store{dir: abs}
	if err := s.init(); err != nil {
		return nil, err
	}
	return s, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(elem ...string) string {
	return filepath.Join(append([]string{s.dir}, elem...)...)
}

func (s *Store) init() error {
	layoutFile := s.path(ocispec.ImageLayoutFile)
	_, err := os.Stat(layoutFile)
	switch {
	case err == nil:
		if err := s.checkLayout(); err != nil {
			return err
		}
	case errors.Is(err, fs.ErrNotExist):
		entries, rerr := os.ReadDir(s.dir)
		if rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return fmt.Errorf("store %s: %w", s.dir, rerr)
		}
		for _, e := range entries {
			// Another process may be creating the store right now.
			if e.Name() != metaDir && e.Name() != "blobs" && e.Name() != "index.json" {
				return fmt.Errorf("store %s: %w (no %s file, and the directory is not empty); give --store an empty or new directory", s.dir, ErrNotStore, ocispec.ImageLayoutFile)
			}
		}
		if err := s.create(); err != nil {
			return fmt.Errorf("store %s: create: %w", s.dir, err)
		}
	default:
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	for _, d := range []string{s.path("blobs"), s.path(metaDir, "tmp"), s.path(metaDir, "locks")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("store %s: %w", s.dir, err)
		}
	}
	return nil
}

func (s *Store) checkLayout() error {
	b, err := os.ReadFile(s.path(ocispec.ImageLayoutFile))
	if err != nil {
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	var l ocispec.ImageLayout
	if err := json.Unmarshal(b, &l); err != nil || l.Version == "" {
		return fmt.Errorf("store %s: %w: malformed %s file", s.dir, ErrNotStore, ocispec.ImageLayoutFile)
	}
	if l.Version != ocispec.ImageLayoutVersion {
		return fmt.Errorf("store %s: unsupported image layout version %q (want %q)", s.dir, l.Version, ocispec.ImageLayoutVersion)
	}
	return nil
}

// create lays out an empty store. Every file is created atomically, and
// index.json only if absent, so processes racing to create the same store
// all succeed and agree.
func (s *Store) create() error {
	if err := os.MkdirAll(s.path(metaDir, "tmp"), 0o755); err != nil {
		return err
	}
	empty, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}})
	if err != nil {
		return err
	}
	if err := s.createIfAbsent("index.json", empty); err != nil {
		return err
	}
	layout, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return err
	}
	// oci-layout last: its presence marks a complete store.
	return s.createIfAbsent(ocispec.ImageLayoutFile, layout)
}

func (s *Store) createIfAbsent(name string, data []byte) error {
	tmp, err := s.writeTemp(data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, s.path(name)); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(s.dir)
}

// writeTemp writes data to a new synced temp file in the store.
func (s *Store) writeTemp(data []byte) (string, error) {
	f, err := s.createTemp("file")
	if err != nil {
		return "", err
	}
	name := f.Name()
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(name)
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(name)
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// createTemp creates a temp file in the store's temp directory, on the same
// filesystem as the blobs so that rename is atomic.
func (s *Store) createTemp(kind string) (*os.File, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	name := s.path(metaDir, "tmp", fmt.Sprintf("%s-%d-%s", kind, os.Getpid(), hex.EncodeToString(b[:])))
	return os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
}

// TempDir is the directory holding in-progress writes; everything in it is
// garbage once no process uses the store.
func (s *Store) TempDir() string { return s.path(metaDir, "tmp") }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// lockFile locks path, shared or exclusive, waiting until ctx is done.
func lockFile(ctx context.Context, path string, shared bool) (*flock.Flock, error) {
	l := flock.New(path)
	var ok bool
	var err error
	if shared {
		ok, err = l.TryRLockContext(ctx, lockPoll)
	} else {
		ok, err = l.TryLockContext(ctx, lockPoll)
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		return nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
	}
	return l, nil
}

// Use holds the store's shared lock until release is called: a pull holds it
// for its whole run so that garbage collection, which takes the lock
// exclusively, never removes a blob the pull still needs.
//
// A second lock, the gate, keeps a steady stream of overlapping pulls from
// starving garbage collection: a pull passes the gate (shared, for an
// instant) before taking the store lock, and gc holds the gate exclusively
// while it waits for the store lock, so new pulls queue behind it.
func (s *Store) Use(ctx context.Context) (release func(), err error) {
	gate, err := lockFile(ctx, s.path(metaDir, "gate.lock"), true)
	if err != nil {
		return nil, err
	}
	l, err := lockFile(ctx, s.path(metaDir, "store.lock"), true)
	gate.Unlock()
	if err != nil {
		return nil, err
	}
	return func() { l.Unlock() }, nil
}

// Exclusive holds the store's exclusive lock: no pull runs until release is
// called.
func (s *Store) Exclusive(ctx context.Context) (release func(), err error) {
	gate, err := lockFile(ctx, s.path(metaDir, "gate.lock"), false)
	if err != nil {
		return nil, err
	}
	defer gate.Unlock()
	l, err := lockFile(ctx, s.path(metaDir, "store.lock"), false)
	if err != nil {
		return nil, err
	}
	return func() { l.Unlock() }, nil
}

// readIndex reads index.json. A malformed index is an error, never silently
// replaced.
func (s *Store) readIndex() (*ocispec.Index, error) {
	b, err := os.ReadFile(s.path("index.json"))
	if err != nil {
		return nil, fmt.Errorf("store %s: read index.json: %w", s.dir, err)
	}
	var idx ocispec.Index
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&idx); err != nil {
		return nil, fmt.Errorf("store %s: index.json is malformed: %v; run freshpull fsck --repair, or move the store aside", s.dir, err)
	}
	if idx.SchemaVersion != 2 {
		return nil, fmt.Errorf("store %s: index.json has schemaVersion %d, want 2; run freshpull fsck --repair, or move the store aside", s.dir, idx.SchemaVersion)
	}
	return &idx, nil
}

// updateIndex applies fn to index.json under the index lock and replaces the
// file atomically. fn may return errNoChange to skip the write.
func (s *Store) updateIndex(ctx context.Context, fn func(*ocispec.Index) error) error {
	l, err := lockFile(ctx, s.path(metaDir, "index.lock"), false)
	if err != nil {
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	defer l.Unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	if err := fn(idx); err != nil {
		if errors.Is(err, errNoChange) {
			return nil
		}
		return err
	}
	if idx.Manifests == nil {
		idx.Manifests = []ocispec.Descriptor{}
	}
	b, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	tmp, err := s.writeTemp(b)
	if err != nil {
		return fmt.Errorf("store %s: write index.json: %w", s.dir, err)
	}
	if err := os.Rename(tmp, s.path("index.json")); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store %s: write index.json: %w", s.dir, err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("store %s: write index.json: %w", s.dir, err)
	}
	return nil
}

var errNoChange = errors.New("no change")
