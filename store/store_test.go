package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/freshpull/freshpull/reference"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var amd64 = ocispec.Platform{OS: "linux", Architecture: "amd64"}

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randomBlob(t *testing.T, n int) ([]byte, ocispec.Descriptor) {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(b), Size: int64(n)}
}

func whole(b []byte) Fetcher {
	return func(context.Context, int64) (io.ReadCloser, int64, error) {
		return io.NopCloser(bytes.NewReader(b)), 0, nil
	}
}

// tempFiles lists what is left in the store's temp directory.
func tempFiles(t *testing.T, s *Store) []string {
	t.Helper()
	es, err := os.ReadDir(s.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestOpenCreatesLayout(t *testing.T) {
	s := openTemp(t)
	layout, err := os.ReadFile(filepath.Join(s.Dir(), "oci-layout"))
	if err != nil || !strings.Contains(string(layout), `"imageLayoutVersion":"1.0.0"`) {
		t.Fatalf("oci-layout = %q, %v", layout, err)
	}
	if entries, err := s.Entries(); err != nil || len(entries) != 0 {
		t.Fatalf("new store entries = %v, %v", entries, err)
	}
	// Reopening an existing store works and changes nothing.
	if _, err := Open(s.Dir()); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesForeignDirectory(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644)
	_, err := Open(dir)
	if !errors.Is(err, ErrNotStore) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Open(non-store) = %v, want ErrNotStore naming %s", err, dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.json")); !os.IsNotExist(err) {
		t.Errorf("Open wrote into a foreign directory")
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "oci-layout"), []byte("garbage"), 0o644)
	if _, err := Open(bad); !errors.Is(err, ErrNotStore) {
		t.Errorf("Open(malformed oci-layout) = %v", err)
	}
}

func TestConcurrentOpenOfNewStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[i] = Open(dir) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("concurrent Open: %v", err)
		}
	}
}

func TestEnsureBlobVerifies(t *testing.T) {
	s := openTemp(t)
	b, desc := randomBlob(t, 100_000)
	corrupt := bytes.Clone(b)
	corrupt[500] ^= 0xff

	_, _, err := s.EnsureBlob(context.Background(), desc, whole(corrupt))
	var mm *DigestMismatchError
	if !errors.As(err, &mm) || !strings.Contains(err.Error(), desc.Digest.String()) {
		t.Fatalf("corrupt blob: err = %v, want a digest mismatch naming %s", err, desc.Digest)
	}
	if s.HasBlob(desc) {
		t.Fatal("corrupt blob became visible")
	}
	if left := tempFiles(t, s); len(left) != 0 {
		t.Errorf("temp files left after a rejected blob: %v", left)
	}
	// Too long and too short are rejected too.
	for _, body := range [][]byte{append(bytes.Clone(b), 'x'), b[:len(b)-1]} {
		if _, _, err := s.EnsureBlob(context.Background(), desc, whole(body)); err == nil {
			t.Errorf("blob of %d bytes accepted for size %d", len(body), desc.Size)
		}
	}

	fetched, n, err := s.EnsureBlob(context.Background(), desc, whole(b))
	if err != nil || !fetched || n != desc.Size {
		t.Fatalf("good blob: fetched=%v n=%d err=%v", fetched, n, err)
	}
	got, err := os.ReadFile(s.BlobPath(desc.Digest))
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("stored blob differs")
	}
	// Present: the fetcher is not called.
	fetched, _, err = s.EnsureBlob(context.Background(), desc, func(context.Context, int64) (io.ReadCloser, int64, error) {
		t.Error("fetcher called for a present blob")
		return nil, 0, errors.New("unreachable")
	})
	if err != nil || fetched {
		t.Errorf("present blob: fetched=%v err=%v", fetched, err)
	}
}

// breakingReader returns n bytes and then a network error.
type breakingReader struct {
	r io.Reader
	n int
}

func (b *breakingReader) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if len(p) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= n
	return n, err
}

func TestEnsureBlobResumesBrokenStream(t *testing.T) {
	s := openTemp(t)
	b, desc := randomBlob(t, 1_000_000)
	var offsets []int64
	fetch := func(_ context.Context, off int64) (io.ReadCloser, int64, error) {
		offsets = append(offsets, off)
		// Each connection breaks after 300 kB.
		return io.NopCloser(&breakingReader{r: bytes.NewReader(b[off:]), n: 300_000}), off, nil
	}
	fetched, n, err := s.EnsureBlob(context.Background(), desc, fetch)
	if err != nil || !fetched || n != desc.Size {
		t.Fatalf("EnsureBlob = %v %d %v", fetched, n, err)
	}
	want := []int64{0, 300_000, 600_000, 900_000}
	if fmt.Sprint(offsets) != fmt.Sprint(want) {
		t.Errorf("resumed at %v, want %v", offsets, want)
	}
	if !s.HasBlob(desc) {
		t.Error("blob not stored")
	}
}

