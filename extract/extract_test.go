package extract

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// baseImage has what whole-image extraction must get right: whiteouts of
// files and directories, an opaque directory, a replaced file that a hard
// link still names, special modes, a read-only directory with contents, a
// symlink to a directory, and directories that exist only as parents.
func baseImage(t *testing.T, mediaType string) []Layer {
	return []Layer{
		mkLayer(t, mediaType,
			sym("bin", "usr/bin"),
			dir("etc", 0o755),
			reg("etc/passwd", "root:x:0:0", 0o644),
			owned(reg("etc/shadow", "secret", 0o640), 0, 42),
			dir("usr", 0o755), dir("usr/bin", 0o755),
			reg("usr/bin/sh", "#!sh", 0o755),
			reg("usr/bin/su", "su", 0o4755),
			hard("usr/bin/sudo", "usr/bin/su"),
			dir("tmp", 0o1777),
			dir("var", 0o755), dir("var/cache", 0o755),
			reg("var/cache/a", "A", 0o644), reg("var/cache/b", "B", 0o644),
			dir("var/log", 0o2775), reg("var/log/old.log", "old", 0o644),
			dir("opt", 0o755), dir("opt/app", 0o755), dir("opt/app/lib", 0o755),
			reg("opt/app/lib/x.jar", "X", 0o644), reg("opt/app/lib/y.jar", "Y", 0o644),
			reg("opt/app/README", "readme", 0o644),
			dir("ro", 0o555), reg("ro/file", "r", 0o444),
		),
		mkLayer(t, mediaType,
			reg("etc/passwd", "root:x:0:0\nuser", 0o644),
			opq("var/cache"), reg("var/cache/c", "C", 0o644),
			wh("var/log/old.log"),
			wh("opt/app/lib/y.jar"), reg("opt/app/lib/z.jar", "Z", 0o644),
			reg("usr/bin/su", "su2", 0o4755),
			owned(dir("home/user", 0o700), 1000, 1000),
			owned(reg("home/user/.profile", "p", 0o644), 1000, 1000),
		),
		mkLayer(t, mediaType,
			wh("ro"),
			reg("srv/data", "data", 0o600),
		),
	}
}

var baseWant = map[string]string{
	"bin":                "sym usr/bin",
	"etc":                "dir 0755",
	"etc/passwd":         `reg 0644 "root:x:0:0\nuser"`,
	"etc/shadow":         `reg 0640 "secret"`,
	"home":               "dir 0755",
	"home/user":          "dir 0700",
	"home/user/.profile": `reg 0644 "p"`,
	"opt":                "dir 0755",
	"opt/app":            "dir 0755",
	"opt/app/README":     `reg 0644 "readme"`,
	"opt/app/lib":        "dir 0755",
	"opt/app/lib/x.jar":  `reg 0644 "X"`,
	"opt/app/lib/z.jar":  `reg 0644 "Z"`,
	"srv":                "dir 0755",
	"srv/data":           `reg 0600 "data"`,
	"tmp":                "dir 1777",
	"usr":                "dir 0755",
	"usr/bin":            "dir 0755",
	"usr/bin/sh":         `reg 0755 "#!sh"`,
	"usr/bin/su":         `reg 4755 "su2"`,
	"usr/bin/sudo":       `reg 4755 "su"`,
	"var":                "dir 0755",
	"var/cache":          "dir 0755",
	"var/cache/c":        `reg 0644 "C"`,
	"var/log":            "dir 2775",
}

func TestWholeImage(t *testing.T) {
	for _, mt := range []string{mtTar, mtGzip, mtZstd, "application/vnd.docker.image.rootfs.diff.tar.gzip"} {
		ls := baseImage(t, mt)
		for _, e := range engines {
			t.Run(filepath.Base(mt)+"/"+e.name, func(t *testing.T) {
				dest, res := mustExtract(t, e.e, ls, Options{})
				if d := diffSnap(baseWant, snapshot(t, dest, snapOpts{})); d != "" {
					t.Fatalf("tree differs:\n%s", d)
				}
				if res.Bytes == 0 || res.Files < int64(len(baseWant))-3 {
					t.Errorf("result %+v does not count what was written", res)
				}
				if (e.e == engineAsync) != (res.async > 0) {
					t.Errorf("%d files created on other goroutines", res.async)
				}
			})
		}
	}
}

