package main

// Fault tests: freshpull pulls through internal/faultproxy, in front of the
// real distribution registry, while the proxy fails the way registries and
// networks do. Each top-level test starts the faulted pulls of its cases
// side by side (the retries of a permanent failure take about ten seconds,
// spent waiting), then checks them one by one. No test asserts on
// wall-clock time: a Retry-After is shown honoured by the proxy seeing no
// early retry, and by request counts.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/freshpull/freshpull"
	"github.com/freshpull/freshpull/internal/faultproxy"
	"github.com/freshpull/freshpull/internal/testregistry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// faultCase is one faulted pull. start prepares the store and the proxy's
// rules, starts the pull and returns the check to run when it is done.
type faultCase struct {
	name  string
	start func(t *testing.T) (check func(t *testing.T))
}

// runFaultCases starts every case's pull, then runs the checks, each as a
// subtest: the slow waits of the faulted pulls overlap.
func runFaultCases(t *testing.T, cases []faultCase) {
	t.Helper()
	checks := make([]func(*testing.T), len(cases))
	for i, c := range cases {
		checks[i] = c.start(t)
	}
	for i, c := range cases {
		t.Run(c.name, checks[i])
	}
}

// running is a freshpull pull started in the background.
type running struct {
	cmd      *exec.Cmd
	args     []string
	out, err bytes.Buffer
	killed   chan struct{}
	timer    *time.Timer
}

// hungAfter is when a pull in these tests is taken for hung and killed, so
// that the test fails instead of waiting for go test's timeout. It is a
// safety net, far beyond any wait freshpull should make here.
const hungAfter = 2 * time.Minute

// startPull starts `freshpull --store DIR -o json pull ARGS...`.
func startPull(t *testing.T, storeDir string, args ...string) *running {
	t.Helper()
	r := &running{args: args, killed: make(chan struct{})}
	r.cmd = exec.Command(binary, append([]string{"--store", storeDir, "-o", "json", "pull"}, args...)...)
	r.cmd.Env = testEnv(t)
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.err
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start freshpull pull %q: %v", args, err)
	}
	r.timer = time.AfterFunc(hungAfter, func() {
		close(r.killed)
		r.cmd.Process.Kill()
	})
	// A test that stops before waiting leaves no process behind.
	t.Cleanup(func() {
		if r.timer.Stop() {
			r.cmd.Process.Kill()
			r.cmd.Wait()
		}
	})
	return r
}

// wait waits for the pull and returns its one result and how it exited.
func (r *running) wait(t *testing.T) (freshpull.Result, cmdResult) {
	t.Helper()
	err := r.cmd.Wait()
	r.timer.Stop()
	select {
	case <-r.killed:
		t.Fatalf("pull %q still running after %v; killed\nstderr: %s", r.args, hungAfter, &r.err)
	default:
	}
	out := cmdResult{stdout: r.out.String(), stderr: r.err.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		out.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("pull %q: %v", r.args, err)
	}
	var results []freshpull.Result
	if err := json.Unmarshal([]byte(out.stdout), &results); err != nil || len(results) != 1 {
		t.Fatalf("pull %q: stdout is not one JSON result (%v)\nstdout: %s\nstderr: %s", r.args, err, out.stdout, out.stderr)
	}
	return results[0], out
}

// storeState is what a failed pull must not change.
type storeState struct {
	index string
	blobs []string
}

func snapshot(t *testing.T, storeDir string) storeState {
	t.Helper()
	s := storeState{index: readFile(t, filepath.Join(storeDir, "index.json"))}
	if s.index == "" {
		t.Fatalf("store %s has no index.json", storeDir)
	}
	if names, err := os.ReadDir(filepath.Join(storeDir, "blobs", "sha256")); err == nil {
		for _, n := range names {
			s.blobs = append(s.blobs, "sha256:"+n.Name())
		}
	}
	return s
}

// checkUnchanged asserts a failed pull left the store as it was: the same
// index.json, the same blobs, no temp files.
func checkUnchanged(t *testing.T, storeDir string, before storeState) {
	t.Helper()
	after := snapshot(t, storeDir)
	if after.index != before.index {
		t.Errorf("index.json changed:\nbefore: %s\nafter:  %s", before.index, after.index)
	}
	if !slices.Equal(after.blobs, before.blobs) {
		t.Errorf("blobs changed:\nbefore: %v\nafter:  %v", before.blobs, after.blobs)
	}
	checkNoTemp(t, storeDir)
}

