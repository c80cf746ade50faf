package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/freshpull/freshpull/internal/countproxy"
	"github.com/freshpull/freshpull/internal/testregistry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var host = v1.Platform{OS: "linux", Architecture: "amd64"}

// The stale-image scenario end to end: a tag moves after a pre-pull.
func TestPolicyAfterTagMoves(t *testing.T) {
	reg := testregistry.Start(t)
	storeDir := t.TempDir()
	ref := reg.Ref("team/app:1")
	old := testregistry.Push(t, ref, testregistry.Image(t, 3, 4096, host))

	first := pullOne(t, storeDir, 0, "--platform", "linux/amd64", ref)
	if first.Action != "pulled" || first.Digest != old.String() || first.ResolvedDigest != old.String() {
		t.Fatalf("first pull = %+v, want pulled %s", first, old)
	}
	if first.BlobsFetched != 4 || first.BlobsReused != 0 || first.BytesFetched <= 3*4096 {
		t.Errorf("first pull fetched %d blobs (%d reused, %d bytes), want 4 (config + 3 layers)", first.BlobsFetched, first.BlobsReused, first.BytesFetched)
	}

	moved := testregistry.Push(t, ref, testregistry.Image(t, 3, 4096, host))

	// missing: stays on the old digest, no network.
	r := pullOne(t, storeDir, 0, "--policy", "missing", ref)
	if r.Action != "local" || r.Digest != old.String() {
		t.Errorf("missing after move = %s %s, want local %s", r.Action, r.Digest, old)
	}

	// newer: notices the move and pulls the new digest.
	r = pullOne(t, storeDir, 0, ref)
	if r.Action != "pulled" || r.Digest != moved.String() || r.Policy != "newer" {
		t.Errorf("newer after move = %s %s (policy %s), want pulled %s", r.Action, r.Digest, r.Policy, moved)
	}
	if !strings.Contains(r.Reason, moved.String()) || !strings.Contains(r.Reason, old.String()) {
		t.Errorf("newer's reason %q does not name both digests", r.Reason)
	}

	// newer again: up to date, nothing downloaded.
	r = pullOne(t, storeDir, 0, ref)
	if r.Action != "up-to-date" || r.Digest != moved.String() || r.BlobsFetched != 0 || r.BytesFetched != 0 {
		t.Errorf("newer again = %+v, want up-to-date %s with nothing fetched", r, moved)
	}

	// missing now finds the new digest, since newer replaced the entry.
	r = pullOne(t, storeDir, 0, "--policy", "ifnotpresent", ref)
	if r.Action != "local" || r.Digest != moved.String() {
		t.Errorf("missing after newer = %s %s, want local %s", r.Action, r.Digest, moved)
	}

	// newer with the registry down: the local copy, never silently.
	reg.Stop()
	results, out := pullJSON(t, storeDir, ref)
	if out.code != 0 || len(results) != 1 {
		t.Fatalf("newer with registry down: exit %d, %d results; stderr: %s", out.code, len(results), out.stderr)
	}
	r = results[0]
	if r.Action != "local-fallback" || r.Digest != moved.String() || r.Warning == "" {
		t.Errorf("newer with registry down = %+v, want local-fallback with a warning", r)
	}
	if !strings.Contains(out.stderr, "warning:") || !strings.Contains(out.stderr, moved.String()) {
		t.Errorf("fallback warning not on stderr (or does not name the digest used): %q", out.stderr)
	}
	// --strict turns the fallback into a failure.
	results, out = pullJSON(t, storeDir, "--strict", ref)
	if out.code != 1 || len(results) != 1 || results[0].Error == "" || results[0].Action != "" {
		t.Errorf("newer --strict with registry down: exit %d, results %+v; want exit 1 with an error", out.code, results)
	}
	// always fails too: it must ask the registry.
	if _, out := pullJSON(t, storeDir, "--policy", "always", ref); out.code != 1 {
		t.Errorf("always with registry down: exit %d, want 1", out.code)
	}
	// text output says the same thing.
	text := fp(t, "--store", storeDir, "pull", ref)
	if text.code != 0 || !strings.HasPrefix(text.stdout, "local-fallback") || !strings.Contains(text.stderr, "warning:") {
		t.Errorf("text fallback: exit %d stdout %q stderr %q", text.code, text.stdout, text.stderr)
	}
}

