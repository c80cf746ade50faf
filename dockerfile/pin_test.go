package dockerfile

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/freshpull/freshpull/reference"
)

var dD = digest.FromString("d")

// registry is a fake Resolver: a map from tag to digest that records what
// it was asked.
type registry struct {
	t     *testing.T
	tags  map[string]digest.Digest // canonical reference → digest
	calls map[string]int
}

func newRegistry(t *testing.T, tags map[string]digest.Digest) *registry {
	r := &registry{t: t, tags: map[string]digest.Digest{}, calls: map[string]int{}}
	for k, d := range tags {
		r.move(k, d)
	}
	return r
}

// move points tag at d, as a push of a new image under the same tag does.
func (r *registry) move(tag string, d digest.Digest) {
	ref, err := reference.Parse(tag)
	if err != nil {
		r.t.Fatal(err)
	}
	r.tags[ref.String()] = d
}

func (r *registry) Resolve(_ context.Context, ref reference.Reference) (digest.Digest, error) {
	if ref.Tag() == "" || ref.Digest() != "" {
		r.t.Errorf("asked to resolve %s: want a tag and no digest", ref)
	}
	r.calls[ref.String()]++
	d, ok := r.tags[ref.String()]
	if !ok {
		return "", fmt.Errorf("%s: manifest unknown", ref.Familiar())
	}
	return d, nil
}

// writeDockerfile writes src to a Dockerfile in a new directory and parses it.
func writeDockerfile(t *testing.T, src string, mode os.FileMode, buildArgs map[string]string) *File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "Dockerfile")
	if err := os.WriteFile(path, []byte(src), mode); err != nil {
		t.Fatal(err)
	}
	f, err := ParseFile(path, buildArgs)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// row is the part of a Result a test compares; reason is a substring.
type row struct {
	line   int
	stage  string
	ref    string
	digest digest.Digest
	status Status
	reason string
}

func checkRows(t *testing.T, rep *Report, want []row) {
	t.Helper()
	if len(rep.Results) != len(want) {
		for _, r := range rep.Results {
			t.Logf("got %+v", r)
		}
		t.Fatalf("got %d results, want %d", len(rep.Results), len(want))
	}
	for i, w := range want {
		r := rep.Results[i]
		got := row{r.Line, r.Stage, r.Reference, r.Digest, r.Status, w.reason}
		if got != w || !strings.Contains(r.Reason, w.reason) || (w.reason == "") != (r.Reason == "") {
			t.Errorf("result %d:\n got %+v (reason %q)\nwant %+v", i, got, r.Reason, w)
		}
	}
}

func pin(t *testing.T, files []*File, mode Mode, res Resolver) *Report {
	t.Helper()
	rep, err := Pin(context.Background(), files, mode, res)
	if err != nil {
		t.Fatalf("%v: %v", mode, err)
	}
	return rep
}