// checkNothingOf asserts a pull that failed on a blob left the index as it
// was, kept every blob from before, holds no temp files and not the
// rejected blob. Other blobs of the failed image that arrived whole may
// stay: they were verified before they became visible, and the next pull
// reuses them.
func checkNothingOf(t *testing.T, storeDir string, before storeState, rejected string) {
	t.Helper()
	after := snapshot(t, storeDir)
	if after.index != before.index {
		t.Errorf("index.json changed:\nbefore: %s\nafter:  %s", before.index, after.index)
	}
	for _, b := range before.blobs {
		if !slices.Contains(after.blobs, b) {
			t.Errorf("blob %s from before the pull is gone", b)
		}
	}
	if slices.Contains(after.blobs, rejected) {
		t.Errorf("rejected blob %s is in the store", rejected)
	}
	for _, b := range after.blobs {
		checkBlob(t, storeDir, b)
	}
	checkNoTemp(t, storeDir)
}

func checkNoTemp(t *testing.T, storeDir string) {
	t.Helper()
	if tmp := readDir(t, filepath.Join(storeDir, ".freshpull", "tmp")); len(tmp) != 0 {
		t.Errorf("temp files left in the store: %v", tmp)
	}
}

// checkBlob asserts the stored blob d hashes to d.
func checkBlob(t *testing.T, storeDir, d string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(storeDir, "blobs", "sha256", strings.TrimPrefix(d, "sha256:")))
	if err != nil {
		t.Errorf("blob %s: %v", d, err)
		return
	}
	if sum := sha256.Sum256(b); "sha256:"+hex.EncodeToString(sum[:]) != d {
		t.Errorf("stored blob %s does not hash to its name", d)
	}
}

