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

// hostileCase is a layer stack made to escape DEST. Each is either
// rejected with an error naming the entry (reject), or confined to DEST,
// where check says what it must look like.
type hostileCase struct {
	name   string
	layers func(victim string) [][]te
	paths  []PathSpec
	// reject is the offending entry's name (a part of it) and why.
	reject, why string
	// notFound: a --path that must not be found through the escape.
	notFound bool
	check    func(t *testing.T, dest, victim string)
}

// sandboxRel is the victim directory as a path relative to "/", which is
// where confined absolute paths land inside DEST.
func sandboxRel(victim string) string { return strings.TrimPrefix(victim, "/") }

func hostileCases() []hostileCase {
	up := strings.Repeat("../", 40)
	return []hostileCase{
		{name: "dot-dot name", reject: "../victim/file", why: "outside the image root",
			layers: func(v string) [][]te { return [][]te{{reg("../victim/file", "pwned", 0o644)}} }},
		{name: "dot-dot inside a name", reject: "a/../../victim/file", why: "outside the image root",
			layers: func(v string) [][]te { return [][]te{{dir("a", 0o755), reg("a/../../victim/file", "pwned", 0o644)}} }},
		{name: "dot-dot directory entry", reject: "..", why: "outside the image root",
			layers: func(v string) [][]te { return [][]te{{dir("..", 0o777)}} }},
		{name: "absolute name",
			layers: func(v string) [][]te { return [][]te{{reg(v+"/file", "pwned", 0o644)}} },
			check: func(t *testing.T, dest, v string) {
				mustRead(t, filepath.Join(dest, sandboxRel(v), "file"), "pwned")
			}},
		{name: "absolute symlink, then a later layer writes through it",
			layers: func(v string) [][]te {
				return [][]te{{sym("evil", v)}, {reg("evil/file", "pwned", 0o644), dir("evil/sub", 0o777)}}
			},
			check: func(t *testing.T, dest, v string) {
				mustRead(t, filepath.Join(dest, sandboxRel(v), "file"), "pwned")
				mustLink(t, filepath.Join(dest, "evil"), v)
			}},
		{name: "relative symlink climbing out, then written through",
			layers: func(v string) [][]te {
				return [][]te{{sym("a/evil", up+sandboxRel(v))}, {reg("a/evil/file", "pwned", 0o644)}}
			},
			check: func(t *testing.T, dest, v string) {
				mustRead(t, filepath.Join(dest, sandboxRel(v), "file"), "pwned")
			}},
		{name: "symlink and a write through it in one layer",
			layers: func(v string) [][]te {
				return [][]te{{sym("evil", v), reg("evil/file", "pwned", 0o644)}}
			},
			check: func(t *testing.T, dest, v string) {
				mustRead(t, filepath.Join(dest, sandboxRel(v), "file"), "pwned")
			}},
		{name: "symlinked parent of a directory entry",
			layers: func(v string) [][]te {
				return [][]te{{sym("root", "/")}, {dir("root"+v, 0o777), reg("root"+v+"/file", "pwned", 0o644)}}
			},
			check: func(t *testing.T, dest, v string) {
				mustRead(t, filepath.Join(dest, sandboxRel(v), "file"), "pwned")
			}},
		{name: "entry replaces a symlink to outside instead of writing through it",
			layers: func(v string) [][]te {
				return [][]te{{sym("x", v+"/file"), sym("d", v)}, {reg("x", "pwned", 0o600), dir("d", 0o777), reg("d/file", "pwned", 0o644)}}
			},
			check: func(t *testing.T, dest, v string) {
				mustRead(t, filepath.Join(dest, "x"), "pwned")
				mustRead(t, filepath.Join(dest, "d/file"), "pwned")
			}},
		{name: "hard link climbing out", reject: `"x"`, why: "outside the image root",
			layers: func(v string) [][]te { return [][]te{{hard("x", "../victim/file")}} }},
		{name: "hard link to an absolute path outside", reject: `"x"`, why: "does not exist",
			layers: func(v string) [][]te { return [][]te{{reg("y", "y", 0o644)}, {hard("x", v+"/file")}} }},
		{name: "hard link through a symlink to outside", reject: `"x"`, why: "does not exist",
			layers: func(v string) [][]te { return [][]te{{sym("evil", v)}, {hard("x", "evil/file")}} }},
		{name: "hard link to a symlink to outside links the symlink",
			layers: func(v string) [][]te { return [][]te{{sym("s", v+"/file"), hard("x", "s")}} },
			check: func(t *testing.T, dest, v string) {
				mustLink(t, filepath.Join(dest, "x"), v+"/file")
			}},
		{name: "whiteout climbing out", reject: "../.wh.victim", why: "outside the image root",
			layers: func(v string) [][]te { return [][]te{{reg("y", "y", 0o644)}, {wh("../victim")}} }},
		{name: "whiteout through a symlink to outside",
			layers: func(v string) [][]te {
				return [][]te{{sym("evil", v), sym("rel", "../victim"), reg("keep", "k", 0o644)}, {wh("evil/file"), wh("rel/file"), opq("evil"), opq("rel")}}
			},
			check: func(t *testing.T, dest, v string) { mustRead(t, filepath.Join(dest, "keep"), "k") }},
		{name: "whiteout of the root", reject: ".wh..", why: "names no file",
			layers: func(v string) [][]te { return [][]te{{reg(".wh..", "", 0o644)}} }},
		{name: "root replaced by a symlink", reject: "./", why: "replace the root directory",
			layers: func(v string) [][]te { return [][]te{{sym("./", v)}} }},
		{name: "root metadata is not applied",
			layers: func(v string) [][]te { return [][]te{{dir(".", 0o777), reg("f", "f", 0o644)}} },
			check: func(t *testing.T, dest, v string) {
				if fi, err := os.Stat(dest); err != nil || fi.Mode().Perm() == 0o777 {
					t.Errorf("DEST mode %v, %v: the image's root entry changed it", fi.Mode(), err)
				}
			}},
		{name: "symlink loop", reject: "a/x", why: "too many levels of symbolic links",
			layers: func(v string) [][]te { return [][]te{{sym("a", "b"), sym("b", "a")}, {reg("a/x", "x", 0o644)}} }},
		{name: "very long path", reject: "aaaaaaaaaa", why: "more than Linux allows",
			layers: func(v string) [][]te { return [][]te{{reg(strings.Repeat("aaaaaaaaaa/", 500)+"f", "x", 0o644)}} }},
		{name: "very long name", reject: "bbbbbbbbbb", why: "more than Linux allows",
			layers: func(v string) [][]te { return [][]te{{reg(strings.Repeat("b", 300), "x", 0o644)}} }},
		{name: "deep but legal nesting",
			layers: func(v string) [][]te { return [][]te{{reg(strings.Repeat("d/", 2000)+"f", "deep", 0o644)}} },
			check: func(t *testing.T, dest, v string) {
				if _, err := os.Lstat(filepath.Join(dest, "d/d/d/d")); err != nil {
					t.Error(err)
				}
			}},
		{name: "hard link to a directory", reject: `"x"`, why: "a directory",
			layers: func(v string) [][]te { return [][]te{{dir("d", 0o755), hard("x", "d")}} }},
		{name: "duplicates: symlink to outside, then a file and a directory of the same name",
			layers: func(v string) [][]te {
				return [][]te{{sym("x", v+"/file"), reg("x", "mine", 0o644), sym("y", v), dir("y", 0o755), reg("y/file", "mine", 0o644)}}
			},
			check: func(t *testing.T, dest, v string) {
				mustRead(t, filepath.Join(dest, "x"), "mine")
				mustRead(t, filepath.Join(dest, "y/file"), "mine")
			}},
		{name: "--path through a symlink to outside is resolved in the image", notFound: true,
			layers: func(v string) [][]te { return [][]te{{sym("evil", v), sym("rel", up+"victim")}} },
			paths:  []PathSpec{{Src: "/evil/file"}}},
		{name: "--path contents of a symlink to outside", notFound: true,
			layers: func(v string) [][]te { return [][]te{{sym("rel", up+sandboxRel(v))}} },
			paths:  []PathSpec{{Src: "/rel/."}}},
		{name: "--path DESTDIR climbing out", reject: "DESTDIR", why: "outside the destination",
			layers: func(v string) [][]te { return [][]te{{reg("f", "f", 0o644)}} },
			paths:  []PathSpec{{Src: "/f", DestDir: "../victim"}}},
	}
}

