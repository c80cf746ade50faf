package dockerfile

import (
	"fmt"
	"strings"
	"testing"
)

// TestRewriteForBuild replaces every image word a build uses, including a
// FROM made of one ARG (the FROM word changes, not the ARG), a FROM made of
// ARGs and text, COPY --from and RUN --mount from=, and leaves stages,
// scratch and everything else alone.
func TestRewriteForBuild(t *testing.T) {
	src := `ARG BASE=reg.example/base:1
ARG V=3
FROM ${BASE} AS build
RUN echo $BASE
FROM "tools:${V}" AS tools
FROM scratch AS empty
FROM build
COPY --from=build /a /a
COPY --from=other:2 /b /b
RUN --mount=type=bind,from=mnt:4,target=/m true
`
	f, err := Parse("Dockerfile", []byte(src), map[string]string{"V": "5"})
	if err != nil {
		t.Fatal(err)
	}
	var builds []string
	for _, r := range f.Refs {
		builds = append(builds, r.Build)
	}
	if got, want := strings.Join(builds, " "), "reg.example/base:1 tools:5 other:2 mnt:4"; got != want {
		t.Errorf("Build values %q, want %q", got, want)
	}
	var stages []string
	for _, s := range f.Stages {
		stages = append(stages, fmt.Sprintf("%s<%s#%d", s.Name, s.Base, s.Ref))
	}
	if got, want := strings.Join(stages, " "), "build<reg.example/base:1#0 tools<tools:5#1 empty<scratch#-1 <build#-1"; got != want {
		t.Errorf("stages %q, want %q", got, want)
	}
	out, err := f.Rewrite(func(i int, _ Ref) string { return fmt.Sprintf("oci:/l:img%d", i) })
	if err != nil {
		t.Fatal(err)
	}
	want := `ARG BASE=reg.example/base:1
ARG V=3
FROM oci:/l:img0 AS build
RUN echo $BASE
FROM oci:/l:img1 AS tools
FROM scratch AS empty
FROM build
COPY --from=build /a /a
COPY --from=oci:/l:img2 /b /b
RUN --mount=type=bind,from=oci:/l:img3,target=/m true
`
	if string(out) != want {
		t.Errorf("rewritten:\n%s\nwant:\n%s", out, want)
	}
	if string(f.Src) != src {
		t.Error("Rewrite changed the parsed source")
	}
}

// TestRewriteUnlocatable refuses a reference whose word a line
// continuation splits, naming the line.
func TestRewriteUnlocatable(t *testing.T) {
	f, err := Parse("Dockerfile", []byte("FROM ubuntu:\\\n22.04\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Rewrite(func(int, Ref) string { return "oci:/l:img0" })
	if err == nil || !strings.Contains(err.Error(), "Dockerfile:1: FROM") {
		t.Fatalf("err = %v, want one naming Dockerfile:1: FROM", err)
	}
}

// TestStageNamedByArgAndText: a FROM made of an ARG and text that names an
// earlier stage is a stage, not an image.
func TestStageNamedByArgAndText(t *testing.T) {
	f, err := Parse("Dockerfile", []byte("ARG S=bu\nFROM img:1 AS build\nFROM ${S}ild\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Refs) != 1 || f.Stages[1].Ref != -1 || f.Stages[1].Base != "build" {
		t.Errorf("refs %+v stages %+v, want only img:1 and a stage on build", f.Refs, f.Stages)
	}
}
