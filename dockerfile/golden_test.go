package dockerfile

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/freshpull/freshpull/reference"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/*.golden from what ModeWrite writes")

// tagDigests is a registry where every tag exists and points at a digest
// derived from salt and the tag, so that moving every tag is a new salt.
func tagDigests(salt string) (Resolver, func(Ref) digest.Digest) {
	d := func(ref reference.Reference) digest.Digest {
		return digest.FromString(salt + ref.String())
	}
	tagged := func(r Ref) digest.Digest {
		t, err := reference.Join(r.Reference.Repository(), r.Reference.WithDefaultTag().Tag())
		if err != nil {
			panic(err)
		}
		return d(t)
	}
	return ResolverFunc(func(_ context.Context, ref reference.Reference) (digest.Digest, error) { return d(ref), nil }), tagged
}

// TestGoldenWrite pins each testdata/*.Dockerfile, compares the result with
// its .golden file, and checks that only the reference tokens changed; then
// moves every tag and checks the same of an update.
func TestGoldenWrite(t *testing.T) {
	paths, err := filepath.Glob("testdata/*.Dockerfile")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(t.TempDir(), "Dockerfile")
			if err := os.WriteFile(dst, src, 0o644); err != nil {
				t.Fatal(err)
			}
			before, err := Parse(dst, src, nil)
			if err != nil {
				t.Fatal(err)
			}
			f, err := ParseFile(dst, nil)
			if err != nil {
				t.Fatal(err)
			}

			res, want := tagDigests("")
			rep := pin(t, []*File{f}, ModeWrite, res)
			written := readFile(t, dst)
			golden := strings.TrimSuffix(path, ".Dockerfile") + ".golden"
			if *updateGolden {
				if err := os.WriteFile(golden, []byte(written), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if wantGolden, err := os.ReadFile(golden); err != nil || written != string(wantGolden) {
				t.Errorf("written file differs from %s (%v); run go test -update and review the diff:\n%s", golden, err, written)
			}
			edited := slices.DeleteFunc(slices.Clone(before.Refs), func(r Ref) bool {
				return r.Skip != "" || r.NoEdit != "" || r.Pinned()
			})
			if len(edited) == 0 {
				t.Fatal("nothing to pin in this file: the test would prove nothing")
			}
			if n := countStatus(rep, StatusWritten); n != len(edited) {
				t.Errorf("%d references written, want %d", n, len(edited))
			}
			assertConfined(t, src, []byte(written), edited, want)

			after, err := Parse(dst, []byte(written), nil)
			if err != nil {
				t.Fatal(err)
			}
			res, want = tagDigests("moved ")
			rep = pin(t, []*File{after}, ModeUpdate, res)
			stale := slices.DeleteFunc(slices.Clone(after.Refs), func(r Ref) bool {
				return r.Skip != "" || r.NoEdit != "" || !r.Pinned() || r.DigestOnly()
			})
			if n := countStatus(rep, StatusUpdated); n != len(stale) {
				t.Errorf("%d references updated, want %d", n, len(stale))
			}
			assertConfined(t, []byte(written), []byte(readFile(t, dst)), stale, want)

			// Only what cannot be rewritten may still be unpinned.
			rep = pin(t, []*File{after}, ModeCheck, res)
			for _, r := range rep.Results {
				switch {
				case r.Status == StatusCurrent, r.Status == StatusPinned, r.Status == StatusSkipped:
				case r.Status == StatusUnpinned && r.Ref.NoEdit != "":
				default:
					t.Errorf("line %d: %s after update: %s %s", r.Line, r.Reference, r.Status, r.Reason)
				}
			}
		})
	}
}

func countStatus(rep *Report, s Status) int {
	n := 0
	for _, r := range rep.Results {
		if r.Status == s {
			n++
		}
	}
	return n
}

// assertConfined fails unless after is before with only the tokens of refs
// replaced, each by the same repository and tag pinned to want(ref). It
// reads the replacements out of after by the characters a reference can
// hold, independently of how the package computed its edits.
func assertConfined(t *testing.T, before, after []byte, refs []Ref, want func(Ref) digest.Digest) {
	t.Helper()
	slices.SortFunc(refs, func(a, b Ref) int { return a.Start - b.Start })
	refs = slices.CompactFunc(refs, func(a, b Ref) bool { return a.Start == b.Start })
	p, at := 0, 0
	for _, r := range refs {
		gap := before[at:r.Start]
		if !bytes.HasPrefix(after[p:], gap) {
			t.Fatalf("bytes outside the references changed before line %d:\n got %q\nwant %q", r.Line, after[p:min(len(after), p+len(gap))], gap)
		}
		p += len(gap)
		n := bytes.IndexFunc(after[p:], func(c rune) bool {
			return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._:/@-", c))
		})
		if n < 0 {
			n = len(after) - p
		}
		token := string(after[p : p+n])
		got, err := reference.Parse(token)
		switch {
		case err != nil:
			t.Errorf("line %d: %v", r.Line, err)
		case got.Repository() != r.Reference.Repository() || got.Tag() != r.Reference.WithDefaultTag().Tag() || got.Digest() != want(r):
			t.Errorf("line %d: %s rewritten to %q, want the same repository and tag pinned to %s", r.Line, before[r.Start:r.End], token, want(r))
		}
		p += n
		at = r.End
	}
	if !bytes.Equal(after[p:], before[at:]) {
		t.Fatalf("bytes after the last reference changed:\n got %q\nwant %q", after[p:], before[at:])
	}
}
