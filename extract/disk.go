package extract

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// dirHandle is an open directory inside the extraction's temporary
// directory. Every write goes through one, with a single path element as
// the name: os.Root refuses anything that would leave it, each operation is
// one system call instead of a walk from the top, and a final element that
// is a symlink is never followed (we create with O_EXCL, and change
// metadata with the *NOFOLLOW calls).
type dirHandle struct {
	root *os.Root
	// f is the same directory, for the calls os.Root does not offer
	// (mknodat, utimensat without following, fchmodat of device nodes)
	// and for creating regular files cheaply (see writer.file).
	f  *os.File
	fd int

	// A handle that files are being created in on other goroutines is
	// pinned: closing it waits for the last of them.
	mu     sync.Mutex
	pins   int
	closed bool
}

func newHandle(r *os.Root) (*dirHandle, error) {
	f, err := r.Open(".")
	if err != nil {
		r.Close()
		return nil, err
	}
	return &dirHandle{root: r, f: f, fd: int(f.Fd())}, nil
}

// sub opens the child directory name.
func (h *dirHandle) sub(name string) (*dirHandle, error) {
	r, err := h.root.OpenRoot(name)
	if err != nil {
		return nil, err
	}
	return newHandle(r)
}

func (h *dirHandle) close() {
	h.mu.Lock()
	h.closed = true
	shut := h.pins == 0
	h.mu.Unlock()
	if shut {
		h.f.Close()
		h.root.Close()
	}
}

func (h *dirHandle) pin() {
	h.mu.Lock()
	h.pins++
	h.mu.Unlock()
}

func (h *dirHandle) unpin() {
	h.mu.Lock()
	h.pins--
	shut := h.pins == 0 && h.closed
	h.mu.Unlock()
	if shut {
		h.f.Close()
		h.root.Close()
	}
}

// handleKey names a directory: a stage's own directory by the stage alone,
// others by stage and tree node in the top-down engine, by stage and
// "/"-prefixed path in the bottom-up one.
type handleKey struct {
	st   *stage
	n    *node
	path string
}

// handleCache keeps the most recently used directories open. Layers list
// a directory's entries together, so a small cache saves nearly every
// open.
type handleCache struct {
	m    map[handleKey]*cachedHandle
	tick uint64
}

type cachedHandle struct {
	h    *dirHandle
	used uint64
}

const maxHandles = 64

func (c *handleCache) get(k handleKey) *dirHandle {
	e := c.m[k]
	if e == nil {
		return nil
	}
	c.tick++
	e.used = c.tick
	return e.h
}

func (c *handleCache) put(k handleKey, h *dirHandle) {
	if c.m == nil {
		c.m = map[handleKey]*cachedHandle{}
	}
	if len(c.m) >= maxHandles {
		var oldK handleKey
		var old *cachedHandle
		for k, e := range c.m {
			if old == nil || e.used < old.used {
				oldK, old = k, e
			}
		}
		old.h.close()
		delete(c.m, oldK)
	}
	c.tick++
	c.m[k] = &cachedHandle{h: h, used: c.tick}
}

// drop closes the handles whose directories are about to be removed: a
// handle on a removed directory would let later writes vanish silently.
func (c *handleCache) drop(match func(handleKey) bool) {
	for k, e := range c.m {
		if match(k) {
			e.h.close()
			delete(c.m, k)
		}
	}
}

func (c *handleCache) closeAll() {
	c.drop(func(handleKey) bool { return true })
}

// writer creates filesystem objects from tar headers and counts them.
type writer struct {
	priv     bool
	uid, gid int // ours: files already have this owner
	umask    int // -1 when unknown
	files    int64
	bytes    int64
	buf      []byte
	warn     warnings
	// layer and entry name the entry being written, for warnings.
	layer, entry string
}

func newWriter(priv bool) *writer {
	return &writer{priv: priv, uid: os.Geteuid(), gid: os.Getegid(), umask: umask(), buf: make([]byte, 1<<20)}
}

// umask reads the process's umask without changing it (umask(2) can only
// set it, which would race with other goroutines creating files).
func umask() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			if m, err := strconv.ParseInt(strings.TrimSpace(v), 8, 32); err == nil {
				return int(m)
			}
		}
	}
	return -1
}

// create makes the object hdr describes, of kind k (a regular file,
// symlink, device node or FIFO), as name in h, where nothing may exist yet.
// It reports false when the object was skipped with a warning (device
// nodes without root).
func (w *writer) create(h *dirHandle, name string, k kind, hdr *tar.Header, r io.Reader) (bool, error) {
	switch k {
	case kindReg:
		return true, w.file(h, name, hdr, r)
	case kindSymlink:
		return true, w.symlink(h, name, hdr)
	default:
		return w.node(h, name, k, hdr)
	}
}

