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
)

func smallImage(t *testing.T) []Layer {
	return layers(t, l(
		dir("etc", 0o755), reg("etc/passwd", "root", 0o644),
		dir("app", 0o755), reg("app/x", "x", 0o644),
		sym("bin", "usr/bin"),
	))
}

func TestAbsentDestinationIsCreated(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "a", "b", "dest")
	if _, err := Extract(context.Background(), smallImage(t), dest, Options{}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dest)
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("DEST: %v, %v; want a directory of mode 0755", fi.Mode(), err)
	}
	mustRead(t, filepath.Join(dest, "etc/passwd"), "root")
	assertNoTemp(t, filepath.Dir(dest))
}

// An existing empty DEST stays the same directory, with its own mode.
func TestEmptyDestinationKeepsItsIdentity(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "dest")
	os.Mkdir(dest, 0o710)
	before := inode(t, dest)
	if _, err := Extract(context.Background(), smallImage(t), dest, Options{}); err != nil {
		t.Fatal(err)
	}
	if inode(t, dest) != before {
		t.Error("DEST was replaced by another directory")
	}
	if fi, _ := os.Stat(dest); fi.Mode().Perm() != 0o710 {
		t.Errorf("DEST mode %v; want its own 0710", fi.Mode().Perm())
	}
	mustRead(t, filepath.Join(dest, "app/x"), "x")
	assertNoTemp(t, dest)
}

// A DEST given as a symlink to a directory is that directory.
func TestDestinationSymlink(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "real"), 0o755)
	os.Symlink("real", filepath.Join(dir, "link"))
	if _, err := Extract(context.Background(), smallImage(t), filepath.Join(dir, "link"), Options{}); err != nil {
		t.Fatal(err)
	}
	mustRead(t, filepath.Join(dir, "real/app/x"), "x")
	mustLink(t, filepath.Join(dir, "link"), "real")
}

func TestNonEmptyDestination(t *testing.T) {
	dest := t.TempDir()
	os.WriteFile(filepath.Join(dest, "mine"), []byte("mine"), 0o644)
	before := snapshot(t, dest, snapOpts{times: true, dirTimes: true})
	_, err := Extract(context.Background(), smallImage(t), dest, Options{})
	if !errors.Is(err, ErrDestNotEmpty) || !strings.Contains(err.Error(), dest) {
		t.Fatalf("got %v; want ErrDestNotEmpty naming %s", err, dest)
	}
	if d := diffSnap(before, snapshot(t, dest, snapOpts{times: true, dirTimes: true})); d != "" {
		t.Errorf("DEST changed:\n%s", d)
	}
	file := filepath.Join(dest, "mine")
	if _, err := Extract(context.Background(), smallImage(t), file, Options{}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("DEST a file: %v", err)
	}
}

// With Force, the image merges into DEST like tar: what it does not name
// stays, what it names is replaced, directories merge, and a symlink in
// DEST is replaced rather than followed.
func TestForceMerges(t *testing.T) {
	sandbox := t.TempDir()
	victim := filepath.Join(sandbox, "victim")
	os.Mkdir(victim, 0o755)
	dest := filepath.Join(sandbox, "dest")
	os.MkdirAll(filepath.Join(dest, "etc"), 0o700)
	os.MkdirAll(filepath.Join(dest, "bin"), 0o755)
	os.WriteFile(filepath.Join(dest, "keep"), []byte("keep"), 0o644)
	os.WriteFile(filepath.Join(dest, "etc/old"), []byte("old"), 0o644)
	os.WriteFile(filepath.Join(dest, "etc/passwd"), []byte("theirs"), 0o600)
	os.WriteFile(filepath.Join(dest, "bin/tool"), []byte("tool"), 0o755)
	os.Symlink(victim, filepath.Join(dest, "app"))
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			if _, err := runEngine(context.Background(), smallImage(t), dest, Options{Force: true}, e.e); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{
				"keep":       `reg 0644 "keep"`,
				"etc":        "dir 0755",
				"etc/old":    `reg 0644 "old"`,
				"etc/passwd": `reg 0644 "root"`,
				"app":        "dir 0755",
				"app/x":      `reg 0644 "x"`,
				"bin":        "sym usr/bin",
			}
			if d := diffSnap(want, snapshot(t, dest, snapOpts{})); d != "" {
				t.Errorf("DEST differs:\n%s", d)
			}
			if ents, _ := os.ReadDir(victim); len(ents) != 0 {
				t.Errorf("wrote through DEST's symlink: %v", ents)
			}
			assertNoTemp(t, dest)
		})
	}
}

// A failing extraction leaves DEST as it was: absent, empty, or with
// Force, untouched. The layers fail late (a truncated base layer, read
// last from the top down) and early (a hostile top layer).
func TestFailureLeavesDestinationAlone(t *testing.T) {
	truncated := func(t *testing.T) []Layer {
		base := mkLayer(t, mtGzip, dir("etc", 0o755), reg("etc/a", strings.Repeat("a", 100000), 0o644), reg("etc/b", "b", 0o644))
		base.data = base.data[:len(base.data)-40]
		return []Layer{base, mkLayer(t, mtGzip, reg("top", "top", 0o644))}
	}
	hostile := func(t *testing.T) []Layer {
		return layers(t, l(reg("fine", "fine", 0o644)), l(reg("ok", "ok", 0o644), reg("../escape", "x", 0o644)))
	}
	for name, mk := range map[string]func(*testing.T) []Layer{"truncated base": truncated, "hostile top": hostile} {
		for _, e := range engines {
			t.Run(name+"/"+e.name, func(t *testing.T) {
				dir := t.TempDir()
				absent := filepath.Join(dir, "absent")
				if _, err := runEngine(context.Background(), mk(t), absent, Options{}, e.e); err == nil {
					t.Fatal("no error")
				}
				if _, err := os.Lstat(absent); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("absent DEST now exists: %v", err)
				}
				empty := filepath.Join(dir, "empty")
				os.Mkdir(empty, 0o755)
				if _, err := runEngine(context.Background(), mk(t), empty, Options{}, e.e); err == nil {
					t.Fatal("no error")
				}
				if ents, _ := os.ReadDir(empty); len(ents) != 0 {
					t.Errorf("empty DEST now holds %v", ents)
				}
				full := filepath.Join(dir, "full")
				os.MkdirAll(filepath.Join(full, "etc"), 0o755)
				os.WriteFile(filepath.Join(full, "etc/a"), []byte("mine"), 0o644)
				before := snapshot(t, dir, snapOpts{times: true, dirTimes: true})
				if _, err := runEngine(context.Background(), mk(t), full, Options{Force: true}, e.e); err == nil {
					t.Fatal("no error")
				}
				if d := diffSnap(before, snapshot(t, dir, snapOpts{times: true, dirTimes: true})); d != "" {
					t.Errorf("DEST changed:\n%s", d)
				}
				assertNoTemp(t, dir)
			})
		}
	}
}

func inode(t *testing.T, p string) string {
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}