func TestNeverOnAbsentImage(t *testing.T) {
	storeDir := t.TempDir()
	results, out := pullJSON(t, storeDir, "--policy", "never", "127.0.0.1:1/nothing:here")
	if out.code != 3 || len(results) != 1 || !strings.Contains(results[0].Error, "not present") {
		t.Fatalf("never on absent image: exit %d %+v, want exit 3 naming 'not present'", out.code, results)
	}
}

func TestNotInRegistry(t *testing.T) {
	reg := testregistry.Start(t)
	testregistry.Push(t, reg.Ref("exists:1"), testregistry.Image(t, 1, 100, host))
	for _, ref := range []string{reg.Ref("exists:2"), reg.Ref("missing/repo:1")} {
		r := pullOne(t, t.TempDir(), 3, ref)
		if !strings.Contains(r.Error, "not found") || !strings.Contains(r.Error, ref) {
			t.Errorf("pull %s: error %q, want 'not found' naming the reference", ref, r.Error)
		}
	}
	if out := fp(t, "resolve", reg.Ref("exists:2")); out.code != 3 || !strings.Contains(out.stderr, "not found") {
		t.Errorf("resolve of a missing tag: exit %d %q, want 3", out.code, out.stderr)
	}
	// One missing and one unreachable: the failure decides the status.
	if _, out := pullJSON(t, t.TempDir(), reg.Ref("exists:2"), "127.0.0.1:1/x:1"); out.code != 1 {
		t.Errorf("missing + unreachable: exit %d, want 1", out.code)
	}
}

