package freshpull_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/freshpull/freshpull"
	"github.com/freshpull/freshpull/internal/countproxy"
	"github.com/freshpull/freshpull/internal/testregistry"
	"github.com/freshpull/freshpull/policy"
	"github.com/freshpull/freshpull/registry"
	"github.com/freshpull/freshpull/store"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// recorder is an engine that builds nothing: it records the request and
// what the private layout it was given holds, while the build runs.
type recorder struct {
	calls      int
	req        freshpull.EngineRequest
	dockerfile string
	layout     map[string]string // ref name → the config digest its manifest names
	blobs      bool              // every blob of every manifest is readable
}

var ociRef = regexp.MustCompile(`oci:(/[^:]+):(image-\d+)`)

func (r *recorder) Build(_ context.Context, req freshpull.EngineRequest) (freshpull.EngineResult, error) {
	r.calls++
	r.req = req
	b, err := os.ReadFile(req.Dockerfile)
	if err != nil {
		return freshpull.EngineResult{}, err
	}
	r.dockerfile = string(b)
	r.layout = map[string]string{}
	r.blobs = true
	if m := ociRef.FindStringSubmatch(r.dockerfile); m != nil {
		var idx ocispec.Index
		raw, err := os.ReadFile(filepath.Join(m[1], "index.json"))
		if err != nil {
			return freshpull.EngineResult{}, err
		}
		if err := json.Unmarshal(raw, &idx); err != nil {
			return freshpull.EngineResult{}, err
		}
		read := func(d ocispec.Descriptor) []byte {
			b, err := os.ReadFile(filepath.Join(m[1], "blobs", "sha256", d.Digest.Encoded()))
			if err != nil {
				r.blobs = false
			}
			return b
		}
		for _, d := range idx.Manifests {
			var man ocispec.Manifest
			if err := json.Unmarshal(read(d), &man); err != nil {
				return freshpull.EngineResult{}, err
			}
			r.layout[d.Annotations[ocispec.AnnotationRefName]] = man.Config.Digest.String()
			for _, l := range append(man.Layers, man.Config) {
				read(l)
			}
		}
	}
	return freshpull.EngineResult{ImageID: "sha256:built", Digest: "sha256:manifest"}, nil
}

// holder is a recorder whose engine storage holds some images already.
type holder struct {
	recorder
	held map[string]bool
}

func (h *holder) Images(context.Context) (map[string]bool, error) {
	return h.held, nil
}

// TestBuildUsesEngineStorage: an image the engine already holds (by config
// digest) is named by ID; another still comes from the layout.
func TestBuildUsesEngineStorage(t *testing.T) {
	reg := testregistry.Start(t)
	amd64 := testregistry.Linux("amd64")
	baseImg := testregistry.Image(t, 1, 1024, amd64)
	testregistry.Push(t, reg.Ref("base:1"), baseImg)
	testregistry.Push(t, reg.Ref("tools:1"), testregistry.Image(t, 1, 1024, amd64))
	cfg, _ := baseImg.ConfigName()
	ctxDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM "+reg.Ref("base:1")+"\nCOPY --from="+reg.Ref("tools:1")+" /a /a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	eng := &holder{held: map[string]bool{cfg.String(): true}}
	if _, err := freshpull.Build(context.Background(), ctxDir, buildOpts(t, policy.Newer, false), freshpull.BuildOptions{Engine: eng}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(eng.dockerfile, "\n")
	if lines[0] != "FROM "+cfg.Hex || !ociRef.MatchString(lines[1]) {
		t.Errorf("the engine got:\n%s\nwant FROM %s, then an oci: reference", eng.dockerfile, cfg.Hex)
	}
}

func buildOpts(t *testing.T, p policy.Policy, strict bool) freshpull.Options {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return freshpull.Options{Store: st, Registry: registry.New(registry.Options{}), Policy: p, Strict: strict, Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}}
}

