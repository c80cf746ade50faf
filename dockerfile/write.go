package dockerfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/freshpull/freshpull/reference"
)

// edit replaces Src[start:end] by text.
type edit struct {
	start, end int
	text       string
}

// spell returns the text to write for to where the user wrote written: the
// name exactly as written ("ubuntu", "library/ubuntu", "docker.io/ubuntu"
// all stay so), its tag (":latest" added when it had none, so the pin says
// which tag it follows), and to's digest, so that a pin changes nothing
// else of how the file names its images.
func spell(written string, to reference.Reference) (string, error) {
	w, err := reference.Parse(written)
	if err != nil {
		return "", err
	}
	text, _, _ := strings.Cut(written, "@")
	if w.Tag() == "" && to.Tag() != "" {
		text += ":" + to.Tag()
	}
	if d := to.Digest(); d != "" {
		text += "@" + d.String()
	}
	// Belt and braces: what we write must read back as exactly the pin.
	back, err := reference.Parse(text)
	if err != nil || back.String() != to.String() {
		return "", fmt.Errorf("pinning %s would write %q, which does not read back as %s; please report this as a freshpull bug", written, text, to)
	}
	return text, nil
}

// rewrite applies edits to f's file and parses the result into f.
func (f *File) rewrite(edits map[int]edit) error {
	data := applyEdits(f.Src, edits)
	// Parse before writing: a file we could no longer read is not written.
	nf, err := Parse(f.Name, data, f.buildArgs)
	if err != nil {
		return fmt.Errorf("%s: the pinned file would not parse (%v); nothing written, please report this as a freshpull bug", f.Name, err)
	}
	if err := writeAtomic(f.Name, f.Src, data); err != nil {
		return err
	}
	*f = *nf
	return nil
}

// applyEdits returns src with the edits, keyed by their start, made.
func applyEdits(src []byte, edits map[int]edit) []byte {
	var out bytes.Buffer
	at := 0
	for _, start := range slices.Sorted(maps.Keys(edits)) {
		e := edits[start]
		out.Write(src[at:e.start])
		out.WriteString(e.text)
		at = e.end
	}
	out.Write(src[at:])
	return out.Bytes()
}

// writeAtomic replaces the file at path, which must still hold was, by data:
// temp file in the same directory, fsync, rename, so that a reader or a
// crash sees the old file or the new one, never a mix. The file keeps its
// permissions; a symbolic link keeps pointing at the file it points at.
func writeAtomic(path string, was, data []byte) error {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	cur, err := os.ReadFile(target)
	if err != nil {
		return err
	}
	if !bytes.Equal(cur, was) {
		return fmt.Errorf("%s: changed since it was read; nothing written, run freshpull pin again", path)
	}
	fi, err := os.Stat(target)
	if err != nil {
		return err
	}
	dir := filepath.Dir(target)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(target)+".freshpull-*")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	renamed := false
	defer func() {
		if !renamed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	// The new file takes the old one's owner (when allowed: root pinning
	// a user's Dockerfile in CI must not leave it root's) and its mode,
	// special bits included.
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && (int(st.Uid) != os.Geteuid() || int(st.Gid) != os.Getegid()) {
		if err = tmp.Chown(int(st.Uid), int(st.Gid)); err != nil && !errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	if err = tmp.Chmod(fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	renamed = true
	// The rename is durable once the directory is synced.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("%s: written, but syncing %s: %w", path, dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("%s: written, but syncing %s: %w", path, dir, err)
	}
	return nil
}

// Rewrite returns Src with the image word of each reference replaced by
// what image returns for it ("" keeps the word): the Dockerfile a builder
// runs so that every instruction names exactly the image given, whatever
// ARGs or build args say. The file itself is not changed. A reference to
// replace whose word cannot be located is an error naming its line.
func (f *File) Rewrite(image func(i int, r Ref) string) ([]byte, error) {
	edits := map[int]edit{}
	for i, r := range f.Refs {
		to := image(i, r)
		if to == "" {
			continue
		}
		if r.UseEnd == 0 {
			why := r.NoEdit
			if why == "" {
				why = "a line continuation splits the image name"
			}
			return nil, fmt.Errorf("%s:%d: %s %s: cannot name another image there: %s", f.Name, r.InstructionLine, r.Instruction, r.Text, why)
		}
		edits[r.UseStart] = edit{start: r.UseStart, end: r.UseEnd, text: to}
	}
	out := applyEdits(f.Src, edits)
	if _, err := parser.Parse(bytes.NewReader(out)); err != nil {
		return nil, fmt.Errorf("%s: the rewritten file would not parse (%v); please report this as a freshpull bug", f.Name, err)
	}
	return out, nil
}
