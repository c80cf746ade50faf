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
EOF
COPY <<-EOT /etc/motd
	FROM still:not
	EOT
FROM debian:12
`,
			want: []wantRef{
				{line: 1, instr: "FROM", stage: "0", text: "alpine:3.19", value: "alpine:3.19", token: "alpine:3.19"},
				{line: 9, instr: "FROM", stage: "1", text: "debian:12", value: "debian:12", token: "debian:12"},
			},
		},
		{
			name: "line continuations, comment lines and empty lines inside them",
			src:  "FROM \\\n  # the base\n\n    ubuntu:22.04 \\\n  AS base\nCOPY --link \\\n\t--from=nginx:1.25 \\\n\t/a /b\n",
			want: []wantRef{
				{line: 4, instr: "FROM", stage: "base", text: "ubuntu:22.04", value: "ubuntu:22.04", token: "ubuntu:22.04"},
				{line: 7, instr: "COPY --from", stage: "base", text: "nginx:1.25", value: "nginx:1.25", token: "nginx:1.25"},
			},
		},
		{
			name: "a continuation that splits the reference",
			src:  "FROM ubu\\\nntu:22.04\n",
			want: []wantRef{{line: 1, instr: "FROM", stage: "0", text: "ubuntu:22.04", value: "ubuntu:22.04", noEdit: "line continuation"}},
		},
		{
			name: "lowercase and mixed-case instructions",
			src:  "from alpine:3.19 as Base\ncopy --from=nginx:1.25 /a /b\nRun --mount=from=busybox:1,target=/x true\nFrom base\n",
			want: []wantRef{
				{line: 1, instr: "FROM", stage: "Base", text: "alpine:3.19", value: "alpine:3.19", token: "alpine:3.19"},
				{line: 2, instr: "COPY --from", stage: "Base", text: "nginx:1.25", value: "nginx:1.25", token: "nginx:1.25"},
				{line: 3, instr: "RUN --mount", stage: "Base", text: "busybox:1", value: "busybox:1", token: "busybox:1"},
			},
		},
		{
			name: "already pinned, and pinned by digest only",
			src:  "FROM ubuntu:22.04@" + string(dA) + "\nFROM alpine@" + string(dB) + "\n",
			want: []wantRef{
				{line: 1, instr: "FROM", stage: "0", text: "ubuntu:22.04@" + string(dA), value: "ubuntu:22.04@" + string(dA), token: "ubuntu:22.04@" + string(dA), pinned: true},
				{line: 2, instr: "FROM", stage: "1", text: "alpine@" + string(dB), value: "alpine@" + string(dB), token: "alpine@" + string(dB), pinned: true, dgOnly: true},
			},
		},
		{
			name: "FROM ${BASE} and $BASE: the token is the ARG's default",
			src:  "# base image\nARG BASE=registry.example.com/team/img:1.4\nFROM ${BASE} AS one\nFROM $BASE\n",
			want: []wantRef{
				{line: 2, instr: "FROM", stage: "one", text: "${BASE}", arg: "BASE", value: "registry.example.com/team/img:1.4", token: "registry.example.com/team/img:1.4"},
				{line: 2, instr: "FROM", stage: "1", text: "$BASE", arg: "BASE", value: "registry.example.com/team/img:1.4", token: "registry.example.com/team/img:1.4"},
			},
		},
		{
			name: "quoted ARG defaults, several ARGs on one line, FROM \"${BASE}\"",
			src:  "ARG A=\"alpine:3.19\" B='busybox:1.36' C=debian:12 D=$C\nFROM \"${A}\"\nFROM ${B}\nFROM ${C}\n",
			want: []wantRef{
				{line: 1, instr: "FROM", stage: "0", text: `"${A}"`, arg: "A", value: "alpine:3.19", token: "alpine:3.19"},
				{line: 1, instr: "FROM", stage: "1", text: "${B}", arg: "B", value: "busybox:1.36", token: "busybox:1.36"},
				{line: 1, instr: "FROM", stage: "2", text: "${C}", arg: "C", value: "debian:12", token: "debian:12"},
			},
		},
		{
			name: "ARG default after a line continuation",
			src:  "ARG GO=1.22 \\\n    BASE=golang:1.22\nFROM ${BASE}\n",
			want: []wantRef{{line: 2, instr: "FROM", stage: "0", text: "${BASE}", arg: "BASE", value: "golang:1.22", token: "golang:1.22"}},
		},
		{
			name: "a redeclared ARG: the last default wins, a bare redeclaration keeps it",
			src:  "ARG BASE=alpine:3.18\nARG BASE=alpine:3.19\nARG BASE\nFROM ${BASE}\n",
			want: []wantRef{{line: 2, instr: "FROM", stage: "0", text: "${BASE}", arg: "BASE", value: "alpine:3.19", token: "alpine:3.19"}},
		},
		{
			name:      "a build arg overrides the default; the file cannot hold the pin",
			src:       "ARG BASE=alpine:3.19\nFROM ${BASE}\n",
			buildArgs: map[string]string{"BASE": "debian:12"},
			want:      []wantRef{{line: 2, instr: "FROM", stage: "0", text: "${BASE}", arg: "BASE", value: "debian:12", noEdit: "build arg BASE"}},
		},
		{
			name:      "a build arg gives an ARG without default its value",
			src:       "ARG BASE\nFROM ${BASE}\n",
			buildArgs: map[string]string{"BASE": "debian:12"},
			want:      []wantRef{{line: 2, instr: "FROM", stage: "0", text: "${BASE}", arg: "BASE", value: "debian:12", noEdit: "build arg BASE"}},
		},
		{
			name:      "build args for undeclared ARGs are not used",
			src:       "FROM ${BASE}\n",
			buildArgs: map[string]string{"BASE": "debian:12"},
			want:      []wantRef{{line: 1, instr: "FROM", stage: "0", text: "${BASE}", arg: "BASE", skip: "ARG BASE is not declared before the first FROM"}},
		},
		{
			name: "an ARG without default is skipped",
			src:  "ARG BASE\nFROM $BASE\n",
			want: []wantRef{{line: 2, instr: "FROM", stage: "0", text: "$BASE", arg: "BASE", skip: "ARG BASE has no default"}},
		},
		{
			name: "an ARG declared after the first FROM does not count",
			src:  "FROM alpine:3.19\nARG BASE=debian:12\nFROM ${BASE}\n",
			want: []wantRef{
				{line: 1, instr: "FROM", stage: "0", text: "alpine:3.19", value: "alpine:3.19", token: "alpine:3.19"},
				{line: 3, instr: "FROM", stage: "1", text: "${BASE}", arg: "BASE", skip: "not declared before the first FROM"},
			},
		},
		{
			name: "a reference partly made of ARGs is skipped, with or without values",
			src:  "ARG GO_VERSION=1.22\nARG DISTRO\nFROM golang:${GO_VERSION}\nFROM debian:${DISTRO}\nFROM ${REGISTRY}/app:1\n",
			want: []wantRef{
				{line: 3, instr: "FROM", stage: "0", text: "golang:${GO_VERSION}", skip: "built from ARG GO_VERSION and other text (golang:1.22 here)"},
				{line: 4, instr: "FROM", stage: "1", text: "debian:${DISTRO}", skip: "ARG DISTRO has no default"},
				{line: 5, instr: "FROM", stage: "2", text: "${REGISTRY}/app:1", skip: "ARG REGISTRY is not declared"},
			},
		},
		{
			name:      "a build arg does not make a partial reference pinnable",
			src:       "ARG TAG\nFROM alpine:${TAG}\n",
			buildArgs: map[string]string{"TAG": "3.19"},
			want:      []wantRef{{line: 2, instr: "FROM", stage: "0", text: "alpine:${TAG}", skip: "built from ARG TAG"}},
		},
		{
			name: "builder platform ARGs",
			src:  "ARG TARGETARCH\nFROM example.com/base-${TARGETARCH}:1\nFROM ${TARGETARCH}\n",
			want: []wantRef{
				{line: 2, instr: "FROM", stage: "0", text: "example.com/base-${TARGETARCH}:1", skip: "TARGETARCH is set by the builder for each platform"},
				{line: 3, instr: "FROM", stage: "1", text: "${TARGETARCH}", arg: "TARGETARCH", skip: "TARGETARCH is set by the builder for each platform"},
			},
		},
		{
			name: "an ARG default built from other ARGs resolves but cannot be rewritten",
			src:  "ARG REGISTRY=registry.example.com\nARG BASE=${REGISTRY}/img:1\nFROM ${BASE}\n",
			want: []wantRef{{line: 2, instr: "FROM", stage: "0", text: "${BASE}", arg: "BASE", value: "registry.example.com/img:1", noEdit: "built from other ARGs"}},
		},
		{
			name: "an ARG default using an ARG without value is skipped",
			src:  "ARG REGISTRY\nARG BASE=${REGISTRY}/img:1\nFROM ${BASE}\n",
			want: []wantRef{{line: 3, instr: "FROM", stage: "0", text: "${BASE}", arg: "BASE", skip: "ARG BASE's default uses REGISTRY: ARG REGISTRY has no default"}},
		},
		{
			name: "an ARG also used as part of a longer word keeps its default",
			src:  "ARG BASE=alpine:3.19 TOOLS=busybox:1 TAG\nARG SLIM=${BASE}-slim\nFROM ${BASE}\nFROM ${BASE}-slim\nFROM ${TOOLS}\nFROM ${TOOLS}${TAG}\n",
			want: []wantRef{
				{line: 1, instr: "FROM", stage: "0", text: "${BASE}", arg: "BASE", value: "alpine:3.19", noEdit: "ARG BASE is also used as part of a longer reference or value on line 2"},
				{line: 4, instr: "FROM", stage: "1", text: "${BASE}-slim", skip: "built from ARG BASE"},
				{line: 1, instr: "FROM", stage: "2", text: "${TOOLS}", arg: "TOOLS", value: "busybox:1", noEdit: "ARG TOOLS is also used as part of a longer reference or value on line 6"},
				{line: 6, instr: "FROM", stage: "3", text: "${TOOLS}${TAG}", skip: "ARG TAG has no default"},
			},
		},
		{
			name: "an ARG whose default is empty",
			src:  "ARG BASE=\nFROM ${BASE}\n",
			want: []wantRef{{line: 2, instr: "FROM", stage: "0", text: "${BASE}", arg: "BASE", skip: "ARG BASE is empty"}},
		},
		{
			name: "an ARG whose default is scratch",
			src:  "ARG BASE=scratch\nFROM ${BASE}\n",
		},
		{
			name: "ARG expansion is not supported in COPY --from and RUN --mount",
			src:  "ARG IMG=nginx:1\nFROM alpine:3.19\nCOPY --from=${IMG} /a /b\nRUN --mount=from=$IMG,target=/x true\n",
			want: []wantRef{
				{line: 2, instr: "FROM", stage: "0", text: "alpine:3.19", value: "alpine:3.19", token: "alpine:3.19"},
				{line: 3, instr: "COPY --from", stage: "0", text: "${IMG}", skip: "does not expand ARGs"},
				{line: 4, instr: "RUN --mount", stage: "0", text: "$IMG", skip: "does not expand ARGs"},
			},
		},
		{
			name: "quotes around a reference, and escapes inside one",
			src:  "FROM \"alpine:3.19\"\nCOPY --from='nginx:1.25' /a /b\nFROM debian\\:12\nCOPY --from=busy\\box:1 /a /b\n",
			want: []wantRef{
				{line: 1, instr: "FROM", stage: "0", text: `"alpine:3.19"`, value: "alpine:3.19", token: "alpine:3.19"},
				{line: 2, instr: "COPY --from", stage: "0", text: "nginx:1.25", value: "nginx:1.25", token: "nginx:1.25"},
				{line: 3, instr: "FROM", stage: "1", text: `debian\:12`, value: "debian:12", noEdit: "quotes or escapes"},
				{line: 4, instr: "COPY --from", stage: "1", text: "busybox:1", value: "busybox:1", noEdit: "quotes or escapes"},
			},
		},
		{
			name: "CRLF line endings",
			src:  "ARG BASE=alpine:3.19\r\nFROM ${BASE} AS a\r\nFROM \\\r\n  debian:12\r\nCOPY --from=nginx:1.25 \\\r\n  /a /b\r\n",
			want: []wantRef{
				{line: 1, instr: "FROM", stage: "a", text: "${BASE}", arg: "BASE", value: "alpine:3.19", token: "alpine:3.19"},
				{line: 4, instr: "FROM", stage: "1", text: "debian:12", value: "debian:12", token: "debian:12"},
				{line: 5, instr: "COPY --from", stage: "1", text: "nginx:1.25", value: "nginx:1.25", token: "nginx:1.25"},
			},
		},
		{
			name: "the escape directive",
			src:  "# escape=`\nFROM `\n  mcr.microsoft.com/windows/servercore:ltsc2022\nRUN dir c:\\\n",
			want: []wantRef{{line: 3, instr: "FROM", stage: "0", text: "mcr.microsoft.com/windows/servercore:ltsc2022", value: "mcr.microsoft.com/windows/servercore:ltsc2022", token: "mcr.microsoft.com/windows/servercore:ltsc2022"}},
		},
		{
			name: "a byte-order mark",
			src:  "\xEF\xBB\xBFFROM alpine:3.19\n",
			want: []wantRef{{line: 1, instr: "FROM", stage: "0", text: "alpine:3.19", value: "alpine:3.19", token: "alpine:3.19"}},
		},
		{
			name: "no final newline, indented instructions",
			src:  "  FROM alpine:3.19\n\tCOPY --from=nginx:1.25 /a /b",
			want: []wantRef{
				{line: 1, instr: "FROM", stage: "0", text: "alpine:3.19", value: "alpine:3.19", token: "alpine:3.19"},
				{line: 2, instr: "COPY --from", stage: "0", text: "nginx:1.25", value: "nginx:1.25", token: "nginx:1.25"},
			},
		},
		{
			name: "ONBUILD runs in another build",
			src:  "FROM alpine:3.19\nONBUILD COPY --from=nginx:1.25 /a /b\n",
			want: []wantRef{{line: 1, instr: "FROM", stage: "0", text: "alpine:3.19", value: "alpine:3.19", token: "alpine:3.19"}},
		},
		{
			name: "JSON form RUN and COPY",
			src:  "FROM alpine:3.19\nRUN --mount=from=busybox:1,target=/x [\"true\"]\nCOPY --from=nginx:1.25 [\"/a\", \"/b\"]\n",
			want: []wantRef{
				{line: 1, instr: "FROM", stage: "0", text: "alpine:3.19", value: "alpine:3.19", token: "alpine:3.19"},
				{line: 2, instr: "RUN --mount", stage: "0", text: "busybox:1", value: "busybox:1", token: "busybox:1"},
				{line: 3, instr: "COPY --from", stage: "0", text: "nginx:1.25", value: "nginx:1.25", token: "nginx:1.25"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("Dockerfile", []byte(tt.src), tt.buildArgs)
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Refs) != len(tt.want) {
				for _, r := range f.Refs {
					t.Logf("got %+v", r)
				}
				t.Fatalf("got %d references, want %d", len(f.Refs), len(tt.want))
			}
			for i, w := range tt.want {
				checkRef(t, f, f.Refs[i], w)
			}
		})
	}
}

func checkRef(t *testing.T, f *File, r Ref, w wantRef) {
	t.Helper()
	token := ""
	if r.End > r.Start {
		token = string(f.Src[r.Start:r.End])
	}
	got := wantRef{
		line: r.Line, instr: r.Instruction, stage: r.Stage, text: r.Text, value: r.Value,
		token: token, arg: r.Arg, plat: r.Platform, skip: w.skip, noEdit: w.noEdit,
		pinned: r.Pinned(), dgOnly: r.DigestOnly(),
	}
	if got != w {
		t.Errorf("reference %q:\n got %+v\nwant %+v", r.Text, got, w)
	}
	if !strings.Contains(r.Skip, w.skip) || (w.skip == "") != (r.Skip == "") {
		t.Errorf("reference %q: Skip = %q, want it to say %q", r.Text, r.Skip, w.skip)
	}
	if !strings.Contains(r.NoEdit, w.noEdit) || (w.noEdit == "") != (r.NoEdit == "") {
		t.Errorf("reference %q: NoEdit = %q, want it to say %q", r.Text, r.NoEdit, w.noEdit)
	}
	if r.Skip == "" && r.Reference.Familiar() == "" {
		t.Errorf("reference %q: resolvable but Reference is zero", r.Text)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"invalid reference", "FROM alpine:3.19\nFROM Ubuntu:22.04\n", "Dockerfile:2: FROM Ubuntu:22.04: invalid reference"},
		{"invalid reference from an ARG", "ARG BASE=Ubuntu\nFROM ${BASE}\n", "Dockerfile:1: FROM ${BASE}: invalid reference \"Ubuntu\""},
		{"FROM with two words", "FROM alpine:3.19 base\n", "Dockerfile:1: FROM needs IMAGE [AS NAME]"},
		{"unterminated heredoc", "FROM alpine:3.19\nRUN <<EOF\necho\n", "Dockerfile:2: unterminated heredoc"},
		{"bad substitution", "ARG BASE=alpine\nFROM ${BASE\n", "Dockerfile:2: FROM ${BASE:"},
		{"no instructions", "# nothing\n", "file with no instructions"},
		{"not UTF-8", "ARG BASE=caf\xe9\nFROM alpine\n", "Dockerfile:1: ARG before the first FROM is not valid UTF-8 text"},
		{"FROM not UTF-8", "FROM alpine\xe9\n", "Dockerfile:1: FROM alpine\xe9: \"alpine\\xe9\" is not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("Dockerfile", []byte(tt.src), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// A meta ARG that a stage brings into scope is used there too: a pin in its
// default would change RUN and LABEL, so the pin target is withdrawn.
func TestMetaArgUsedInStageIsNotRewritten(t *testing.T) {
	f, err := Parse("Dockerfile", []byte("ARG BASE=alpine:3.19\nFROM $BASE\nARG BASE\nRUN echo \"built on ${BASE}\"\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Refs) != 1 {
		t.Fatalf("%d references, want 1", len(f.Refs))
	}
	r := f.Refs[0]
	if !strings.Contains(r.NoEdit, "line 3") || r.Start != r.End || r.Reference.String() != "docker.io/library/alpine:3.19" {
		t.Errorf("ref = %+v; want it resolved but not rewritable, naming line 3", r)
	}
	// Without the in-stage ARG the default is the pin target.
	f, err = Parse("Dockerfile", []byte("ARG BASE=alpine:3.19\nFROM $BASE\nRUN echo hi\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := f.Refs[0]; r.NoEdit != "" || r.Start == r.End {
		t.Errorf("ref = %+v; want a pin target in the ARG default", r)
	}
}
