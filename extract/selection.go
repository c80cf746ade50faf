package extract

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// spec is a compiled PathSpec.
type spec struct {
	index    int
	src      string   // as given, for messages
	comps    []string // cleaned path elements of SRC, possibly patterns
	glob     bool     // some element is a pattern
	globBit  int      // this spec's bit in node.globs
	contents bool     // SRC ends in "/.": copy the directory's contents
	destDir  string   // clean, relative to the destination; "." for itself
}

// maxGlobs bounds the glob specs, whose matches each node records in a
// 64-bit mask.
const maxGlobs = 64

func compileSpecs(ps []PathSpec) ([]*spec, error) {
	if len(ps) == 0 {
		return []*spec{{src: "/.", contents: true, destDir: "."}}, nil
	}
	var out []*spec
	globs := 0
	for i, p := range ps {
		s, err := compileSpec(i, p)
		if err != nil {
			return nil, err
		}
		if s.glob {
			if globs == maxGlobs {
				return nil, fmt.Errorf("more than %d --path sources with glob patterns; split the extraction", maxGlobs)
			}
			s.globBit = globs
			globs++
		}
		out = append(out, s)
	}
	return out, nil
}

func compileSpec(i int, p PathSpec) (*spec, error) {
	src := p.Src
	bad := func(format string, args ...any) error {
		return fmt.Errorf("--path %s: %s", p, fmt.Sprintf(format, args...))
	}
	if src == "" {
		return nil, bad("empty source path")
	}
	if strings.IndexByte(src, 0) >= 0 || strings.IndexByte(p.DestDir, 0) >= 0 {
		return nil, bad("NUL byte in path")
	}
	s := &spec{index: i, src: src}
	s.contents = src == "." || strings.HasSuffix(src, "/.")
	// SRC is inside the image, whose root is the root: ".." stops there.
	clean := path.Clean("/" + src)
	if clean == "/" {
		// The root has no name to be copied under: it means its contents.
		s.contents = true
	} else {
		s.comps = strings.Split(clean[1:], "/")
	}
	for _, c := range s.comps {
		if !isPattern(c) {
			continue
		}
		if _, err := path.Match(c, ""); err != nil {
			return nil, bad("bad glob pattern %q: %v", c, err)
		}
		s.glob = true
	}
	d := p.DestDir
	if d == "" {
		d = "."
	}
	if path.IsAbs(d) {
		return nil, bad("DESTDIR %q must be relative to the destination", p.DestDir)
	}
	d = path.Clean(d)
	if d == ".." || strings.HasPrefix(d, "../") {
		return nil, bad("DESTDIR %q leads outside the destination", p.DestDir)
	}
	s.destDir = d
	return s, nil
}

func isPattern(elem string) bool { return strings.ContainsAny(elem, `*?[\`) }

// view is the flattened root filesystem as an engine knows it once every
// layer is read: the top-down tree, or the bottom-up scratch directory.
type view[N comparable] interface {
	root() N
	parent(n N) N // the root's parent is the root
	// lookup finds a child that exists, with its kind and symlink target.
	lookup(dir N, name string) (n N, k kind, target string, ok bool, err error)
	// list returns the names of the children that exist, sorted.
	list(dir N) ([]string, error)
}

// match is one concrete source path a spec selects.
type match[N comparable] struct {
	n    N
	path string // in the image, without a leading "/"
}

// maxHops bounds symlink resolution, as Linux's MAXSYMLINKS does.
const maxHops = 40

var errLoop = errors.New("too many levels of symbolic links")

// resolveSpec finds what a spec selects in the flattened view. Symlinks in
// the directories leading to the source are followed, within the image
// root (an absolute target starts at the image root, ".." stops there),
// the way a container would see them. The source itself is not followed,
// so a symlink is copied as a symlink, unless SRC ends in "/.", which
// names the contents of the directory it leads to.
func resolveSpec[N comparable](v view[N], sp *spec) ([]match[N], error) {
	var out []match[N]
	seen := map[N]bool{}
	reason := ""
	add := func(n N, p string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, match[N]{n: n, path: p})
		}
	}
	var walk func(dir N, dirPath string, rest []string) error
	walk = func(dir N, dirPath string, rest []string) error {
		elem, rest := rest[0], rest[1:]
		names := []string{elem}
		if isPattern(elem) {
			all, err := v.list(dir)
			if err != nil {
				return err
			}
			names = names[:0]
			for _, name := range all {
				if ok, _ := path.Match(elem, name); ok {
					names = append(names, name)
				}
			}
		}
		for _, name := range names {
			n, k, target, ok, err := v.lookup(dir, name)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			p := path.Join(dirPath, name)
			last := len(rest) == 0
			if last && !sp.contents {
				add(n, p)
				continue
			}
			if k == kindSymlink {
				n, p, k, ok, err = follow(v, dir, dirPath, target)
				if errors.Is(err, errLoop) {
					reason = fmt.Sprintf("/%s: %v", path.Join(dirPath, name), err)
					continue
				}
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
			}
			if !k.isDir() {
				reason = fmt.Sprintf("/%s is not a directory", path.Join(dirPath, name))
				continue
			}
			if last {
				add(n, p)
				continue
			}
			if err := walk(n, p, rest); err != nil {
				return err
			}
		}
		return nil
	}
	if len(sp.comps) == 0 {
		add(v.root(), "")
	} else if err := walk(v.root(), "", sp.comps); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, &NotFoundError{Src: sp.src, Reason: reason}
	}
	return out, nil
}

// follow resolves a symlink found in dir to what it finally names, within
// the image root.
func follow[N comparable](v view[N], dir N, dirPath, target string) (N, string, kind, bool, error) {
	hops := 0
	type frame struct {
		n N
		p string
	}
	var zero N
	cur := frame{dir, dirPath}
	pending := []string{target}
	var rest []string
	k := kindDir
	for len(pending) > 0 || len(rest) > 0 {
		if len(pending) > 0 {
			t := pending[0]
			pending = pending[1:]
			if path.IsAbs(t) {
				cur = frame{v.root(), ""}
			}
			rest = append(strings.Split(t, "/"), rest...)
			continue
		}
		elem := rest[0]
		rest = rest[1:]
		if elem == "" {
			continue
		}
		if !k.isDir() {
			return zero, "", 0, false, nil
		}
		switch elem {
		case ".":
			continue
		case "..":
			cur = frame{v.parent(cur.n), parentPath(cur.p)}
			continue
		}
		n, nk, t, ok, err := v.lookup(cur.n, elem)
		if err != nil || !ok {
			return zero, "", 0, false, err
		}
		if nk == kindSymlink {
			if hops++; hops > maxHops {
				return zero, "", 0, false, errLoop
			}
			pending = append(pending, t)
			continue
		}
		cur, k = frame{n, path.Join(cur.p, elem)}, nk
	}
	return cur.n, cur.p, k, true, nil
}

func parentPath(p string) string {
	if d := path.Dir(p); d != "." {
		return d
	}
	return ""
}