// Nothing outside DEST may change, whatever the layers hold: the whole
// directory around DEST, victim included, is described before and after
// (names, types, modes, contents, link targets, owners, times, link
// counts) and must be identical.
func TestHostileLayers(t *testing.T) {
	for _, c := range hostileCases() {
		for _, e := range engines {
			t.Run(c.name+"/"+e.name, func(t *testing.T) {
				sandbox := t.TempDir()
				victim := filepath.Join(sandbox, "victim")
				if err := os.MkdirAll(filepath.Join(victim, "sub"), 0o755); err != nil {
					t.Fatal(err)
				}
				os.WriteFile(filepath.Join(victim, "file"), []byte("precious"), 0o644)
				os.Symlink("file", filepath.Join(victim, "link"))
				os.WriteFile(filepath.Join(sandbox, "beside"), []byte("beside"), 0o600)
				dest := filepath.Join(sandbox, "dest")
				before := sandboxState(t, sandbox)

				var ls []Layer
				for _, entries := range c.layers(victim) {
					ls = append(ls, mkLayer(t, mtGzip, entries...))
				}
				_, err := runEngine(context.Background(), ls, dest, Options{Paths: c.paths}, e.e)

				if after := sandboxState(t, sandbox); fmt.Sprint(after) != fmt.Sprint(before) {
					t.Fatalf("outside DEST changed:\n%s", diffSnap(before, after))
				}
				switch {
				case c.reject != "":
					if err == nil || !strings.Contains(err.Error(), c.reject) || !strings.Contains(err.Error(), c.why) {
						t.Fatalf("error %v; want one naming %q and saying %q", err, c.reject, c.why)
					}
					var ee *EntryError
					if errors.As(err, &ee) && ee.Layer == "" {
						t.Errorf("error names no layer: %v", err)
					}
					if _, err := os.Lstat(dest); !errors.Is(err, fs.ErrNotExist) {
						t.Errorf("a refused extraction left DEST behind: %v", err)
					}
				case c.notFound:
					var nf *NotFoundError
					if !errors.As(err, &nf) {
						t.Fatalf("error %v; want NotFoundError", err)
					}
				default:
					if err != nil {
						t.Fatalf("extract: %v", err)
					}
					c.check(t, dest, victim)
				}
				assertNoTemp(t, sandbox)
			})
		}
	}
}

