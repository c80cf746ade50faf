package extract

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The top-down engine must give exactly what applying the layers in order
// gives, or hand over to the bottom-up engine. Random layer stacks over a
// tiny namespace collide in every way the two could disagree: whiteouts
// of directories, symlinks replaced by directories, writes through
// symlinks, hard links to replaced files, duplicates.
func TestEnginesAgreeOnRandomImages(t *testing.T) {
	n, stream := 400, uint64(7)
	if s := os.Getenv("EXTRACT_RANDOM_IMAGES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	if s := os.Getenv("EXTRACT_RANDOM_STREAM"); s != "" {
		stream, _ = strconv.ParseUint(s, 10, 64)
	}
	counts := map[string]int{}
	for seed := range n {
		counts[compareEngines(t, uint64(seed), stream)]++
	}
	t.Logf("%d images: %d extracted top-down, %d fell back to bottom-up, %d failed in both",
		n, counts["top-down"], counts["bottom-up"], counts["error"])
	// The comparison means something only if both paths are exercised.
	if counts["top-down"] < n/4 || counts["bottom-up"] < n/20 {
		t.Errorf("generator exercises too little: %v", counts)
	}
}

// FuzzEnginesAgree runs the same comparison on images the fuzzer picks.
func FuzzEnginesAgree(f *testing.F) {
	f.Add(uint64(1), uint64(7))
	f.Fuzz(func(t *testing.T, seed, stream uint64) { compareEngines(t, seed, stream) })
}

// compareEngines extracts one random image with both engines, fails the
// test if they disagree, and says what happened: the engine the automatic
// choice used, or "error" when both failed.
func compareEngines(t *testing.T, seed, stream uint64) string {
	r := rand.New(rand.NewPCG(seed, stream))
	ls := randomImage(t, r)
	var opts Options
	switch r.IntN(6) {
	case 0, 1:
		opts.Paths = []PathSpec{randomSpec(r)}
	case 2:
		opts.Paths = []PathSpec{randomSpec(r), randomSpec(r)}
	}
	want, wantErr := runSnap(t, engineBottomUp, ls, opts)
	auto := engineAuto
	if seed%2 == 1 {
		auto = engineAsync
	}
	got, gotErr := func() (_ snapResult, err error) {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("seed %d/%d, %v: panic: %v\n%s\n%s", seed, stream, opts.Paths, p, debug.Stack(), describe(ls))
			}
		}()
		return runSnap(t, auto, ls, opts)
	}()
	if (wantErr == nil) != (gotErr == nil) {
		t.Fatalf("seed %d/%d, %v: bottom-up error %v, auto error %v\n%s", seed, stream, opts.Paths, wantErr, gotErr, describe(ls))
	}
	if wantErr != nil {
		var nf *NotFoundError
		if errors.As(wantErr, &nf) != errors.As(gotErr, &nf) {
			t.Fatalf("seed %d/%d: bottom-up error %v, auto error %v", seed, stream, wantErr, gotErr)
		}
		return "error"
	}
	if d := diffSnap(want.snap, got.snap); d != "" {
		t.Fatalf("seed %d/%d, %v (auto used %s): trees differ:\n%s\n%s", seed, stream, opts.Paths, got.engine, d, describe(ls))
	}
	return got.engine
}

type snapResult struct {
	snap   map[string]string
	engine string
}

func runSnap(t *testing.T, e engine, ls []Layer, opts Options) (snapResult, error) {
	t.Helper()
	dest := filepath.Join(writableTempDir(t), "d")
	res, err := runEngine(context.Background(), ls, dest, opts, e)
	if err != nil {
		return snapResult{}, err
	}
	return snapResult{snapshot(t, dest, snapOpts{times: true, owners: true}), res.engine}, nil
}

var names = []string{"a", "b", "c"}

// randomPath returns a path of directory names, with a last element that
// is more often a file name, so that files block directories sometimes,
// not always.
func randomPath(r *rand.Rand, leaves ...string) string {
	depth := 1 + r.IntN(3)
	parts := make([]string, depth)
	for i := range parts {
		parts[i] = names[r.IntN(len(names))]
	}
	if len(leaves) > 0 && r.IntN(6) > 0 {
		parts[depth-1] = leaves[r.IntN(len(leaves))]
	}
	return strings.Join(parts, "/")
}

func randomImage(t *testing.T, r *rand.Rand) []Layer {
	nl := 1 + r.IntN(4)
	var ls []Layer
	for li := range nl {
		var es []te
		var files []string
		for range 1 + r.IntN(12) {
			p := randomPath(r, "f", "g")
			tm := epoch.Add(time.Duration(r.IntN(1000)) * time.Hour)
			var e te
			switch k := r.IntN(100); {
			case k < 25:
				e = dir(randomPath(r), []int64{0o755, 0o700, 0o1777, 0o2755}[r.IntN(4)])
			case k < 50:
				e = reg(p, fmt.Sprintf("L%d-%s-%d", li, p, r.IntN(10)), []int64{0o644, 0o600, 0o4755}[r.IntN(3)])
				files = append(files, p)
			case k < 62:
				targets := []string{"a", "b/c", "../a", "..", "/a", "/b/c", "../../../../x", "/", "c", "f"}
				e = sym(randomPath(r, "f", "g", "s"), targets[r.IntN(len(targets))])
			case k < 74 && (len(files) > 0 || r.IntN(10) == 0):
				// Mostly to a file of this layer; sometimes to any path,
				// which may be in a lower layer or nowhere.
				target := randomPath(r, "f", "g")
				if len(files) > 0 && r.IntN(10) > 0 {
					target = files[r.IntN(len(files))]
				}
				e = hard(randomPath(r, "h", "f"), target)
			case k < 74:
				e = reg(p, "plain", 0o644)
			case k < 86:
				e = wh(randomPath(r, "f", "g"))
			case k < 92:
				e = opq(randomPath(r))
			default:
				e = fifo(p)
			}
			e = mtime(e, tm)
			if r.IntN(4) == 0 {
				e = owned(e, 1000+r.IntN(2), 100)
			}
			es = append(es, e)
		}
		ls = append(ls, mkLayer(t, mtTar, es...))
	}
	return ls
}

func randomSpec(r *rand.Rand) PathSpec {
	src := "/" + randomPath(r)
	switch r.IntN(4) {
	case 0:
		src += "/."
	case 1:
		src = strings.Replace(src, names[r.IntN(3)], "*", 1)
	}
	return PathSpec{Src: src, DestDir: []string{"", "out", "o/p"}[r.IntN(3)]}
}

// describe lists the layers' entries, for failure messages.
func describe(ls []Layer) string {
	var b strings.Builder
	for i, l := range ls {
		fmt.Fprintf(&b, "layer %d:\n", i)
		rc, _ := l.Open()
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			fmt.Fprintf(&b, "  %c %s %s %o\n", h.Typeflag, h.Name, h.Linkname, h.Mode)
		}
		rc.Close()
	}
	return b.String()
}