// TestPinLifecycle is the life of a pinned Dockerfile: pin, the tag moves,
// check catches it, update fixes it, check is clean again.
func TestPinLifecycle(t *testing.T) {
	const src = `# syntax=docker/dockerfile:1
ARG BASE=registry.example.com/team/base:1.4
FROM ${BASE} AS build
RUN --mount=type=cache,target=/root/.cache,from=busybox:1.36 make
FROM ubuntu:22.04
COPY --from=build /out /out
`
	f := writeDockerfile(t, src, 0o640, nil)
	reg := newRegistry(t, map[string]digest.Digest{
		"registry.example.com/team/base:1.4": dA,
		"busybox:1.36":                       dB,
		"ubuntu:22.04":                       dC,
	})

	rep := pin(t, []*File{f}, ModeWrite, reg)
	checkRows(t, rep, []row{
		{2, "build", "registry.example.com/team/base:1.4", dA, StatusWritten, ""},
		{4, "build", "busybox:1.36", dB, StatusWritten, ""},
		{5, "1", "ubuntu:22.04", dC, StatusWritten, ""},
	})
	pinned := strings.NewReplacer(
		"base:1.4", "base:1.4@"+string(dA),
		"busybox:1.36", "busybox:1.36@"+string(dB),
		"ubuntu:22.04", "ubuntu:22.04@"+string(dC),
	).Replace(src)
	if got := readFile(t, f.Name); got != pinned {
		t.Fatalf("written file:\n%s\nwant:\n%s", got, pinned)
	}
	if fi, err := os.Stat(f.Name); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("file mode after write: %v, %v; want 0640", fi.Mode(), err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(f.Name)); len(entries) != 1 {
		t.Errorf("directory holds %d entries after write, want the Dockerfile only (no temp files)", len(entries))
	}
	if string(f.Src) != pinned || !f.Refs[2].Pinned() {
		t.Errorf("File not updated after write: Src %q", f.Src)
	}

	rep = pin(t, []*File{f}, ModeCheck, reg)
	checkRows(t, rep, []row{
		{2, "build", "registry.example.com/team/base:1.4@" + string(dA), dA, StatusCurrent, ""},
		{4, "build", "busybox:1.36@" + string(dB), dB, StatusCurrent, ""},
		{5, "1", "ubuntu:22.04@" + string(dC), dC, StatusCurrent, ""},
	})
	if rep.CheckFailed() {
		t.Error("CheckFailed after pinning, want false")
	}

	reg.move("ubuntu:22.04", dD)
	rep = pin(t, []*File{f}, ModeCheck, reg)
	checkRows(t, rep, []row{
		{2, "build", "registry.example.com/team/base:1.4@" + string(dA), dA, StatusCurrent, ""},
		{4, "build", "busybox:1.36@" + string(dB), dB, StatusCurrent, ""},
		{5, "1", "ubuntu:22.04@" + string(dC), dD, StatusStale, "tag ubuntu:22.04 now points at " + string(dD) + ", the file pins " + string(dC)},
	})
	if !rep.CheckFailed() {
		t.Error("CheckFailed = false with a stale pin, want true")
	}
	if got := readFile(t, f.Name); got != pinned {
		t.Fatalf("check changed the file:\n%s", got)
	}

	rep = pin(t, []*File{f}, ModeUpdate, reg)
	checkRows(t, rep, []row{
		{2, "build", "registry.example.com/team/base:1.4@" + string(dA), dA, StatusCurrent, ""},
		{4, "build", "busybox:1.36@" + string(dB), dB, StatusCurrent, ""},
		{5, "1", "ubuntu:22.04@" + string(dC), dD, StatusUpdated, "was " + string(dC)},
	})
	updated := strings.Replace(pinned, string(dC), string(dD), 1)
	if got := readFile(t, f.Name); got != updated {
		t.Fatalf("updated file:\n%s\nwant:\n%s", got, updated)
	}

	// A fresh parse, as a new CI run would do.
	f2, err := ParseFile(f.Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep = pin(t, []*File{f2}, ModeCheck, reg)
	if rep.CheckFailed() {
		t.Errorf("CheckFailed after update, want false: %+v", rep.Results)
	}
	if got := readFile(t, f.Name); got != updated {
		t.Fatalf("check changed the file:\n%s", got)
	}
}

func TestPinPrint(t *testing.T) {
	src := "ARG TAG=3.19\n" +
		"FROM alpine:${TAG}\n" +
		"FROM ubuntu:22.04@" + string(dA) + "\n" +
		"FROM debian@" + string(dB) + "\n" +
		"FROM golang:1.22 AS build\n" +
		"COPY --from=nginx:1.25 /a /b\n" +
		"COPY --from=ngi\\nx:1.25 /a /b\n"
	f := writeDockerfile(t, src, 0o644, nil)
	reg := newRegistry(t, map[string]digest.Digest{"golang:1.22": dC, "nginx:1.25": dD})
	rep := pin(t, []*File{f}, ModePrint, reg)
	checkRows(t, rep, []row{
		{2, "0", "alpine:${TAG}", "", StatusSkipped, "built from ARG TAG"},
		{3, "1", "ubuntu:22.04@" + string(dA), dA, StatusPinned, ""},
		{4, "2", "debian@" + string(dB), dB, StatusPinned, "pinned by digest only"},
		{5, "build", "golang:1.22", dC, StatusUnpinned, ""},
		{6, "build", "nginx:1.25", dD, StatusUnpinned, ""},
		{7, "build", "nginx:1.25", dD, StatusUnpinned, "written with quotes or escapes"},
	})
	// A pinned reference builds on its digest whatever the tag does: no
	// need to ask.
	if want := map[string]int{"docker.io/library/golang:1.22": 1, "docker.io/library/nginx:1.25": 1}; !maps.Equal(reg.calls, want) {
		t.Errorf("registry asked %v, want %v", reg.calls, want)
	}
	if got := readFile(t, f.Name); got != src {
		t.Errorf("print changed the file:\n%s", got)
	}
}

func TestPinCheck(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		want   []row
		failed bool
	}{
		{
			name:   "unpinned fails the check and shows the tag's digest",
			src:    "FROM alpine:3.19@" + string(dA) + "\nFROM golang:1.22\n",
			want:   []row{{1, "0", "alpine:3.19@" + string(dA), dA, StatusCurrent, ""}, {2, "1", "golang:1.22", dC, StatusUnpinned, "not pinned"}},
			failed: true,
		},
		{
			name: "pinned by digest only passes without asking the registry",
			src:  "FROM debian@" + string(dB) + "\n",
			want: []row{{1, "0", "debian@" + string(dB), dB, StatusPinned, "pinned by digest only"}},
		},
		{
			name: "skipped references are listed but do not fail the check",
			src:  "ARG TAG\nFROM alpine:3.19@" + string(dA) + "\nFROM golang:${TAG}\n",
			want: []row{{2, "0", "alpine:3.19@" + string(dA), dA, StatusCurrent, ""}, {3, "1", "golang:${TAG}", "", StatusSkipped, "ARG TAG has no default"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := writeDockerfile(t, tt.src, 0o644, nil)
			reg := newRegistry(t, map[string]digest.Digest{"alpine:3.19": dA, "golang:1.22": dC, "debian:latest": dD})
			rep := pin(t, []*File{f}, ModeCheck, reg)
			checkRows(t, rep, tt.want)
			if rep.CheckFailed() != tt.failed {
				t.Errorf("CheckFailed = %v, want %v", rep.CheckFailed(), tt.failed)
			}
			if reg.calls["docker.io/library/debian:latest"] != 0 {
				t.Error("a digest-only pin was resolved as debian:latest")
			}
		})
	}
}

func TestPinWriteSpelling(t *testing.T) {
	tests := []struct{ written, want string }{
		{"ubuntu:22.04", "ubuntu:22.04@" + string(dA)},
		{"ubuntu", "ubuntu:latest@" + string(dA)},
		{"docker.io/library/ubuntu:22.04", "docker.io/library/ubuntu:22.04@" + string(dA)},
		// The name stays as written, half-qualified or not.
		{"library/ubuntu:22.04", "library/ubuntu:22.04@" + string(dA)},
		{"docker.io/ubuntu:22.04", "docker.io/ubuntu:22.04@" + string(dA)},
		{"index.docker.io/library/ubuntu", "index.docker.io/library/ubuntu:latest@" + string(dA)},
		{"localhost:5000/team/app:1.0", "localhost:5000/team/app:1.0@" + string(dA)},
		{"ghcr.io/org/app", "ghcr.io/org/app:latest@" + string(dA)},
	}
	for _, tt := range tests {
		t.Run(tt.written, func(t *testing.T) {
			f := writeDockerfile(t, "FROM "+tt.written+" AS x\n", 0o644, nil)
			reg := newRegistry(t, map[string]digest.Digest{
				"ubuntu:22.04": dA, "ubuntu:latest": dA, "localhost:5000/team/app:1.0": dA, "ghcr.io/org/app:latest": dA,
			})
			pin(t, []*File{f}, ModeWrite, reg)
			if got, want := readFile(t, f.Name), "FROM "+tt.want+" AS x\n"; got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

func TestPinResolvesEachTagOnce(t *testing.T) {
	a := writeDockerfile(t, "ARG BASE=alpine:3.19\nFROM ${BASE} AS a\nFROM $BASE\nCOPY --from=alpine:3.19 / /\n", 0o644, nil)
	b := writeDockerfile(t, "FROM alpine:3.19\n", 0o644, nil)
	reg := newRegistry(t, map[string]digest.Digest{"alpine:3.19": dA})
	rep := pin(t, []*File{a, b}, ModeWrite, reg)
	if n := reg.calls["docker.io/library/alpine:3.19"]; n != 1 {
		t.Errorf("alpine:3.19 resolved %d times, want once", n)
	}
	for _, r := range rep.Results {
		if r.Status != StatusWritten || r.Digest != dA {
			t.Errorf("%s:%d: %s %s, want written %s", r.File, r.Line, r.Status, r.Digest, dA)
		}
	}
	want := "ARG BASE=alpine:3.19@" + string(dA) + "\nFROM ${BASE} AS a\nFROM $BASE\nCOPY --from=alpine:3.19@" + string(dA) + " / /\n"
	if got := readFile(t, a.Name); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestPinResolveError(t *testing.T) {
	f := writeDockerfile(t, "FROM alpine:3.19\nFROM example.com/nope:1\n", 0o644, nil)
	reg := newRegistry(t, map[string]digest.Digest{"alpine:3.19": dA})
	rep, err := Pin(context.Background(), []*File{f}, ModeWrite, reg)
	if err == nil || !strings.Contains(err.Error(), f.Name+":2: resolve example.com/nope:1: example.com/nope:1: manifest unknown") {
		t.Fatalf("err = %v, want it to name the file, line and reference", err)
	}
	checkRows(t, rep, []row{
		{1, "0", "alpine:3.19", dA, StatusWritten, ""},
		{2, "1", "example.com/nope:1", "", StatusError, "manifest unknown"},
	})
	if got, want := readFile(t, f.Name), "FROM alpine:3.19@"+string(dA)+"\nFROM example.com/nope:1\n"; got != want {
		t.Errorf("the reference that resolved was not pinned: got %q, want %q", got, want)
	}
}

func TestPinRejectsInvalidDigest(t *testing.T) {
	f := writeDockerfile(t, "FROM alpine:3.19\n", 0o644, nil)
	bad := ResolverFunc(func(context.Context, reference.Reference) (digest.Digest, error) { return "sha256:short", nil })
	rep, err := Pin(context.Background(), []*File{f}, ModeWrite, bad)
	if err == nil || rep.Results[0].Status != StatusError {
		t.Fatalf("err = %v, status %s; want an error for an invalid digest", err, rep.Results[0].Status)
	}
	if got := readFile(t, f.Name); got != "FROM alpine:3.19\n" {
		t.Errorf("file changed: %q", got)
	}
}

func TestPinRefusesFileChangedSinceRead(t *testing.T) {
	f := writeDockerfile(t, "FROM alpine:3.19\n", 0o644, nil)
	const edited = "FROM alpine:3.19\nRUN echo edited meanwhile\n"
	if err := os.WriteFile(f.Name, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := Pin(context.Background(), []*File{f}, ModeWrite, newRegistry(t, map[string]digest.Digest{"alpine:3.19": dA}))
	if err == nil || !strings.Contains(err.Error(), "changed since it was read") {
		t.Fatalf("err = %v, want the file to be refused", err)
	}
	if rep.Results[0].Status != StatusError {
		t.Errorf("status %s, want error", rep.Results[0].Status)
	}
	if got := readFile(t, f.Name); got != edited {
		t.Errorf("file overwritten: %q", got)
	}
}

func TestPinWriteThroughSymlink(t *testing.T) {
	f := writeDockerfile(t, "FROM alpine:3.19\n", 0o644, nil)
	link := filepath.Join(filepath.Dir(f.Name), "Containerfile")
	if err := os.Symlink("Dockerfile", link); err != nil {
		t.Fatal(err)
	}
	lf, err := ParseFile(link, nil)
	if err != nil {
		t.Fatal(err)
	}
	pin(t, []*File{lf}, ModeWrite, newRegistry(t, map[string]digest.Digest{"alpine:3.19": dA}))
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("%s is no longer a symbolic link (%v)", link, err)
	}
	if got, want := readFile(t, f.Name), "FROM alpine:3.19@"+string(dA)+"\n"; got != want {
		t.Errorf("link target: got %q, want %q", got, want)
	}
}

func TestPinNotRewritable(t *testing.T) {
	src := "ARG BASE=alpine:3.19\nFROM ${BASE}\nFROM debian\\:12\n"
	f := writeDockerfile(t, src, 0o644, map[string]string{"BASE": "alpine:3.18@" + string(dA)})
	reg := newRegistry(t, map[string]digest.Digest{"alpine:3.18": dB, "debian:12": dC})

	rep := pin(t, []*File{f}, ModeWrite, reg)
	checkRows(t, rep, []row{
		{2, "0", "alpine:3.18@" + string(dA), dA, StatusPinned, ""},
		{3, "1", "debian:12", dC, StatusSkipped, "quotes or escapes"},
	})
	rep = pin(t, []*File{f}, ModeUpdate, reg)
	checkRows(t, rep, []row{
		{2, "0", "alpine:3.18@" + string(dA), dB, StatusStale, "build arg BASE"},
		{3, "1", "debian:12", dC, StatusUnpinned, "--update only refreshes pins"},
	})
	if !rep.CheckFailed() {
		t.Error("CheckFailed = false with a stale pin left in place")
	}
	if got := readFile(t, f.Name); got != src {
		t.Errorf("file changed: %q", got)
	}
}

func TestPinCancelled(t *testing.T) {
	f := writeDockerfile(t, "FROM alpine:3.19\n", 0o644, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	reg := newRegistry(t, map[string]digest.Digest{"alpine:3.19": dA})
	if _, err := Pin(ctx, []*File{f}, ModeWrite, reg); err != context.Canceled {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if len(reg.calls) != 0 || readFile(t, f.Name) != "FROM alpine:3.19\n" {
		t.Errorf("cancelled Pin asked the registry %v or wrote the file", reg.calls)
	}
}

func TestPinUnknownMode(t *testing.T) {
	if _, err := Pin(context.Background(), nil, Mode(7), nil); err == nil || !strings.Contains(err.Error(), "unknown mode Mode(7)") {
		t.Fatalf("err = %v, want unknown mode", err)
	}
}

func TestResultJSON(t *testing.T) {
	b, err := json.Marshal(Result{File: "Dockerfile", Line: 3, Stage: "build", Reference: "alpine:3.19", Digest: dA, Status: StatusStale, Reason: "moved"})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if keys := slices.Sorted(maps.Keys(m)); !slices.Equal(keys, []string{"digest", "file", "line", "reason", "reference", "stage", "status"}) {
		t.Errorf("JSON keys %v", keys)
	}
	if m["status"] != "stale" || m["digest"] != string(dA) || m["line"] != 3.0 {
		t.Errorf("JSON %s", b)
	}
}

// A write keeps the file's owner and its special bits: root pinning a
// user's Dockerfile in CI must not take it over.
func TestWriteKeepsOwnerAndMode(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing a file's owner needs root (CI runs as root)")
	}
	f := writeDockerfile(t, "FROM base:1.4\n", 0o640, nil)
	if err := os.Chown(f.Name, 1234, 5678); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f.Name, 0o640|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	res := ResolverFunc(func(context.Context, reference.Reference) (digest.Digest, error) { return dA, nil })
	if _, err := Pin(context.Background(), []*File{f}, ModeWrite, res); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(f.Name)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 1234 || st.Gid != 5678 || fi.Mode()&(os.ModePerm|os.ModeSetgid) != 0o640|os.ModeSetgid {
		t.Errorf("after write: owner %d:%d mode %v; want 1234:5678 and 0640 with setgid", st.Uid, st.Gid, fi.Mode())
	}
	if !strings.Contains(readFile(t, f.Name), "@"+string(dA)) {
		t.Error("file not pinned")
	}
}
