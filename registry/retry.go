package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// retryTransport retries idempotent requests on transient failures: 408,
// 429, 5xx gateway errors and broken connections, with exponential backoff,
// honouring Retry-After. go-containerregistry's retry transport ignores
// Retry-After, which is how registries say when to come back.
type retryTransport struct {
	inner    http.RoundTripper
	attempts int
	base     time.Duration
	// maxWait caps one wait, so a registry asking for an hour fails
	// visibly instead of hanging a build.
	maxWait time.Duration
	// wait sleeps between attempts; tests replace it to see the waits
	// without spending them.
	wait func(ctx context.Context, d time.Duration) error
}

var retryStatus = map[int]bool{
	http.StatusRequestTimeout:      true,
	http.StatusTooManyRequests:     true,
	http.StatusInternalServerError: true,
	http.StatusBadGateway:          true,
	http.StatusServiceUnavailable:  true,
	http.StatusGatewayTimeout:      true,
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return t.inner.RoundTrip(req)
	}
	for attempt := 1; ; attempt++ {
		resp, err := t.inner.RoundTrip(req)
		last := attempt >= t.attempts
		var wait time.Duration
		switch {
		case err != nil && (last || !retryableErr(err)):
			return nil, err
		case err != nil:
			wait = t.backoff(attempt)
		case !retryStatus[resp.StatusCode] || last:
			return resp, nil
		default:
			wait = retryAfter(resp.Header.Get("Retry-After"), time.Now())
			if wait <= 0 {
				wait = t.backoff(attempt)
			}
			if wait > t.maxWait {
				// The registry's own words about the wait may be
				// missing or vague: say what it asked for.
				resp.Body.Close()
				return nil, &retryLaterError{status: resp.Status, wait: wait, maxWait: t.maxWait}
			}
			// Drain a little so the connection can be reused.
			io.CopyN(io.Discard, resp.Body, 4<<10)
			resp.Body.Close()
		}
		sleepFn := t.wait
		if sleepFn == nil {
			sleepFn = sleep
		}
		if err := sleepFn(req.Context(), wait); err != nil {
			return nil, err
		}
	}
}

func (t *retryTransport) backoff(attempt int) time.Duration {
	d := t.base << (2 * (attempt - 1)) // base, 4×, 16×, …
	// Jitter spreads the retries of a build farm hitting one registry.
	return d + time.Duration(rand.Int64N(int64(d)/4+1))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return t.Sub(now)
	}
	return 0
}

// retryableErr reports network failures worth another try. A refused
// connection is not one: the registry is down, and `newer` should fall
// back at once rather than after a backoff.
func retryableErr(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	// A timeout is not retried either: --timeout is the user's bound on
	// how long a silent registry may hold the pull.
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE)
}

// retryLaterError is a registry asking, with Retry-After, to come back
// later than freshpull waits.
type retryLaterError struct {
	status        string
	wait, maxWait time.Duration
}

func (e *retryLaterError) Error() string {
	return fmt.Sprintf("registry answered %s and asks to retry after %v (Retry-After), longer than freshpull waits (%v); try again later", e.status, e.wait.Round(time.Second), e.maxWait)
}
