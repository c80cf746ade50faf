// Command buildbench times "freshpull build" against "buildah bud
// --pull=newer" (and --pull=always) on the same Dockerfile, against a local distribution
// registry behind a counting proxy: a cold build (empty store and empty
// buildah storage) and a warm one (the base image already present, the
// tag unchanged), with medians over several runs and the registry requests
// each makes. Both run buildah with the same storage driver and
// --isolation chroot, so the difference is how the base image is obtained.
//
// Run it as root with bash bench/build.sh.
package main

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/freshpull/freshpull/internal/countproxy"
	"github.com/freshpull/freshpull/internal/localregistry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var (
	runs     = flag.Int("runs", 5, "runs per measurement (the median is reported, with the range)")
	freshbin = flag.String("freshpull", "bin/freshpull", "freshpull binary")
	sizeMB   = flag.Int("size-mb", 50, "size of the base image's bulk layer")
	driver   = flag.String("storage-driver", "overlay", "buildah storage driver for both (vfs where overlay does not work)")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "buildbench:", err)
		os.Exit(1)
	}
}

func run() error {
	if _, err := exec.LookPath("buildah"); err != nil {
		return fmt.Errorf("buildah is not installed (apt-get install buildah)")
	}
	tmp, err := os.MkdirTemp("", "buildbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	reg, err := localregistry.Start(filepath.Join(tmp, "registry"), localregistry.Config{})
	if err != nil {
		return err
	}
	defer reg.Stop()
	proxy := countproxy.New(reg.Host)
	defer proxy.Close()
	img, err := baseImage()
	if err != nil {
		return err
	}
	if _, err := localregistry.Push(reg.Ref("bench/base:1"), img); err != nil {
		return err
	}
	ctx := filepath.Join(tmp, "ctx")
	if err := os.MkdirAll(ctx, 0o755); err != nil {
		return err
	}
	df := fmt.Sprintf("FROM %s/bench/base:1\nRUN echo built > /built.txt\n", proxy.Host)
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(df), 0o644); err != nil {
		return err
	}
	regconf := filepath.Join(tmp, "registries.conf")
	if err := os.WriteFile(regconf, nil, 0o644); err != nil {
		return err
	}
	env := append(os.Environ(), "CONTAINERS_REGISTRIES_CONF="+regconf, "XDG_CACHE_HOME="+filepath.Join(tmp, "cache"))

	// Each tool builds in its own state directory: a store and buildah
	// storage for freshpull, buildah storage for buildah.
	storage := func(dir string) []string {
		return []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"), "--storage-driver", *driver}
	}
	tools := []struct {
		name string
		cmd  func(dir string) *exec.Cmd
	}{
		{"freshpull build", func(dir string) *exec.Cmd {
			args := append([]string{"--store", filepath.Join(dir, "store"), "-q", "build", "--isolation", "chroot"}, storage(dir)...)
			return exec.Command(*freshbin, append(args, ctx)...)
		}},
		{"buildah bud --pull=newer", func(dir string) *exec.Cmd {
			args := append(storage(dir), "bud", "--pull=newer", "--tls-verify=false", "--isolation", "chroot", ctx)
			return exec.Command("buildah", args...)
		}},
		{"buildah bud --pull=always", func(dir string) *exec.Cmd {
			args := append(storage(dir), "bud", "--pull=always", "--tls-verify=false", "--isolation", "chroot", ctx)
			return exec.Command("buildah", args...)
		}},
	}
	type figure struct {
		times    []time.Duration
		requests int
	}
	results := map[string]map[string]*figure{"cold": {}, "warm": {}}
	timeIt := func(c *exec.Cmd) (time.Duration, error) {
		c.Env = env
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		exec.Command("sync").Run()
		time.Sleep(200 * time.Millisecond)
		start := time.Now()
		err := c.Run()
		if err != nil {
			return 0, fmt.Errorf("%v: %v\n%s", c.Args, err, out.String())
		}
		return time.Since(start), nil
	}
	for i := 0; i < *runs; i++ {
		// Rotate which tool goes first, so none always pays for another's
		// unsynced writes.
		for k := range tools {
			t := tools[(i+k)%len(tools)]
			dir, err := os.MkdirTemp(tmp, "state-")
			if err != nil {
				return err
			}
			for _, phase := range []string{"cold", "warm"} {
				proxy.Reset()
				d, err := timeIt(t.cmd(dir))
				if err != nil {
					return err
				}
				f := results[phase][t.name]
				if f == nil {
					f = &figure{}
					results[phase][t.name] = f
				}
				f.times = append(f.times, d)
				f.requests = proxy.Count("", "")
			}
			os.RemoveAll(dir)
		}
	}
	fmt.Printf("base image: busybox + %d MB layer; Dockerfile: FROM + one RUN; %d runs, storage driver %s, --isolation chroot\n\n", *sizeMB, *runs, *driver)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "case\ttool\tmedian\trange\tregistry requests")
	for _, phase := range []string{"cold", "warm"} {
		for _, t := range tools {
			f := results[phase][t.name]
			slices.Sort(f.times)
			fmt.Fprintf(tw, "%s\t%s\t%v\t%v–%v\t%d\n", phase, t.name, f.times[len(f.times)/2].Round(time.Millisecond), f.times[0].Round(time.Millisecond), f.times[len(f.times)-1].Round(time.Millisecond), f.requests)
		}
	}
	return tw.Flush()
}

// baseImage is a static busybox as /bin/sh and a layer of random bytes.
func baseImage() (v1.Image, error) {
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return nil, fmt.Errorf("a static busybox is needed for the base image (apt-get install busybox-static): %w", err)
	}
	bulk := make([]byte, *sizeMB<<20)
	if _, err := rand.Read(bulk); err != nil {
		return nil, err
	}
	shell, err := layer(map[string][]byte{"bin/busybox": bb}, map[string]string{"bin/sh": "busybox", "bin/echo": "busybox"})
	if err != nil {
		return nil, err
	}
	data, err := layer(map[string][]byte{"data/bulk": bulk}, nil)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, shell, data)
	if err != nil {
		return nil, err
	}
	return localregistry.AsOCI(img, v1.Platform{OS: "linux", Architecture: "amd64"})
}

func layer(files map[string][]byte, links map[string]string) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	mkdir := func(p string) error {
		d := filepath.Dir(p)
		if dirs[d] {
			return nil
		}
		dirs[d] = true
		return tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755})
	}
	for name, body := range files {
		if err := mkdir(name); err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(body))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(body); err != nil {
			return nil, err
		}
	}
	for name, target := range links {
		if err := mkdir(name); err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }, tarball.WithMediaType(types.OCILayer))
}