// Reading from the top down, nothing a later layer replaces or removes is
// written: the counts show it (bottom-up writes them all).
func TestTopDownWritesOnlyWhatSurvives(t *testing.T) {
	ls := layers(t,
		l(dir("big", 0o755), reg("big/1", strings.Repeat("x", 1000), 0o644), reg("big/2", strings.Repeat("y", 1000), 0o644), reg("keep", "k", 0o644)),
		l(wh("big"), reg("keep", "K", 0o644)),
	)
	_, td := mustExtract(t, engineAuto, ls, Options{})
	_, bu := mustExtract(t, engineBottomUp, ls, Options{})
	if td.engine != "top-down" || td.Files != 1 || td.Bytes != 1 {
		t.Errorf("top-down wrote %d files, %d bytes (%s); want 1 file of 1 byte", td.Files, td.Bytes, td.engine)
	}
	if bu.Files != 5 || bu.Bytes != 2002 {
		t.Errorf("bottom-up wrote %d files, %d bytes; want 5 and 2002", bu.Files, bu.Bytes)
	}
}

func TestWhiteoutsAndOpaqueDirectories(t *testing.T) {
	ls := layers(t,
		l(dir("d", 0o755), reg("d/a", "a", 0o644), dir("d/sub", 0o755), reg("d/sub/x", "x", 0o644),
			dir("o", 0o700), reg("o/old", "old", 0o644), reg("gone", "g", 0o644), dir("w", 0o755), reg("w/f", "f", 0o644)),
		l(
			// A whiteout removes a whole directory; the same layer's own
			// entries beneath it stay, wherever the whiteout comes.
			reg("w/new", "new", 0o644), wh("w"),
			// An opaque directory keeps its own metadata and this layer's
			// entries, and hides everything below.
			dir("o", 0o750), opq("o"), reg("o/new", "new", 0o644),
			wh("d/sub"), wh("gone"), wh("never/existed"),
		),
	)
	want := map[string]string{
		"d":     "dir 0755",
		"d/a":   `reg 0644 "a"`,
		"o":     "dir 0750",
		"o/new": `reg 0644 "new"`,
		"w":     "dir 0755",
		"w/new": `reg 0644 "new"`,
	}
	expectTree(t, ls, want)
}

func TestDuplicateEntries(t *testing.T) {
	ls := layers(t,
		l(
			reg("f", "first", 0o644), reg("f", "second", 0o600), // the later entry wins
			dir("d", 0o755), reg("d/x", "x", 0o644), reg("d", "file now", 0o644), // a file replaces a directory and what it held
			reg("e", "file", 0o644), dir("e", 0o700), // and a directory a file
			dir("m", 0o755), dir("m", 0o711), // directory metadata: the later entry
			reg("up", "lower", 0o644),
		),
		l(reg("up", "upper", 0o640)), // a later layer wins
	)
	want := map[string]string{
		"f":  `reg 0600 "second"`,
		"d":  `reg 0644 "file now"`,
		"e":  "dir 0700",
		"m":  "dir 0711",
		"up": `reg 0640 "upper"`,
	}
	expectTree(t, ls, want)
}