func TestInvalidInput(t *testing.T) {
	storeDir := t.TempDir()
	for _, args := range [][]string{
		{"pull", "Bad/Ref"},
		{"pull", "img:sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
		{"pull", "--policy", "sometimes", "x"},
		{"pull"},
		{"pull", "--platform", "linux", "x"},
		{"ref", "a:b:c"},
		{"-o", "yaml", "images"},
		{"images", "extra"},
		{"pull", "--no-such-flag", "x"},
		{"--log-level", "loud", "images"},
		{"--timeout", "0s", "pull", "x"},
		{"--authfile", "/nonexistent/auth.json", "pull", "127.0.0.1:1/x:1"},
		{"--creds", ":pw", "pull", "127.0.0.1:1/x:1"},
		{"--creds", "user", "pull", "127.0.0.1:1/x:1"}, // no terminal to ask on
		{"pin", "--build-arg", "NOVALUE", "Dockerfile"},
		{"extract", "x"},
		{"extract", "127.0.0.1:1/x:1", "dest", "--path", "/a:../outside"},
		{"inspect"},
		// The worst outcome decides: bad input over not found.
		{"pull", "--policy", "never", "127.0.0.1:1/absent:1", "Bad/Ref"},
	} {
		r := fp(t, append([]string{"--store", storeDir}, args...)...)
		if r.code != 2 {
			t.Errorf("freshpull %q: exit %d, want 2 (usage)\nstderr: %s", args, r.code, r.stderr)
		}
		if strings.TrimSpace(r.stderr) == "" {
			t.Errorf("freshpull %q: no error message on stderr", args)
		}
	}
	// The mangled digest form gets a hint.
	r := fp(t, "ref", "img:sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	if !strings.Contains(r.stderr, "img@sha256:") {
		t.Errorf("mangled digest reference: no '@' hint in %q", r.stderr)
	}
}

// A digest reference present locally needs no registry at all.
func TestDigestReferenceOffline(t *testing.T) {
	reg := testregistry.Start(t)
	storeDir := t.TempDir()
	d := testregistry.Push(t, reg.Ref("pinned:1"), testregistry.Image(t, 2, 1000, host))
	pullOne(t, storeDir, 0, reg.Ref("pinned:1"))
	reg.Stop()
	for _, pol := range []string{"missing", "newer", "never"} {
		for _, ref := range []string{reg.Ref("pinned@" + d.String()), reg.Ref("pinned:1@" + d.String())} {
			r := pullOne(t, storeDir, 0, "--policy", pol, "--strict", ref)
			if r.Action != "local" || r.Digest != d.String() || r.Warning != "" {
				t.Errorf("%s %s with registry down = %+v, want local %s and no warning", pol, ref, r, d)
			}
		}
	}
}

// name:tag@digest pulls the digest even after the tag has moved.
func TestTagAndDigestPullsDigest(t *testing.T) {
	reg := testregistry.Start(t)
	storeDir := t.TempDir()
	pinned := testregistry.Push(t, reg.Ref("app:1"), testregistry.Image(t, 2, 1000, host))
	moved := testregistry.Push(t, reg.Ref("app:1"), testregistry.Image(t, 2, 1000, host))
	ref := reg.Ref("app:1@" + pinned.String())
	r := pullOne(t, storeDir, 0, ref)
	if r.Action != "pulled" || r.Digest != pinned.String() || r.Canonical != ref {
		t.Fatalf("pull %s = %+v, want pinned digest %s (tag now at %s)", ref, r, pinned, moved)
	}
	// skopeo finds it under the full reference.
	requireTool(t, "skopeo")
	out, err := exec.Command("skopeo", "inspect", "--raw", "oci:"+storeDir+":"+ref).CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo inspect: %v\n%s", err, out)
	}
	var m struct{ Layers []json.RawMessage }
	if err := json.Unmarshal(out, &m); err != nil || len(m.Layers) != 2 {
		t.Errorf("skopeo read manifest %s (%v), want 2 layers", out, err)
	}
}

// Resolve once, fetch by digest: the tag is asked about exactly once (one
// HEAD); the manifest and blobs are fetched by digest; an up-to-date check
// downloads nothing.
func TestResolveOnceFetchByDigest(t *testing.T) {
	reg := testregistry.Start(t)
	proxy := countproxy.Start(t, reg.Host)
	storeDir := t.TempDir()
	img := testregistry.Image(t, 3, 2000, host)
	d := testregistry.Push(t, reg.Ref("once:1"), img)
	ref := proxy.Host + "/once:1"

	pullOne(t, storeDir, 0, "--insecure-registry", proxy.Host, ref)
	if n := proxy.Count("", "/manifests/1"); n != 1 || proxy.Count("HEAD", "/manifests/1") != 1 {
		t.Errorf("pull asked for the tag %d times, want one HEAD:\n%s", n, proxy)
	}
	if n := proxy.Count("GET", "/manifests/"+d.String()); n != 1 {
		t.Errorf("manifest fetched by digest %d times, want 1:\n%s", n, proxy)
	}
	if n := proxy.Count("GET", "/blobs/"); n != 4 {
		t.Errorf("%d blob GETs, want 4 (config + 3 layers):\n%s", n, proxy)
	}

	proxy.Reset()
	r := pullOne(t, storeDir, 0, ref)
	if r.Action != "up-to-date" {
		t.Fatalf("second pull = %s, want up-to-date", r.Action)
	}
	// The registry needs no auth, and the first pull learnt that: the
	// whole check is one HEAD, no /v2/ ping.
	if n := proxy.Count("", ""); n != 1 || proxy.Count("HEAD", "/manifests/1") != 1 {
		t.Errorf("up-to-date check made %d requests, want one HEAD on the manifest:\n%s", n, proxy)
	}
}

