package testauth

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"strconv"

	"github.com/freshpull/freshpull/internal/localregistry"
)

// ServeTLS is the registry configuration that serves HTTPS with cert (from
// CA.ServerCert(t, "127.0.0.1")).
func ServeTLS(cert *Cert) localregistry.Config {
	return localregistry.Config{
		HTTP:   fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", strconv.Quote(cert.CertFile), strconv.Quote(cert.KeyFile)),
		Scheme: "https",
	}
}

// ServeMutualTLS serves TLS with cert and requires a client certificate
// issued by one of the CAs in the PEM file clientCAs.
func ServeMutualTLS(cert *Cert, clientCAs string) localregistry.Config {
	c := ServeTLS(cert)
	c.HTTP += fmt.Sprintf("    clientcas:\n      - %s\n", strconv.Quote(clientCAs))
	return c
}

// HtpasswdAuth is the registry configuration for Basic authentication
// against the htpasswd file at path (from Htpasswd).
func HtpasswdAuth(path string) localregistry.Config {
	return localregistry.Config{
		Top: fmt.Sprintf("auth:\n  htpasswd:\n    realm: freshpull-test\n    path: %s\n", strconv.Quote(path)),
	}
}

// TokenAuth is the registry configuration that sends clients to ts for
// tokens and trusts the tokens ts signs.
func TokenAuth(ts *TokenServer) localregistry.Config {
	return localregistry.Config{
		Top: fmt.Sprintf("auth:\n  token:\n    realm: %s\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n",
			strconv.Quote(ts.Realm), strconv.Quote(ts.Service), strconv.Quote(ts.Issuer), strconv.Quote(ts.RootCertBundle)),
	}
}

// Merge combines configurations (TLS with an auth mode, say): their texts
// are concatenated, and the scheme is https if any of them serves TLS.
func Merge(cfgs ...localregistry.Config) localregistry.Config {
	var out localregistry.Config
	for _, c := range cfgs {
		out.HTTP += c.HTTP
		out.Top += c.Top
		if c.Scheme != "" {
			out.Scheme = c.Scheme
		}
	}
	return out
}

// Transport returns an HTTP transport that trusts only this CA: for
// clients of a registry or token server with certificates from it.
func (ca *CA) Transport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: ca.Pool()}
	return tr
}