// layer returns the digest of img's layer i.
func layer(t *testing.T, img v1.Image, i int) v1.Hash {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	d, err := ls[i].Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// blobDigests returns the config and layer digests of img.
func blobDigests(t *testing.T, img v1.Image) []v1.Hash {
	t.Helper()
	c, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	ls, _ := img.Layers()
	out := []v1.Hash{c}
	for i := range ls {
		out = append(out, layer(t, img, i))
	}
	return out
}

func expectPulled(t *testing.T, r freshpull.Result, out cmdResult, want v1.Hash) {
	t.Helper()
	if out.code != 0 || r.Action != "pulled" || r.Digest != want.String() || r.Warning != "" {
		t.Errorf("exit %d, %s %s (warning %q, error %q); want pulled %s, no warning\nstderr: %s", out.code, r.Action, r.Digest, r.Warning, r.Error, want, out.stderr)
	}
}

func expectFailed(t *testing.T, r freshpull.Result, out cmdResult, mentions ...string) {
	t.Helper()
	t.Logf("error: %s", r.Error)
	if out.code != 1 || r.Action != "" || r.Error == "" {
		t.Errorf("exit %d, action %q, error %q; want exit 1 with an error", out.code, r.Action, r.Error)
	}
	for _, m := range mentions {
		if !strings.Contains(r.Error, m) {
			t.Errorf("error %q does not mention %q", r.Error, m)
		}
	}
}

func expectFallback(t *testing.T, r freshpull.Result, out cmdResult, local v1.Hash) {
	t.Helper()
	t.Logf("warning: %s", r.Warning)
	if out.code != 0 || r.Action != "local-fallback" || r.Digest != local.String() || r.Warning == "" {
		t.Errorf("exit %d, %s %s (warning %q, error %q); want local-fallback to %s with a warning", out.code, r.Action, r.Digest, r.Warning, r.Error, local)
	}
	if !strings.Contains(out.stderr, "warning:") || !strings.Contains(out.stderr, local.String()) {
		t.Errorf("no warning naming %s on stderr: %q", local, out.stderr)
	}
}

// prePull pulls ref into storeDir with no fault, for a local copy.
func prePull(t *testing.T, storeDir, ref string, want v1.Hash) {
	t.Helper()
	if r := pullOne(t, storeDir, 0, ref); r.Action != "pulled" || r.Digest != want.String() {
		t.Fatalf("pre-pull %s = %s %s, want pulled %s", ref, r.Action, r.Digest, want)
	}
}

// 5xx and 429 that pass: retried (with backoff, or after Retry-After),
// then the pull succeeds, under each policy that asks the registry.
func TestFaultTransient(t *testing.T) {
	reg := testregistry.Start(t)
	small := func(repo string) (v1.Image, v1.Hash) {
		img := testregistry.Image(t, 2, 2048, host)
		return img, testregistry.Push(t, reg.Ref(repo), img)
	}
	runFaultCases(t, []faultCase{
		{"500 on HEAD, newer, not present", func(t *testing.T) func(*testing.T) {
			_, d := small("t500:1")
			p := faultproxy.Start(t, reg.Host)
			p.Add(faultproxy.Rule{Method: "HEAD", Path: faultproxy.ManifestsByTag, First: 1, Fault: faultproxy.Status(500)})
			run := startPull(t, t.TempDir(), p.Host+"/t500:1")
			return func(t *testing.T) {
				r, out := run.wait(t)
				expectPulled(t, r, out, d)
				if p.Count("HEAD", faultproxy.ManifestsByTag) != 2 || p.Count("GET", faultproxy.ManifestsByTag) != 0 {
					t.Errorf("want the HEAD retried once, and no GET by tag:\n%s", p)
				}
			}
		}},
		{"503 twice on HEAD, newer, stale local copy", func(t *testing.T) func(*testing.T) {
			_, old := small("t503:1")
			p := faultproxy.Start(t, reg.Host)
			storeDir := t.TempDir()
			prePull(t, storeDir, p.Host+"/t503:1", old)
			_, moved := small("t503:1")
			p.Add(faultproxy.Rule{Method: "HEAD", Path: faultproxy.ManifestsByTag, First: 2, Fault: faultproxy.Status(503)})
			before := p.Count("HEAD", nil)
			run := startPull(t, storeDir, p.Host+"/t503:1")
			return func(t *testing.T) {
				r, out := run.wait(t)
				// A passing failure must not leave the build on the
				// stale copy.
				expectPulled(t, r, out, moved)
				if n := p.Count("HEAD", nil) - before; n != 3 {
					t.Errorf("%d HEADs, want 3 (two 503s, then the answer):\n%s", n, p)
				}
			}
		}},
		{"502 on the manifest by digest, always", func(t *testing.T) func(*testing.T) {
			_, d := small("t502:1")
			p := faultproxy.Start(t, reg.Host)
			p.Add(faultproxy.Rule{Method: "GET", Path: faultproxy.ManifestsByDigest, First: 1, Fault: faultproxy.Status(502)})
			run := startPull(t, t.TempDir(), "--policy", "always", p.Host+"/t502:1")
			return func(t *testing.T) {
				r, out := run.wait(t)
				expectPulled(t, r, out, d)
				if n := p.Count("GET", faultproxy.Digest(d)); n != 2 {
					t.Errorf("manifest GET %d times, want 2 (a 502, then the manifest):\n%s", n, p)
				}
			}
		}},
		{"manifest body cut short once, always", func(t *testing.T) func(*testing.T) {
			_, d := small("tcut:1")
			p := faultproxy.Start(t, reg.Host)
			p.Add(faultproxy.Rule{Method: "GET", Path: faultproxy.ManifestsByDigest, First: 1, Fault: faultproxy.Reset(100)})
			run := startPull(t, t.TempDir(), "--policy", "always", p.Host+"/tcut:1")
			return func(t *testing.T) {
				r, out := run.wait(t)
				expectPulled(t, r, out, d)
				if n := p.Count("GET", faultproxy.Digest(d)); n != 2 {
					t.Errorf("manifest GET %d times, want 2 (cut short, then whole):\n%s", n, p)
				}
			}
		}},
		{"503 on every blob once, missing", func(t *testing.T) func(*testing.T) {
			img, d := small("tblobs:1")
			p := faultproxy.Start(t, reg.Host)
			blobs := blobDigests(t, img)
			for _, b := range blobs {
				p.Add(faultproxy.Rule{Method: "GET", Path: faultproxy.Digest(b), First: 1, Fault: faultproxy.Status(503)})
			}
			storeDir := t.TempDir()
			run := startPull(t, storeDir, "--policy", "missing", p.Host+"/tblobs:1")
			return func(t *testing.T) {
				r, out := run.wait(t)
				expectPulled(t, r, out, d)
				for _, b := range blobs {
					if n := p.Count("GET", faultproxy.Digest(b)); n != 2 {
						t.Errorf("blob %s fetched %d times, want 2 (a 503, then the blob):\n%s", b, n, p)
					}
					checkBlob(t, storeDir, b.String())
				}
			}
		}},
		{"429 Retry-After on HEAD, newer, stale local copy", func(t *testing.T) func(*testing.T) {
			_, old := small("t429h:1")
			p := faultproxy.Start(t, reg.Host)
			storeDir := t.TempDir()
			prePull(t, storeDir, p.Host+"/t429h:1", old)
			_, moved := small("t429h:1")
			p.Add(faultproxy.Rule{Method: "HEAD", Path: faultproxy.ManifestsByTag, First: 1, Fault: faultproxy.RetryAfter(429, 1)})
			before := p.Count("HEAD", nil)
			run := startPull(t, storeDir, p.Host+"/t429h:1")
			return func(t *testing.T) {
				r, out := run.wait(t)
				expectPulled(t, r, out, moved)
				if n := p.Count("HEAD", nil) - before; n != 2 || len(p.Early()) != 0 {
					t.Errorf("%d HEADs, want 2, the second after Retry-After passed:\n%s", n, p)
				}
			}
		}},
		{"429 Retry-After on a layer, always", func(t *testing.T) func(*testing.T) {
			img, d := small("t429b:1")
			l := layer(t, img, 1)
			p := faultproxy.Start(t, reg.Host)
			p.Add(faultproxy.Rule{Method: "GET", Path: faultproxy.Digest(l), First: 1, Fault: faultproxy.RetryAfter(429, 1)})
			run := startPull(t, t.TempDir(), "--policy", "always", p.Host+"/t429b:1")
			return func(t *testing.T) {
				r, out := run.wait(t)
				expectPulled(t, r, out, d)
				if n := p.Count("GET", faultproxy.Digest(l)); n != 2 || len(p.Early()) != 0 {
					t.Errorf("layer GET %d times, want 2, the second after Retry-After passed:\n%s", n, p)
				}
			}
		}},
	})
}

// 429 with a Retry-After longer than freshpull waits: the registry is
// asked once, not hammered with retries or a GET (which, unlike HEAD,
// counts against registries' pull limits); newer falls back with a warning,
// --strict and always fail saying why.
func TestFaultRateLimited(t *testing.T) {
	reg := testregistry.Start(t)
	img := testregistry.Image(t, 1, 1024, host)
	d := testregistry.Push(t, reg.Ref("limited:1"), img)
	p := faultproxy.Start(t, reg.Host)
	storeDir := t.TempDir()
	ref := p.Host + "/limited:1"
	prePull(t, storeDir, ref, d)
	p.Add(faultproxy.Rule{Path: faultproxy.Manifests, Fault: faultproxy.RetryAfter(429, 3600)})
	state := snapshot(t, storeDir)
	for _, args := range [][]string{{"--policy", "newer"}, {"--strict"}, {"--policy", "always"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			before := p.Count("", faultproxy.Manifests)
			r, out := startPull(t, storeDir, append(args, ref)...).wait(t)
			if args[0] == "--policy" && args[1] == "newer" {
				expectFallback(t, r, out, d)
				if !strings.Contains(r.Warning, "429") {
					t.Errorf("warning %q does not say the registry answered 429", r.Warning)
				}
			} else {
				expectFailed(t, r, out, "429", "Retry-After", "try again later")
			}
			if n := p.Count("", faultproxy.Manifests) - before; n != 1 {
				t.Errorf("%d manifest requests, want 1 (no retry within the hour, no GET):\n%s", n, p)
			}
			checkUnchanged(t, storeDir, state)
		})
	}
}

