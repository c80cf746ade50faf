package extract

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// benchImg is a synthetic image shaped like an OpenShift builder image: a
// distribution base, a layer of packages that replaces and removes some
// base files, a "fix-permissions" layer that adds a whole tree again with
// new modes, and an application. EXTRACT_BENCH_SCALE (default 1) scales
// its file count; at 1 it has about 4300 files and 250 MB unpacked.
// EXTRACT_BENCH_ZSTD=1 compresses its layers with zstd instead of gzip
// (umoci 0.4 cannot read those, so it is left out then).
type benchImg struct {
	layers    []Layer
	stack     [][]te
	files     int   // in the flattened tree
	bytes     int64 // in the flattened tree
	ociDir    string
	blobFiles []string // layer blobs, for tar
}

var (
	benchOnce sync.Once
	benchData *benchImg
)

func benchImage(b *testing.B) *benchImg {
	benchOnce.Do(func() {
		scale := 1.0
		if s := os.Getenv("EXTRACT_BENCH_SCALE"); s != "" {
			scale, _ = strconv.ParseFloat(s, 64)
		}
		start := time.Now()
		benchData = makeBenchImage(b, scale)
		b.Logf("synthetic image: %d layers, %d files, %.0f MB unpacked, %.0f MB compressed (built in %v)",
			len(benchData.layers), benchData.files, float64(benchData.bytes)/1e6, float64(compressedSize(benchData.layers))/1e6, time.Since(start).Round(time.Millisecond))
	})
	return benchData
}

func compressedSize(ls []Layer) int {
	n := 0
	for _, l := range ls {
		n += len(l.(*memLayer).data)
	}
	return n
}

// content makes data that compresses about as well as binaries and text
// in real images (about 2.5× with gzip): words from a small vocabulary,
// with random runs.
type content struct {
	r     *rand.Rand
	words [][]byte
}

func newContent(seed uint64) *content {
	c := &content{r: rand.New(rand.NewPCG(seed, 1))}
	for range 512 {
		w := make([]byte, 3+c.r.IntN(10))
		for i := range w {
			w[i] = byte('a' + c.r.IntN(26))
		}
		c.words = append(c.words, w)
	}
	return c
}

func (c *content) make(n int) string {
	var b bytes.Buffer
	b.Grow(n)
	for b.Len() < n {
		if c.r.IntN(40) == 0 {
			for range 16 {
				b.WriteByte(byte(c.r.Uint32()))
			}
			continue
		}
		b.Write(c.words[c.r.IntN(len(c.words))])
		b.WriteByte(' ')
	}
	return b.String()[:n]
}

func (c *content) size() int {
	switch p := c.r.IntN(100); {
	case p < 60:
		return 512 + c.r.IntN(8<<10)
	case p < 90:
		return 8<<10 + c.r.IntN(56<<10)
	case p < 99:
		return 64<<10 + c.r.IntN(448<<10)
	default:
		return 512<<10 + c.r.IntN(3584<<10)
	}
}

func makeBenchImage(b *testing.B, scale float64) *benchImg {
	c := newContent(42)
	n := func(x int) int { return max(1, int(float64(x)*scale)) }
	type file struct {
		path string
		body string
	}
	tree := map[string]string{} // path → body, the flattened view, for the totals
	var dirsSeen = map[string]bool{}
	withDirs := func(es []te, p string) []te {
		var parents []string
		for d := filepath.Dir(p); d != "."; d = filepath.Dir(d) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			if !dirsSeen[d] {
				dirsSeen[d] = true
				es = append(es, dir(d, 0o755))
			}
		}
		return es
	}
	var base []te
	var baseFiles []file
	for i := range n(2400) {
		p := fmt.Sprintf("usr/lib/pkg%03d/sub%d/file%05d", i/40, i%7, i)
		f := file{p, c.make(c.size())}
		baseFiles = append(baseFiles, f)
		base = withDirs(base, p)
		base = append(base, reg(p, f.body, 0o644))
		tree[p] = f.body
	}
	for i := range n(100) {
		p := fmt.Sprintf("usr/lib/pkg%03d/link%d", i%max(1, n(2400)/40), i)
		base = withDirs(base, p)
		base = append(base, sym(p, "sub0"))
	}
	for i := range n(20) {
		p := fmt.Sprintf("usr/bin/tool%d", i)
		base = withDirs(base, p)
		base = append(base, hard(p, baseFiles[i].path))
		tree[p] = baseFiles[i].body
	}
	dirsSeen = map[string]bool{}
	var pkgs []te
	var pkgFiles []file
	for i := range n(1000) {
		p := fmt.Sprintf("opt/app-root/lib/python3/mod%03d/f%05d.py", i/25, i)
		f := file{p, c.make(c.size())}
		pkgFiles = append(pkgFiles, f)
		pkgs = withDirs(pkgs, p)
		pkgs = append(pkgs, reg(p, f.body, 0o644))
		tree[p] = f.body
	}
	for i := range n(200) {
		f := baseFiles[i*7%len(baseFiles)]
		body := c.make(c.size())
		pkgs = append(pkgs, reg(f.path, body, 0o644))
		tree[f.path] = body
	}
	for i := range n(50) {
		f := baseFiles[(i*13+5)%len(baseFiles)]
		pkgs = append(pkgs, wh(f.path))
		delete(tree, f.path)
	}
	dirsSeen = map[string]bool{}
	var perms []te
	for _, f := range pkgFiles[:n(600)] {
		perms = withDirs(perms, f.path)
		perms = append(perms, reg(f.path, f.body, 0o664))
	}
	dirsSeen = map[string]bool{}
	var app []te
	for i := range n(400) {
		p := fmt.Sprintf("app/src/pkg%02d/file%04d.js", i/20, i)
		body := c.make(c.size())
		app = withDirs(app, p)
		app = append(app, reg(p, body, 0o644))
		tree[p] = body
	}
	app = append(app, dir("app/config", 0o755), reg("app/config/app.yaml", "port: 8080\n", 0o644))
	tree["app/config/app.yaml"] = "port: 8080\n"

	img := &benchImg{stack: [][]te{base, pkgs, perms, app}}
	for _, body := range tree {
		img.files++
		img.bytes += int64(len(body))
	}
	dir := b.TempDir()
	if d := os.Getenv("EXTRACT_BENCH_DIR"); d != "" {
		dir = d
	}
	zstd := os.Getenv("EXTRACT_BENCH_ZSTD") != ""
	for i, es := range img.stack {
		l := mkLayer(b, mtGzip, es...)
		if zstd {
			l = mkLayer(b, mtZstd, es...)
		}
		img.layers = append(img.layers, l)
		p := filepath.Join(dir, fmt.Sprintf("layer%d.tar", i))
		if err := os.WriteFile(p, l.data, 0o644); err != nil {
			b.Fatal(err)
		}
		img.blobFiles = append(img.blobFiles, p)
	}
	if _, err := exec.LookPath("umoci"); err == nil && !zstd {
		img.ociDir = filepath.Join(dir, "oci")
		p, err := layout.Write(img.ociDir, empty.Index)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.AppendImage(buildImage(b, img.stack), layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "bench"})); err != nil {
			b.Fatal(err)
		}
	}
	return img
}

