package extract

import (
	"archive/tar"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

// kind is what a layer entry is, once whiteouts are told apart from files.
type kind uint8

const (
	kindNone     kind = iota
	kindImplicit      // a directory that exists only as the parent of other entries
	kindDir
	kindReg
	kindSymlink
	kindHardlink
	kindChar
	kindBlock
	kindFifo
	kindWhiteout // .wh.NAME: removes NAME from lower layers
	kindOpaque   // .wh..wh..opq: hides a directory's lower-layer contents
	kindIgnore   // carries nothing for the filesystem (global headers, aufs metadata, the root's own entry)
)

func (k kind) isDir() bool { return k == kindDir || k == kindImplicit }

// Whiteout names, from the OCI image spec (layer.md).
const (
	whPrefix = ".wh."
	whMeta   = ".wh..wh."
	whOpaque = ".wh..wh..opq"
)

// Linux limits. A path longer than PATH_MAX cannot be used with the usual
// system calls in a container, so an image that has one is broken or
// hostile; refusing it keeps our own tree walks bounded too.
const (
	maxPath = 4095
	maxName = 255
)

var (
	errEscapes  = errors.New("path leads outside the image root (refusing it: no runtime-compatible image contains one; a layer that has one was made to escape)")
	errRootType = errors.New("entry would replace the root directory with a non-directory")
)

// entry is a classified layer entry.
type entry struct {
	hdr  *tar.Header
	kind kind
	// path is the cleaned path relative to the image root: for a whiteout
	// the path it removes, for an opaque marker its directory.
	path string
	// target is the cleaned path a hard link points to.
	target string
}

// classify checks one header and says what it means for the filesystem.
func classify(hdr *tar.Header) (entry, error) {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return entry{}, err
	}
	e := entry{hdr: hdr, path: name}
	first, _, _ := strings.Cut(name, "/")
	if strings.HasPrefix(first, whMeta) && first != whOpaque {
		// aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs, ...): Docker
		// and containerd skip it too; it is not part of the image.
		e.kind = kindIgnore
		return e, nil
	}
	if base := path.Base(name); name != "." && strings.HasPrefix(base, whPrefix) {
		dir := path.Dir(name)
		switch {
		case base == whOpaque:
			e.kind, e.path = kindOpaque, dir
		case strings.HasPrefix(base, whMeta):
			e.kind = kindIgnore
		default:
			n := base[len(whPrefix):]
			if n == "" || n == "." || n == ".." {
				return entry{}, fmt.Errorf("whiteout %q names no file", base)
			}
			e.kind, e.path = kindWhiteout, path.Join(dir, n)
		}
		return e, nil
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		e.kind = kindDir
	case tar.TypeReg, tar.TypeCont, tar.TypeGNUSparse:
		// archive/tar turns the legacy '\x00' type into TypeReg, and
		// reads sparse files with their holes filled in.
		e.kind = kindReg
	case tar.TypeSymlink:
		// The target is stored as it is and never followed while
		// extracting, so only what the kernel would refuse is checked.
		if hdr.Linkname == "" || len(hdr.Linkname) > maxPath || strings.IndexByte(hdr.Linkname, 0) >= 0 {
			return entry{}, fmt.Errorf("invalid symlink target %q", truncate(hdr.Linkname, 100))
		}
		e.kind = kindSymlink
	case tar.TypeLink:
		t, err := cleanName(hdr.Linkname)
		if err != nil {
			return entry{}, fmt.Errorf("hard link target %q: %w", truncate(hdr.Linkname, 100), err)
		}
		if t == "." || t == name {
			return entry{}, fmt.Errorf("hard link to %q is not a file", hdr.Linkname)
		}
		e.kind, e.target = kindHardlink, t
	case tar.TypeChar:
		e.kind = kindChar
	case tar.TypeBlock:
		e.kind = kindBlock
	case tar.TypeFifo:
		e.kind = kindFifo
	case tar.TypeXGlobalHeader:
		e.kind = kindIgnore
		return e, nil
	default:
		return entry{}, fmt.Errorf("unsupported entry type %q", hdr.Typeflag)
	}
	if name == "." {
		if e.kind != kindDir {
			return entry{}, errRootType
		}
		// The root's own mode and owner are the caller's choice (DEST),
		// not the image's: an image must not make DEST world-writable.
		e.kind = kindIgnore
	}
	return e, nil
}

// cleanName turns an entry name into a clean path relative to the image
// root. A leading "/" is dropped: the image root is the root, as it is for
// runtimes and tar. A name that climbs above the root is refused (see
// errEscapes): it is confined by nothing but our own check, and silently
// clamping it would write over another path of the image.
func cleanName(n string) (string, error) {
	if strings.IndexByte(n, 0) >= 0 {
		return "", errors.New("NUL byte in name")
	}
	c := path.Clean(strings.TrimLeft(n, "/"))
	if c == "" {
		c = "."
	}
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", errEscapes
	}
	if len(c) > maxPath {
		return "", fmt.Errorf("path is %d bytes long, more than Linux allows (%d)", len(c), maxPath)
	}
	for rest := c; rest != ""; {
		var elem string
		elem, rest, _ = strings.Cut(rest, "/")
		if len(elem) > maxName {
			return "", fmt.Errorf("path element is %d bytes long, more than Linux allows (%d)", len(elem), maxName)
		}
	}
	return c, nil
}

// perm is the permission part of a tar mode, special bits included.
func perm(hdr *tar.Header) fs.FileMode {
	m := fs.FileMode(hdr.Mode) & fs.ModePerm
	if hdr.Mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if hdr.Mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if hdr.Mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// times returns the access and modification times to set; archives without
// an access time get the modification time, as tar does.
func times(hdr *tar.Header) (atime, mtime time.Time) {
	if hdr.AccessTime.IsZero() {
		return hdr.ModTime, hdr.ModTime
	}
	return hdr.AccessTime, hdr.ModTime
}

// xattrPrefix is how PAX headers carry extended attributes.
const xattrPrefix = "SCHILY.xattr."

// xattrs returns the entry's extended attributes, sorted by name for
// deterministic warnings.
func xattrs(hdr *tar.Header) [][2]string {
	var out [][2]string
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, xattrPrefix); ok && name != "" {
			out = append(out, [2]string{name, v})
		}
	}
	slices.SortFunc(out, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	return out
}
