package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// errStalled is the cause given to a request whose body went silent.
var errStalled = errors.New("stalled")

// stallTransport fails a response body that brings no byte for timeout.
// http.Transport bounds only the wait for the response headers, so without
// it a registry that stops sending part-way through a blob holds the pull
// forever; with it the read fails, and the store continues the download
// from where it stopped. Only the registry's silence counts: the clock runs
// while a Read waits, not while the caller writes what it read.
type stallTransport struct {
	inner   http.RoundTripper
	timeout time.Duration
}

func (t *stallTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	resp, err := t.inner.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel(nil)
		return nil, err
	}
	resp.Body = &stallReader{body: resp.Body, timeout: t.timeout, cancel: cancel}
	return resp, nil
}

type stallReader struct {
	body    io.ReadCloser
	timeout time.Duration
	// cancel ends the request: the only way to interrupt a blocked
	// read of the body.
	cancel  context.CancelCauseFunc
	timer   *time.Timer
	stalled atomic.Bool
}

func (r *stallReader) Read(p []byte) (int, error) {
	if r.timer == nil {
		r.timer = time.AfterFunc(r.timeout, func() {
			r.stalled.Store(true)
			r.cancel(errStalled)
		})
	} else {
		r.timer.Reset(r.timeout)
	}
	n, err := r.body.Read(p)
	r.timer.Stop()
	if err != nil && err != io.EOF && r.stalled.Load() {
		// Not wrapped: the context.Canceled underneath is not the
		// caller's cancellation.
		err = fmt.Errorf("registry sent nothing for %v (timeout)", r.timeout)
	}
	return n, err
}

func (r *stallReader) Close() error {
	if r.timer != nil {
		r.timer.Stop()
	}
	err := r.body.Close()
	r.cancel(nil)
	return err
}