func TestModesTimesAndOwners(t *testing.T) {
	t1 := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	t2 := time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC)
	ls := layers(t,
		l(
			mtime(owned(dir("a", 0o2750), 12, 34), t1),
			mtime(owned(reg("a/suid", "s", 0o4711), 56, 78), t2),
			mtime(reg("a/sgid", "g", 0o2755), t1),
			mtime(dir("a/sticky", 0o1777), t2),
			mtime(dir("ro", 0o500), t1), mtime(reg("ro/f", "f", 0o400), t2),
			mtime(owned(sym("link", "a/suid"), 9, 10), t1),
		),
		// Writing into a directory later must not disturb its mtime.
		l(mtime(reg("a/later", "l", 0o644), t2)),
	)
	want := map[string]string{
		"a":        "dir 2750 @2001-02-03T04:05:06Z 12:34",
		"a/suid":   `reg 4711 "s" @1999-12-31T23:59:59Z 56:78`,
		"a/sgid":   `reg 2755 "g" @2001-02-03T04:05:06Z 0:0`,
		"a/sticky": "dir 1777 @1999-12-31T23:59:59Z 0:0",
		"a/later":  `reg 0644 "l" @1999-12-31T23:59:59Z 0:0`,
		"ro":       "dir 0500 @2001-02-03T04:05:06Z 0:0",
		"ro/f":     `reg 0400 "f" @1999-12-31T23:59:59Z 0:0`,
		"link":     "sym a/suid 9:10",
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			if os.Geteuid() != 0 {
				t.Skip("checks ownership, which needs root (CI runs as root)")
			}
			dest, _ := mustExtract(t, e.e, ls, Options{})
			if d := diffSnap(want, snapshot(t, dest, snapOpts{times: true, dirTimes: true, owners: true})); d != "" {
				t.Fatalf("tree differs:\n%s", d)
			}
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(dest, "link"), &st); err != nil || time.Unix(st.Mtim.Unix()).UTC() != t1 {
				t.Errorf("symlink mtime: %v (want %v), %v", time.Unix(st.Mtim.Unix()).UTC(), t1, err)
			}
		})
	}
	// Without root (simulated: tests run as root), files belong to the
	// user, silently, and the modes are still exact.
	t.Run("rootless", func(t *testing.T) {
		dest, res := mustExtract(t, engineAuto, ls, Options{Rootless: true})
		me := fmtOwner(os.Geteuid(), os.Getegid())
		rootless := map[string]string{}
		for k, v := range want {
			i := strings.LastIndexByte(v, ' ')
			rootless[k] = v[:i] + " " + me
		}
		// A set-id bit whose owner the image cannot have is dropped: no
		// setuid program owned by the caller from an untrusted image.
		rootless["a/suid"] = strings.Replace(rootless["a/suid"], "reg 4711", "reg 0711", 1)
		if os.Getegid() != 0 {
			rootless["a/sgid"] = strings.Replace(rootless["a/sgid"], "reg 2755", "reg 0755", 1)
		}
		if d := diffSnap(rootless, snapshot(t, dest, snapOpts{times: true, dirTimes: true, owners: true})); d != "" {
			t.Fatalf("tree differs:\n%s", d)
		}
		if len(res.Warnings) != 0 {
			t.Errorf("ownership needs no warning: %q", res.Warnings)
		}
	})
}

func fmtOwner(uid, gid int) string { return fmt.Sprintf("%d:%d", uid, gid) }

func TestDevicesAndFifos(t *testing.T) {
	ls := layers(t, l(dir("dev", 0o755), chardev("dev/null", 1, 3), fifo("dev/pipe")))
	t.Run("root", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root")
		}
		dest, _, err := extractTo(t, engineAuto, ls, Options{})
		if errors.Is(err, syscall.EPERM) {
			t.Skip("mknod is not allowed here (container without CAP_MKNOD)")
		}
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"dev": "dir 0755", "dev/null": "chr 0666 1:3", "dev/pipe": "fifo 0640"}
		if d := diffSnap(want, snapshot(t, dest, snapOpts{})); d != "" {
			t.Fatalf("tree differs:\n%s", d)
		}
	})
	t.Run("rootless", func(t *testing.T) {
		dest, res := mustExtract(t, engineAuto, ls, Options{Rootless: true})
		warned := res.Warnings
		want := map[string]string{"dev": "dir 0755", "dev/pipe": "fifo 0640"}
		if d := diffSnap(want, snapshot(t, dest, snapOpts{})); d != "" {
			t.Fatalf("tree differs:\n%s", d)
		}
		if len(warned) != 1 || !strings.Contains(warned[0], "skipped 1 device node") || !strings.Contains(warned[0], "/dev/null") {
			t.Errorf("warnings %q; want one naming /dev/null", warned)
		}
	})
}

func TestExtendedAttributes(t *testing.T) {
	probe := filepath.Join(t.TempDir(), "probe")
	os.WriteFile(probe, nil, 0o644)
	if err := unix.Setxattr(probe, "user.probe", []byte("1"), 0); err != nil {
		t.Skipf("this file system does not take user extended attributes: %v", err)
	}
	ls := layers(t, l(
		xattr(dir("d", 0o755), "user.dir", "D"),
		xattr(xattr(reg("d/f", "f", 0o644), "user.mime", "text/plain"), "trusted.secret", "T"),
	))
	t.Run("root", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root")
		}
		dest, res := mustExtract(t, engineAuto, ls, Options{})
		want := map[string]string{"d": "dir 0755 [user.dir=D]", "d/f": `reg 0644 "f" [trusted.secret=T,user.mime=text/plain]`}
		if d := diffSnap(want, snapshot(t, dest, snapOpts{xattrs: true})); d != "" {
			t.Fatalf("tree differs:\n%s\nwarnings: %q", d, res.Warnings)
		}
	})
	t.Run("rootless", func(t *testing.T) {
		var seen []string
		dest, res := mustExtract(t, engineAuto, ls, Options{Rootless: true, Warn: func(m string) { seen = append(seen, m) }})
		want := map[string]string{"d": "dir 0755 [user.dir=D]", "d/f": `reg 0644 "f" [user.mime=text/plain]`}
		if d := diffSnap(want, snapshot(t, dest, snapOpts{xattrs: true})); d != "" {
			t.Fatalf("tree differs:\n%s", d)
		}
		if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "trusted.secret") || len(seen) != 1 {
			t.Errorf("warnings %q (callback saw %q); want one about trusted.secret", res.Warnings, seen)
		}
	})
}

