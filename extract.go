package freshpull

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/freshpull/freshpull/extract"
	"github.com/freshpull/freshpull/store"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ExtractOptions configure [Extract].
type ExtractOptions struct {
	// Paths selects what to copy out of the image; empty means the whole
	// flattened root filesystem.
	Paths []extract.PathSpec
	// Force allows a non-empty destination.
	Force bool
	// Rootless extracts as an unprivileged user would, even as root.
	Rootless bool
}

// ExtractResult is a pull's Result plus what extraction wrote.
type ExtractResult struct {
	Result
	// Dest is the destination directory.
	Dest string `json:"dest"`
	// Files and Bytes count what was written.
	Files int64 `json:"files"`
	Bytes int64 `json:"bytes"`
	// Warnings are non-fatal extraction warnings (device nodes skipped
	// when not root, extended attributes the filesystem refused).
	Warnings []string `json:"warnings,omitempty"`
}

// Extract obtains input under opts.Policy exactly as [Pull] does and writes
// its flattened root filesystem, or the paths xopts selects, into dest. The
// store's shared lock is held from the pull to the last byte written, so
// garbage collection cannot remove a layer in between.
func Extract(ctx context.Context, input, dest string, opts Options, xopts ExtractOptions) (ExtractResult, error) {
	res := ExtractResult{Result: Result{Reference: input, Policy: opts.Policy.String()}, Dest: dest}
	release, err := opts.Store.Use(ctx)
	if err != nil {
		err = opError("extract", input, err)
		res.fail(err)
		return res, err
	}
	defer release()
	if err := pull(ctx, input, opts, &res.Result); err != nil {
		res.fail(err)
		return res, err
	}
	layers, err := storeLayers(opts.Store, res.Entry)
	if err == nil {
		var xr extract.Result
		xr, err = extract.Extract(ctx, layers, dest, extract.Options{Paths: xopts.Paths, Force: xopts.Force, Rootless: xopts.Rootless})
		res.Files, res.Bytes, res.Warnings = xr.Files, xr.Bytes, xr.Warnings
	}
	if err != nil {
		err = fmt.Errorf("extract %s into %s: %w", res.Canonical, dest, err)
		if errors.Is(err, extract.ErrDestNotEmpty) {
			// The user can fix the invocation: another DEST, or --force.
			err = &InputError{err}
		}
		res.fail(err)
		return res, err
	}
	return res, nil
}

// storeLayers lists the image's layers as blobs in the store.
func storeLayers(st *store.Store, e store.Entry) ([]extract.Layer, error) {
	m, _, err := st.Manifest(e)
	if err != nil {
		return nil, err
	}
	layers := make([]extract.Layer, len(m.Layers))
	for i, d := range m.Layers {
		layers[i] = storeLayer{st: st, desc: d}
	}
	return layers, nil
}

// storeLayer is a layer blob in the store, for the extract package.
type storeLayer struct {
	st   *store.Store
	desc ocispec.Descriptor
}

func (l storeLayer) MediaType() string { return l.desc.MediaType }
func (l storeLayer) Digest() string    { return l.desc.Digest.String() }
func (l storeLayer) Open() (io.ReadCloser, error) {
	return l.st.OpenBlob(l.desc.Digest)
}
