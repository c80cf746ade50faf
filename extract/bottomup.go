package extract

import (
	"archive/tar"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// bottomUp applies the layers in order onto one scratch tree, as
// containerd and umoci do: each entry replaces what is at its path, and
// whiteouts remove what lower layers left. Directories on the way to an
// entry are resolved on disk, following symlinks within the tree (an
// absolute target starts at the tree's root, ".." stops there), which is
// what a runtime does, and the only way to reproduce an image whose later
// layer writes through a symlink an earlier one made. With PathSpecs, the
// selected paths are then linked out of the scratch tree.
type bottomUp struct {
	*extraction
	st *stage
	// dirs holds the attributes of every directory, by path relative to
	// the tree's root.
	dirs map[string]dirMeta
	// upper holds what the current layer made (true), and their parents
	// (false): a whiteout removes only what lower layers made (OCI image
	// spec).
	upper map[string]bool
	lr    *layerReader
}

func (x *extraction) bottomUp() (*output, error) {
	x.begin()
	b := &bottomUp{extraction: x, dirs: map[string]dirMeta{}}
	defer x.cache.closeAll()
	whole := len(x.specs) == 1 && len(x.specs[0].comps) == 0 && x.specs[0].destDir == "."
	sp := x.specs[0]
	if !whole {
		sp = &spec{src: "/.", contents: true, destDir: "."}
	}
	b.st = x.newStage(sp, nil, "")
	h, err := x.stageHandle(b.st)
	if err != nil {
		return nil, err
	}
	if err := x.w.mkdir(h, "x"); err != nil {
		return nil, err
	}
	for i := range x.layers {
		if err := b.readLayer(i); err != nil {
			return nil, err
		}
	}
	if whole {
		out := &output{stages: []*stage{b.st}, engine: "bottom-up"}
		for _, rel := range slices.Sorted(maps.Keys(b.dirs)) {
			m := b.dirs[rel]
			m.st, m.rel = b.st, relOrDot(rel)
			out.dirs = append(out.dirs, m)
		}
		return out, nil
	}
	return b.selectPaths()
}

func (b *bottomUp) readLayer(i int) error {
	lr, err := b.openLayer(i)
	if err != nil {
		return err
	}
	defer lr.close()
	b.lr = lr
	b.w.layer = lr.digest
	b.upper = map[string]bool{}
	for {
		hdr, err := lr.next()
		if err != nil || hdr == nil {
			return err
		}
		if err := b.entry(hdr); err != nil {
			return entryErr(lr.digest, hdr, err)
		}
	}
}

func (b *bottomUp) entry(hdr *tar.Header) error {
	e, err := classify(hdr)
	if err != nil {
		return err
	}
	if err := b.ctx.Err(); err != nil {
		return err
	}
	b.w.entry = e.path
	switch e.kind {
	case kindIgnore:
		return nil
	case kindWhiteout:
		dir, ok, err := b.resolve(path.Dir(e.path), false)
		if err != nil || !ok {
			return err
		}
		return b.removeLower(join(dir, path.Base(e.path)), true)
	case kindOpaque:
		dir, ok, err := b.resolve(e.path, false)
		if err != nil || !ok {
			return err
		}
		return b.removeLower(dir, false)
	}
	dir, _, err := b.resolve(path.Dir(e.path), true)
	if err != nil {
		return err
	}
	name := path.Base(e.path)
	target := join(dir, name)
	h, err := b.handle(dir)
	if err != nil {
		return err
	}
	fi, err := h.root.Lstat(name)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if exists && !(fi.IsDir() && e.kind == kindDir) {
		if err := b.removeAt(target); err != nil {
			return err
		}
		exists = false
	}
	switch e.kind {
	case kindDir:
		if !exists {
			if err := b.w.mkdir(h, name); err != nil {
				return err
			}
		}
		if !exists || b.dirs[target].implicit {
			b.w.files++
		}
		if err := b.w.dirOwner(h, name, hdr, !exists); err != nil {
			return err
		}
		b.dirs[target] = metaOf(hdr)
	case kindHardlink:
		if err := b.hardlink(e.target, target, hdr.Linkname); err != nil {
			return err
		}
	default:
		if _, err := b.w.create(h, name, e.kind, hdr, b.lr.tr); err != nil {
			return err
		}
	}
	b.upper[target] = true
	for p := target; p != ""; {
		p = parentPath(p)
		if _, ok := b.upper[p]; ok {
			break
		}
		b.upper[p] = false
	}
	return nil
}

// hardlink links target to what the link names, resolving its
// directories like an entry's; the named object itself is not followed,
// so a link to a symlink links the symlink, as link(2) does.
func (b *bottomUp) hardlink(name, target, raw string) error {
	dir, ok, err := b.resolve(path.Dir(name), false)
	if err != nil {
		return err
	}
	from := join(dir, path.Base(name))
	var fi fs.FileInfo
	if ok {
		h, err := b.handle(dir)
		if err != nil {
			return err
		}
		fi, err = h.root.Lstat(path.Base(name))
		ok = err == nil
	}
	if !ok {
		return fmt.Errorf("hard link to %q, which does not exist", raw)
	}
	if fi.IsDir() {
		return fmt.Errorf("hard link to %q, a directory", raw)
	}
	return b.w.link(b.dest.tmp, b.diskPath(from), b.diskPath(target))
}

// resolve finds directory p in the tree, following symlinks within it.
// With create, missing directories are made (as containerd and umoci do)
// and a non-directory on the way is an error; without, either means p
// does not exist (there is nothing for a whiteout to remove).
func (b *bottomUp) resolve(p string, create bool) (string, bool, error) {
	var cur string
	rest := splitPath(p)
	hops := 0
	for len(rest) > 0 {
		elem := rest[0]
		rest = rest[1:]
		switch elem {
		case "", ".":
			continue
		case "..":
			cur = parentPath(cur)
			continue
		}
		h, err := b.handle(cur)
		if err != nil {
			return "", false, err
		}
		fi, err := h.root.Lstat(elem)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if !create {
				return "", false, nil
			}
			if err := b.w.mkdir(h, elem); err != nil {
				return "", false, err
			}
			b.dirs[join(cur, elem)] = dirMeta{implicit: true, mode: implicitMode}
		case err != nil:
			return "", false, err
		case fi.Mode()&fs.ModeSymlink != 0:
			if hops++; hops > maxHops {
				return "", false, fmt.Errorf("/%s: %w", join(cur, elem), errLoop)
			}
			t, err := h.root.Readlink(elem)
			if err != nil {
				return "", false, err
			}
			if path.IsAbs(t) {
				cur = ""
			}
			rest = append(strings.Split(t, "/"), rest...)
			continue
		case !fi.IsDir():
			if !create {
				return "", false, nil
			}
			return "", false, fmt.Errorf("/%s, on the way to this entry, is not a directory", join(cur, elem))
		}
		cur = join(cur, elem)
	}
	return cur, true, nil
}

