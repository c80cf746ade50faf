package store

import "os"

// writebackChunk is how much of a blob is written before the kernel is
// asked to start putting it on disk, so that the fsync that makes the blob
// durable waits for at most one chunk, not for the whole blob. Measured
// with bench/pull.sh on ext4 over virtio: 512 KiB to 2 MiB all do well,
// 8 MiB less so.
const writebackChunk = 2 << 20

// writebackWriter writes a blob's temp file and starts writeback of each
// full chunk while the download goes on. It changes no guarantee: the blob
// is still fsynced before it is renamed into place.
type writebackWriter struct {
	f         *os.File
	off, done int64 // bytes written; bytes whose writeback has started
}

func newWritebackWriter(f *os.File, off int64) *writebackWriter {
	return &writebackWriter{f: f, off: off, done: off}
}

func (w *writebackWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	if w.off-w.done >= writebackChunk {
		startWriteback(w.f, w.done, w.off-w.done)
		w.done = w.off
	}
	return n, err
}