func TestMultiPlatformIndex(t *testing.T) {
	reg := testregistry.Start(t)
	storeDir := t.TempDir()
	idx := testregistry.Index(t, testregistry.Linux("amd64"), testregistry.Linux("arm64"), v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"})
	idxDigest := testregistry.PushIndex(t, reg.Ref("multi:1"), idx)
	im, _ := idx.IndexManifest()
	want := map[string]string{}
	for _, m := range im.Manifests {
		want[m.Platform.String()] = m.Digest.String()
	}
	for _, p := range []string{"linux/amd64", "linux/arm64", "linux/arm/v7"} {
		r := pullOne(t, storeDir, 0, "--platform", p, reg.Ref("multi:1"))
		if r.Digest != want[p] || r.ResolvedDigest != idxDigest.String() || r.Platform != p {
			t.Errorf("--platform %s: digest %s resolved %s platform %s; want %s from index %s", p, r.Digest, r.ResolvedDigest, r.Platform, want[p], idxDigest)
		}
	}
	// Each platform is its own entry: newer is up to date for each.
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		if r := pullOne(t, storeDir, 0, "--platform", p, reg.Ref("multi:1")); r.Action != "up-to-date" || r.Digest != want[p] {
			t.Errorf("--platform %s again: %s %s, want up-to-date %s", p, r.Action, r.Digest, want[p])
		}
	}
	r := pullOne(t, storeDir, 1, "--platform", "windows/amd64", reg.Ref("multi:1"))
	if !strings.Contains(r.Error, "windows/amd64") || !strings.Contains(r.Error, "linux/arm64") {
		t.Errorf("missing platform error %q should name the platform asked for and those available", r.Error)
	}
	// resolve names the index and the platform's manifest.
	out := fp(t, "-o", "json", "--platform", "linux/arm64", "resolve", reg.Ref("multi:1"))
	var res []map[string]string
	if err := json.Unmarshal([]byte(out.stdout), &res); err != nil || len(res) != 1 {
		t.Fatalf("resolve -o json: %v %s", err, out.stdout)
	}
	if res[0]["digest"] != idxDigest.String() || res[0]["platformDigest"] != want["linux/arm64"] || res[0]["mediaType"] != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("resolve = %v, want index %s and platform digest %s", res[0], idxDigest, want["linux/arm64"])
	}
}

func TestDockerMediaTypes(t *testing.T) {
	reg := testregistry.Start(t)
	storeDir := t.TempDir()
	d := testregistry.Push(t, reg.Ref("docker:1"), testregistry.DockerImage(t, 2, 500, host))
	r := pullOne(t, storeDir, 0, reg.Ref("docker:1"))
	if r.Digest != d.String() {
		t.Fatalf("pulled %s, want %s", r.Digest, d)
	}
	out := fp(t, "--store", storeDir, "-o", "json", "inspect", reg.Ref("docker:1"))
	if out.code != 0 || !strings.Contains(out.stdout, "application/vnd.docker.distribution.manifest.v2+json") {
		t.Errorf("inspect: exit %d, manifest media type not Docker schema 2:\n%s%s", out.code, out.stdout, out.stderr)
	}
}

