package extract

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// te is one tar entry for a test layer.
type te struct {
	hdr  tar.Header
	body string
}

var epoch = time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)

func reg(name, body string, mode int64) te {
	return te{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body)), ModTime: epoch}, body: body}
}

func dir(name string, mode int64) te {
	return te{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: epoch}}
}

func sym(name, target string) te {
	return te{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: epoch}}
}

func hard(name, target string) te {
	return te{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, ModTime: epoch}}
}

func fifo(name string) te {
	return te{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: name, Mode: 0o640, ModTime: epoch}}
}

func chardev(name string, major, minor int64) te {
	return te{hdr: tar.Header{Typeflag: tar.TypeChar, Name: name, Mode: 0o666, Devmajor: major, Devminor: minor, ModTime: epoch}}
}

// wh whites out name (a path in the image).
func wh(name string) te {
	d, b := filepath.Split(name)
	return reg(d+".wh."+b, "", 0o644)
}

// opq makes directory d opaque.
func opq(d string) te { return reg(d+"/.wh..wh..opq", "", 0o644) }

// with changes an entry's header.
func with(e te, f func(h *tar.Header)) te {
	f(&e.hdr)
	return e
}

func mtime(e te, t time.Time) te { return with(e, func(h *tar.Header) { h.ModTime = t }) }

func owned(e te, uid, gid int) te {
	return with(e, func(h *tar.Header) { h.Uid, h.Gid = uid, gid })
}

func xattr(e te, name, value string) te {
	return with(e, func(h *tar.Header) {
		if h.PAXRecords == nil {
			h.PAXRecords = map[string]string{}
		}
		h.PAXRecords[xattrPrefix+name] = value
		h.Format = tar.FormatPAX
	})
}

// memLayer is a layer held in memory.
type memLayer struct {
	mediaType string
	digest    string
	data      []byte
	opens     atomic.Int32
}

func (l *memLayer) MediaType() string { return l.mediaType }
func (l *memLayer) Digest() string    { return l.digest }
func (l *memLayer) Open() (io.ReadCloser, error) {
	l.opens.Add(1)
	return io.NopCloser(bytes.NewReader(l.data)), nil
}

const (
	mtTar  = "application/vnd.oci.image.layer.v1.tar"
	mtGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
	mtZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
)

