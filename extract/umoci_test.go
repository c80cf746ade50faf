package extract

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// realisticImage is a small distribution-like image: a usrmerge base with
// setuid binaries, hard links, sticky and setgid directories and a
// read-only one; a package layer that replaces files, whites out a
// directory and makes another opaque; an application layer with hard
// linked jars, absolute, relative and dangling symlinks, a FIFO, and a
// directory removed and made again.
func realisticImage(t testing.TB) [][]te {
	r := rand.New(rand.NewPCG(1, 2))
	blob := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + r.IntN(26))
		}
		return string(b)
	}
	at := func(e te, days int) te { return mtime(e, epoch.Add(time.Duration(days)*24*time.Hour)) }
	base := []te{
		sym("bin", "usr/bin"), sym("lib", "usr/lib"), sym("sbin", "usr/sbin"),
		at(dir("etc", 0o755), 1), at(reg("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644), 1),
		at(reg("etc/group", "root:x:0:\n", 0o644), 2), at(reg("etc/shadow", "root:*:1::::::\n", 0o640), 2),
		dir("etc/ssl", 0o755), dir("etc/ssl/certs", 0o755), reg("etc/ssl/certs/ca.pem", blob(3000), 0o644),
		sym("etc/ssl/cert.pem", "certs/ca.pem"), sym("etc/localtime", "/usr/share/zoneinfo/UTC"),
		dir("usr", 0o755), dir("usr/bin", 0o755), dir("usr/sbin", 0o755), dir("usr/lib", 0o755),
		at(reg("usr/bin/sh", blob(9000), 0o755), 3), reg("usr/bin/ls", blob(7000), 0o755),
		at(reg("usr/bin/su", blob(4000), 0o4755), 4), at(reg("usr/bin/passwd", blob(5000), 0o4755), 5),
		hard("usr/bin/chfn", "usr/bin/passwd"), reg("usr/bin/wall", blob(100), 0o2755),
		reg("usr/lib/libc.so.6", blob(20000), 0o755), sym("usr/lib/libc.so", "libc.so.6"),
		dir("usr/share", 0o755), dir("usr/share/doc", 0o755), dir("usr/share/doc/pkg", 0o755),
		reg("usr/share/doc/pkg/README", "readme", 0o644), reg("usr/share/doc/pkg/copyright", "(c)", 0o644),
		dir("usr/share/zoneinfo", 0o755), reg("usr/share/zoneinfo/UTC", "TZif", 0o644),
		dir("tmp", 0o1777), dir("var", 0o755), dir("var/tmp", 0o1777), dir("var/mail", 0o2775),
		dir("var/log", 0o755), reg("var/log/dpkg.log", "log", 0o644),
		dir("var/cache", 0o755), dir("var/cache/apt", 0o755), dir("var/cache/apt/archives", 0o755),
		reg("var/cache/apt/archives/a.deb", blob(2000), 0o644), reg("var/cache/apt/srcpkgcache.bin", blob(500), 0o644),
		dir("var/lib", 0o755), dir("var/lib/dpkg", 0o755), reg("var/lib/dpkg/status", "Package: base\n", 0o644),
		dir("root", 0o700), reg("root/.profile", "PS1=#", 0o600),
		dir("opt", 0o755), at(dir("opt/ro", 0o555), 6), reg("opt/ro/data", "ro", 0o444),
		dir("home", 0o755),
	}
	var py []te
	py = append(py, dir("usr/lib/python3", 0o755))
	for _, d := range []string{"json", "http", "email/mime", "email/parser"} {
		py = append(py, dir("usr/lib/python3/"+d, 0o755))
		for i := range 5 {
			py = append(py, at(reg("usr/lib/python3/"+d+"/m"+string(rune('a'+i))+".py", blob(200+r.IntN(3000)), 0o644), 10+i))
		}
	}
	pkg := append([]te{
		at(reg("usr/bin/python3", blob(50000), 0o755), 9), hard("usr/bin/python3.11", "usr/bin/python3"),
		at(reg("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n", 0o644), 9),
		at(reg("usr/bin/su", blob(4100), 0o4755), 9), // usr/bin/chfn still names the old passwd
		reg("var/lib/dpkg/status", "Package: base\n\nPackage: python3\n", 0o644),
		opq("var/cache/apt"), reg("var/cache/apt/pkgcache.bin", blob(800), 0o644),
		wh("usr/share/doc/pkg"), wh("var/log/dpkg.log"),
		owned(dir("home/app", 0o750), 1000, 1000),
	}, py...)
	app := []te{
		dir("app", 0o755), dir("app/bin", 0o755), at(reg("app/bin/server", blob(30000), 0o755), 20),
		dir("app/lib", 0o755), reg("app/lib/core.jar", blob(12000), 0o644), hard("app/lib/core-1.0.jar", "app/lib/core.jar"),
		reg("app/lib/util.jar", blob(6000), 0o644),
		sym("app/config", "/etc/app.conf"), sym("app/logs", "../var/log/app"), sym("app/dangling", "nowhere/at/all"),
		at(reg("etc/app.conf", "port=8080\n", 0o640), 21),
		dir("app/run", 0o770), fifo("app/run/ctl"),
		wh("tmp"), dir("tmp", 0o1777), reg("tmp/.keep", "", 0o644),
		dir("usr/lib/python3/email", 0o755), opq("usr/lib/python3/email"), dir("usr/lib/python3/email/app", 0o755),
		reg("usr/lib/python3/email/app/__init__.py", "", 0o644),
		wh("usr/bin/ls"), sym("usr/bin/ls", "busybox"), reg("usr/bin/busybox", blob(15000), 0o755),
		xattr(reg("app/tagged", "t", 0o644), "user.origin", "build-42"),
	}
	return [][]te{base, pkg, app}
}

// The same image, extracted by umoci and by us, gives identical trees.
func TestSameTreeAsUmoci(t *testing.T) {
	umoci, err := exec.LookPath("umoci")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("umoci is not installed (Debian package umoci); CI must run this test")
		}
		t.Skip("umoci is not installed (Debian package umoci)")
	}
	dir := writableTempDir(t)
	img := buildImage(t, realisticImage(t))
	p, err := layout.Write(filepath.Join(dir, "oci"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "test"})); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(dir, "bundle")
	start := time.Now()
	out, err := exec.Command(umoci, "unpack", "--rootless", "--image", filepath.Join(dir, "oci")+":test", bundle).CombinedOutput()
	if err != nil {
		t.Fatalf("umoci unpack: %v\n%s", err, out)
	}

	ls, err := ImageLayers(img)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			dest := filepath.Join(writableTempDir(t), "rootfs")
			res, err := runEngine(context.Background(), ls, dest, Options{Rootless: true}, e.e)
			if err != nil {
				t.Fatal(err)
			}
			o := snapOpts{times: true, dirTimes: true, xattrs: true}
			want := withoutRootlessXattr(snapshot(t, filepath.Join(bundle, "rootfs"), o))
			got := snapshot(t, dest, o)
			forgiveUmociDirTimes(t, want, got, start)
			if d := diffSnap(want, got); d != "" {
				t.Fatalf("differs from umoci's tree:\n%s", d)
			}
			if len(got) < 80 {
				t.Fatalf("only %d paths compared", len(got))
			}
			t.Logf("%d paths identical (%s engine, %d files, %d bytes)", len(got), res.engine, res.Files, res.Bytes)
		})
	}
}

