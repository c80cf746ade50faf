package dockerfile

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// Digests used in the Dockerfiles of the tests.
var (
	dA = digest.FromString("a")
	dB = digest.FromString("b")
	dC = digest.FromString("c")
)

// wantRef is what a test expects of a Ref. skip and noEdit are substrings
// of the reasons; token is Src[Start:End], "" when the reference cannot be
// rewritten.
type wantRef struct {
	line   int
	instr  string
	stage  string
	text   string
	value  string
	token  string
	arg    string
	plat   string
	skip   string
	noEdit string
	pinned bool
	dgOnly bool
}

func TestParse(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		buildArgs map[string]string
		want      []wantRef
	}{
		{
			name: "single FROM",
			src:  "FROM ubuntu:22.04\nRUN true\n",
			want: []wantRef{{line: 1, instr: "FROM", stage: "0", text: "ubuntu:22.04", value: "ubuntu:22.04", token: "ubuntu:22.04"}},
		},
		{
			name: "multi-stage with AS names reused in COPY --from, case-insensitively",
			src: `FROM golang:1.22 AS Build
RUN go build
FROM alpine:3.19
COPY --from=build /out /out
COPY --from=BUILD /out /out2
COPY --from=nginx:1.25 /etc/nginx /etc/nginx
`,
			want: []wantRef{
				{line: 1, instr: "FROM", stage: "Build", text: "golang:1.22", value: "golang:1.22", token: "golang:1.22"},
				{line: 3, instr: "FROM", stage: "1", text: "alpine:3.19", value: "alpine:3.19", token: "alpine:3.19"},
				{line: 6, instr: "COPY --from", stage: "1", text: "nginx:1.25", value: "nginx:1.25", token: "nginx:1.25"},
			},
		},
		{
			name: "numeric --from is a stage index",
			src:  "FROM alpine:3.19\nFROM debian:12\nCOPY --from=0 /a /b\nRUN --mount=from=0,target=/x true\n",
			want: []wantRef{
				{line: 1, instr: "FROM", stage: "0", text: "alpine:3.19", value: "alpine:3.19", token: "alpine:3.19"},
				{line: 2, instr: "FROM", stage: "1", text: "debian:12", value: "debian:12", token: "debian:12"},
			},
		},
		{
			name: "FROM an earlier stage is no image, FROM a later stage's name is",
			src:  "FROM alpine:3.19 AS base\nFROM BASE AS test\nFROM later\nFROM busybox AS later\n",
			want: []wantRef{
				{line: 1, instr: "FROM", stage: "base", text: "alpine:3.19", value: "alpine:3.19", token: "alpine:3.19"},
				{line: 3, instr: "FROM", stage: "2", text: "later", value: "later", token: "later"},
				{line: 4, instr: "FROM", stage: "later", text: "busybox", value: "busybox", token: "busybox"},
			},
		},
		{
			name: "scratch is no image",
			src:  "FROM scratch\nCOPY --from=scratch / /\nFROM Scratch AS x\n",
		},
		{
			name: "--platform",
			src:  "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nFROM --platform=linux/arm64 alpine:3.19\n",
			want: []wantRef{
				{line: 1, instr: "FROM", stage: "build", plat: "$BUILDPLATFORM", text: "golang:1.22", value: "golang:1.22", token: "golang:1.22"},
				{line: 2, instr: "FROM", stage: "1", plat: "linux/arm64", text: "alpine:3.19", value: "alpine:3.19", token: "alpine:3.19"},
			},
		},
		{
			name: "RUN --mount from an image, a stage, and with the key in capitals",
			src: `FROM alpine:3.19 AS tools
FROM debian:12
RUN --mount=type=cache,from=busybox:1.36,target=/cache \
    --mount=type=bind,from=tools,target=/tools \
    --mount=type=bind,FROM=registry.example.com/certs:2,target=/certs true
RUN --mount=type=cache,target=/root/.cache go build
`,
			want: []wantRef{
				{line: 1, instr: "FROM", stage: "tools", text: "alpine:3.19", value: "alpine:3.19", token: "alpine:3.19"},
				{line: 2, instr: "FROM", stage: "1", text: "debian:12", value: "debian:12", token: "debian:12"},
				{line: 3, instr: "RUN --mount", stage: "1", text: "busybox:1.36", value: "busybox:1.36", token: "busybox:1.36"},
				{line: 5, instr: "RUN --mount", stage: "1", text: "registry.example.com/certs:2", value: "registry.example.com/certs:2", token: "registry.example.com/certs:2"},
			},
		},
		{
			name: "RUN --mount options in quotes",
			src:  "FROM debian:12\nRUN --mount=\"type=bind,from=busybox:1,target=/x\" true\nRUN --mount=type=bind,\"from=busybox:2\",target=/y true\n",
			want: []wantRef{
				{line: 1, instr: "FROM", stage: "0", text: "debian:12", value: "debian:12", token: "debian:12"},
				{line: 2, instr: "RUN --mount", stage: "0", text: "busybox:1", value: "busybox:1", token: "busybox:1"},
				{line: 3, instr: "RUN --mount", stage: "0", text: "busybox:2", value: "busybox:2", noEdit: "quotes"},
			},
		},
		{
			name: "heredocs: their content is no instruction, lines after them count right",
			src: `FROM alpine:3.19
RUN <<EOF
FROM notanimage:1
COPY --from=nor:this / /
