package extract

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Layer is one layer blob of an image. Extract takes layers in order from
// the base to the top.
type Layer interface {
	// MediaType is the OCI or Docker layer media type: tar, tar+gzip or
	// tar+zstd (Docker's rootfs.diff.tar.gzip too).
	MediaType() string
	// Digest names the layer in errors and warnings.
	Digest() string
	// Open returns the blob bytes as stored (compressed). Extract may
	// call it more than once for the same layer: see the package
	// documentation for when.
	Open() (io.ReadCloser, error)
}

// PathSpec selects one source path of the image, like an OpenShift image
// source (sourcePath → destinationDir).
type PathSpec struct {
	// Src is a path in the image's flattened root filesystem. A directory
	// is copied as a directory into DestDir; a trailing "/." copies its
	// contents instead; a file is copied into DestDir. Path elements may
	// be glob patterns (* ? [...], as path.Match).
	Src string
	// DestDir is a directory relative to the destination; "" means the
	// destination itself.
	DestDir string
}

// ParsePathSpec parses "SRC[:DESTDIR]". The split is at the last colon, so
// a SRC that contains a colon needs an explicit DESTDIR (possibly empty:
// "/a:b:" is SRC "/a:b" into the destination itself).
func ParsePathSpec(s string) (PathSpec, error) {
	ps := PathSpec{Src: s}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		ps = PathSpec{Src: s[:i], DestDir: s[i+1:]}
	}
	if _, err := compileSpec(0, ps); err != nil {
		return PathSpec{}, err
	}
	return ps, nil
}

// String returns the spec in the form ParsePathSpec reads.
func (p PathSpec) String() string {
	if p.DestDir == "" && !strings.Contains(p.Src, ":") {
		return p.Src
	}
	return p.Src + ":" + p.DestDir
}

// Options controls Extract. The zero value extracts the whole root
// filesystem into an empty or absent destination.
type Options struct {
	// Paths selects what to extract; empty means the whole flattened root
	// filesystem.
	Paths []PathSpec
	// Force allows a non-empty destination: the extracted tree is merged
	// into it (see the package documentation).
	Force bool
	// Rootless makes Extract behave as an unprivileged user even when it
	// runs as root: no ownership from the image, no device nodes, no
	// extended attributes outside the user. namespace. Without root,
	// Extract behaves this way whatever Rootless says.
	Rootless bool
	// Warn receives non-fatal warnings (device nodes skipped, extended
	// attributes not set), once each kind, after a successful
	// extraction. Nil discards them; they are in Result.Warnings too.
	Warn func(msg string)
}

// Result reports what Extract wrote. Reading layers from the top down, it
// writes only what ends up in the destination; an image that needs its
// layers applied in order (see the package documentation) also counts
// what later layers replaced, and with PathSpecs what was not selected.
type Result struct {
	// Files counts the filesystem objects created from image entries:
	// regular files, directories, symlinks, hard links, device nodes and
	// FIFOs. Directories created only as missing parents do not count.
	Files int64
	// Bytes counts regular-file content bytes written.
	Bytes int64
	// Warnings are the non-fatal warnings, as passed to Options.Warn.
	Warnings []string

	// engine names the strategy that produced the result, and async
	// counts the files created on other goroutines, for tests.
	engine string
	async  int64
}

// ErrDestNotEmpty is returned (wrapped) when the destination holds files
// and Options.Force is not set.
var ErrDestNotEmpty = errors.New("destination is not empty")

// NotFoundError reports a PathSpec whose source matches nothing in the
// image.
type NotFoundError struct {
	// Src is the source path as given in the PathSpec.
	Src string
	// Reason says why, when there is more to say than "not found".
	Reason string
}

func (e *NotFoundError) Error() string {
	msg := fmt.Sprintf("%s: no such file or directory in the image", e.Src)
	if e.Reason != "" {
		msg = fmt.Sprintf("%s: %s", e.Src, e.Reason)
	}
	return msg + " (paths are absolute in the image's root filesystem; globs match one path element each)"
}

// EntryError reports a layer entry that Extract refuses or fails to
// extract.
type EntryError struct {
	// Layer is the digest of the layer holding the entry.
	Layer string
	// Entry is the entry's name as stored in the layer.
	Entry string
	// Err says what is wrong.
	Err error
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("layer %s: entry %q: %v", e.Layer, truncate(e.Entry, 200), e.Err)
}

func (e *EntryError) Unwrap() error { return e.Err }

// truncate keeps error messages readable when a hostile entry has a name
// of many kilobytes.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("%s…(%d bytes)", s[:n], len(s))
}

// Extract writes the flattened root filesystem of layers, or the parts of
// it that opts.Paths select, into the directory dest. On error, dest is
// left as it was: absent, empty, or (with Force) unchanged, except when
// the error says the final merge into a non-empty dest failed part way.
func Extract(ctx context.Context, layers []Layer, dest string, opts Options) (Result, error) {
	return run(ctx, layers, dest, opts, engineAuto)
}

// engine selects the extraction strategy; tests pin one to compare them.
type engine int

const (
	// engineAuto reads layers from the top down and falls back to
	// applying them from the bottom up when the image needs it.
	engineAuto engine = iota
	// engineTopDown fails with errNeedsBottomUp instead of falling back.
	engineTopDown
	// engineBottomUp applies layers in order, as runtimes do.
	engineBottomUp
)

func run(ctx context.Context, layers []Layer, dest string, opts Options, eng engine) (Result, error) {
	specs, err := compileSpecs(opts.Paths)
	if err != nil {
		return Result{}, err
	}
	d, err := openDest(dest, opts.Force)
	if err != nil {
		return Result{}, err
	}
	defer d.cleanup()

	x := &extraction{
		ctx:    ctx,
		layers: layers,
		specs:  specs,
		priv:   os.Geteuid() == 0 && !opts.Rootless,
		dest:   d,
	}
	var out *output
	switch eng {
	case engineBottomUp:
		out, err = x.bottomUp()
	default:
		out, err = x.topDown()
		if errors.Is(err, errNeedsBottomUp) && eng == engineAuto {
			if err = x.reset(); err == nil {
				out, err = x.bottomUp()
			}
		}
	}
	if err != nil {
		return Result{}, err
	}
	if err := d.finish(ctx, out); err != nil {
		return Result{}, err
	}
	res := Result{Files: x.w.files, Bytes: x.w.bytes, Warnings: x.w.warn.messages(), engine: out.engine, async: x.async}
	if opts.Warn != nil {
		for _, m := range res.Warnings {
			opts.Warn(m)
		}
	}
	return res, nil
}