func TestSkopeoAndUmociReadTheStore(t *testing.T) {
	reg := testregistry.Start(t)
	storeDir := t.TempDir()
	d := testregistry.Push(t, reg.Ref("interop/app:1"), testregistry.Image(t, 2, 1000, host))
	r := pullOne(t, storeDir, 0, reg.Ref("interop/app:1"))
	requireTool(t, "skopeo")
	out, err := exec.Command("skopeo", "inspect", "oci:"+storeDir+":"+r.Canonical).CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo inspect oci:%s:%s: %v\n%s", storeDir, r.Canonical, err, out)
	}
	var info struct{ Digest string }
	if err := json.Unmarshal(out, &info); err != nil || info.Digest != d.String() {
		t.Errorf("skopeo saw digest %q (%v), want %s", info.Digest, err, d)
	}
	// skopeo can copy it on: the layout is complete and verified.
	dst := t.TempDir()
	if out, err := exec.Command("skopeo", "copy", "oci:"+storeDir+":"+r.Canonical, "oci:"+dst+":copy").CombinedOutput(); err != nil {
		t.Errorf("skopeo copy out of the store: %v\n%s", err, out)
	}
	requireTool(t, "umoci")
	if out, err := exec.Command("umoci", "stat", "--image", storeDir+":"+r.Canonical).CombinedOutput(); err != nil {
		t.Errorf("umoci stat: %v\n%s", err, out)
	}
}

// Eight processes pull into one store at once; no entry is lost.
func TestConcurrentProcesses(t *testing.T) {
	reg := testregistry.Start(t)
	storeDir := t.TempDir()
	shared := testregistry.Image(t, 4, 20000, host)
	var refs []string
	for i := range 8 {
		ref := reg.Ref(fmt.Sprintf("conc/app%d:1", i))
		if i%2 == 0 {
			testregistry.Push(t, ref, shared) // overlapping blobs
		} else {
			testregistry.Push(t, ref, testregistry.Image(t, 3, 10000, host))
		}
		refs = append(refs, ref)
	}
	var wg sync.WaitGroup
	errs := make([]string, len(refs))
	for i, ref := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := fp(t, "--store", storeDir, "-o", "json", "pull", ref)
			if r.code != 0 {
				errs[i] = fmt.Sprintf("pull %s: exit %d: %s", ref, r.code, r.stderr)
			}
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != "" {
			t.Error(e)
		}
	}
	out := fp(t, "--store", storeDir, "-o", "json", "images")
	var images []struct{ Reference string }
	if err := json.Unmarshal([]byte(out.stdout), &images); err != nil {
		t.Fatalf("images: %v\n%s", err, out.stdout)
	}
	have := map[string]bool{}
	for _, im := range images {
		have[im.Reference] = true
	}
	for _, ref := range refs {
		if !have[ref] {
			t.Errorf("entry %s lost; store has %v", ref, have)
		}
	}
	if len(images) != len(refs) {
		t.Errorf("store has %d entries, want %d", len(images), len(refs))
	}
	// Every entry is usable offline.
	reg.Stop()
	for _, ref := range refs {
		if r := pullOne(t, storeDir, 0, "--policy", "never", ref); r.Action != "local" {
			t.Errorf("never %s = %s, want local", ref, r.Action)
		}
	}
}