// removeLower removes p (when self is set) or its children, except what
// the current layer made: then it descends, removing what lower layers
// left beneath.
func (b *bottomUp) removeLower(p string, self bool) error {
	made, up := b.upper[p]
	if self && !up {
		return b.removeAt(p)
	}
	h, err := b.handle(parentPath(p))
	if err != nil {
		return err
	}
	name := path.Base(p)
	if p == "" {
		name = "."
	}
	fi, err := h.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !fi.IsDir()) {
		return nil
	}
	if err != nil {
		return err
	}
	if self && !made {
		if err := b.resetDir(p); err != nil {
			return err
		}
	}
	names, err := b.children(p)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := b.removeLower(join(p, n), true); err != nil {
			return err
		}
	}
	return nil
}

// resetDir gives a directory that a whiteout removes, but that entries of
// the whiteout's own layer keep as their parent, the attributes of a
// directory made as a parent: what the lower layer gave it goes with the
// lower layer. (umoci keeps the lower attributes, so its result depends on
// whether the whiteout comes before or after the entries in the layer.)
func (b *bottomUp) resetDir(p string) error {
	b.dirs[p] = dirMeta{implicit: true, mode: implicitMode}
	h, err := b.handle(p)
	if err != nil {
		return err
	}
	if b.priv {
		if err := h.f.Chown(os.Geteuid(), os.Getegid()); err != nil {
			return err
		}
	}
	sz, err := unix.Flistxattr(h.fd, nil)
	if err != nil || sz == 0 {
		return nil
	}
	buf := make([]byte, sz)
	if sz, err = unix.Flistxattr(h.fd, buf); err != nil {
		return err
	}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:sz]), "\x00"), "\x00") {
		if err := unix.Fremovexattr(h.fd, name); err != nil && !errors.Is(err, unix.ENODATA) {
			return err
		}
	}
	return nil
}

// removeAt removes whatever is at p, and forgets it.
func (b *bottomUp) removeAt(p string) error {
	b.cache.drop(func(k handleKey) bool { return k.path == "/"+p || strings.HasPrefix(k.path, "/"+p+"/") })
	h, err := b.handle(parentPath(p))
	if err != nil {
		return err
	}
	if err := h.root.RemoveAll(path.Base(p)); err != nil {
		return err
	}
	for k := range b.dirs {
		if k == p || strings.HasPrefix(k, p+"/") {
			delete(b.dirs, k)
		}
	}
	return nil
}

