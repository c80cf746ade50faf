package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/freshpull/freshpull"
	"github.com/freshpull/freshpull/internal/countproxy"
	"github.com/freshpull/freshpull/internal/testregistry"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// requireBuild skips (fails under CI) when buildah or a static busybox for
// the base images is missing, or when not root: the builds run with
// --isolation chroot, which needs root.
func requireBuild(t *testing.T) {
	t.Helper()
	requireTool(t, "buildah")
	// The base images' shell: it runs inside them, so it must not need a
	// libc from the host.
	f, err := elf.Open("/bin/busybox")
	if err == nil {
		defer f.Close()
	}
	if err != nil || slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP }) {
		msg := "/bin/busybox is missing or dynamically linked; the build tests need a static one (apt-get install busybox-static)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if os.Geteuid() != 0 {
		t.Skip("builds with --isolation chroot need root")
	}
}

// shellImage is a base image with a static busybox as /bin/sh and the
// applets the test Dockerfiles use, plus files.
func shellImage(t *testing.T, files ...entry) v1.Image {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	es := []entry{dirE("bin", 0o755), file("bin/busybox", string(bb), 0o755), dirE("tmp", 0o1777)}
	for _, a := range []string{"sh", "cat", "echo", "sleep", "test", "[", "touch", "true", "ls", "mkdir"} {
		es = append(es, symE("bin/"+a, "busybox"))
	}
	return buildImage(t, tarLayer(t, false, append(es, files...)...))
}

// buildEnv is a context, a store, an isolated buildah storage and the
// arguments that use them.
type buildEnv struct {
	ctx, store, buildah string
}

func newBuildEnv(t *testing.T) buildEnv {
	d := t.TempDir()
	e := buildEnv{ctx: filepath.Join(d, "ctx"), store: filepath.Join(d, "store"), buildah: filepath.Join(d, "buildah")}
	if err := os.MkdirAll(e.ctx, 0o755); err != nil {
		t.Fatal(err)
	}
	return e
}

// args returns freshpull's arguments for a build of the context with
// extra flags.
func (e buildEnv) args(extra ...string) []string {
	a := []string{"--store", e.store, "-o", "json", "build", "--isolation", "chroot",
		"--root", filepath.Join(e.buildah, "root"), "--runroot", filepath.Join(e.buildah, "run"), "--storage-driver", "vfs"}
	return append(append(a, extra...), e.ctx)
}

func buildResult(t *testing.T, r cmdResult) freshpull.BuildResult {
	t.Helper()
	var res freshpull.BuildResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("build: stdout is not a JSON result: %v\nstdout: %s\nstderr: %s", err, r.stdout, r.stderr)
	}
	return res
}

// layoutImage reads the manifest named name from the OCI layout dir and
// returns it with the content of path in its layers (the top-most).
func layoutImage(t *testing.T, dir, name, path string) (ocispec.Manifest, string) {
	t.Helper()
	var idx ocispec.Index
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "index.json"))), &idx); err != nil {
		t.Fatal(err)
	}
	blob := func(d ocispec.Descriptor) []byte {
		b, err := os.ReadFile(filepath.Join(dir, "blobs", d.Digest.Algorithm().String(), d.Digest.Encoded()))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, d := range idx.Manifests {
		if d.Annotations[ocispec.AnnotationRefName] != name {
			continue
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(blob(d), &m); err != nil {
			t.Fatal(err)
		}
		content := ""
		for _, l := range m.Layers {
			var r io.Reader = bytes.NewReader(blob(l))
			if strings.Contains(l.MediaType, "gzip") {
				zr, err := gzip.NewReader(r)
				if err != nil {
					t.Fatal(err)
				}
				r = zr
			}
			tr := tar.NewReader(r)
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if strings.TrimPrefix(h.Name, "./") == strings.TrimPrefix(path, "/") {
					b, _ := io.ReadAll(tr)
					content = string(b)
				}
			}
		}
		return m, content
	}
	t.Fatalf("no image %s in %s: %+v", name, dir, idx)
	return ocispec.Manifest{}, ""
}