// 5xx that do not pass: retried, then a clear error (exit 1) and the store
// as it was; newer with a local copy falls back with a warning.
func TestFaultPermanent(t *testing.T) {
	reg := testregistry.Start(t)
	small := func(repo string) (v1.Image, v1.Hash) {
		img := testregistry.Image(t, 2, 2048, host)
		return img, testregistry.Push(t, reg.Ref(repo), img)
	}
	// A store holding one image, to see that a failed pull changes nothing.
	withOther := func(t *testing.T, p *faultproxy.Proxy) (string, storeState) {
		_, d := small("other:1")
		storeDir := t.TempDir()
		prePull(t, storeDir, p.Host+"/other:1", d)
		return storeDir, snapshot(t, storeDir)
	}
	manifestCase := func(name, repo string, code int, args ...string) faultCase {
		return faultCase{name, func(t *testing.T) func(*testing.T) {
			_, d := small(repo + ":1")
			p := faultproxy.Start(t, reg.Host)
			storeDir := t.TempDir()
			prePull(t, storeDir, p.Host+"/"+repo+":1", d)
			state := snapshot(t, storeDir)
			p.Add(faultproxy.Rule{Path: faultproxy.Manifests, Fault: faultproxy.Status(code)})
			before := p.Count("", nil)
			run := startPull(t, storeDir, append(args, p.Host+"/"+repo+":1")...)
			return func(t *testing.T) {
				r, out := run.wait(t)
				if len(args) == 0 {
					expectFallback(t, r, out, d)
				} else {
					expectFailed(t, r, out, p.Host+"/"+repo+":1", fmt.Sprint(code), "try again later")
				}
				if n := p.Count("HEAD", faultproxy.ManifestsByTag); n != 5 {
					t.Errorf("%d HEADs, want 1 before the fault and 4 attempts:\n%s", n, p)
				}
				// The pre-pull taught freshpull that the registry
				// needs no auth, so there is no ping.
				if n := p.Count("", nil) - before; n != 4 {
					t.Errorf("%d requests, want 4 HEADs (no ping, no GET: a failing registry is not a HEAD-less one):\n%s", n, p)
				}
				checkUnchanged(t, storeDir, state)
			}
		}}
	}
	runFaultCases(t, []faultCase{
		manifestCase("500 on manifests, newer, local copy", "m500", 500),
		manifestCase("500 on manifests, newer --strict", "m500s", 500, "--strict"),
		manifestCase("503 on manifests, always", "m503", 503, "--policy", "always"),
		{"502 on the manifest by digest, always, tag moved", func(t *testing.T) func(*testing.T) {
			_, old := small("m502:1")
			p := faultproxy.Start(t, reg.Host)
			storeDir := t.TempDir()
			prePull(t, storeDir, p.Host+"/m502:1", old)
			state := snapshot(t, storeDir)
			_, moved := small("m502:1")
			p.Add(faultproxy.Rule{Method: "GET", Path: faultproxy.ManifestsByDigest, Fault: faultproxy.Status(502)})
			run := startPull(t, storeDir, "--policy", "always", p.Host+"/m502:1")
			return func(t *testing.T) {
				r, out := run.wait(t)
				expectFailed(t, r, out, moved.String(), "502", "try again later")
				if n := p.Count("GET", faultproxy.Digest(moved)); n != 4 {
					t.Errorf("manifest GET %d times, want 4 attempts:\n%s", n, p)
				}
				checkUnchanged(t, storeDir, state)
			}
		}},
		{"503 on a layer, missing", func(t *testing.T) func(*testing.T) {
			img, _ := small("b503:1")
			l := layer(t, img, 0)
			p := faultproxy.Start(t, reg.Host)
			storeDir, state := withOther(t, p)
			p.Add(faultproxy.Rule{Method: "GET", Path: faultproxy.Digest(l), Fault: faultproxy.Status(503)})
			run := startPull(t, storeDir, "--policy", "missing", p.Host+"/b503:1")
			return func(t *testing.T) {
				r, out := run.wait(t)
				expectFailed(t, r, out, l.String(), "503", "try again later")
				if n := p.Count("GET", faultproxy.Digest(l)); n != 4 {
					t.Errorf("layer GET %d times, want 4 attempts:\n%s", n, p)
				}
				checkNothingOf(t, storeDir, state, l.String())
			}
		}},
	})
}

