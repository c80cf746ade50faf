package extract

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

type compression int

const (
	uncompressed compression = iota
	gzipped
	zstded
)

// compressionOf maps a layer media type to its compression. Unknown types
// are refused rather than sniffed: a media type we do not know may mean
// encryption or a format whose bytes are not a tar stream at all.
func compressionOf(mediaType string) (compression, error) {
	switch mediaType {
	case "application/vnd.oci.image.layer.v1.tar",
		"application/vnd.oci.image.layer.nondistributable.v1.tar",
		"application/vnd.docker.image.rootfs.diff.tar":
		return uncompressed, nil
	case "application/vnd.oci.image.layer.v1.tar+gzip",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		"application/vnd.docker.image.rootfs.diff.tar.gzip",
		"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip":
		return gzipped, nil
	case "application/vnd.oci.image.layer.v1.tar+zstd",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd":
		return zstded, nil
	}
	hint := ""
	if strings.Contains(mediaType, "encrypted") {
		hint = "; encrypted layers must be decrypted first"
	}
	return 0, fmt.Errorf("unsupported layer media type %q (supported: OCI and Docker tar, tar+gzip, tar+zstd%s)", mediaType, hint)
}

// openLayer returns the layer's uncompressed tar stream. Decompression runs
// in its own goroutine, a few megabytes ahead of the reader, so that it
// overlaps with the file system calls that dominate the other side.
func openLayer(ctx context.Context, l Layer) (io.ReadCloser, error) {
	c, err := compressionOf(l.MediaType())
	if err != nil {
		return nil, err
	}
	blob, err := l.Open()
	if err != nil {
		return nil, fmt.Errorf("open layer %s: %w", l.Digest(), err)
	}
	var src io.Reader = blob
	closeSrc := func() {}
	switch c {
	case gzipped:
		zr, err := gzip.NewReader(blob)
		if err != nil {
			blob.Close()
			return nil, fmt.Errorf("layer %s: not gzip data: %w", l.Digest(), err)
		}
		src = zr
	case zstded:
		// One decoder goroutine: the read-ahead goroutine already keeps
		// it off the extracting goroutine, and cores are shared.
		zr, err := zstd.NewReader(blob, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<30))
		if err != nil {
			blob.Close()
			return nil, fmt.Errorf("layer %s: zstd: %w", l.Digest(), err)
		}
		src, closeSrc = zr, zr.Close
	}
	return newReadahead(ctx, src, func() { closeSrc(); blob.Close() }, l.Digest()), nil
}

const (
	raChunk  = 1 << 20
	raChunks = 4
)

// readahead decouples a producer goroutine reading src from the consumer.
type readahead struct {
	ctx    context.Context
	full   chan []byte
	free   chan []byte
	stop   chan struct{}
	done   chan struct{}
	buf    []byte // chunk being read, and how far
	off    int
	err    error // set by the producer before it closes full
	close  func()
	digest string
}

func newReadahead(ctx context.Context, src io.Reader, closeSrc func(), digest string) *readahead {
	r := &readahead{
		ctx:    ctx,
		full:   make(chan []byte, raChunks),
		free:   make(chan []byte, raChunks),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		close:  closeSrc,
		digest: digest,
	}
	for range raChunks {
		r.free <- make([]byte, raChunk)
	}
	go r.produce(src)
	return r
}

func (r *readahead) produce(src io.Reader) {
	defer close(r.done)
	defer close(r.full)
	for {
		var buf []byte
		select {
		case buf = <-r.free:
		case <-r.stop:
			return
		}
		buf = buf[:cap(buf)]
		n := 0
		var err error
		for n < len(buf) && err == nil {
			var m int
			m, err = src.Read(buf[n:])
			n += m
		}
		if n > 0 {
			select {
			case r.full <- buf[:n]:
			case <-r.stop:
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				err = fmt.Errorf("layer %s: decompress: %w", r.digest, err)
			}
			r.err = err
			return
		}
	}
}

func (r *readahead) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for r.off == len(r.buf) {
		if r.buf != nil {
			r.free <- r.buf
			r.buf = nil
		}
		select {
		case buf, ok := <-r.full:
			if !ok {
				return 0, r.err
			}
			r.buf, r.off = buf, 0
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

// Close stops the producer and releases the layer.
func (r *readahead) Close() error {
	close(r.stop)
	<-r.done
	r.close()
	return nil
}