// TestBuildGivesEngineOnlyStoredDigests: every image word of the file
// becomes the private layout's name for the digest pulled, once per
// distinct image (a tag written two ways is one image), with the base
// annotations of the final stage, which builds on a stage.
func TestBuildGivesEngineOnlyStoredDigests(t *testing.T) {
	reg := testregistry.Start(t)
	proxy := countproxy.Start(t, reg.Host)
	amd64 := testregistry.Linux("amd64")
	baseImg, toolsImg := testregistry.Image(t, 1, 1024, amd64), testregistry.Image(t, 1, 1024, amd64)
	base := testregistry.Push(t, reg.Ref("base:1"), baseImg)
	tools := testregistry.Push(t, reg.Ref("tools:latest"), toolsImg)
	baseConfig, _ := baseImg.ConfigName()
	toolsConfig, _ := toolsImg.ConfigName()
	ctxDir := t.TempDir()
	df := `ARG BASE=` + proxy.Host + `/base:1
FROM $BASE AS build
COPY --from=` + proxy.Host + `/tools /x /x
FROM ` + proxy.Host + `/base:1 AS final
FROM final
COPY --from=` + proxy.Host + `/tools:latest /y /y
`
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	eng := &recorder{}
	res, err := freshpull.Build(context.Background(), ctxDir, buildOpts(t, policy.Newer, false), freshpull.BuildOptions{Engine: eng, Tags: []string{"app:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 2 || res.Images[0].Digest != base.String() || res.Images[1].Digest != tools.String() {
		t.Fatalf("images %+v, want base then tools", res.Images)
	}
	if got := len(res.Images[0].Uses) + len(res.Images[1].Uses); got != 4 {
		t.Errorf("uses %v %v, want 4 in all", res.Images[0].Uses, res.Images[1].Uses)
	}
	if n := proxy.Count("", "/manifests/1") + proxy.Count("", "/manifests/latest"); n != 2 {
		t.Errorf("%d resolutions, want one per image\n%s", n, proxy)
	}
	// The ARG keeps its value (a RUN may use it); no instruction names
	// the registry.
	if n := strings.Count(eng.dockerfile, proxy.Host); n != 1 || !strings.HasPrefix(eng.dockerfile, "ARG BASE="+proxy.Host) {
		t.Errorf("the engine's Dockerfile names the registry outside the ARG default:\n%s", eng.dockerfile)
	}
	if n := len(ociRef.FindAllString(eng.dockerfile, -1)); n != 4 {
		t.Errorf("the engine's Dockerfile has %d oci: references, want 4:\n%s", n, eng.dockerfile)
	}
	if eng.layout["image-0"] != baseConfig.String() || eng.layout["image-1"] != toolsConfig.String() || !eng.blobs {
		t.Errorf("private layout's configs %v (blobs readable: %v), want image-0 %s, image-1 %s", eng.layout, eng.blobs, baseConfig, toolsConfig)
	}
	if eng.req.Annotations[freshpull.AnnotationBaseName] != proxy.Host+"/base:1" || eng.req.Annotations[freshpull.AnnotationBaseDigest] != base.String() {
		t.Errorf("annotations %v", eng.req.Annotations)
	}
	if string(mustRead(t, filepath.Join(ctxDir, "Dockerfile"))) != df {
		t.Error("the user's Dockerfile was changed")
	}
	if m := ociRef.FindStringSubmatch(eng.dockerfile); m != nil {
		if _, err := os.Stat(m[1]); err == nil {
			t.Errorf("the private layout %s is left behind", m[1])
		}
	}
	if res.ImageID != "sha256:built" {
		t.Errorf("image id %q", res.ImageID)
	}
}

// TestBuildStrictNeverStartsEngine: with the registry down, newer falls
// back with a warning and builds; --strict fails and the engine is never
// called.
func TestBuildStrictNeverStartsEngine(t *testing.T) {
	reg := testregistry.Start(t)
	ref := reg.Ref("base:1")
	testregistry.Push(t, ref, testregistry.Image(t, 1, 1024, testregistry.Linux("amd64")))
	ctxDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctxDir, "Containerfile"), []byte("FROM "+ref+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := buildOpts(t, policy.Newer, false)
	if _, err := freshpull.Pull(context.Background(), ref, opts); err != nil {
		t.Fatal(err)
	}
	reg.Stop()

	eng := &recorder{}
	res, err := freshpull.Build(context.Background(), ctxDir, opts, freshpull.BuildOptions{Engine: eng})
	if err != nil || eng.calls != 1 || len(res.Warnings) != 1 || res.Images[0].Action != "local-fallback" {
		t.Fatalf("newer, registry down: err %v, engine calls %d, warnings %q, images %+v", err, eng.calls, res.Warnings, res.Images)
	}
	opts.Strict = true
	eng = &recorder{}
	res, err = freshpull.Build(context.Background(), ctxDir, opts, freshpull.BuildOptions{Engine: eng})
	if err == nil || eng.calls != 0 || !strings.Contains(res.Error, "nothing was built") {
		t.Fatalf("strict, registry down: err %v, engine calls %d, want an error and no call", err, eng.calls)
	}
}

// TestBuildMissingBlobNeverStartsEngine: a blob gone from the store after
// the pull (a gc after a concurrent pull moved the tag, or a lost file)
// stops the build before the engine starts, naming the image and the blob.
func TestBuildMissingBlobNeverStartsEngine(t *testing.T) {
	reg := testregistry.Start(t)
	ref := reg.Ref("base:1")
	img := testregistry.Image(t, 1, 1024, testregistry.Linux("amd64"))
	testregistry.Push(t, ref, img)
	ctxDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM "+ref+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := buildOpts(t, policy.Missing, false)
	if _, err := freshpull.Pull(context.Background(), ref, opts); err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	layer, err := layers[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(opts.Store.BlobPath(digest.Digest(layer.String()))); err != nil {
		t.Fatal(err)
	}

	eng := &recorder{}
	res, err := freshpull.Build(context.Background(), ctxDir, opts, freshpull.BuildOptions{Engine: eng})
	if err == nil || eng.calls != 0 || !strings.Contains(res.Error, ref+": blob "+layer.String()+" is no longer in the store") || !strings.Contains(res.Error, "nothing was built") {
		t.Fatalf("a layer gone from the store: err %v, engine calls %d, want an error naming %s and %s, and no call", err, eng.calls, ref, layer)
	}
}

// TestBuildRefusesUnresolvable: a reference freshpull cannot resolve from
// the file (an ARG without a value) is an input error before any pull,
// never left for the engine to resolve.
func TestBuildRefusesUnresolvable(t *testing.T) {
	ctxDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("ARG BASE\nFROM $BASE\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	eng := &recorder{}
	_, err := freshpull.Build(context.Background(), ctxDir, buildOpts(t, policy.Never, false), freshpull.BuildOptions{Engine: eng})
	if !freshpull.IsInput(err) || !strings.Contains(err.Error(), "Dockerfile:2 FROM") || eng.calls != 0 {
		t.Fatalf("err %v (input: %v), engine calls %d", err, freshpull.IsInput(err), eng.calls)
	}
	_, err = freshpull.Build(context.Background(), ctxDir, buildOpts(t, policy.Never, false), freshpull.BuildOptions{Engine: eng, BuildArgs: []string{"BASE"}})
	if !freshpull.IsInput(err) || !strings.Contains(err.Error(), "NAME=VALUE") {
		t.Fatalf("bad --build-arg: %v", err)
	}
}

func TestParseImageSource(t *testing.T) {
	for _, tc := range []struct{ in, ref, src, dest, err string }{
		{in: "localhost:5000/tools:1:/usr/bin/.:bin", ref: "localhost:5000/tools:1", src: "/usr/bin/.", dest: "bin"},
		{in: "tools@sha256:" + strings.Repeat("a", 64) + ":/opt", ref: "tools@sha256:" + strings.Repeat("a", 64), src: "/opt"},
		{in: "tools:1:/a:../out", err: "outside"},
		{in: "tools:1", err: "REF:SRC"},
		{in: "Bad:1:/a", err: "lowercase"},
	} {
		got, err := freshpull.ParseImageSource(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !freshpull.IsInput(err) {
				t.Errorf("%q: err %v, want an input error with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got.Reference != tc.ref || got.Path.Src != tc.src || got.Path.DestDir != tc.dest {
			t.Errorf("%q: %+v %v", tc.in, got, err)
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBuildMultiPlatformBase: the engine gets this platform's manifest;
// base.digest is the index the name resolved to, as pin would write it.
func TestBuildMultiPlatformBase(t *testing.T) {
	reg := testregistry.Start(t)
	ref := reg.Ref("base:1")
	idx := testregistry.Index(t, testregistry.Linux("amd64"), testregistry.Linux("arm64"))
	indexDigest := testregistry.PushIndex(t, ref, idx)
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	amd64 := im.Manifests[0].Digest.String()
	ctxDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM "+ref+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	eng := &recorder{}
	res, err := freshpull.Build(context.Background(), ctxDir, buildOpts(t, policy.Newer, false), freshpull.BuildOptions{Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	if res.Images[0].Digest != amd64 || res.BaseDigest != indexDigest.String() || eng.req.Annotations[freshpull.AnnotationBaseDigest] != indexDigest.String() {
		t.Errorf("image %s, base digest %s (annotation %s); want the amd64 manifest %s and the index %s",
			res.Images[0].Digest, res.BaseDigest, eng.req.Annotations[freshpull.AnnotationBaseDigest], amd64, indexDigest)
	}
}

// TestBuildFromPlatform: a FROM naming a platform gets that platform's
// image; the same tag for the build's platform is another image.
func TestBuildFromPlatform(t *testing.T) {
	reg := testregistry.Start(t)
	ref := reg.Ref("base:1")
	idx := testregistry.Index(t, testregistry.Linux("amd64"), testregistry.Linux("arm64"))
	testregistry.PushIndex(t, ref, idx)
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	ctxDir := t.TempDir()
	df := "FROM --platform=linux/arm64 " + ref + " AS cross\nFROM --platform=$BUILDPLATFORM " + ref + "\n"
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := freshpull.Build(context.Background(), ctxDir, buildOpts(t, policy.Newer, false), freshpull.BuildOptions{Engine: &recorder{}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 2 || res.Images[0].Digest != im.Manifests[1].Digest.String() || res.Images[0].Platform != "linux/arm64" || res.Images[1].Digest != im.Manifests[0].Digest.String() {
		t.Errorf("images %+v, want the arm64 manifest then the amd64 one", res.Images)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM --platform=linux "+ref+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := freshpull.Build(context.Background(), ctxDir, buildOpts(t, policy.Newer, false), freshpull.BuildOptions{Engine: &recorder{}}); !freshpull.IsInput(err) || !strings.Contains(err.Error(), "Dockerfile:1 FROM --platform=linux") {
		t.Errorf("bad --platform: %v", err)
	}
}

// TestBuildBadInput: a context that is not a directory, a context without
// a Dockerfile, and an --output into freshpull's own store are input
// errors that say what to do, before anything is pulled or built.
func TestBuildBadInput(t *testing.T) {
	opts := buildOpts(t, policy.Never, false)
	empty := t.TempDir()
	file := filepath.Join(empty, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	withFile := t.TempDir()
	if err := os.WriteFile(filepath.Join(withFile, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, ctx, output, want string
	}{
		{"context is a file", file, "", file + " is not a directory"},
		{"no Dockerfile", empty, "", "no Dockerfile or Containerfile in " + empty + "; name the file with -f"},
		{"output into the store", withFile, "oci:" + opts.Store.Dir() + ":app", "is freshpull's store; write the image to another directory"},
	} {
		eng := &recorder{}
		_, err := freshpull.Build(context.Background(), c.ctx, opts, freshpull.BuildOptions{Engine: eng, Output: c.output})
		if !freshpull.IsInput(err) || !strings.Contains(err.Error(), c.want) || eng.calls != 0 {
			t.Errorf("%s: err %v (input: %v), engine calls %d; want an input error saying %q", c.name, err, freshpull.IsInput(err), eng.calls, c.want)
		}
	}
}