// A connection reset, a truncated body or a stalled body part-way through
// a large layer: the download continues with a Range request from the
// byte where it broke, and the whole layer is verified.
func TestFaultResume(t *testing.T) {
	reg := testregistry.Start(t)
	const mb = 1 << 20
	resumeCase := func(name, repo string, fault faultproxy.Fault, times int, wantRanges []int64, args ...string) faultCase {
		return faultCase{name, func(t *testing.T) func(*testing.T) {
			img := testregistry.Image(t, 1, 4*mb, host)
			d := testregistry.Push(t, reg.Ref(repo+":1"), img)
			l := layer(t, img, 0)
			p := faultproxy.Start(t, reg.Host)
			p.Add(faultproxy.Rule{Method: "GET", Path: faultproxy.Digest(l), First: times, Fault: fault})
			storeDir := t.TempDir()
			run := startPull(t, storeDir, append(args, p.Host+"/"+repo+":1")...)
			return func(t *testing.T) {
				r, out := run.wait(t)
				expectPulled(t, r, out, d)
				var want []string
				for _, at := range wantRanges {
					want = append(want, fmt.Sprintf("bytes=%d-", at))
				}
				if got := p.Ranges(faultproxy.Digest(l)); !slices.Equal(got, want) {
					t.Errorf("Range requests %q, want %q:\n%s", got, want, p)
				}
				if n := p.Count("GET", faultproxy.Digest(l)); n != 1+len(wantRanges) {
					t.Errorf("layer GET %d times, want %d:\n%s", n, 1+len(wantRanges), p)
				}
				checkBlob(t, storeDir, l.String())
				checkNoTemp(t, storeDir)
			}
		}}
	}
	runFaultCases(t, []faultCase{
		resumeCase("reset, newer", "reset", faultproxy.Reset(3*mb/2), 1, []int64{3 * mb / 2}),
		resumeCase("reset twice, always", "reset2", faultproxy.Reset(mb), 2, []int64{mb, 2 * mb}, "--policy", "always"),
		resumeCase("truncated, missing", "trunc", faultproxy.Truncate(mb, true), 1, []int64{mb}, "--policy", "missing"),
		resumeCase("truncated without Content-Length", "trunc-nolen", faultproxy.Truncate(3*mb, false), 1, []int64{3 * mb}),
		resumeCase("stalled, --timeout 3s", "stall", faultproxy.Stall(2*mb), 1, []int64{2 * mb}, "--timeout", "3s"),
	})
}