func TestImagesInspectRm(t *testing.T) {
	reg := testregistry.Start(t)
	storeDir := t.TempDir()
	d := testregistry.Push(t, reg.Ref("list/app:1"), testregistry.Image(t, 2, 1000, host))
	pullOne(t, storeDir, 0, reg.Ref("list/app:1"))
	out := fp(t, "--store", storeDir, "images")
	if out.code != 0 || !strings.Contains(out.stdout, reg.Ref("list/app:1")) || !strings.Contains(out.stdout, "linux/amd64") || !strings.Contains(out.stdout, d.String()[:19]) {
		t.Errorf("images:\n%s%s", out.stdout, out.stderr)
	}
	out = fp(t, "--store", storeDir, "inspect", reg.Ref("list/app:1"))
	if out.code != 0 || !strings.Contains(out.stdout, d.String()) || !strings.Contains(out.stdout, "Layers:          2") {
		t.Errorf("inspect:\n%s%s", out.stdout, out.stderr)
	}
	out = fp(t, "--store", storeDir, "inspect", reg.Ref("list/app@"+d.String()))
	if out.code != 0 || !strings.Contains(out.stdout, d.String()) {
		t.Errorf("inspect by digest:\n%s%s", out.stdout, out.stderr)
	}
	out = fp(t, "--store", storeDir, "rm", reg.Ref("list/app:1"))
	if out.code != 0 || !strings.Contains(out.stdout, "removed") {
		t.Errorf("rm: exit %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	if out = fp(t, "--store", storeDir, "inspect", reg.Ref("list/app:1")); out.code != 3 {
		t.Errorf("inspect after rm: exit %d, want 3", out.code)
	}
	if out = fp(t, "--store", storeDir, "rm", reg.Ref("list/app:1")); out.code != 3 {
		t.Errorf("rm of an absent image: exit %d, want 3", out.code)
	}
	if r := pullOne(t, storeDir, 3, "--policy", "never", reg.Ref("list/app:1")); r.Error == "" {
		t.Errorf("never after rm: %+v", r)
	}
}

func TestStoreDirectoryRules(t *testing.T) {
	// A non-empty directory that is not a store is refused, not written.
	notStore := t.TempDir()
	writeFile(t, notStore+"/precious.txt", "keep me")
	out := fp(t, "--store", notStore, "images")
	if out.code != 1 || !strings.Contains(out.stderr, "not an OCI image layout") {
		t.Errorf("images on a non-store dir: exit %d %q", out.code, out.stderr)
	}
	if entries := readDir(t, notStore); len(entries) != 1 {
		t.Errorf("non-store directory was written to: %v", entries)
	}
	// A malformed index.json is reported, not overwritten.
	st := t.TempDir()
	fp(t, "--store", st, "images")
	writeFile(t, st+"/index.json", "{not json")
	out = fp(t, "--store", st, "images")
	if out.code != 1 || !strings.Contains(out.stderr, "index.json is malformed") {
		t.Errorf("malformed index: exit %d %q", out.code, out.stderr)
	}
	if got := readFile(t, st+"/index.json"); got != "{not json" {
		t.Errorf("malformed index.json was overwritten: %q", got)
	}
	// $FRESHPULL_STORE is honoured.
	envStore := t.TempDir() + "/envstore"
	cmd := exec.Command(binary, "images")
	cmd.Env = append(testEnv(t), "FRESHPULL_STORE="+envStore)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("images with FRESHPULL_STORE: %v %s", err, out)
	}
	if readFile(t, envStore+"/oci-layout") == "" {
		t.Errorf("FRESHPULL_STORE=%s not used", envStore)
	}
}

func TestVersionAndCompletion(t *testing.T) {
	out := fp(t, "version")
	if out.code != 0 || !strings.HasPrefix(out.stdout, "freshpull ") || !strings.Contains(out.stdout, "go1.") {
		t.Errorf("version: %q", out.stdout)
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		if out := fp(t, "completion", sh); out.code != 0 || !strings.Contains(out.stdout, "freshpull") {
			t.Errorf("completion %s: exit %d", sh, out.code)
		}
	}
	// Global flags work before or after the command.
	a := fp(t, "-o", "json", "ref", "ubuntu")
	b := fp(t, "ref", "ubuntu", "-o", "json")
	if a.stdout != b.stdout || !strings.HasPrefix(a.stdout, "[") {
		t.Errorf("flag position changed output:\n%s\n%s", a.stdout, b.stdout)
	}
}

