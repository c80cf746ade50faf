package extract

import (
	"archive/tar"
	"bytes"
	"runtime"
	"sync"
)

// creators create regular files on several goroutines. Creating a file
// costs the kernel from ten microseconds (tmpfs) to most of a millisecond
// (ext4 on some virtual disks, where it, not decompression, limits
// extraction); on more than one core, those costs overlap. Only files
// whose data was read ahead go here; the engine waits for all of them
// (wait) before anything that needs them done: a hard link, a removal,
// the end of the layers.
type creators struct {
	jobs chan *creation
	wg   sync.WaitGroup // creations submitted and not finished
	done sync.WaitGroup // the goroutines
	ws   []*writer

	mu  sync.Mutex
	err error // the first creation that failed
}

type creation struct {
	h            *dirHandle // pinned until the file is made
	name         string
	hdr          *tar.Header
	data         []byte
	layer, entry string
	release      func()
}

func newCreators(like *writer) *creators {
	c := &creators{jobs: make(chan *creation, 64)}
	for range runtime.GOMAXPROCS(0) {
		w := newWriter(like.priv)
		c.ws = append(c.ws, w)
		c.done.Add(1)
		go c.run(w)
	}
	return c
}

func (c *creators) run(w *writer) {
	defer c.done.Done()
	for j := range c.jobs {
		w.layer, w.entry = j.layer, j.entry
		err := w.file(j.h, j.name, j.hdr, bytes.NewReader(j.data))
		j.h.unpin()
		j.release()
		if err != nil {
			c.mu.Lock()
			if c.err == nil {
				c.err = entryErr(j.layer, j.hdr, err)
			}
			c.mu.Unlock()
		}
		c.wg.Done()
	}
}

// submit queues a creation, unless one has failed: then it returns that
// error.
func (c *creators) submit(j *creation) error {
	if err := c.failed(); err != nil {
		return err
	}
	j.h.pin()
	c.wg.Add(1)
	c.jobs <- j
	return nil
}

func (c *creators) failed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// wait returns once every submitted creation is done, with the first
// error.
func (c *creators) wait() error {
	c.wg.Wait()
	return c.failed()
}

// stop ends the goroutines, adds their counts and warnings to w, and
// returns how many files they made.
func (c *creators) stop(w *writer) int64 {
	c.wg.Wait()
	close(c.jobs)
	c.done.Wait()
	var n int64
	for _, cw := range c.ws {
		n += cw.files
		w.files += cw.files
		w.bytes += cw.bytes
		w.warn.merge(&cw.warn)
	}
	return n
}