// file creates a regular file. It calls openat itself rather than
// os.Root.OpenFile: setting up an *os.File costs five more system calls
// (it tries the network poller), a third of the work per file. The rules
// are os.Root's for a single name: relative to an open directory of the
// tree, never following a symlink (O_NOFOLLOW), never reusing what exists
// (O_EXCL).
func (w *writer) file(h *dirHandle, name string, hdr *tar.Header, r io.Reader) error {
	if strings.IndexByte(name, '/') >= 0 {
		return fmt.Errorf("internal error: %q is not one path element", name)
	}
	mode := uint32(hdr.Mode & 0o7777)
	if !w.priv {
		// As GNU tar does: a set-id bit whose owner could not be
		// restored is dropped. Kept, an untrusted image would leave
		// set-id programs owned by whoever extracted it (root, with
		// Rootless as root).
		if hdr.Uid != w.uid {
			mode &^= 0o4000
		}
		if hdr.Gid != w.gid {
			mode &^= 0o2000
		}
	}
	// Created with its final mode when the umask cannot change it, so
	// that fchmod is needed only for special bits or an unusual umask.
	create, chmod := uint32(0o600), true
	if w.umask >= 0 && mode&0o7000 == 0 && mode&uint32(w.umask) == 0 {
		create, chmod = mode, false
	}
	fd, err := unix.Openat(h.fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, create)
	if err != nil {
		return &os.PathError{Op: "openat", Path: name, Err: err}
	}
	w.files++
	err = w.copyTo(fd, r)
	// Owner before mode: chown clears setuid and setgid.
	if err == nil && w.priv && (hdr.Uid != w.uid || hdr.Gid != w.gid) {
		err = unix.Fchown(fd, hdr.Uid, hdr.Gid)
		if err == nil {
			chmod = true
		}
	}
	if err == nil && chmod {
		err = unix.Fchmod(fd, mode)
	}
	if err == nil {
		err = w.xattrsFd(fd, hdr)
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err == nil {
		err = setTimes(h, name, hdr)
	}
	if err != nil {
		return &os.PathError{Op: "write", Path: name, Err: err}
	}
	return nil
}

// copyTo copies r to the file fd: data read ahead in one write, a
// stream through our buffer.
func (w *writer) copyTo(fd int, r io.Reader) error {
	if br, ok := r.(*bytes.Reader); ok {
		n, err := br.WriteTo(fdWriter(fd))
		w.bytes += n
		return err
	}
	for {
		n, rerr := r.Read(w.buf)
		m, err := fdWriter(fd).Write(w.buf[:n])
		w.bytes += int64(m)
		if err != nil {
			return err
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// fdWriter writes all of p to a file descriptor.
type fdWriter int

func (fd fdWriter) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Write(int(fd), p[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}

func (w *writer) symlink(h *dirHandle, name string, hdr *tar.Header) error {
	if err := h.root.Symlink(hdr.Linkname, name); err != nil {
		return err
	}
	w.files++
	if err := w.lchown(h, name, hdr, true); err != nil {
		return err
	}
	if err := w.xattrsAt(h, name, hdr); err != nil {
		return err
	}
	return setTimes(h, name, hdr)
}

// lchown gives name the entry's owner, when we may and unless it was just
// made by us with that owner already.
func (w *writer) lchown(h *dirHandle, name string, hdr *tar.Header, fresh bool) error {
	if !w.priv || (fresh && hdr.Uid == w.uid && hdr.Gid == w.gid) {
		return nil
	}
	return h.root.Lchown(name, hdr.Uid, hdr.Gid)
}

func (w *writer) node(h *dirHandle, name string, k kind, hdr *tar.Header) (bool, error) {
	mode := uint32(hdr.Mode & 0o7777)
	var dev uint64
	switch k {
	case kindChar, kindBlock:
		if !w.priv {
			w.warn.add("dev", "skipped %d device node(s): creating them needs root (first: %s)", w.where())
			return false, nil
		}
		dev = unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if k == kindChar {
			mode |= unix.S_IFCHR
		} else {
			mode |= unix.S_IFBLK
		}
	case kindFifo:
		// mkfifo needs no privilege, so FIFOs are created for everyone.
		mode |= unix.S_IFIFO
	}
	if err := unix.Mknodat(h.fd, name, mode, int(dev)); err != nil {
		return false, &os.PathError{Op: "mknodat", Path: name, Err: err}
	}
	w.files++
	if err := w.lchown(h, name, hdr, true); err != nil {
		return true, err
	}
	// The node was just made by us in a directory only we can write, so
	// following (fchmodat has no working NOFOLLOW for this) is safe;
	// opening a device to fchmod it could have side effects.
	if err := unix.Fchmodat(h.fd, name, uint32(hdr.Mode&0o7777), 0); err != nil {
		return true, &os.PathError{Op: "fchmodat", Path: name, Err: err}
	}
	if err := w.xattrsAt(h, name, hdr); err != nil {
		return true, err
	}
	return true, setTimes(h, name, hdr)
}

// mkdir creates a directory owned by us with room to write into it; the
// image's mode and times are applied once everything is in place (see
// dirAttr), so that a read-only directory can still be filled without
// root, and adding entries does not disturb its mtime.
func (w *writer) mkdir(h *dirHandle, name string) error {
	return h.root.Mkdir(name, 0o700)
}

// dirOwner applies a directory entry's owner and extended attributes;
// fresh says we just made the directory.
func (w *writer) dirOwner(h *dirHandle, name string, hdr *tar.Header, fresh bool) error {
	if err := w.lchown(h, name, hdr, fresh); err != nil {
		return err
	}
	if len(xattrs(hdr)) == 0 {
		return nil
	}
	fd, err := unix.Openat(h.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "openat", Path: name, Err: err}
	}
	defer unix.Close(fd)
	return w.xattrsFd(fd, hdr)
}

func (w *writer) xattrsFd(fd int, hdr *tar.Header) error {
	xs := xattrs(hdr)
	if len(xs) == 0 {
		return nil
	}
	return w.setXattrs(xs, func(name, value string) error {
		return unix.Fsetxattr(fd, name, []byte(value), 0)
	})
}

// xattrsAt sets extended attributes on a symlink or device node, which
// cannot be opened for fsetxattr; /proc/self/fd names the directory we
// hold, so nothing but the final element is looked up, without following.
func (w *writer) xattrsAt(h *dirHandle, name string, hdr *tar.Header) error {
	xs := xattrs(hdr)
	if len(xs) == 0 {
		return nil
	}
	p := "/proc/self/fd/" + strconv.Itoa(h.fd) + "/" + name
	return w.setXattrs(xs, func(n, v string) error {
		return unix.Lsetxattr(p, n, []byte(v), 0)
	})
}

func (w *writer) setXattrs(xs [][2]string, set func(name, value string) error) error {
	for _, x := range xs {
		if !w.priv && !strings.HasPrefix(x[0], "user.") {
			w.warn.add("xattr-priv:"+x[0], "did not set extended attribute "+esc(x[0])+" on %d file(s): it needs root (first: %s)", w.where())
			continue
		}
		err := set(x[0], x[1])
		switch {
		case err == nil:
		case errors.Is(err, unix.ENOTSUP), errors.Is(err, unix.EOPNOTSUPP):
			w.warn.add("xattr-unsupported", "did not set extended attributes on %d file(s): the destination file system does not support them (first: %s)", w.where())
		case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES), errors.Is(err, unix.EINVAL),
			errors.Is(err, unix.E2BIG), errors.Is(err, unix.ERANGE), errors.Is(err, unix.ENOSPC):
			// Refused (security modules, capabilities of a user
			// namespace) or too large for this file system.
			w.warn.add("xattr-refused:"+x[0], "did not set extended attribute "+esc(x[0])+" on %d file(s): "+esc(err.Error())+" (first: %s)", w.where())
		default:
			return fmt.Errorf("set extended attribute %s: %w", x[0], err)
		}
	}
	return nil
}

func (w *writer) where() string {
	return fmt.Sprintf("/%s in layer %s", w.entry, w.layer)
}

// link makes newPath a hard link to oldPath, both relative to top.
func (w *writer) link(top *os.Root, oldPath, newPath string) error {
	if err := top.Link(oldPath, newPath); err != nil {
		return err
	}
	w.files++
	return nil
}

func setTimes(h *dirHandle, name string, hdr *tar.Header) error {
	at, mt := times(hdr)
	return utimes(h, name, at, mt)
}

func utimes(h *dirHandle, name string, at, mt time.Time) error {
	ts := []unix.Timespec{timespec(at), timespec(mt)}
	if err := unix.UtimesNanoAt(h.fd, name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimensat", Path: name, Err: err}
	}
	return nil
}

// timespec converts without UnixNano, which overflows outside 1678–2262
// and archives do carry such dates.
func timespec(t time.Time) unix.Timespec {
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}
