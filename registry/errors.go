package registry

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// ErrNotFound is wrapped by errors for a manifest, blob or repository that
// the registry says does not exist.
var ErrNotFound = errors.New("not found")

// ErrUnauthorized is wrapped by errors for a registry that refused the
// credentials, or wants some and none were found.
var ErrUnauthorized = errors.New("unauthorized")

// classify wraps err with ErrNotFound or ErrUnauthorized when the registry's
// answer says so, and names what it was asked about.
func classify(host, what string, err error) error {
	if err == nil {
		return nil
	}
	err = redact(err)
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case te.StatusCode == http.StatusNotFound || hasCode(te, transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode):
			return fmt.Errorf("%s: %w in the registry (%v)", what, ErrNotFound, err)
		case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden || hasCode(te, transport.UnauthorizedErrorCode, transport.DeniedErrorCode):
			return fmt.Errorf("%s: %s: %w (%v); check the credentials for %s: run `docker login %s` or `podman login %s`, or pass --authfile", what, host, ErrUnauthorized, err, host, host, host)
		case retryStatus[te.StatusCode]:
			// retryTransport hands such a status on only when every
			// attempt got it. transport.Error's own text would send the
			// user to "use GET for details" after a HEAD.
			msg := fmt.Sprintf("%s: registry %s keeps failing: %d %s on every attempt", what, host, te.StatusCode, http.StatusText(te.StatusCode))
			if te.Request != nil {
				// The path only: a redirect's query may be signed.
				msg += fmt.Sprintf(" to %s %s", te.Request.Method, te.Request.URL.Path)
			}
			for _, d := range te.Errors {
				msg += fmt.Sprintf(" (%s)", d.String())
			}
			return errors.New(msg + "; try again later")
		}
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		// The ping's "https then http" attempts make the raw error
		// long; say plainly what happened.
		return fmt.Errorf("%s: cannot reach registry %s: %w; check that it is running and the address is right", what, host, oe.Err)
	}
	if errors.As(err, &oe) && oe.Op == "remote error" && strings.Contains(oe.Err.Error(), "certificate") {
		// A TLS alert about a certificate, from the registry: it wants
		// a client certificate, or not the one it was given.
		return fmt.Errorf("%s: registry %s refused the TLS connection (%v): it wants a client certificate it trusts; put client.cert and client.key in /etc/containers/certs.d/%s/ or in the --cert-dir directory", what, host, oe.Err, host)
	}
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) {
		return fmt.Errorf("%s: the TLS certificate of registry %s is not trusted here (%v); put the CA that issued it in /etc/containers/certs.d/%s/ca.crt or in the --cert-dir directory", what, host, cve.Err, host)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// classify is classify with the URL in the error showing the scheme the
// request was really sent with.
func (r *Repository) classify(what string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && r.scheme != "" {
		if u, perr := url.Parse(ue.URL); perr == nil && u.Host == r.host && u.Scheme != r.scheme {
			u.Scheme = r.scheme
			ue.URL = u.String()
		}
	}
	return classify(r.host, what, err)
}

func hasCode(te *transport.Error, codes ...transport.ErrorCode) bool {
	for _, d := range te.Errors {
		for _, c := range codes {
			if d.Code == c {
				return true
			}
		}
	}
	return false
}