// HEAD on manifests answered 405, or without Docker-Content-Digest: the
// tag is resolved with one GET, whose body is the manifest (not fetched a
// second time), and newer still tells a moved tag from an unchanged one.
func TestFaultHeadFallback(t *testing.T) {
	reg := testregistry.Start(t)
	for _, c := range []struct {
		name, repo string
		fault      faultproxy.Fault
	}{
		{"405", "head405", faultproxy.Status(405)},
		{"no Docker-Content-Digest", "headnodigest", faultproxy.DropHeader("Docker-Content-Digest")},
	} {
		t.Run(c.name, func(t *testing.T) {
			repo := c.repo
			old := testregistry.Push(t, reg.Ref(repo+":1"), testregistry.Image(t, 2, 2048, host))
			p := faultproxy.Start(t, reg.Host)
			p.Add(faultproxy.Rule{Method: "HEAD", Path: faultproxy.Manifests, Fault: c.fault})
			ref := p.Host + "/" + repo + ":1"
			storeDir := t.TempDir()
			step := func(wantAction string, want v1.Hash, wantBlobs int, args ...string) {
				t.Helper()
				tags, digests, blobs := p.Count("GET", faultproxy.ManifestsByTag), p.Count("GET", faultproxy.ManifestsByDigest), p.Count("GET", faultproxy.Blobs)
				r := pullOne(t, storeDir, 0, append(args, ref)...)
				if r.Action != wantAction || r.Digest != want.String() {
					t.Errorf("pull %q = %s %s, want %s %s", args, r.Action, r.Digest, wantAction, want)
				}
				if n := p.Count("GET", faultproxy.ManifestsByTag) - tags; n != 1 {
					t.Errorf("pull %q: %d GETs of the tag, want 1:\n%s", args, n, p)
				}
				if n := p.Count("GET", faultproxy.ManifestsByDigest) - digests; n != 0 {
					t.Errorf("pull %q: manifest fetched again by digest after the GET of the tag:\n%s", args, p)
				}
				if n := p.Count("GET", faultproxy.Blobs) - blobs; n != wantBlobs {
					t.Errorf("pull %q: %d blob GETs, want %d:\n%s", args, n, wantBlobs, p)
				}
			}
			step("pulled", old, 3)
			step("up-to-date", old, 0)
			moved := testregistry.Push(t, reg.Ref(repo+":1"), testregistry.Image(t, 2, 2048, host))
			step("pulled", moved, 3)
			step("pulled", moved, 0, "--policy", "always")
		})
	}
}

