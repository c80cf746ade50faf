package faultproxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// A Fault is what the proxy does with a request instead of forwarding it
// untouched.
type Fault struct {
	name       string
	retryAfter int
	serve      func(p *Proxy, w http.ResponseWriter, r *http.Request)
}

// String names the fault, as the request log shows it.
func (f Fault) String() string { return f.name }

// Status answers code without asking the registry (500, 502, 503, a 405
// for HEAD, …).
func Status(code int) Fault {
	return Fault{name: strconv.Itoa(code), serve: func(_ *Proxy, w http.ResponseWriter, _ *http.Request) {
		http.Error(w, http.StatusText(code), code)
	}}
}

// RetryAfter answers code (429, 503) with "Retry-After: seconds" and a
// distribution-style error body. Requests for the same path that arrive
// before the time is up are marked Early in the log.
func RetryAfter(code, seconds int) Fault {
	return Fault{name: fmt.Sprintf("%d Retry-After %d", code, seconds), retryAfter: seconds, serve: func(_ *Proxy, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", strconv.Itoa(seconds))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down; retry after %d seconds"}]}`, seconds)
	}}
}

// DropHeader forwards the request and removes header from the answer
// (Docker-Content-Digest, for a registry that leaves it out).
func DropHeader(header string) Fault {
	return Fault{name: "drop " + header, serve: func(p *Proxy, w http.ResponseWriter, r *http.Request) {
		p.forward(w, r, func(resp *http.Response) { resp.Header.Del(header) })
	}}
}

// Corrupt forwards the request and flips one byte in the middle of the
// body, keeping its length and headers: the bytes no longer match their
// digest.
func Corrupt() Fault {
	return Fault{name: "corrupt", serve: func(p *Proxy, w http.ResponseWriter, r *http.Request) {
		resp, ok := p.fetch(w, r)
		if !ok {
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return
		}
		if len(body) > 0 {
			body[len(body)/2] ^= 0xff
		}
		writeHeader(w, resp)
		w.Write(body)
	}}
}

// Reset sends the answer's headers and its first n body bytes, then resets
// the connection (TCP RST), as a dropped connection does mid-download.
func Reset(n int64) Fault {
	return Fault{name: fmt.Sprintf("reset after %d bytes", n), serve: func(p *Proxy, w http.ResponseWriter, r *http.Request) {
		if !p.forwardFirst(w, r, n, nil) {
			return
		}
		rc := http.NewResponseController(w)
		rc.Flush()
		conn, _, err := rc.Hijack()
		if err != nil {
			return
		}
		if tcp, ok := conn.(*net.TCPConn); ok {
			// Let the client's kernel take every byte sent, so the
			// client holds exactly n bytes when the reset comes; with
			// linger 0, Close sends RST instead of FIN.
			waitSent(tcp, 10*time.Second)
			tcp.SetLinger(0)
		}
		conn.Close()
	}}
}

// Truncate sends the first n body bytes and ends the answer. With
// keepLength the answer announces its full Content-Length and the
// connection closes short of it; without, the answer has no Content-Length
// and ends cleanly, so only the size tells the body is short.
func Truncate(n int64, keepLength bool) Fault {
	name := fmt.Sprintf("truncate after %d bytes", n)
	if !keepLength {
		name += ", no Content-Length"
	}
	return Fault{name: name, serve: func(p *Proxy, w http.ResponseWriter, r *http.Request) {
		p.forwardFirst(w, r, n, func(resp *http.Response) {
			if !keepLength {
				resp.ContentLength = -1
			}
		})
		// Returning with less than Content-Length written makes the
		// server close the connection.
	}}
}

// Hang accepts the request and never answers, until the client gives up.
func Hang() Fault {
	return Fault{name: "hang", serve: func(p *Proxy, _ http.ResponseWriter, r *http.Request) {
		p.hold(r)
	}}
}

// Stall sends the answer's headers and first n body bytes, then nothing
// more until the client gives up.
func Stall(n int64) Fault {
	return Fault{name: fmt.Sprintf("stall after %d bytes", n), serve: func(p *Proxy, w http.ResponseWriter, r *http.Request) {
		if !p.forwardFirst(w, r, n, nil) {
			return
		}
		http.NewResponseController(w).Flush()
		p.hold(r)
	}}
}

// Delay waits d before forwarding: a slow registry.
func Delay(d time.Duration) Fault {
	return Fault{name: "delay " + d.String(), serve: func(p *Proxy, w http.ResponseWriter, r *http.Request) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			p.forward(w, r, nil)
		case <-r.Context().Done():
		case <-p.closed:
		}
	}}
}

// hold blocks until the client goes away or the proxy closes.
func (p *Proxy) hold(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-p.closed:
	}
}

// fetch sends r to the registry. On failure it answers 502 and returns
// false.
func (p *Proxy) fetch(w http.ResponseWriter, r *http.Request) (*http.Response, bool) {
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = "http", p.upstream
	resp, err := p.client.RoundTrip(out)
	if err != nil {
		http.Error(w, "faultproxy: "+err.Error(), http.StatusBadGateway)
		return nil, false
	}
	return resp, true
}

// forward relays r to the registry and its answer back, after edit (if
// any) has changed the answer's headers.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, edit func(*http.Response)) {
	resp, ok := p.fetch(w, r)
	if !ok {
		return
	}
	defer resp.Body.Close()
	if edit != nil {
		edit(resp)
	}
	writeHeader(w, resp)
	io.Copy(w, resp.Body)
}

// writeHeader copies the status and headers of resp, with Content-Length
// as resp.ContentLength says (none when it is -1).
func writeHeader(w http.ResponseWriter, resp *http.Response) {
	h := w.Header()
	for k, vs := range resp.Header {
		h[k] = append([]string(nil), vs...)
	}
	h.Del("Content-Length")
	if resp.ContentLength >= 0 {
		h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.WriteHeader(resp.StatusCode)
}

// forwardFirst forwards the answer's headers (changed by edit first, when
// it is not nil) and its first n body bytes. It is false when the request
// to the registry failed (and answered as such).
func (p *Proxy) forwardFirst(w http.ResponseWriter, r *http.Request, n int64, edit func(*http.Response)) bool {
	resp, ok := p.fetch(w, r)
	if !ok {
		return false
	}
	defer resp.Body.Close()
	if edit != nil {
		edit(resp)
	}
	writeHeader(w, resp)
	io.CopyN(w, resp.Body, n)
	return true
}
