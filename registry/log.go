package registry

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
)

// logTransport logs each request at debug level: method, host, path,
// status, and Docker Hub's rate-limit headers. It never logs headers,
// bodies or query strings, which may carry credentials, tokens or signed
// blob URLs.
type logTransport struct {
	inner http.RoundTripper
	log   *slog.Logger
}

func (t *logTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.inner.RoundTrip(req)
	if !t.log.Enabled(req.Context(), slog.LevelDebug) {
		return resp, err
	}
	attrs := []any{"method", req.Method, "host", req.URL.Host, "path", req.URL.Path}
	if err != nil {
		t.log.DebugContext(req.Context(), "registry request failed", append(attrs, "err", redact(err).Error())...)
		return resp, err
	}
	attrs = append(attrs, "status", resp.StatusCode)
	if v := resp.Header.Get("RateLimit-Remaining"); v != "" {
		attrs = append(attrs, "ratelimit-remaining", v)
	}
	t.log.DebugContext(req.Context(), "registry request", attrs...)
	return resp, err
}

// redact drops the URL from a *url.Error: after a redirect it is the blob
// storage's URL, whose query string may carry a signature.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		u := *ue
		if parsed, perr := url.Parse(ue.URL); perr == nil {
			parsed.RawQuery, parsed.User, parsed.Fragment = "", nil, ""
			u.URL = parsed.String()
		} else {
			u.URL = "(url withheld)"
		}
		return &u
	}
	return err
}