// Bytes that do not match their digest are rejected: nothing of them is
// stored, the pull fails and the error names the digest.
func TestFaultCorrupt(t *testing.T) {
	reg := testregistry.Start(t)
	runFaultCases(t, []faultCase{
		{"layer", func(t *testing.T) func(*testing.T) {
			img := testregistry.Image(t, 2, 100<<10, host)
			testregistry.Push(t, reg.Ref("corrupt-layer:1"), img)
			other := testregistry.Push(t, reg.Ref("fine:1"), testregistry.Image(t, 1, 1024, host))
			l := layer(t, img, 1)
			p := faultproxy.Start(t, reg.Host)
			storeDir := t.TempDir()
			prePull(t, storeDir, p.Host+"/fine:1", other)
			state := snapshot(t, storeDir)
			p.Add(faultproxy.Rule{Method: "GET", Path: faultproxy.Digest(l), Fault: faultproxy.Corrupt()})
			run := startPull(t, storeDir, "--policy", "always", p.Host+"/corrupt-layer:1")
			return func(t *testing.T) {
				r, out := run.wait(t)
				expectFailed(t, r, out, l.String())
				checkNothingOf(t, storeDir, state, l.String())
			}
		}},
		{"manifest", func(t *testing.T) func(*testing.T) {
			old := testregistry.Push(t, reg.Ref("corrupt-manifest:1"), testregistry.Image(t, 1, 1024, host))
			p := faultproxy.Start(t, reg.Host)
			storeDir := t.TempDir()
			prePull(t, storeDir, p.Host+"/corrupt-manifest:1", old)
			state := snapshot(t, storeDir)
			moved := testregistry.Push(t, reg.Ref("corrupt-manifest:1"), testregistry.Image(t, 1, 1024, host))
			p.Add(faultproxy.Rule{Method: "GET", Path: faultproxy.ManifestsByDigest, Fault: faultproxy.Corrupt()})
			run := startPull(t, storeDir, p.Host+"/corrupt-manifest:1")
			return func(t *testing.T) {
				r, out := run.wait(t)
				expectFailed(t, r, out, moved.String())
				checkUnchanged(t, storeDir, state)
			}
		}},
	})
}

