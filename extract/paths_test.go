package extract

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePathSpec(t *testing.T) {
	for _, c := range []struct {
		in, src, dest, err string
	}{
		{in: "/app", src: "/app"},
		{in: "/app:build", src: "/app", dest: "build"},
		{in: "/app/.:build/src", src: "/app/.", dest: "build/src"},
		{in: "/usr/lib/*.jar:libs", src: "/usr/lib/*.jar", dest: "libs"},
		{in: "/a:b:c", src: "/a:b", dest: "c"},
		{in: "/a:b:", src: "/a:b"},
		{in: "/app:", src: "/app"},
		{in: "relative/path", src: "relative/path"},
		{in: "", err: "empty source"},
		{in: ":dest", err: "empty source"},
		{in: "/app:/abs", err: "must be relative"},
		{in: "/app:../up", err: "outside the destination"},
		{in: "/app:a/../../up", err: "outside the destination"},
		{in: "/app/[a-:x", err: "bad glob pattern"},
	} {
		ps, err := ParsePathSpec(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParsePathSpec(%q) error %v; want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || ps.Src != c.src || ps.DestDir != c.dest {
			t.Errorf("ParsePathSpec(%q) = %+v, %v; want {%s %s}", c.in, ps, err, c.src, c.dest)
		}
		if again, err := ParsePathSpec(ps.String()); err != nil || again != ps {
			t.Errorf("ParsePathSpec(%q.String() = %q) = %+v, %v", c.in, ps.String(), again, err)
		}
	}
}

func TestPaths(t *testing.T) {
	ls := baseImage(t, mtGzip)
	for _, c := range []struct {
		name  string
		paths []string
		want  map[string]string
	}{
		{"directory", []string{"/etc"}, map[string]string{
			"etc": "dir 0755", "etc/passwd": `reg 0644 "root:x:0:0\nuser"`, "etc/shadow": `reg 0640 "secret"`}},
		{"contents", []string{"/etc/."}, map[string]string{
			"passwd": `reg 0644 "root:x:0:0\nuser"`, "shadow": `reg 0640 "secret"`}},
		{"file into DESTDIR", []string{"/etc/passwd:conf/etc"}, map[string]string{
			"conf": "dir 0755", "conf/etc": "dir 0755", "conf/etc/passwd": `reg 0644 "root:x:0:0\nuser"`}},
		{"glob", []string{"/opt/app/lib/*.jar:libs"}, map[string]string{
			"libs": "dir 0755", "libs/x.jar": `reg 0644 "X"`, "libs/z.jar": `reg 0644 "Z"`}},
		{"glob in a directory element, contents", []string{"/opt/*/lib/.:lib"}, map[string]string{
			"lib": "dir 0755", "lib/x.jar": `reg 0644 "X"`, "lib/z.jar": `reg 0644 "Z"`}},
		{"through a symlinked directory", []string{"/bin/sh"}, map[string]string{
			"sh": `reg 0755 "#!sh"`}},
		{"a symlink itself", []string{"/bin"}, map[string]string{
			"bin": "sym usr/bin"}},
		{"contents through a symlink", []string{"/bin/.:b"}, map[string]string{
			"b": "dir 0755", "b/sh": `reg 0755 "#!sh"`, "b/su": `reg 4755 "su2"`, "b/sudo": `reg 4755 "su"`}},
		{"hard link whose target a later layer replaced", []string{"/usr/bin/sudo"}, map[string]string{
			"sudo": `reg 4755 "su"`}},
		{"empty directory, special mode", []string{"/var/log"}, map[string]string{
			"log": "dir 2775"}},
		{"the root", []string{"/"}, baseWant},
		{"a file under two sources is one file", []string{"/etc/.:a", "/e*/passwd:b"}, map[string]string{
			"a": "dir 0755", "a/passwd": `reg 0644 "root:x:0:0\nuser"`, "a/shadow": `reg 0640 "secret"`,
			"b": "dir 0755", "b/passwd": "=>a/passwd"}},
		{"also when found through a symlink", []string{"/usr/bin/.:a", "/bin/sh:b"}, map[string]string{
			"a": "dir 0755", "a/sh": `reg 0755 "#!sh"`, "a/su": `reg 4755 "su2"`, "a/sudo": `reg 4755 "su"`,
			"b": "dir 0755", "b/sh": "=>a/sh"}},
		{"several, the later wins", []string{"/opt/app/lib/.:x", "/etc/passwd:x", "/srv/data:x/x.jar"}, map[string]string{
			"x": "dir 0755", "x/passwd": `reg 0644 "root:x:0:0\nuser"`, "x/z.jar": `reg 0644 "Z"`,
			"x/x.jar": "dir 0755", "x/x.jar/data": `reg 0600 "data"`}},
	} {
		for _, e := range engines {
			t.Run(c.name+"/"+e.name, func(t *testing.T) {
				var opts Options
				for _, p := range c.paths {
					ps, err := ParsePathSpec(p)
					if err != nil {
						t.Fatal(err)
					}
					opts.Paths = append(opts.Paths, ps)
				}
				dest, _ := mustExtract(t, e.e, ls, opts)
				if d := diffSnap(c.want, snapshot(t, dest, snapOpts{})); d != "" {
					t.Fatalf("tree differs:\n%s", d)
				}
			})
		}
	}
}

func TestPathNotFound(t *testing.T) {
	ls := baseImage(t, mtGzip)
	for _, c := range []struct{ src, reason string }{
		{"/nope", ""},
		{"/opt/app/lib/*.war", ""},
		{"/ro/file", ""}, // a later layer removed it
		{"/var/log/old.log", ""},
		{"/etc/passwd/.", "/etc/passwd is not a directory"},
		{"/etc/passwd/x", "/etc/passwd is not a directory"},
	} {
		for _, e := range engines {
			_, _, err := extractTo(t, e.e, ls, Options{Paths: []PathSpec{{Src: c.src}}})
			var nf *NotFoundError
			if !errors.As(err, &nf) || nf.Src != c.src || nf.Reason != c.reason || !strings.Contains(err.Error(), c.src) {
				t.Errorf("%s, %s: %v; want a NotFoundError naming it (reason %q)", c.src, e.name, err, c.reason)
			}
		}
	}
}

// One small path of an image is written alone, and its layers are read
// once: nothing else is decompressed to disk.
func TestSmallPathWritesNothingElse(t *testing.T) {
	var big []te
	for i := range 200 {
		big = append(big, reg("data/"+strings.Repeat("f", 1+i%50)+string(rune('a'+i%26))+"/file", strings.Repeat("z", 4096), 0o644))
	}
	ls := []Layer{
		mkLayer(t, mtGzip, append(big, dir("app", 0o755), reg("app/main", "main", 0o755))...),
		mkLayer(t, mtGzip, reg("app/config", "cfg", 0o644)),
	}
	dest, res := mustExtract(t, engineAuto, ls, Options{Paths: []PathSpec{{Src: "/app/."}}})
	want := map[string]string{"main": `reg 0755 "main"`, "config": `reg 0644 "cfg"`}
	if d := diffSnap(want, snapshot(t, dest, snapOpts{})); d != "" {
		t.Fatalf("tree differs:\n%s", d)
	}
	if res.Files != 2 || res.Bytes != 7 {
		t.Errorf("wrote %d files, %d bytes; want 2 and 7", res.Files, res.Bytes)
	}
	for _, l := range ls {
		if n := l.(*memLayer).opens.Load(); n != 1 {
			t.Errorf("layer opened %d times; want once", n)
		}
	}
}

func TestPathHardLinks(t *testing.T) {
	ls := layers(t, l(
		dir("a", 0o755), reg("a/f", "F", 0o644), hard("a/g", "a/f"),
		dir("b", 0o755), hard("b/h", "a/f"),
	))
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			// Both names selected: still one file.
			dest, _ := mustExtract(t, e.e, ls, Options{Paths: []PathSpec{{Src: "/a"}}})
			want := map[string]string{"a": "dir 0755", "a/f": `reg 0644 "F"`, "a/g": "=>a/f"}
			if d := diffSnap(want, snapshot(t, dest, snapOpts{})); d != "" {
				t.Errorf("/a: tree differs:\n%s", d)
			}
			// The target not selected: its data is read again.
			dest, _ = mustExtract(t, e.e, ls, Options{Paths: []PathSpec{{Src: "/b"}}})
			want = map[string]string{"b": "dir 0755", "b/h": `reg 0644 "F"`}
			if d := diffSnap(want, snapshot(t, dest, snapOpts{})); d != "" {
				t.Errorf("/b: tree differs:\n%s", d)
			}
		})
	}
}