// An image whose later layer writes through a symlink an earlier layer
// made can only be reproduced by applying layers in order: the automatic
// engine notices and does so.
func TestWriteThroughSymlinkFallsBackToBottomUp(t *testing.T) {
	ls := layers(t,
		l(dir("usr/lib", 0o755), sym("lib", "usr/lib"), sym("abs", "/usr/lib")),
		l(reg("lib/libc.so", "c", 0o644), reg("abs/libm.so", "m", 0o644)),
	)
	want := map[string]string{
		"abs":             "sym /usr/lib",
		"lib":             "sym usr/lib",
		"usr":             "dir 0755",
		"usr/lib":         "dir 0755",
		"usr/lib/libc.so": `reg 0644 "c"`,
		"usr/lib/libm.so": `reg 0644 "m"`,
	}
	dest, res := mustExtract(t, engineAuto, ls, Options{})
	if d := diffSnap(want, snapshot(t, dest, snapOpts{})); d != "" {
		t.Fatalf("tree differs:\n%s", d)
	}
	if res.engine != "bottom-up" {
		t.Errorf("engine %s; want bottom-up", res.engine)
	}
	if _, _, err := extractTo(t, engineTopDown, ls, Options{}); !errors.Is(err, errNeedsBottomUp) {
		t.Errorf("top-down alone: %v; want errNeedsBottomUp", err)
	}
}

func TestCompressionAndMediaTypes(t *testing.T) {
	entries := []te{reg("f", "content", 0o644)}
	for _, mt := range []string{mtTar, mtGzip, mtZstd,
		"application/vnd.docker.image.rootfs.diff.tar.gzip",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"} {
		dest, _ := mustExtract(t, engineAuto, []Layer{mkLayer(t, mt, entries...)}, Options{})
		if b, err := os.ReadFile(filepath.Join(dest, "f")); string(b) != "content" {
			t.Errorf("%s: read %q, %v", mt, b, err)
		}
	}
	bad := mkLayer(t, mtTar, entries...)
	bad.mediaType = "application/vnd.oci.image.layer.v1.tar+encrypted"
	_, _, err := extractTo(t, engineAuto, []Layer{bad}, Options{})
	if err == nil || !strings.Contains(err.Error(), "encrypted") {
		t.Errorf("encrypted layer: %v", err)
	}
	corrupt := mkLayer(t, mtGzip, entries...)
	corrupt.data = corrupt.data[:len(corrupt.data)/2]
	_, _, err = extractTo(t, engineAuto, []Layer{corrupt}, Options{})
	if err == nil || !strings.Contains(err.Error(), corrupt.digest) {
		t.Errorf("truncated layer: %v; want an error naming the layer", err)
	}
}

func TestCanceled(t *testing.T) {
	ls := layers(t, l(reg("f", strings.Repeat("x", 1<<20), 0o644)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dest := filepath.Join(t.TempDir(), "d")
	if _, err := Extract(ctx, ls, dest, Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v; want context.Canceled", err)
	}
	if _, err := os.Lstat(dest); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("canceled extraction left %s: %v", dest, err)
	}
	assertNoTemp(t, filepath.Dir(dest))
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			t.Errorf("temporary directory %s left behind", e.Name())
		}
	}
}

// expectTree extracts ls with every engine and compares the tree with want.
func expectTree(t *testing.T, ls []Layer, want map[string]string) {
	t.Helper()
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			dest, _ := mustExtract(t, e.e, ls, Options{})
			if d := diffSnap(want, snapshot(t, dest, snapOpts{})); d != "" {
				t.Fatalf("tree differs:\n%s", d)
			}
		})
	}
}