// forgiveUmociDirTimes skips the mtime of directories umoci leaves with the
// time of unpacking (it restores a parent's mtime after most changes, not
// all: usr/lib/python3 here, above the opaque directory); the image's
// time, which we set, is compared everywhere else.
func forgiveUmociDirTimes(t *testing.T, want, got map[string]string, start time.Time) {
	timeField := regexp.MustCompile(` @(\S+)`)
	for k, w := range want {
		m := timeField.FindStringSubmatch(w)
		if !strings.HasPrefix(w, "dir ") || m == nil {
			continue
		}
		if ts, err := time.Parse(time.RFC3339Nano, m[1]); err == nil && !ts.Before(start) {
			t.Logf("%s: umoci left the unpacking time as mtime; not compared", k)
			want[k] = timeField.ReplaceAllString(w, "")
			if g, ok := got[k]; ok {
				got[k] = timeField.ReplaceAllString(g, "")
			}
		}
	}
}

// withoutRootlessXattr drops user.rootlesscontainers, umoci's own record of
// the owners it could not set.
func withoutRootlessXattr(s map[string]string) map[string]string {
	for k, v := range s {
		if i := strings.Index(v, " [user.rootlesscontainers="); i >= 0 {
			j := strings.IndexAny(v[i+2:], ",]") + i + 2
			rest := v[j:]
			if strings.HasPrefix(rest, ",") {
				s[k] = v[:i] + " [" + rest[1:]
			} else {
				s[k] = v[:i]
			}
		}
	}
	return s
}

// buildImage makes an OCI image of gzip layers with go-containerregistry.
func buildImage(t testing.TB, stack [][]te) v1.Image {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for _, entries := range stack {
		raw := tarBytes(t, entries)
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(raw)), nil
		}, tarball.WithMediaType(types.OCILayer))
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
