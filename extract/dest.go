package extract

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// destination is DEST and the temporary directory the extraction is built
// in, on the same file system so that finishing is a matter of renames.
//
// DEST absent: the temporary directory is made beside it, and finishing
// renames the tree to DEST in one step, so DEST appears complete or not
// at all.
//
// DEST existing: the temporary directory is made inside it (a directory
// the caller made may be a mount point, or someone's working directory,
// and must stay the same directory), and finishing moves the tree's
// top-level entries into it. If DEST was empty and a move fails, the
// entries moved so far are removed again. With Force and a non-empty
// DEST, the tree is merged into it: an entry of the image replaces an
// existing one of the same name, except that two directories merge; an
// existing symlink is replaced, never followed. Everything that can fail
// on the image's account (a hostile entry, a bad layer) fails before the
// first move, while DEST is untouched.
type destination struct {
	base    *os.Root // DEST (inside) or its parent (beside)
	name    string   // DEST's name in base, beside only
	inside  bool
	wasFull bool // DEST held entries before
	tmpName string
	tmp     *os.Root
	// times of an existing DEST, put back if the extraction fails: our
	// temporary directory inside it must leave no trace.
	atime, mtime time.Time
	finished     bool
}

const tmpPrefix = ".freshpull-extract-"

func openDest(dest string, force bool) (*destination, error) {
	if dest == "" {
		return nil, errors.New("no destination directory given")
	}
	abs, err := filepath.Abs(dest)
	if err != nil {
		return nil, err
	}
	d := &destination{}
	fi, err := os.Stat(abs)
	switch {
	case err == nil:
		if !fi.IsDir() {
			return nil, fmt.Errorf("destination %s exists and is not a directory", dest)
		}
		// DEST itself may be a symlink to a directory: the caller's.
		real, err := filepath.EvalSymlinks(abs)
		if err != nil {
			return nil, err
		}
		full, err := hasEntries(real)
		if err != nil {
			return nil, fmt.Errorf("destination %s: %w", dest, err)
		}
		if full && !force {
			return nil, fmt.Errorf("destination %s: %w (extract into an empty or absent directory, or force it to merge the image into what is there)", dest, ErrDestNotEmpty)
		}
		if d.base, err = os.OpenRoot(real); err != nil {
			return nil, err
		}
		d.inside, d.wasFull = true, full
		d.mtime = fi.ModTime()
		d.atime = d.mtime
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			d.atime = time.Unix(st.Atim.Unix())
		}
	case errors.Is(err, fs.ErrNotExist):
		parent := filepath.Dir(abs)
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return nil, fmt.Errorf("create the parent of destination %s: %w", dest, err)
		}
		if d.base, err = os.OpenRoot(parent); err != nil {
			return nil, err
		}
		d.name = filepath.Base(abs)
	default:
		return nil, fmt.Errorf("destination %s: %w", dest, err)
	}
	dir := d.base.Name()
	tmp, err := os.MkdirTemp(dir, tmpPrefix)
	if err != nil {
		d.base.Close()
		return nil, fmt.Errorf("create a temporary directory for destination %s: %w", dest, err)
	}
	d.tmpName = filepath.Base(tmp)
	if d.tmp, err = d.base.OpenRoot(d.tmpName); err != nil {
		d.cleanup()
		return nil, err
	}
	// A setgid parent passes its group and setgid bit on to new
	// directories; ours must not, so that new files are ours alone (the
	// writer counts on that to skip chown).
	if err := d.base.Chmod(d.tmpName, 0o700); err != nil {
		d.cleanup()
		return nil, err
	}
	return d, nil
}

func hasEntries(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if err == io.EOF {
		return false, nil
	}
	return err == nil, err
}

// cleanup removes the temporary directory, whatever happened.
func (d *destination) cleanup() {
	if d.tmp != nil {
		d.tmp.Close()
		_ = removeTree(d.base, d.tmpName)
	}
	if d.inside && !d.finished {
		_ = d.base.Chtimes(".", d.atime, d.mtime)
	}
	d.base.Close()
}

