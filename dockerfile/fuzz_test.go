package dockerfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/freshpull/freshpull/reference"
)

// FuzzParse checks, on any input, that Parse does not panic or disagree with
// buildkit's parser, and that every token it offers to rewrite holds exactly
// the reference the build uses, so that a pin can never land on other bytes.
func FuzzParse(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.Dockerfile")
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte("ARG A=\"b:1\" C='d' \\\n E=f\nFROM ${A}\nFROM \"$C\"\nCOPY --from=g:1 a b\nRUN --mount=from=h,target=/x <<EOF\nx\nEOF\n"))
	f.Add([]byte("# escape=`\r\nFROM `\r\n  a:1 AS b\r\nFROM b\r\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := Parse("Dockerfile", src, nil)
		if err != nil {
			// Our reading of an instruction must never disagree with the
			// parser's: that would be a Dockerfile we cannot pin.
			if strings.Contains(err.Error(), "freshpull bug") {
				t.Fatal(err)
			}
			return
		}
		for _, r := range file.Refs {
			if r.Skip != "" || r.NoEdit != "" {
				if r.Start != 0 || r.End != 0 {
					t.Errorf("line %d: %q cannot be rewritten but has a token at %d:%d", r.Line, r.Text, r.Start, r.End)
				}
				continue
			}
			if r.Start < 0 || r.End > len(src) || r.Start >= r.End {
				t.Fatalf("line %d: %q: token %d:%d out of the file", r.Line, r.Text, r.Start, r.End)
			}
			if got := string(src[r.Start:r.End]); got != r.Value {
				t.Errorf("line %d: token %q, want the reference %q", r.Line, got, r.Value)
			}
			if got := newSource(src, '\\').lineOf(r.Start); got != r.Line {
				t.Errorf("%q: token on line %d, Line says %d", r.Value, got, r.Line)
			}
		}
		pinAll(t, file)
		rewriteAll(t, file)
	})
}

// rewriteAll replaces, as a build does, the image word of every reference
// that has one and checks that the result parses to the same references,
// each now naming its replacement.
func rewriteAll(t *testing.T, file *File) {
	name := func(i int) string { return fmt.Sprintf("rewritten.example/img-%d:1", i) }
	replaced := map[int]bool{}
	out, err := file.Rewrite(func(i int, r Ref) string {
		if r.Build == "" || r.UseEnd == 0 {
			return ""
		}
		replaced[i] = true
		return name(i)
	})
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse("Dockerfile", out, nil)
	if err != nil {
		t.Fatalf("rewritten file does not parse: %v\n%s", err, out)
	}
	if len(again.Refs) != len(file.Refs) {
		t.Fatalf("rewritten file has %d references, the original %d:\n%s", len(again.Refs), len(file.Refs), out)
	}
	for i := range replaced {
		if got := again.Refs[i].Build; got != name(i) {
			t.Errorf("reference %d (%q) rewritten as %q, want %q:\n%s", i, file.Refs[i].Text, got, name(i), out)
		}
	}
}

// pinAll pins every reference of file that can be pinned, as ModeWrite
// does, and checks that the result parses to the same references, pinned.
func pinAll(t *testing.T, file *File) {
	edits := map[int]edit{}
	for _, r := range file.Refs {
		if r.Skip != "" || r.NoEdit != "" || r.Pinned() {
			continue
		}
		tagged, err := reference.Join(r.Reference.Repository(), r.Reference.WithDefaultTag().Tag())
		if err != nil {
			t.Fatal(err)
		}
		to, err := tagged.Pinned(dA)
		if err != nil {
			t.Fatal(err)
		}
		text, err := spell(string(file.Src[r.Start:r.End]), to)
		if err != nil {
			t.Fatal(err)
		}
		edits[r.Start] = edit{r.Start, r.End, text}
	}
	pinned, err := Parse("Dockerfile", applyEdits(file.Src, edits), nil)
	if err != nil {
		t.Fatalf("pinned file does not parse: %v", err)
	}
	if len(pinned.Refs) != len(file.Refs) {
		t.Fatalf("pinned file has %d references, the original %d", len(pinned.Refs), len(file.Refs))
	}
	for i, r := range file.Refs {
		if _, ok := edits[r.Start]; ok && r.Start != r.End && pinned.Refs[i].Reference.Digest() != dA {
			t.Errorf("line %d: %q pinned as %q", r.Line, r.Value, pinned.Refs[i].Value)
		}
	}
}