// handle opens directory p of the tree, which resolve has made sure holds
// no symlink. Its cache key starts with "/" to differ from the stage's.
func (b *bottomUp) handle(p string) (*dirHandle, error) {
	k := handleKey{st: b.st, path: "/" + p}
	if h := b.cache.get(k); h != nil {
		return h, nil
	}
	var ph *dirHandle
	var err error
	name := "x"
	if p == "" {
		ph, err = b.stageHandle(b.st)
	} else {
		ph, err = b.handle(parentPath(p))
		name = path.Base(p)
	}
	if err != nil {
		return nil, err
	}
	h, err := ph.sub(name)
	if err != nil {
		return nil, err
	}
	b.cache.put(k, h)
	return h, nil
}

func (b *bottomUp) children(p string) ([]string, error) {
	h, err := b.handle(p)
	if err != nil {
		return nil, err
	}
	f, err := h.root.Open(".")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	slices.Sort(names)
	return names, err
}

// diskPath is p's path relative to the temporary directory.
func (b *bottomUp) diskPath(p string) string {
	if p == "" {
		return b.st.dir + "/x"
	}
	return b.st.dir + "/x/" + p
}

// selectPaths resolves the specs in the finished tree and links each
// match into a stage of its own (hard links: no data is copied).
func (b *bottomUp) selectPaths() (*output, error) {
	out := &output{engine: "bottom-up"}
	for _, sp := range b.specs {
		ms, err := resolveSpec[string](diskView{b}, sp)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			st := b.newStage(sp, nil, m.n)
			if _, err := b.stageHandle(st); err != nil {
				return nil, err
			}
			if err := b.clone(m.n, st, ".", out); err != nil {
				return nil, err
			}
			out.stages = append(out.stages, st)
		}
	}
	return out, nil
}

// clone copies p of the scratch tree to rel in st: directories are made
// anew with the scratch tree's owner and extended attributes, and their
// attributes recorded; everything else is hard-linked.
func (b *bottomUp) clone(p string, st *stage, rel string, out *output) error {
	tmp := b.dest.tmp
	src := b.diskPath(p)
	dst := st.dir + "/x"
	if rel != "." {
		dst += "/" + rel
	}
	fi, err := tmp.Lstat(src)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return tmp.Link(src, dst)
	}
	if err := tmp.Mkdir(dst, 0o700); err != nil {
		return err
	}
	if err := b.copyDirOwner(src, dst, fi); err != nil {
		return err
	}
	m := b.dirs[p]
	m.st, m.rel = st, rel
	out.dirs = append(out.dirs, m)
	names, err := b.children(p)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := b.clone(join(p, n), st, path.Join(rel, n), out); err != nil {
			return err
		}
	}
	return nil
}

func (b *bottomUp) copyDirOwner(src, dst string, fi fs.FileInfo) error {
	tmp := b.dest.tmp
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && b.priv {
		if err := tmp.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	}
	sf, err := tmp.Open(src)
	if err != nil {
		return err
	}
	defer sf.Close()
	df, err := tmp.Open(dst)
	if err != nil {
		return err
	}
	defer df.Close()
	sfd, dfd := int(sf.Fd()), int(df.Fd())
	sz, err := unix.Flistxattr(sfd, nil)
	if err != nil || sz == 0 {
		return nil // no extended attributes, or none supported here
	}
	buf := make([]byte, sz)
	sz, err = unix.Flistxattr(sfd, buf)
	if err != nil {
		return err
	}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:sz]), "\x00"), "\x00") {
		vsz, err := unix.Fgetxattr(sfd, name, nil)
		if err != nil {
			return err
		}
		v := make([]byte, vsz)
		if _, err := unix.Fgetxattr(sfd, name, v); err != nil {
			return err
		}
		if err := unix.Fsetxattr(dfd, name, v, 0); err != nil {
			return err
		}
	}
	return nil
}

// diskView is the bottom-up tree as a view for resolveSpec.
type diskView struct{ b *bottomUp }

func (v diskView) root() string           { return "" }
func (v diskView) parent(p string) string { return parentPath(p) }

func (v diskView) lookup(dir, name string) (string, kind, string, bool, error) {
	h, err := v.b.handle(dir)
	if err != nil {
		return "", 0, "", false, err
	}
	fi, err := h.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return "", 0, "", false, nil
	}
	if err != nil {
		return "", 0, "", false, err
	}
	p := join(dir, name)
	switch {
	case fi.IsDir():
		return p, kindDir, "", true, nil
	case fi.Mode()&fs.ModeSymlink != 0:
		t, err := h.root.Readlink(name)
		return p, kindSymlink, t, err == nil, err
	}
	return p, kindReg, "", true, nil
}

func (v diskView) list(dir string) ([]string, error) { return v.b.children(dir) }

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

func relOrDot(p string) string {
	if p == "" {
		return "."
	}
	return p
}
