package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/freshpull/freshpull/internal/testregistry"
)

type pinRow struct {
	File, Stage, Reference, Digest, Status, Reason string
	Line                                           int
}

func pinJSON(t *testing.T, wantCode int, args ...string) []pinRow {
	t.Helper()
	out := fp(t, append([]string{"-o", "json", "pin"}, args...)...)
	if out.code != wantCode {
		t.Fatalf("pin %q: exit %d, want %d\n%s%s", args, out.code, wantCode, out.stdout, out.stderr)
	}
	var rows []pinRow
	if err := json.Unmarshal([]byte(out.stdout), &rows); err != nil {
		t.Fatalf("pin %q: %v\n%s", args, err, out.stdout)
	}
	return rows
}

// The CI gate end to end: pin, move the tag, --check fails naming the line,
// --update fixes it, --check passes.
func TestPinCheckUpdate(t *testing.T) {
	reg := testregistry.Start(t)
	base := reg.Ref("pin/base:1")
	tools := reg.Ref("pin/tools:2")
	first := testregistry.Push(t, base, testregistry.Image(t, 1, 100, host))
	multi := testregistry.PushIndex(t, tools, testregistry.Index(t, testregistry.Linux("amd64"), testregistry.Linux("arm64")))

	dir := t.TempDir()
	df := filepath.Join(dir, "Dockerfile")
	src := "# syntax=docker/dockerfile:1\n" +
		"ARG TOOLS=" + tools + "\n" +
		"FROM ${TOOLS} AS tools\n" +
		"# the base\n" +
		"FROM " + base + "   AS build\n" +
		"RUN echo hi \\\n    && true\n" +
		"COPY --from=tools /bin/x /bin/x\n" +
		"FROM scratch\n" +
		"COPY --from=build /out /\n"
	if err := os.WriteFile(df, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}

	rows := pinJSON(t, 0, df)
	if len(rows) != 2 {
		t.Fatalf("pin found %d references, want 2 (the ARG default and the base): %+v", len(rows), rows)
	}
	for _, r := range rows {
		if r.Status != "unpinned" {
			t.Errorf("%s: status %s, want unpinned", r.Reference, r.Status)
		}
	}
	if rows := pinJSON(t, 4, "--check", df); len(rows) != 2 {
		t.Errorf("--check of an unpinned file: %+v", rows)
	}

	pinJSON(t, 0, "--write", df)
	written, _ := os.ReadFile(df)
	wantFile := strings.Replace(src, base+"   ", base+"@"+first.String()+"   ", 1)
	wantFile = strings.Replace(wantFile, "ARG TOOLS="+tools, "ARG TOOLS="+tools+"@"+multi.String(), 1)
	if string(written) != wantFile {
		t.Fatalf("--write changed more than the references:\n%s\nwant:\n%s", written, wantFile)
	}
	for _, r := range pinJSON(t, 0, "--check", df) {
		if r.Status != "current" {
			t.Errorf("--check after --write: %s is %s", r.Reference, r.Status)
		}
	}

	// The tag moves.
	moved := testregistry.Push(t, base, testregistry.Image(t, 1, 100, host))
	out := fp(t, "pin", "--check", df)
	if out.code != 4 || !strings.Contains(out.stdout, df+":5") || !strings.Contains(out.stdout, "stale") || !strings.Contains(out.stdout, moved.String()) {
		t.Fatalf("--check after the tag moved: exit %d, want 4 naming %s:5 and the new digest\n%s%s", out.code, df, out.stdout, out.stderr)
	}
	rows = pinJSON(t, 0, "--update", df)
	updated := false
	for _, r := range rows {
		if r.Status == "updated" && r.Line == 5 && r.Digest == moved.String() {
			updated = true
		}
	}
	if !updated {
		t.Errorf("--update did not update line 5 to %s: %+v", moved, rows)
	}
	after, _ := os.ReadFile(df)
	if want := strings.Replace(wantFile, first.String(), moved.String(), 1); string(after) != want {
		t.Errorf("--update changed more than the stale digest:\n%s", after)
	}
	pinJSON(t, 0, "--check", df)
}

func TestPinErrors(t *testing.T) {
	dir := t.TempDir()
	df := filepath.Join(dir, "Dockerfile")
	os.WriteFile(df, []byte("FROM 127.0.0.1:1/nothing:1\n"), 0o644)
	out := fp(t, "pin", "--check", df)
	if out.code != 1 || !strings.Contains(out.stderr, "127.0.0.1:1") {
		t.Errorf("pin against an unreachable registry: exit %d %q", out.code, out.stderr)
	}
	if out := fp(t, "pin", filepath.Join(dir, "missing")); out.code != 2 {
		t.Errorf("pin of a missing file: exit %d, want 2", out.code)
	}
	if out := fp(t, "pin", "--write", "--check", df); out.code != 2 {
		t.Errorf("pin --write --check: exit %d, want 2", out.code)
	}
}