func tarBytes(t testing.TB, entries []te) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("tar header %s: %v", h.Name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// mkLayer builds a layer of the given media type from entries.
func mkLayer(t testing.TB, mediaType string, entries ...te) *memLayer {
	t.Helper()
	raw := tarBytes(t, entries)
	var data []byte
	switch {
	case strings.HasSuffix(mediaType, "gzip"):
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(raw)
		zw.Close()
		data = buf.Bytes()
	case strings.HasSuffix(mediaType, "zstd"):
		zw, _ := zstd.NewWriter(nil)
		data = zw.EncodeAll(raw, nil)
	default:
		data = raw
	}
	return &memLayer{mediaType: mediaType, digest: fmt.Sprintf("sha256:%x", sha256.Sum256(data)), data: data}
}

func layers(t testing.TB, stack ...[]te) []Layer {
	t.Helper()
	var out []Layer
	for _, entries := range stack {
		out = append(out, mkLayer(t, mtGzip, entries...))
	}
	return out
}

func l(entries ...te) []te { return entries }

// engines are the strategies tests compare; engineAsync is the automatic
// one creating files on other goroutines from the first file on, which it
// otherwise does only where creating files is slow.
var engines = []struct {
	name string
	e    engine
}{{"auto", engineAuto}, {"auto-async", engineAsync}, {"bottom-up", engineBottomUp}}

const engineAsync engine = -1

// runEngine is run, with engineAsync understood.
func runEngine(ctx context.Context, ls []Layer, dest string, opts Options, e engine) (Result, error) {
	if e == engineAsync {
		alwaysAsync = true
		defer func() { alwaysAsync = false }()
		e = engineAuto
	}
	return run(ctx, ls, dest, opts, e)
}

// extractTo runs one engine into a fresh directory and returns it.
func extractTo(t *testing.T, e engine, ls []Layer, opts Options) (string, Result, error) {
	t.Helper()
	dest := filepath.Join(writableTempDir(t), "dest")
	res, err := runEngine(context.Background(), ls, dest, opts, e)
	return dest, res, err
}

func mustExtract(t *testing.T, e engine, ls []Layer, opts Options) (string, Result) {
	t.Helper()
	dest, res, err := extractTo(t, e, ls, opts)
	if err != nil {
		t.Fatalf("extract: %v", err)
	}
	return dest, res
}

// snapshot describes every path under root: type, permission bits
// (special bits included), content, link target, and, when asked,
// modification time and owner. Hard links show as "=>first-name".
type snapOpts struct {
	times, dirTimes, owners, xattrs bool
	skip                            string // a path (relative) not to describe
}

func snapshot(t testing.TB, root string, o snapOpts) map[string]string {
	t.Helper()
	out := map[string]string{}
	inodes := map[uint64]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		if o.skip != "" && (rel == o.skip || strings.HasPrefix(rel, o.skip+"/")) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		var desc string
		m := fi.Mode()
		special := fmt.Sprintf("%04o", uint32(m.Perm())|specialBits(m))
		switch {
		case m.IsDir():
			desc = "dir " + special
		case m&fs.ModeSymlink != 0:
			tgt, _ := os.Readlink(p)
			desc = "sym " + tgt
		case m.IsRegular():
			if first, ok := inodes[st.Ino]; ok && st.Nlink > 1 {
				desc = "=>" + first
			} else {
				b, _ := os.ReadFile(p)
				desc = fmt.Sprintf("reg %s %q", special, b)
				if len(b) > 64 {
					desc = fmt.Sprintf("reg %s %d bytes sha256:%x", special, len(b), sha256.Sum256(b))
				}
				inodes[st.Ino] = rel
			}
		case m&fs.ModeNamedPipe != 0:
			desc = "fifo " + special
		case m&fs.ModeCharDevice != 0:
			desc = fmt.Sprintf("chr %s %d:%d", special, unix.Major(st.Rdev), unix.Minor(st.Rdev))
		case m&fs.ModeDevice != 0:
			desc = fmt.Sprintf("blk %s %d:%d", special, unix.Major(st.Rdev), unix.Minor(st.Rdev))
		default:
			desc = "other " + m.String()
		}
		if (o.times && m&fs.ModeSymlink == 0 && !m.IsDir()) || (o.dirTimes && m.IsDir()) {
			desc += " @" + fi.ModTime().UTC().Format(time.RFC3339Nano)
		}
		if o.owners {
			desc += fmt.Sprintf(" %d:%d", st.Uid, st.Gid)
		}
		if o.xattrs && m&fs.ModeSymlink == 0 {
			desc += listXattrs(p)
		}
		out[rel] = desc
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("snapshot %s: %v", root, err)
	}
	return out
}

func specialBits(m fs.FileMode) uint32 {
	var b uint32
	if m&fs.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

func listXattrs(p string) string {
	sz, err := unix.Llistxattr(p, nil)
	if err != nil || sz == 0 {
		return ""
	}
	buf := make([]byte, sz)
	sz, _ = unix.Llistxattr(p, buf)
	var parts []string
	for _, n := range strings.Split(strings.TrimRight(string(buf[:sz]), "\x00"), "\x00") {
		if strings.HasPrefix(n, "security.selinux") {
			continue
		}
		v := make([]byte, 256)
		vn, _ := unix.Lgetxattr(p, n, v)
		parts = append(parts, n+"="+string(v[:max(vn, 0)]))
	}
	slices.Sort(parts)
	if len(parts) == 0 {
		return ""
	}
	return " [" + strings.Join(parts, ",") + "]"
}

// diffSnap reports the differences between two snapshots.
func diffSnap(want, got map[string]string) string {
	var out []string
	for k, w := range want {
		if g, ok := got[k]; !ok {
			out = append(out, fmt.Sprintf("missing %s (%s)", k, w))
		} else if g != w {
			out = append(out, fmt.Sprintf("%s: got %s, want %s", k, g, w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			out = append(out, fmt.Sprintf("extra %s (%s)", k, g))
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// writableTempDir is t.TempDir, made removable again at the end when it
// holds read-only directories and the tests do not run as root.
func writableTempDir(t testing.TB) string {
	d := t.TempDir()
	t.Cleanup(func() {
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				os.Chmod(p, 0o700)
			}
			return nil
		})
	})
	return d
}
