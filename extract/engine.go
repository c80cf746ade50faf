package extract

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"time"
)

// errNeedsBottomUp stops the top-down engine when the image is one that
// only applying the layers in order reproduces (see the package
// documentation).
var errNeedsBottomUp = errors.New("image needs its layers applied in order")

// extraction is one call of Extract.
type extraction struct {
	ctx    context.Context
	layers []Layer
	specs  []*spec
	priv   bool
	dest   *destination

	w      *writer
	cache  handleCache
	nstage int
	async  int64 // files created on other goroutines
}

// stage is the staging directory of one match of one spec: the object at
// the match's root is written as "x" in it, and finish moves it (or its
// contents) into place.
type stage struct {
	spec     *spec
	root     *node  // in the top-down tree
	rootPath string // the match's path in the image, without a leading "/"
	dir      string // relative to the temporary directory
	made     bool   // dir exists
}

// output is what an engine hands to finish: the stages whose contents go
// to the destination, in order, and the directory attributes to apply
// once everything is in place.
type output struct {
	stages []*stage
	dirs   []dirMeta
	engine string
}

// dirMeta is a directory's mode and times, applied last: adding entries
// changes a directory's mtime, and a read-only directory cannot be filled
// without root.
type dirMeta struct {
	st           *stage
	rel          string // relative to the stage root; "." is the root itself
	implicit     bool   // no entry made it: mode 0755, times left alone
	mode         fs.FileMode
	atime, mtime time.Time
}

func metaOf(hdr *tar.Header) dirMeta {
	at, mt := times(hdr)
	return dirMeta{mode: perm(hdr), atime: at, mtime: mt}
}

// implicitMode is the mode of directories that exist only as parents, as
// containerd and umoci give them.
const implicitMode fs.FileMode = 0o755

func (x *extraction) begin() {
	x.w = newWriter(x.priv)
}

func (x *extraction) newStage(sp *spec, root *node, rootPath string) *stage {
	st := &stage{spec: sp, root: root, rootPath: rootPath, dir: "s" + strconv.Itoa(x.nstage)}
	x.nstage++
	return st
}

// stageHandle returns the stage's directory, creating it on first use.
func (x *extraction) stageHandle(st *stage) (*dirHandle, error) {
	k := handleKey{st: st}
	if h := x.cache.get(k); h != nil {
		return h, nil
	}
	top := x.dest.tmp
	if !st.made {
		if err := top.Mkdir(st.dir, 0o700); err != nil {
			return nil, err
		}
		st.made = true
	}
	r, err := top.OpenRoot(st.dir)
	if err != nil {
		return nil, err
	}
	h, err := newHandle(r)
	if err != nil {
		return nil, err
	}
	x.cache.put(k, h)
	return h, nil
}

// reset discards a failed attempt's output, so that another engine can
// start afresh in the same temporary directory.
func (x *extraction) reset() error {
	x.cache.closeAll()
	for i := range x.nstage {
		if err := removeTree(x.dest.tmp, "s"+strconv.Itoa(i)); err != nil {
			return err
		}
	}
	x.nstage, x.async = 0, 0
	return nil
}

// layerReader opens layer i for reading, with a tar reader on top.
type layerReader struct {
	rc     io.ReadCloser
	tr     *tar.Reader
	digest string
}

func (x *extraction) openLayer(i int) (*layerReader, error) {
	l := x.layers[i]
	rc, err := openLayer(x.ctx, l)
	if err != nil {
		return nil, err
	}
	return &layerReader{rc: rc, tr: tar.NewReader(rc), digest: l.Digest()}, nil
}

// next returns the next header, nil at the end.
func (r *layerReader) next() (*tar.Header, error) {
	hdr, err := r.tr.Next()
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("layer %s: read tar stream: %w", r.digest, err)
	}
	return hdr, nil
}

// entryErr names the entry in err, unless err is not about the entry.
func entryErr(digest string, hdr *tar.Header, err error) error {
	var ee *EntryError
	if errors.As(err, &ee) || errors.Is(err, errNeedsBottomUp) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &EntryError{Layer: digest, Entry: hdr.Name, Err: err}
}

func (r *layerReader) close() { r.rc.Close() }

// removeTree removes name in r, making directories writable first when a
// read-only one stops it (only when not root: root needs no permission).
func removeTree(r *os.Root, name string) error {
	err := r.RemoveAll(name)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	_ = fs.WalkDir(r.FS(), name, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = r.Chmod(p, 0o700)
		}
		return nil
	})
	return r.RemoveAll(name)
}