// finalDir is a directory's attributes at its path relative to DEST.
type finalDir struct {
	rel string
	m   dirMeta
}

// finish assembles the stages into "out" in the temporary directory,
// applies directory attributes and puts the tree in place.
func (d *destination) finish(ctx context.Context, o *output) error {
	tmp := d.tmp
	var made []string // directories made for DESTDIRs, relative to out
	// mkdirs makes out and the directories rel names in it.
	mkdirs := func(rel string) error {
		if err := tmp.Mkdir("out", 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		p := "out"
		for _, elem := range splitPath(rel) {
			p += "/" + elem
			fi, err := tmp.Lstat(p)
			if err == nil && fi.IsDir() {
				continue
			}
			if err == nil {
				// An earlier --path source put a file where a later one's
				// DESTDIR is: the later one wins, as it does for files.
				if err := removeTree(tmp, p); err != nil {
					return err
				}
			}
			if err := tmp.Mkdir(p, 0o700); err != nil {
				return err
			}
			made = append(made, strings.TrimPrefix(p, "out/"))
		}
		return nil
	}
	for _, st := range o.stages {
		if err := ctx.Err(); err != nil {
			return err
		}
		src := st.dir + "/x"
		if _, err := tmp.Lstat(src); errors.Is(err, fs.ErrNotExist) {
			continue // nothing was written: an empty directory of the image or a skipped device
		}
		rel := st.spec.destDir
		if !st.spec.contents {
			rel = path.Join(rel, path.Base(st.rootPath))
		}
		target := path.Join("out", rel)
		if _, err := tmp.Lstat(target); errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			if target != "out" {
				if err := mkdirs(path.Dir(rel)); err != nil {
					return err
				}
			}
			if err := tmp.Rename(src, target); err != nil {
				return err
			}
			if st.spec.contents && rel != "." {
				made = append(made, rel)
			}
			continue
		}
		var err error
		if st.spec.contents {
			_, err = placeChildren(tmp, src, target, "")
		} else {
			err = place(tmp, src, target)
		}
		if err != nil {
			return err
		}
	}
	if err := tmp.Mkdir("out", 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	dirs := finalDirs(o, made)
	if !d.inside {
		// The tree is complete before it appears as DEST.
		if err := applyDirs(tmp, "out", dirs); err != nil {
			return err
		}
		if err := tmp.Chmod("out", implicitMode); err != nil {
			return err
		}
		if err := d.base.Rename(d.tmpName+"/out", d.name); err != nil {
			return fmt.Errorf("move the extracted tree to %s: %w", filepath.Join(d.base.Name(), d.name), err)
		}
		return nil
	}
	d.finished = true // from here on, DEST has changed
	placed, err := placeChildren(d.base, d.tmpName+"/out", ".", d.tmpName)
	if err != nil {
		if !d.wasFull {
			for _, p := range placed {
				_ = removeTree(d.base, p)
			}
			d.finished = false // DEST is as it was: let cleanup restore its times
			return fmt.Errorf("move the extracted tree into %s: %w", d.base.Name(), err)
		}
		return fmt.Errorf("merge the extracted tree into %s: %w (it was partly updated)", d.base.Name(), err)
	}
	if err := applyDirs(d.base, ".", dirs); err != nil {
		// Too late to take the tree back out: say what state it is in.
		return fmt.Errorf("%s: every file is in place, but directory modes and times were not all applied: %w", d.base.Name(), err)
	}
	return nil
}

// finalDirs maps the engines' directory attributes to paths relative to
// DEST. A directory made by an entry wins over one made as a parent, and a
// later stage wins over an earlier one, as its files do.
func finalDirs(o *output, made []string) []finalDir {
	byRel := map[string]int{}
	var out []finalDir
	put := func(rel string, m dirMeta) {
		if i, ok := byRel[rel]; ok {
			if m.implicit && !out[i].m.implicit {
				return
			}
			out[i].m = m
			return
		}
		byRel[rel] = len(out)
		out = append(out, finalDir{rel, m})
	}
	for _, rel := range made {
		put(rel, dirMeta{implicit: true, mode: implicitMode})
	}
	for _, m := range o.dirs {
		sp := m.st.spec
		var rel string
		switch {
		case sp.contents && m.rel == ".":
			continue // the directory whose contents were copied is not copied itself
		case sp.contents:
			rel = path.Join(sp.destDir, m.rel)
		default:
			rel = path.Join(sp.destDir, path.Base(m.st.rootPath), m.rel)
		}
		put(rel, m)
	}
	return out
}

// applyDirs sets directory modes and times, deepest first so that a
// read-only parent does not stop us from reaching its children. Each
// change goes through the parent's open directory: deep trees would
// otherwise cost a walk from the top for every directory.
func applyDirs(r *os.Root, prefix string, dirs []finalDir) error {
	slices.SortStableFunc(dirs, func(a, b finalDir) int {
		return strings.Count(b.rel, "/") - strings.Count(a.rel, "/")
	})
	top, err := r.OpenRoot(prefix)
	if err != nil {
		return err
	}
	th, err := newHandle(top)
	if err != nil {
		return err
	}
	defer th.close()
	var cache handleCache
	defer cache.closeAll()
	var open func(p string) (*dirHandle, error)
	open = func(p string) (*dirHandle, error) {
		if p == "." {
			return th, nil
		}
		k := handleKey{path: p}
		if h := cache.get(k); h != nil {
			return h, nil
		}
		ph, err := open(path.Dir(p))
		if err != nil {
			return nil, err
		}
		h, err := ph.sub(path.Base(p))
		if err != nil {
			return nil, err
		}
		cache.put(k, h)
		return h, nil
	}
	for _, fd := range dirs {
		h, err := open(path.Dir(fd.rel))
		if err != nil {
			continue // replaced by a later --path source
		}
		name := path.Base(fd.rel)
		if fi, err := h.root.Lstat(name); err != nil || !fi.IsDir() {
			continue
		}
		if err := h.root.Chmod(name, fd.m.mode); err != nil {
			return err
		}
		if !fd.m.implicit {
			if err := utimes(h, name, fd.m.atime, fd.m.mtime); err != nil {
				return err
			}
		}
	}
	return nil
}

// place moves src to dst (both relative to r). Two directories merge; any
// other existing dst is replaced. An existing symlink is replaced, never
// followed: Lstat, and os.Root refusing to leave r, see to that.
func place(r *os.Root, src, dst string) error {
	dfi, err := r.Lstat(dst)
	if errors.Is(err, fs.ErrNotExist) {
		return r.Rename(src, dst)
	}
	if err != nil {
		return err
	}
	sfi, err := r.Lstat(src)
	if err != nil {
		return err
	}
	if sfi.IsDir() && dfi.IsDir() {
		_, err := placeChildren(r, src, dst, "")
		return err
	}
	if sfi.IsDir() || dfi.IsDir() {
		if err := removeTree(r, dst); err != nil {
			return err
		}
	}
	return r.Rename(src, dst)
}

// placeChildren places each entry of the directory src into dst, and
// returns the paths it placed. skip is a name that must not be placed
// over (the temporary directory itself).
func placeChildren(r *os.Root, src, dst, skip string) ([]string, error) {
	f, err := r.Open(src)
	if err != nil {
		return nil, err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	if slices.Contains(names, skip) {
		return nil, fmt.Errorf("the image has an entry named %s, the name of our temporary directory; try again", skip)
	}
	var placed []string
	for _, n := range names {
		p := path.Join(dst, n)
		if err := place(r, src+"/"+n, p); err != nil {
			return placed, err
		}
		placed = append(placed, p)
	}
	return placed, nil
}

func splitPath(p string) []string {
	if p == "." || p == "" {
		return nil
	}
	return strings.Split(p, "/")
}
