package registry

import (
	"fmt"
	"net"
	"net/http"
	"strings"
)

// httpGuard refuses plain-HTTP requests to hosts that are not allowed them.
// go-containerregistry falls back to plain HTTP on its own for private
// (RFC 1918) addresses; freshpull speaks HTTP only to loopback and to the
// registries the user names (--insecure-registry, registries.conf
// insecure = true, --tls-verify=false), so that nobody on a private
// network can downgrade a pull by blocking HTTPS.
type httpGuard struct {
	inner http.RoundTripper
	allow func(host string) bool
}

func (g *httpGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !isLoopback(req.URL.Host) && !g.allow(req.URL.Host) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("refusing plain HTTP to %s: only localhost and registries named with --insecure-registry (or insecure = true in registries.conf) are spoken to without TLS", req.URL.Host)
	}
	return g.inner.RoundTrip(req)
}

// isLoopback reports whether host[:port] names this machine.
func isLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