// sandboxState describes everything in the sandbox but DEST, link counts
// included (a hard link from DEST to a file outside would change one).
func sandboxState(t *testing.T, sandbox string) map[string]string {
	s := snapshot(t, sandbox, snapOpts{times: true, dirTimes: true, owners: true, xattrs: true, skip: "dest"})
	filepath.WalkDir(sandbox, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(sandbox, p)
		if rel == "dest" {
			return filepath.SkipDir
		}
		if err == nil {
			var st syscall.Stat_t
			if syscall.Lstat(p, &st) == nil && rel != "." {
				s[rel] += fmt.Sprintf(" nlink=%d", st.Nlink)
			}
		}
		return nil
	})
	return s
}

func mustRead(t *testing.T, p, want string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil || string(b) != want {
		t.Errorf("%s: read %q, %v; want %q", p, b, err, want)
	}
}

func mustLink(t *testing.T, p, want string) {
	t.Helper()
	got, err := os.Readlink(p)
	if err != nil || got != want {
		t.Errorf("%s: symlink to %q, %v; want %q", p, got, err, want)
	}
}

// The comparison above must see every kind of change an escape could make.
func TestSandboxStateSeesChanges(t *testing.T) {
	for name, change := range map[string]func(dir string) error{
		"content":   func(d string) error { return os.WriteFile(filepath.Join(d, "victim/file"), []byte("pwned!!!"), 0o644) },
		"mode":      func(d string) error { return os.Chmod(filepath.Join(d, "victim/file"), 0o777) },
		"hard link": func(d string) error { return os.Link(filepath.Join(d, "victim/file"), filepath.Join(d, "dest")) },
		"new file":  func(d string) error { return os.WriteFile(filepath.Join(d, "victim/sub/new"), nil, 0o644) },
		"link target": func(d string) error {
			os.Remove(filepath.Join(d, "victim/link"))
			return os.Symlink("/etc/passwd", filepath.Join(d, "victim/link"))
		},
		"owner": func(d string) error { return os.Lchown(filepath.Join(d, "victim/file"), 1234, 1234) },
	} {
		if name == "owner" && os.Geteuid() != 0 {
			continue // chown needs root
		}
		sandbox := t.TempDir()
		os.MkdirAll(filepath.Join(sandbox, "victim/sub"), 0o755)
		os.WriteFile(filepath.Join(sandbox, "victim/file"), []byte("precious"), 0o644)
		os.Symlink("file", filepath.Join(sandbox, "victim/link"))
		before := sandboxState(t, sandbox)
		if err := change(sandbox); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if fmt.Sprint(before) == fmt.Sprint(sandboxState(t, sandbox)) {
			t.Errorf("%s: change not seen", name)
		}
	}
}