// A registry that accepts the connection and never answers: --timeout
// bounds the wait; newer falls back to the local copy with a warning,
// --strict and always fail.
func TestFaultNoAnswer(t *testing.T) {
	reg := testregistry.Start(t)
	img := testregistry.Image(t, 1, 1024, host)
	d := testregistry.Push(t, reg.Ref("silent:1"), img)
	other := testregistry.Push(t, reg.Ref("other:1"), testregistry.Image(t, 1, 1024, host))
	hangCase := func(name string, rule faultproxy.Rule, args ...string) faultCase {
		return faultCase{name, func(t *testing.T) func(*testing.T) {
			p := faultproxy.Start(t, reg.Host)
			storeDir := t.TempDir()
			prePull(t, storeDir, p.Host+"/silent:1", d)
			state := snapshot(t, storeDir)
			p.Add(rule)
			before, gets := p.Count("", nil), p.Count("GET", faultproxy.Manifests)
			run := startPull(t, storeDir, append([]string{"--timeout", "2s"}, append(args, p.Host+"/silent:1")...)...)
			return func(t *testing.T) {
				r, out := run.wait(t)
				if len(args) == 0 {
					expectFallback(t, r, out, d)
				} else {
					expectFailed(t, r, out, p.Host, "timeout")
				}
				if p.Count("GET", faultproxy.Manifests) != gets {
					t.Errorf("a GET of the manifest after the HEAD timed out:\n%s", p)
				}
				if p.Count("", nil)-before > 2 {
					t.Errorf("timeouts retried:\n%s", p)
				}
				checkUnchanged(t, storeDir, state)
			}
		}}
	}
	silent := faultproxy.Rule{Path: faultproxy.Any, Fault: faultproxy.Hang()}
	silentHEAD := faultproxy.Rule{Method: "HEAD", Path: faultproxy.Manifests, Fault: faultproxy.Hang()}
	cases := []faultCase{
		hangCase("whole registry, newer", silent),
		hangCase("whole registry, newer --strict", silent, "--strict"),
		hangCase("HEAD, newer", silentHEAD),
		hangCase("HEAD, always", silentHEAD, "--policy", "always"),
		{"blob, not present", func(t *testing.T) func(*testing.T) {
			p := faultproxy.Start(t, reg.Host)
			storeDir := t.TempDir()
			prePull(t, storeDir, p.Host+"/other:1", other)
			state := snapshot(t, storeDir)
			l := layer(t, img, 0)
			p.Add(faultproxy.Rule{Method: "GET", Path: faultproxy.Digest(l), Fault: faultproxy.Hang()})
			run := startPull(t, storeDir, "--timeout", "2s", p.Host+"/silent:1")
			return func(t *testing.T) {
				r, out := run.wait(t)
				expectFailed(t, r, out, l.String(), "timeout")
				checkNothingOf(t, storeDir, state, l.String())
			}
		}},
		{"manifest body stalls, tag moved", func(t *testing.T) func(*testing.T) {
			img := testregistry.Image(t, 1, 1024, host)
			old := testregistry.Push(t, reg.Ref("stalled:1"), img)
			p := faultproxy.Start(t, reg.Host)
			storeDir := t.TempDir()
			prePull(t, storeDir, p.Host+"/stalled:1", old)
			state := snapshot(t, storeDir)
			moved := testregistry.Push(t, reg.Ref("stalled:1"), testregistry.Image(t, 1, 1024, host))
			p.Add(faultproxy.Rule{Method: "GET", Path: faultproxy.Digest(moved), Fault: faultproxy.Stall(100)})
			run := startPull(t, storeDir, "--timeout", "2s", p.Host+"/stalled:1")
			return func(t *testing.T) {
				r, out := run.wait(t)
				expectFailed(t, r, out, moved.String(), "timeout")
				checkUnchanged(t, storeDir, state)
			}
		}},
		{"slow but within --timeout", func(t *testing.T) func(*testing.T) {
			p := faultproxy.Start(t, reg.Host)
			p.Add(faultproxy.Rule{Path: faultproxy.Any, Fault: faultproxy.Delay(300 * time.Millisecond)})
			run := startPull(t, t.TempDir(), "--timeout", "10s", p.Host+"/silent:1")
			return func(t *testing.T) {
				r, out := run.wait(t)
				expectPulled(t, r, out, d)
				if p.Count("GET", faultproxy.Blobs) != 2 {
					t.Errorf("slow answers retried:\n%s", p)
				}
			}
		}},
	}
	runFaultCases(t, cases)

	// The default is long enough for a slow registry, short enough that a
	// silent one does not hold a build for long.
	help := fp(t, "pull", "--help")
	m := regexp.MustCompile(`--timeout duration .*\(default ([^)]+)\)`).FindStringSubmatch(help.stdout)
	if m == nil {
		t.Fatalf("pull --help shows no default for --timeout:\n%s", help.stdout)
	}
	if def, err := time.ParseDuration(m[1]); err != nil || def < 5*time.Second || def > 2*time.Minute {
		t.Errorf("--timeout default %q, want between 5s and 2m", m[1])
	}
}