// An image that shares layers with one already present moves only the
// missing blobs: bytes fetched equal their sizes exactly.
func TestSecondImageFetchesOnlyMissingBlobs(t *testing.T) {
	reg := testregistry.Start(t)
	proxy := countproxy.Start(t, reg.Host)
	storeDir := t.TempDir()
	first := testregistry.Image(t, 4, 30000, host)
	testregistry.Push(t, reg.Ref("share/a:1"), first)
	layers, _ := first.Layers()
	extra := testregistry.Image(t, 1, 30000, host)
	extraLayers, _ := extra.Layers()
	second, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), append(layers[:3], extraLayers[0])...)
	if err != nil {
		t.Fatal(err)
	}
	second = mutate.ConfigMediaType(second, types.OCIConfigJSON)
	testregistry.Push(t, reg.Ref("share/b:1"), second)
	pullOne(t, storeDir, 0, "--platform", "linux/amd64", proxy.Host+"/share/a:1")

	proxy.Reset()
	r := pullOne(t, storeDir, 0, "--platform", "linux/amd64", proxy.Host+"/share/b:1")
	cfg, _ := second.Manifest()
	newLayer, _ := extraLayers[0].Size()
	want := cfg.Config.Size + newLayer
	if r.BlobsFetched != 2 || r.BlobsReused != 3 || r.BytesFetched != want {
		t.Errorf("second image: %d blobs fetched (%d bytes), %d reused; want 2 (config and the new layer, %d bytes) and 3 reused", r.BlobsFetched, r.BytesFetched, r.BlobsReused, want)
	}
	if got := proxy.Bytes("GET", "/blobs/"); got != want {
		t.Errorf("the registry sent %d blob bytes, want %d", got, want)
	}
}

// A reference by the platform manifest's digest, found under a tag pulled
// from an index, reports that digest as what it resolved to.
func TestManifestDigestOfIndexImage(t *testing.T) {
	reg := testregistry.Start(t)
	storeDir := t.TempDir()
	idx := testregistry.Index(t, testregistry.Linux("amd64"), testregistry.Linux("arm64"))
	testregistry.PushIndex(t, reg.Ref("mdig:1"), idx)
	r := pullOne(t, storeDir, 0, "--platform", "linux/amd64", reg.Ref("mdig:1"))
	reg.Stop()
	byDigest := pullOne(t, storeDir, 0, "--platform", "linux/amd64", "--policy", "never", reg.Ref("mdig@"+r.Digest))
	if byDigest.Action != "local" || byDigest.Digest != r.Digest || byDigest.ResolvedDigest != r.Digest {
		t.Errorf("pull by manifest digest = %+v; want local, digest and resolvedDigest %s", byDigest, r.Digest)
	}
}

// A single-platform image for another platform is pulled with a warning,
// and is then found for the platform asked for: never uses it, newer finds
// it current.
func TestSinglePlatformMismatch(t *testing.T) {
	reg := testregistry.Start(t)
	storeDir := t.TempDir()
	d := testregistry.Push(t, reg.Ref("arm/only:1"), testregistry.Image(t, 1, 500, testregistry.Linux("arm64")))
	r := pullOne(t, storeDir, 0, "--platform", "linux/amd64", reg.Ref("arm/only:1"))
	if r.Digest != d.String() || r.Platform != "linux/arm64" || !strings.Contains(r.Warning, "linux/amd64") {
		t.Fatalf("pull = %+v, want %s for linux/arm64 with a warning", r, d)
	}
	if r := pullOne(t, storeDir, 0, "--platform", "linux/amd64", reg.Ref("arm/only:1")); r.Action != "up-to-date" {
		t.Errorf("newer again = %s, want up-to-date", r.Action)
	}
	if r := pullOne(t, storeDir, 0, "--platform", "linux/amd64", "--policy", "never", reg.Ref("arm/only:1")); r.Action != "local" {
		t.Errorf("never = %+v, want local", r)
	}
	if r := pullOne(t, storeDir, 0, "--platform", "linux/arm64", "--policy", "never", reg.Ref("arm/only:1")); r.Action != "local" {
		t.Errorf("never for the image's own platform = %+v, want local", r)
	}
	// inspect finds what pull finds, for either platform.
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		if out := fp(t, "--store", storeDir, "--platform", p, "inspect", reg.Ref("arm/only:1")); out.code != 0 || !strings.Contains(out.stdout, d.String()) {
			t.Errorf("inspect --platform %s: exit %d\n%s%s", p, out.code, out.stdout, out.stderr)
		}
	}
}