func TestEnsureBlobRestartsWhenRangeIgnored(t *testing.T) {
	s := openTemp(t)
	b, desc := randomBlob(t, 200_000)
	calls := 0
	fetch := func(_ context.Context, off int64) (io.ReadCloser, int64, error) {
		calls++
		if calls == 1 {
			return io.NopCloser(&breakingReader{r: bytes.NewReader(b), n: 50_000}), 0, nil
		}
		// A server that ignores Range sends everything from 0.
		return io.NopCloser(bytes.NewReader(b)), 0, nil
	}
	if _, _, err := s.EnsureBlob(context.Background(), desc, fetch); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(s.BlobPath(desc.Digest))
	if !bytes.Equal(got, b) {
		t.Fatal("blob assembled wrongly after a restart from 0")
	}
}

func TestEnsureBlobGivesUpAfterResumes(t *testing.T) {
	s := openTemp(t)
	b, desc := randomBlob(t, 100_000)
	fetch := func(_ context.Context, off int64) (io.ReadCloser, int64, error) {
		return io.NopCloser(&breakingReader{r: bytes.NewReader(b[off:]), n: 10}), off, nil
	}
	_, _, err := s.EnsureBlob(context.Background(), desc, fetch)
	if err == nil || !strings.Contains(err.Error(), "broke off") {
		t.Fatalf("err = %v, want a broken-download error", err)
	}
	if s.HasBlob(desc) || len(tempFiles(t, s)) != 0 {
		t.Error("partial blob visible or temp file left")
	}
}

// Many writers of one digest: one download, everyone gets the blob.
func TestEnsureBlobOneDownloadPerDigest(t *testing.T) {
	s := openTemp(t)
	b, desc := randomBlob(t, 500_000)
	var calls atomic.Int32
	fetch := func(context.Context, int64) (io.ReadCloser, int64, error) {
		calls.Add(1)
		return io.NopCloser(bytes.NewReader(b)), 0, nil
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Separate Store values, as separate processes would have.
			other, err := Open(s.Dir())
			if err != nil {
				t.Error(err)
				return
			}
			if _, _, err := other.EnsureBlob(context.Background(), desc, fetch); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("blob downloaded %d times, want 1", n)
	}
}

func TestPutLookupRemove(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	_, d1 := randomBlob(t, 10)
	_, d2 := randomBlob(t, 10)
	arm := ocispec.Platform{OS: "linux", Architecture: "arm64"}
	ref := "docker.io/library/app:1"
	if err := s.Put(ctx, Entry{Reference: ref, Manifest: d1, ResolvedDigest: digest.Digest("sha256:" + strings.Repeat("a", 64)), Platform: amd64}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, Entry{Reference: ref, Manifest: d2, ResolvedDigest: digest.Digest("sha256:" + strings.Repeat("a", 64)), Platform: arm}); err != nil {
		t.Fatal(err)
	}
	e, ok, err := s.Lookup(mustParse(t, ref), amd64)
	if err != nil || !ok || e.Manifest.Digest != d1.Digest || e.Pulled.IsZero() {
		t.Fatalf("Lookup amd64 = %+v %v %v", e, ok, err)
	}
	if e, ok, _ := s.Lookup(mustParse(t, ref), arm); !ok || e.Manifest.Digest != d2.Digest {
		t.Fatalf("Lookup arm64 = %+v %v", e, ok)
	}
	// Replacing an entry keeps one per reference and platform.
	if err := s.Put(ctx, Entry{Reference: ref, Manifest: d2, ResolvedDigest: d2.Digest, Platform: amd64}); err != nil {
		t.Fatal(err)
	}
	entries, _ := s.Entries()
	if len(entries) != 2 {
		t.Fatalf("%d entries after replace, want 2", len(entries))
	}
	if e, _, _ := s.Lookup(mustParse(t, "docker.io/library/app@"+d2.Digest.String()), amd64); e.Reference != ref {
		t.Errorf("Lookup by manifest digest failed")
	}
	if _, ok, _ := s.Lookup(mustParse(t, "docker.io/library/other@"+d2.Digest.String()), amd64); ok {
		t.Errorf("Lookup by digest matched another repository")
	}
	removed, err := s.Remove(ctx, ref, &arm)
	if err != nil || len(removed) != 1 || removed[0].Platform.Architecture != "arm64" {
		t.Fatalf("Remove arm64 = %+v %v", removed, err)
	}
	removed, _ = s.Remove(ctx, ref, nil)
	if len(removed) != 1 {
		t.Fatalf("Remove all = %+v", removed)
	}
	if entries, _ := s.Entries(); len(entries) != 0 {
		t.Errorf("entries left: %+v", entries)
	}
}