// tool is one way to extract the synthetic image into dest.
type tool struct {
	name string
	run  func(dest string) error
}

func benchTools(img *benchImg) []tool {
	tools := []tool{
		{"freshpull", func(dest string) error {
			_, err := Extract(context.Background(), img.layers, dest, Options{})
			return err
		}},
		{"freshpull-bottom-up", func(dest string) error {
			_, err := run(context.Background(), img.layers, dest, Options{}, engineBottomUp)
			return err
		}},
		{"freshpull-one-path", func(dest string) error {
			_, err := Extract(context.Background(), img.layers, dest, Options{Paths: []PathSpec{{Src: "/app/config/app.yaml"}}})
			return err
		}},
		{"decompress-only", func(string) error {
			for _, l := range img.layers {
				rc, err := openLayer(context.Background(), l)
				if err != nil {
					return err
				}
				_, err = io.Copy(io.Discard, rc)
				rc.Close()
				if err != nil {
					return err
				}
			}
			return nil
		}},
	}
	if tar, err := exec.LookPath("tar"); err == nil {
		tools = append(tools, tool{"tar-x", func(dest string) error {
			if err := os.Mkdir(dest, 0o755); err != nil {
				return err
			}
			for i, f := range img.blobFiles {
				flag := "-z"
				if img.layers[i].MediaType() == mtZstd {
					flag = "--zstd"
				}
				if out, err := exec.Command(tar, flag, "-xf", f, "-C", dest).CombinedOutput(); err != nil {
					return fmt.Errorf("tar: %v: %s", err, out)
				}
			}
			return nil
		}})
	}
	if umoci, err := exec.LookPath("umoci"); err == nil && img.ociDir != "" {
		tools = append(tools, tool{"umoci-unpack", func(dest string) error {
			if out, err := exec.Command(umoci, "unpack", "--image", img.ociDir+":bench", dest).CombinedOutput(); err != nil {
				return fmt.Errorf("umoci: %v: %s", err, out)
			}
			return nil
		}})
	}
	return tools
}

// timed runs t into a fresh directory, which it removes afterwards with
// the benchmark timer stopped.
func timed(b *testing.B, t tool) time.Duration {
	b.StopTimer()
	dest := filepath.Join(b.TempDir(), "dest")
	b.StartTimer()
	start := time.Now()
	if err := t.run(dest); err != nil {
		b.Fatalf("%s: %v", t.name, err)
	}
	d := time.Since(start)
	b.StopTimer()
	os.RemoveAll(dest)
	b.StartTimer()
	return d
}

// BenchmarkExtract extracts the synthetic image with freshpull (both
// strategies, and one small path), and, when installed, with tar -x of
// each layer and umoci unpack. MB/s counts the flattened tree's bytes for
// every tool, so the figures compare directly. The "compare" case runs
// every tool once per round, in turn, so that a machine whose load changes
// during the run still gives fair ratios: it reports how many times
// faster freshpull is than each, and the one-path extraction's time as a
// share of the whole image's.
func BenchmarkExtract(b *testing.B) {
	img := benchImage(b)
	tools := benchTools(img)
	for _, t := range tools {
		b.Run(t.name, func(b *testing.B) {
			b.SetBytes(img.bytes)
			var total time.Duration
			for range b.N {
				total += timed(b, t)
			}
			b.ReportMetric(float64(img.files)*float64(b.N)/total.Seconds(), "files/s")
		})
	}
	b.Run("compare", func(b *testing.B) {
		total := map[string]time.Duration{}
		for i := range b.N {
			for j := range tools {
				t := tools[(i+j)%len(tools)]
				total[t.name] += timed(b, t)
			}
		}
		fp := total["freshpull"]
		for _, t := range tools {
			switch t.name {
			case "freshpull", "freshpull-one-path", "decompress-only":
			default:
				b.ReportMetric(total[t.name].Seconds()/fp.Seconds(), "x-faster-than-"+t.name)
			}
		}
		b.ReportMetric(100*total["freshpull-one-path"].Seconds()/fp.Seconds(), "%-one-path-of-full")
		b.ReportMetric(float64(img.bytes)*float64(b.N)/fp.Seconds()/1e6, "freshpull-MB/s")
	})
}
