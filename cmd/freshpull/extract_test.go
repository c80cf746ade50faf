package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/freshpull/freshpull/internal/localregistry"
	"github.com/freshpull/freshpull/internal/testregistry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// entry is one tar entry of a test layer.
type entry struct {
	name, body, link string
	typ              byte
	mode             int64
}

func file(name, body string, mode int64) entry {
	return entry{name: name, body: body, typ: tar.TypeReg, mode: mode}
}
func dirE(name string, mode int64) entry { return entry{name: name, typ: tar.TypeDir, mode: mode} }
func symE(name, target string) entry {
	return entry{name: name, link: target, typ: tar.TypeSymlink, mode: 0o777}
}
func hardE(name, target string) entry {
	return entry{name: name, link: target, typ: tar.TypeLink, mode: 0o644}
}

// tarLayer builds a layer (gzip, or zstd when zstd is set).
func tarLayer(t *testing.T, zstd bool, entries ...entry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, ModTime: mt, Size: int64(len(e.body)), Format: tar.FormatPAX}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			io.WriteString(tw, e.body)
		}
	}
	tw.Close()
	raw := buf.Bytes()
	opts := []tarball.LayerOption{tarball.WithMediaType(types.OCILayer)}
	if zstd {
		opts = []tarball.LayerOption{tarball.WithMediaType(types.OCILayerZStd), tarball.WithCompression("zstd")}
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// buildImage stacks layers into an OCI image for linux/amd64.
func buildImage(t *testing.T, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	if img, err = localregistry.AsOCI(img, host); err != nil {
		t.Fatal(err)
	}
	return img
}

// appImage: a base, a layer that deletes, replaces and makes a directory
// opaque, and an application layer; symlinks, hard links and special modes.
// With zstd the middle layer is zstd-compressed (umoci 0.4 cannot read
// those).
func appImage(t *testing.T, zstd bool) v1.Image {
	return buildImage(t,
		tarLayer(t, false,
			dirE("etc", 0o755), file("etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0o644), file("etc/shadow", "root:*::\n", 0o640),
			dirE("usr", 0o755), dirE("usr/bin", 0o755), file("usr/bin/sh", "#!sh", 0o755), file("usr/bin/su", "su", 0o4755),
			file("usr/bin/wall", "wall", 0o2755), hardE("usr/bin/dash", "usr/bin/sh"), symE("bin", "usr/bin"),
			dirE("tmp", 0o1777), dirE("opt", 0o755), dirE("opt/cache", 0o755), file("opt/cache/a", "a", 0o644), file("opt/cache/b", "b", 0o644),
			dirE("app", 0o755), file("app/old.txt", "old", 0o644), dirE("app/lib", 0o755), file("app/lib/a.jar", "A", 0o644),
		),
		tarLayer(t, zstd,
			file("etc/passwd", "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n", 0o644),
			file("app/.wh.old.txt", "", 0o644),
			file("opt/cache/.wh..wh..opq", "", 0o644), file("opt/cache/c", "c", 0o644),
		),
		tarLayer(t, false,
			file("app/lib/b.jar", "B", 0o644), file("app/lib/c.jar", "C", 0o644), file("app/lib/readme.txt", "r", 0o644),
			file("app/run.sh", "#!/bin/sh\nexec java -jar lib/a.jar\n", 0o755), symE("app/config", "/etc/passwd"),
			symE("app/up", "../opt"), hardE("app/lib/a-1.0.jar", "app/lib/a.jar"),
		),
	)
}

// tree describes every path under root: type, permission bits, link
// target, and a hash of file contents.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		desc := fmt.Sprintf("%s %04o", typeName(fi.Mode()), unixMode(fi.Mode()))
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			desc += " " + hex.EncodeToString(sum[:8])
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func typeName(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "dir"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m.IsRegular():
		return "file"
	}
	return m.Type().String()
}

// unixMode renders permission and special bits as chmod(1) does.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

func diffTrees(want, got map[string]string) string {
	var lines []string
	for k, w := range want {
		if g, ok := got[k]; !ok {
			lines = append(lines, "missing "+k+": "+w)
		} else if g != w {
			lines = append(lines, fmt.Sprintf("differs %s: want %s, got %s", k, w, g))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			lines = append(lines, "extra "+k+": "+g)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// freshpull's extraction of an image in its own store is identical to
// umoci's unpack of the same store entry.
func TestExtractMatchesUmoci(t *testing.T) {
	requireTool(t, "umoci")
	reg := testregistry.Start(t)
	storeDir := t.TempDir()
	ref := reg.Ref("extract/app:1")
	testregistry.Push(t, ref, appImage(t, false))
	r := pullOne(t, storeDir, 0, ref)

	bundle := filepath.Join(t.TempDir(), "bundle")
	if out, err := exec.Command("umoci", "unpack", "--rootless", "--image", storeDir+":"+r.Canonical, bundle).CombinedOutput(); err != nil {
		t.Fatalf("umoci unpack from freshpull's store: %v\n%s", err, out)
	}
	dest := filepath.Join(t.TempDir(), "rootfs")
	out := fp(t, "--store", storeDir, "-o", "json", "extract", "--policy", "never", "--rootless", ref, dest)
	if out.code != 0 {
		t.Fatalf("extract: exit %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	var res struct {
		Action, Digest, Dest string
		Files, Bytes         int64
	}
	if err := json.Unmarshal([]byte(out.stdout), &res); err != nil {
		t.Fatal(err)
	}
	if res.Action != "local" || res.Digest != r.Digest || res.Dest != dest || res.Files < 20 || res.Bytes == 0 {
		t.Errorf("extract result = %+v", res)
	}
	want, got := tree(t, filepath.Join(bundle, "rootfs")), tree(t, dest)
	if d := diffTrees(want, got); d != "" {
		t.Fatalf("freshpull's tree differs from umoci's:\n%s", d)
	}
	// The whiteouts and the opaque directory took effect.
	for _, gone := range []string{"app/old.txt", "opt/cache/a", "opt/cache/b", "app/.wh.old.txt", "opt/cache/.wh..wh..opq"} {
		if _, ok := got[gone]; ok {
			t.Errorf("%s is in the extracted tree", gone)
		}
	}
	if !strings.HasPrefix(got["usr/bin/su"], "file 4755") || !strings.HasPrefix(got["usr/bin/wall"], "file 2755") || !strings.HasPrefix(got["tmp"], "dir 1777") {
		t.Errorf("special modes lost: su %q, tmp %q", got["usr/bin/su"], got["tmp"])
	}
	a, _ := os.Stat(filepath.Join(dest, "app/lib/a.jar"))
	b, _ := os.Stat(filepath.Join(dest, "app/lib/a-1.0.jar"))
	if a == nil || b == nil || !os.SameFile(a, b) {
		t.Errorf("app/lib/a-1.0.jar is not a hard link of app/lib/a.jar")
	}
	t.Logf("%d paths identical to umoci's unpack", len(got))
}

func TestExtractPaths(t *testing.T) {
	reg := testregistry.Start(t)
	storeDir := t.TempDir()
	ref := reg.Ref("extract/paths:1")
	testregistry.Push(t, ref, appImage(t, true))
	pullOne(t, storeDir, 0, ref)

	dest := filepath.Join(t.TempDir(), "ctx")
	out := fp(t, "--store", storeDir, "extract", "--policy", "never", ref, dest,
		"--path", "/app/lib/*.jar:lib", "--path", "/opt/cache/.:cache", "--path", "/etc/passwd", "--path", "/app")
	if out.code != 0 {
		t.Fatalf("extract --path: exit %d\n%s", out.code, out.stderr)
	}
	got := tree(t, dest)
	for _, p := range []string{"lib/a.jar", "lib/b.jar", "lib/c.jar", "lib/a-1.0.jar", "cache/c", "passwd", "app/run.sh", "app/lib/readme.txt"} {
		if _, ok := got[p]; !ok {
			t.Errorf("%s missing from the --path extraction: %v", p, got)
		}
	}
	for _, p := range []string{"lib/readme.txt", "cache/a", "usr", "etc", "opt"} {
		if _, ok := got[p]; ok {
			t.Errorf("%s extracted, but no --path asked for it", p)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "passwd")); !strings.Contains(string(b), "app:x:1000") {
		t.Errorf("passwd is not the top layer's: %q", b)
	}

	// A path that is not in the image: exit 3 naming it, no DEST left.
	missing := filepath.Join(t.TempDir(), "nothing")
	out = fp(t, "--store", storeDir, "extract", "--policy", "never", ref, missing, "--path", "/no/such/file")
	if out.code != 3 || !strings.Contains(out.stderr, "/no/such/file") {
		t.Errorf("missing --path: exit %d %q, want 3 naming it", out.code, out.stderr)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("a failed extraction left %s behind", missing)
	}
	// A non-empty DEST needs --force.
	out = fp(t, "--store", storeDir, "extract", "--policy", "never", ref, dest, "--path", "/etc/passwd")
	if out.code != 2 || !strings.Contains(out.stderr, "not empty") {
		t.Errorf("non-empty DEST: exit %d %q, want 2", out.code, out.stderr)
	}
	if out := fp(t, "--store", storeDir, "extract", "--policy", "never", "--force", ref, dest, "--path", "/etc/shadow"); out.code != 0 {
		t.Errorf("--force: exit %d %s", out.code, out.stderr)
	}
	if _, err := os.Stat(filepath.Join(dest, "shadow")); err != nil {
		t.Errorf("--force did not merge: %v", err)
	}
	// extract obtains the image under the pull policy like pull: never on
	// an absent image exits 3.
	if out := fp(t, "--store", t.TempDir(), "extract", "--policy", "never", ref, filepath.Join(t.TempDir(), "x")); out.code != 3 {
		t.Errorf("extract --policy never of an absent image: exit %d", out.code)
	}
}