// Concurrent writers never lose each other's entries.
func TestConcurrentPutsKeepEveryEntry(t *testing.T) {
	s := openTemp(t)
	_, d := randomBlob(t, 10)
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			other, _ := Open(s.Dir())
			if err := other.Put(context.Background(), Entry{Reference: fmt.Sprintf("example.com/app:%d", i), Manifest: d, Platform: amd64}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	entries, err := s.Entries()
	if err != nil || len(entries) != 32 {
		t.Fatalf("%d entries, want 32 (%v)", len(entries), err)
	}
}

// Entries other tools wrote (skopeo copy into the same layout) survive our
// updates.
func TestForeignEntriesSurvive(t *testing.T) {
	s := openTemp(t)
	foreign := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + strings.Repeat("b", 64) + `","size":7}]}`
	os.WriteFile(filepath.Join(s.Dir(), "index.json"), []byte(foreign), 0o644)
	_, d := randomBlob(t, 10)
	if err := s.Put(context.Background(), Entry{Reference: "example.com/a:1", Manifest: d, Platform: amd64}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(s.Dir(), "index.json"))
	if !strings.Contains(string(b), strings.Repeat("b", 64)) {
		t.Errorf("foreign entry lost: %s", b)
	}
}

func TestMalformedIndexIsNotOverwritten(t *testing.T) {
	s := openTemp(t)
	os.WriteFile(filepath.Join(s.Dir(), "index.json"), []byte("{oops"), 0o644)
	_, d := randomBlob(t, 10)
	err := s.Put(context.Background(), Entry{Reference: "example.com/a:1", Manifest: d, Platform: amd64})
	if err == nil || !strings.Contains(err.Error(), "malformed") || !strings.Contains(err.Error(), "fsck --repair") {
		t.Fatalf("Put on malformed index = %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(s.Dir(), "index.json")); string(b) != "{oops" {
		t.Errorf("malformed index.json overwritten: %q", b)
	}
}

func TestCancelledDownloadLeavesNothing(t *testing.T) {
	s := openTemp(t)
	_, desc := randomBlob(t, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	fetch := func(context.Context, int64) (io.ReadCloser, int64, error) {
		cancel()
		return io.NopCloser(&breakingReader{r: bytes.NewReader(make([]byte, 1000)), n: 100}), 0, nil
	}
	if _, _, err := s.EnsureBlob(ctx, desc, fetch); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if s.HasBlob(desc) || len(tempFiles(t, s)) != 0 {
		t.Error("cancelled download left a blob or temp file")
	}
}

func TestPlatformMatches(t *testing.T) {
	tests := []struct {
		have, want ocispec.Platform
		ok         bool
	}{
		{amd64, amd64, true},
		{amd64, ocispec.Platform{OS: "linux", Architecture: "arm64"}, false},
		{ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, ocispec.Platform{OS: "linux", Architecture: "arm"}, true},
		{ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}, ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, false},
		{ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, ocispec.Platform{OS: "linux", Architecture: "arm64"}, true},
		{ocispec.Platform{OS: "linux", Architecture: "arm64"}, ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, true},
		{ocispec.Platform{OS: "windows", Architecture: "amd64"}, amd64, false},
	}
	for _, tc := range tests {
		if got := PlatformMatches(tc.have, tc.want); got != tc.ok {
			t.Errorf("PlatformMatches(%v, %v) = %v, want %v", tc.have, tc.want, got, tc.ok)
		}
	}
}

// A blob written through the early-writeback writer in uneven pieces that
// straddle its chunk boundary, from an offset (a resumed download), reads
// back exactly.
func TestWritebackWriterKeepsEveryByte(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "blob"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := make([]byte, 2*writebackChunk+12345)
	for i := range want {
		want[i] = byte(i * 7)
	}
	head := 1000
	if _, err := f.Write(want[:head]); err != nil {
		t.Fatal(err)
	}
	w := newWritebackWriter(f, int64(head))
	for rest := want[head:]; len(rest) > 0; {
		n := min(len(rest), 777777)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes that differ from the %d written", len(got), len(want))
	}
}

func mustParse(t *testing.T, s string) reference.Reference {
	t.Helper()
	r, err := reference.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