// TestBuildMultiStage builds a multi-stage Dockerfile with an ARG-defined
// base, RUN, COPY --from a stage and from an image, RUN --mount from an
// image, and an image source, through a counting proxy: each image is
// resolved once, by freshpull, and buildah asks the registry nothing.
func TestBuildMultiStage(t *testing.T) {
	requireBuild(t)
	reg := testregistry.Start(t)
	proxy := countproxy.Start(t, reg.Host)
	h := proxy.Host
	baseImg := shellImage(t, file("base-version", "base v1\n", 0o644))
	baseDigest := testregistry.Push(t, reg.Ref("base:1"), baseImg)
	baseConfig, err := baseImg.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	toolsDigest := testregistry.Push(t, reg.Ref("tools:1"), shellImage(t, dirE("opt", 0o755), file("opt/tool.txt", "tool\n", 0o644)))
	srcDigest := testregistry.Push(t, reg.Ref("src:1"), shellImage(t, dirE("src", 0o755), file("src/app.txt", "app source\n", 0o644)))

	e := newBuildEnv(t)
	writeFile(t, filepath.Join(e.ctx, "Dockerfile"), `ARG BASE=`+h+`/base:1
FROM ${BASE} AS build
RUN echo built > /built.txt
FROM $BASE
COPY --from=build /built.txt /built.txt
COPY --from=`+h+`/tools:1 /opt/tool.txt /tool.txt
RUN --mount=type=bind,from=`+h+`/tools:1,target=/mnt cat /mnt/opt/tool.txt > /mounted.txt
COPY app/ /app/
RUN cat /base-version /built.txt /tool.txt /mounted.txt /app/app.txt > /all.txt
`)
	out := filepath.Join(t.TempDir(), "out")
	r := fp(t, e.args("--image-source", h+"/src:1:/src/.:app", "--output", "oci:"+out+":app", "-t", "built:1")...)
	if r.code != 0 {
		t.Fatalf("build: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	res := buildResult(t, r)

	want := map[string]string{h + "/base:1": baseDigest.String(), h + "/tools:1": toolsDigest.String(), h + "/src:1": srcDigest.String()}
	if len(res.Images) != len(want) {
		t.Fatalf("images %+v, want one each of %v", res.Images, want)
	}
	for _, img := range res.Images {
		if want[img.Canonical] != img.Digest || img.Action != "pulled" {
			t.Errorf("image %s: %s %s, want pulled %s", img.Canonical, img.Action, img.Digest, want[img.Canonical])
		}
	}
	if res.BaseName != h+"/base:1" || res.BaseDigest != baseDigest.String() {
		t.Errorf("base %s %s, want %s/base:1 %s", res.BaseName, res.BaseDigest, h, baseDigest)
	}
	if len(res.ImageSources) != 1 || res.ImageSources[0].Files != 1 {
		t.Errorf("image sources %+v, want one of one file", res.ImageSources)
	}
	if got := readFile(t, filepath.Join(e.ctx, "app", "app.txt")); got != "app source\n" {
		t.Errorf("image source in the context: %q", got)
	}

	m, all := layoutImage(t, out, "app", "/all.txt")
	if want := "base v1\nbuilt\ntool\ntool\napp source\n"; all != want {
		t.Errorf("/all.txt in the built image is %q, want %q", all, want)
	}
	if m.Annotations[freshpull.AnnotationBaseName] != h+"/base:1" || m.Annotations[freshpull.AnnotationBaseDigest] != baseDigest.String() {
		t.Errorf("built image annotations %v, want the base's name and digest", m.Annotations)
	}
	if res.ImageID == "" || !strings.HasPrefix(res.Digest, "sha256:") || res.OutputDigest != res.Digest {
		t.Errorf("image id %q digest %q output digest %q", res.ImageID, res.Digest, res.OutputDigest)
	}

	for _, repo := range []string{"base", "tools", "src"} {
		if n := proxy.Count("", "/"+repo+"/manifests/1"); n != 1 {
			t.Errorf("%s:1 was resolved %d times, want once\n%s", repo, n, proxy)
		}
	}
	if other := proxy.NotFrom("freshpull/"); len(other) > 0 {
		t.Errorf("requests not from freshpull (buildah must ask no registry):\n%s", strings.Join(other, "\n"))
	}
	noLayoutLeft(t, r.stderr)

	// Again, warm, pushing the result: every image is up to date, one
	// HEAD each; buildah uses the copies it made the first time, by ID
	// (config digest), and speaks to the registry only to push.
	proxy.Reset()
	r = fp(t, e.args("--image-source", h+"/src:1:/src/.:app", "--push", h+"/built:1")...)
	if r.code != 0 {
		t.Fatalf("second build: exit %d\n%s", r.code, r.stderr)
	}
	res = buildResult(t, r)
	for _, img := range res.Images {
		if img.Action != "up-to-date" {
			t.Errorf("second build: %s %s, want up-to-date", img.Canonical, img.Action)
		}
	}
	if !strings.Contains(r.stderr, "STEP 1/2: FROM "+baseConfig.Hex+" AS build") {
		t.Errorf("second build: buildah did not use its copy of the base by ID %s:\n%s", baseConfig.Hex, r.stderr)
	}
	if n := proxy.Count("", "/base/") + proxy.Count("", "/tools/") + proxy.Count("", "/src/"); n != 3 {
		t.Errorf("second build made %d requests for its images, want 3 (one HEAD each)\n%s", n, proxy)
	}
	for _, req := range proxy.NotFrom("freshpull/") {
		if _, path, _ := strings.Cut(req, ": "); !strings.HasSuffix(path, " /v2/") && !strings.Contains(path, " /v2/built/") {
			t.Errorf("buildah asked for more than its push: %s", req)
		}
	}
	pushed, err := remote.Get(mustRef(t, h+"/built:1"))
	if err != nil {
		t.Fatal(err)
	}
	var pm ocispec.Manifest
	if err := json.Unmarshal(pushed.Manifest, &pm); err != nil {
		t.Fatal(err)
	}
	if pushed.Digest.String() != res.PushDigest || res.Digest != res.PushDigest {
		t.Errorf("pushed %s, result says push digest %s, digest %s", pushed.Digest, res.PushDigest, res.Digest)
	}
	if pm.Annotations[freshpull.AnnotationBaseDigest] != baseDigest.String() {
		t.Errorf("pushed image annotations %v, want the base digest %s", pm.Annotations, baseDigest)
	}
}

// noLayoutLeft checks that the private layout buildah was given (named in
// its output) is gone.
func noLayoutLeft(t *testing.T, buildahOutput string) {
	t.Helper()
	m := regexp.MustCompile(`oci:(/[^:]+):image-0`).FindStringSubmatch(buildahOutput)
	if m == nil {
		t.Fatalf("buildah was given no oci: layout:\n%s", buildahOutput)
	}
	if _, err := os.Lstat(m[1]); err == nil {
		t.Errorf("the build left its layout %s behind", m[1])
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestBuildTagMovesDuringBuild moves the base tag while the build runs,
// and has another freshpull process pull the moved tag into the same
// store: the later stage still builds on the digest the build reported.
func TestBuildTagMovesDuringBuild(t *testing.T) {
	requireBuild(t)
	reg := testregistry.Start(t)
	proxy := countproxy.Start(t, reg.Host)
	base := proxy.Host + "/base:1"
	v1Digest := testregistry.Push(t, reg.Ref("base:1"), shellImage(t, file("base-version", "v1\n", 0o644)))

	e := newBuildEnv(t)
	writeFile(t, filepath.Join(e.ctx, "Dockerfile"), `FROM `+base+` AS first
RUN --mount=type=bind,target=/ctx echo waiting for the tag to move; i=0; while [ ! -e /ctx/go ]; do sleep 0.1; i=$((i+1)); [ $i -gt 600 ] && exit 9; done
FROM `+base+`
RUN cat /base-version > /seen.txt
`)
	out := filepath.Join(t.TempDir(), "out")
	cmd := exec.Command(binary, e.args("--output", "oci:"+out+":app")...)
	cmd.Env = testEnv(t)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if sc.Text() == "waiting for the tag to move" {
			break
		}
	}
	resolutions := proxy.Count("", "/base/manifests/1")
	v2Digest := testregistry.Push(t, reg.Ref("base:1"), shellImage(t, file("base-version", "v2\n", 0o644)))
	if moved := pullOne(t, e.store, 0, base); moved.Digest != v2Digest.String() {
		t.Fatalf("the concurrent pull got %s, want the moved tag's %s", moved.Digest, v2Digest)
	}
	writeFile(t, filepath.Join(e.ctx, "go"), "")
	rest, _ := io.ReadAll(stderr)
	log.Write(rest)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("build: %v\n%s", err, log.String())
	}
	res := buildResult(t, cmdResult{stdout: stdout.String(), stderr: log.String()})

	if len(res.Images) != 1 || res.Images[0].Digest != v1Digest.String() {
		t.Fatalf("build reported %+v, want one image at %s", res.Images, v1Digest)
	}
	if _, seen := layoutImage(t, out, "app", "/seen.txt"); seen != "v1\n" {
		t.Errorf("the later stage built on base-version %q, want v1 (the digest reported)", seen)
	}
	if res.BaseDigest != v1Digest.String() {
		t.Errorf("base digest %s, want %s", res.BaseDigest, v1Digest)
	}
	if resolutions != 1 {
		t.Errorf("the build resolved the base %d times, want once\n%s", resolutions, proxy)
	}
	if other := proxy.NotFrom("freshpull/"); len(other) > 0 {
		t.Errorf("requests not from freshpull (buildah must ask no registry):\n%s", strings.Join(other, "\n"))
	}
}

// TestBuildRegistryDown: under newer with the registry down the build uses
// the local copy and says so; --strict fails before buildah starts.
func TestBuildRegistryDown(t *testing.T) {
	requireBuild(t)
	reg := testregistry.Start(t)
	base := reg.Ref("base:1")
	d := testregistry.Push(t, base, shellImage(t, file("base-version", "v1\n", 0o644)))
	e := newBuildEnv(t)
	writeFile(t, filepath.Join(e.ctx, "Dockerfile"), "FROM "+base+"\nRUN cat /base-version > /seen.txt\n")
	pullOne(t, e.store, 0, base)
	reg.Stop()

	// In text: the image's line as pull prints it, the warning, the image
	// built.
	r := fp(t, slices.DeleteFunc(e.args(), func(a string) bool { return a == "-o" || a == "json" })...)
	if r.code != 0 {
		t.Fatalf("build with the registry down: exit %d\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "local-fallback ") || !strings.Contains(lines[0], base+" "+d.String()) || !strings.HasPrefix(lines[1], "built ") {
		t.Errorf("stdout:\n%s\nwant the local-fallback line and the built line", r.stdout)
	}
	if !strings.Contains(r.stderr, "warning: "+base) {
		t.Errorf("stderr:\n%s\nwant the fallback warning", r.stderr)
	}

	out := filepath.Join(t.TempDir(), "out")
	r = fp(t, e.args("--strict", "--output", "oci:"+out)...)
	if r.code != exitFailed {
		t.Fatalf("--strict with the registry down: exit %d, want %d\n%s", r.code, exitFailed, r.stderr)
	}
	res := buildResult(t, r)
	if !strings.Contains(res.Error, "nothing was built") || res.ImageID != "" || strings.Contains(r.stderr, "STEP 1") {
		t.Errorf("--strict: error %q, image %q, stderr:\n%s\nwant a failure before buildah started", res.Error, res.ImageID, r.stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("--strict wrote %s", out)
	}
}

// TestBuildSignaturePolicy: a build obeys the user's signature policy as a
// pull does. Under a policy that rejects by default, as a cluster's does,
// a build on an accepted base succeeds (buildah does not judge the private
// layout it is handed again, under a policy that would reject it), and a
// rejected base exits 5 before buildah starts.
func TestBuildSignaturePolicy(t *testing.T) {
	requireBuild(t)
	reg := testregistry.Start(t)
	testregistry.Push(t, reg.Ref("ok/base:1"), shellImage(t, file("base-version", "accepted base\n", 0o644)))
	testregistry.Push(t, reg.Ref("other/base:1"), shellImage(t))
	pol := filepath.Join(testHome(t), ".config", "containers", "policy.json")
	if err := os.MkdirAll(filepath.Dir(pol), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, pol,
		`{"default": [{"type": "reject"}], "transports": {"docker": {"`+reg.Host+`/ok": [{"type": "insecureAcceptAnything"}]}}}`)
	e := newBuildEnv(t)

	writeFile(t, filepath.Join(e.ctx, "Dockerfile"), "FROM "+reg.Ref("ok/base:1")+"\nRUN cat /base-version\n")
	r := fp(t, e.args()...)
	if r.code != 0 || !strings.Contains(r.stderr, "accepted base") {
		t.Fatalf("build on an accepted base under a reject-by-default policy: exit %d\n%s", r.code, r.stderr)
	}
	res := buildResult(t, r)
	if len(res.Images) != 1 || res.Images[0].Trust == nil || res.Images[0].Trust.Scope != reg.Host+"/ok" {
		t.Errorf("images %+v, want the base accepted by scope %s/ok", res.Images, reg.Host)
	}
	// Only in buildah's storage: the ID names it, and no digest is made
	// up for a manifest no push wrote.
	if res.ImageID == "" || res.Digest != "" {
		t.Errorf("image id %q, digest %q, want an ID and no digest", res.ImageID, res.Digest)
	}

	writeFile(t, filepath.Join(e.ctx, "Dockerfile"), "FROM "+reg.Ref("other/base:1")+"\nRUN echo built\n")
	r = fp(t, e.args()...)
	if res = buildResult(t, r); r.code != exitRejected || !strings.Contains(res.Error, "rejected by policy") || !strings.Contains(res.Error, "default scope requires reject") || res.ImageID != "" {
		t.Errorf("build on a rejected base: exit %d, error %q, image %q, want %d, the rejection and no image\n%s", r.code, res.Error, res.ImageID, exitRejected, r.stderr)
	}
	if strings.Contains(r.stderr, "STEP 1") {
		t.Errorf("buildah started on a rejected base:\n%s", r.stderr)
	}
}

// TestBuildErrors: a failing step passes buildah's exit status on and
// names the step; a Dockerfile error names the line before anything is
// pulled; a missing buildah says how to install it; none leaves anything
// half-written in the store.
func TestBuildErrors(t *testing.T) {
	requireBuild(t)
	reg := testregistry.Start(t)
	proxy := countproxy.Start(t, reg.Host)
	base := proxy.Host + "/base:1"
	testregistry.Push(t, reg.Ref("base:1"), shellImage(t))
	e := newBuildEnv(t)

	writeFile(t, filepath.Join(e.ctx, "Dockerfile"), "FROM "+base+"\nRUN echo one\nRUN exit 7\nRUN echo three\n")
	r := fp(t, e.args()...)
	if r.code != 7 {
		t.Errorf("failing RUN: exit %d, want buildah's 7\n%s", r.code, r.stderr)
	}
	if res := buildResult(t, r); !strings.Contains(res.Error, "STEP 3/4: RUN exit 7") || !strings.Contains(res.Error, "status 7") {
		t.Errorf("failing RUN: error %q, want the step and the status", res.Error)
	}
	if fsck := fp(t, "--store", e.store, "fsck"); fsck.code != 0 {
		t.Errorf("fsck after a failed build: exit %d\n%s%s", fsck.code, fsck.stdout, fsck.stderr)
	}
	noLayoutLeft(t, r.stderr)
	if names := readDir(t, filepath.Join(e.store, ".freshpull", "tmp")); len(names) != 0 {
		t.Errorf("the failed build left %v in the store's temp directory", names)
	}

	proxy.Reset()
	writeFile(t, filepath.Join(e.ctx, "Dockerfile"), "FROM "+base+"\nCOPY --from=\"$X\" --chown a b\nFROM\n")
	r = fp(t, append([]string{"--store", e.store, "build"}, e.ctx)...)
	if r.code != exitUsage || !strings.Contains(r.stderr, "Dockerfile:3") {
		t.Errorf("syntax error: exit %d, want %d naming Dockerfile:3\n%s", r.code, exitUsage, r.stderr)
	}
	if n := proxy.Count("", ""); n != 0 {
		t.Errorf("a Dockerfile error made %d registry requests, want none", n)
	}

	r = fp(t, "--store", e.store, "build", "--buildah", "/nonexistent/buildah", e.ctx)
	if r.code != exitNoEngine || !strings.Contains(r.stderr, "buildah not found: install buildah") {
		t.Errorf("no buildah: exit %d, want %d\n%s", r.code, exitNoEngine, r.stderr)
	}
}

// TestBuildDockerBase builds on a Docker schema 2 image, which buildah
// 1.28 reads from an oci: layout only under OCI media types: the engine
// gets the same config and layers, the result names the pulled digest.
func TestBuildDockerBase(t *testing.T) {
	requireBuild(t)
	reg := testregistry.Start(t)
	img := shellImage(t, file("base-version", "docker v2s2\n", 0o644))
	img = mutate.MediaType(img, types.DockerManifestSchema2)
	img = mutate.ConfigMediaType(img, types.DockerConfigJSON)
	d := testregistry.Push(t, reg.Ref("base:1"), img)
	cfg, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	e := newBuildEnv(t)
	writeFile(t, filepath.Join(e.ctx, "Dockerfile"), "FROM "+reg.Ref("base:1")+"\nRUN cat /base-version\n")
	r := fp(t, e.args()...)
	if r.code != 0 || !strings.Contains(r.stderr, "docker v2s2") {
		t.Fatalf("build on a Docker image: exit %d\n%s", r.code, r.stderr)
	}
	res := buildResult(t, r)
	if res.Images[0].Digest != d.String() || res.BaseDigest != d.String() {
		t.Errorf("reported %s, base digest %s, want the pulled %s", res.Images[0].Digest, res.BaseDigest, d)
	}
	if !strings.Contains(r.stderr, "Copying config "+cfg.String()) {
		t.Errorf("buildah did not copy the image's own config %s:\n%s", cfg, r.stderr)
	}
}
