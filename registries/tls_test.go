package registries_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/freshpull/freshpull/internal/testauth"
	"github.com/freshpull/freshpull/registries"
)

// server starts an HTTPS server with a certificate from ca for 127.0.0.1.
// With clients set, it demands a client certificate from that pool. It
// answers with the common name of the client certificate, if any.
func server(t *testing.T, ca *testauth.CA, clients *x509.CertPool) (*httptest.Server, string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) > 0 {
			io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
		}
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.ServerCert(t, "127.0.0.1").TLS}}
	if clients != nil {
		srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		srv.TLS.ClientCAs = clients
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, srv.Listener.Addr().String()
}

// get does one request with cfg and returns the answer's body.
func get(t *testing.T, url string, cfg *tls.Config) (string, error) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func tlsConfig(t *testing.T, host string, opts registries.TLSOptions) *tls.Config {
	t.Helper()
	cfg, err := registries.TLSConfig(host, opts)
	if err != nil {
		t.Fatalf("TLSConfig(%s): %v", host, err)
	}
	return cfg
}

func unknownAuthority(err error) bool {
	var ua x509.UnknownAuthorityError
	return errors.As(err, &ua)
}

func TestTLSCertsD(t *testing.T) {
	ca := testauth.NewCA(t)
	srv, host := server(t, ca, nil)
	containers, docker := t.TempDir(), t.TempDir()
	opts := registries.TLSOptions{CertsDirs: []string{containers, docker}}

	// Without a certificate directory the private CA is unknown.
	if _, err := get(t, srv.URL, tlsConfig(t, host, opts)); !unknownAuthority(err) {
		t.Fatalf("no certs.d: %v; want an unknown-authority error", err)
	}
	// Docker's directory is used when containers' has nothing for host.
	ca.WriteCertDir(t, filepath.Join(docker, host), nil)
	if _, err := get(t, srv.URL, tlsConfig(t, host, opts)); err != nil {
		t.Fatalf("CA in docker certs.d: %v", err)
	}
	// Only the first directory that exists for host is read: containers'
	// directory with another CA hides docker's.
	testauth.NewCA(t).WriteCertDir(t, filepath.Join(containers, host), nil)
	if _, err := get(t, srv.URL, tlsConfig(t, host, opts)); !unknownAuthority(err) {
		t.Fatalf("other CA in containers certs.d: %v; want an unknown-authority error", err)
	}
	// The directory is per host and port: the host without the port has
	// none.
	hostOnly, _, _ := net.SplitHostPort(host)
	if cfg := tlsConfig(t, hostOnly, opts); cfg.RootCAs != nil {
		t.Fatalf("TLSConfig(%s) used the certificates of %s", hostOnly, host)
	}
}

func TestTLSCertDirReplacesCertsD(t *testing.T) {
	ca := testauth.NewCA(t)
	srv, host := server(t, ca, nil)
	certsD := t.TempDir()
	// A broken certs.d directory for host: not even read with --cert-dir.
	write(t, filepath.Join(certsD, host, "lonely.cert"), "x")
	certDir := ca.WriteCertDir(t, t.TempDir(), nil)
	cfg := tlsConfig(t, host, registries.TLSOptions{CertDir: certDir, CertsDirs: []string{certsD}})
	if _, err := get(t, srv.URL, cfg); err != nil {
		t.Fatalf("CA in --cert-dir: %v", err)
	}
}

func TestTLSClientCertificate(t *testing.T) {
	ca := testauth.NewCA(t)
	srv, host := server(t, ca, ca.Pool())
	root := t.TempDir()
	opts := registries.TLSOptions{CertsDirs: []string{root}}

	ca.WriteCertDir(t, filepath.Join(root, host), nil)
	if _, err := get(t, srv.URL, tlsConfig(t, host, opts)); err == nil {
		t.Fatal("the server demands a client certificate, yet the handshake without one succeeded")
	}
	ca.WriteCertDir(t, filepath.Join(root, host), ca.ClientCert(t, "builder-7"))
	got, err := get(t, srv.URL, tlsConfig(t, host, opts))
	if err != nil {
		t.Fatalf("with client.cert and client.key: %v", err)
	}
	if got != "builder-7" {
		t.Fatalf("the server saw client %q, want builder-7", got)
	}
}

func TestTLSSkipVerify(t *testing.T) {
	srv, host := server(t, testauth.NewCA(t), nil)
	cfg := tlsConfig(t, host, registries.TLSOptions{CertsDirs: []string{t.TempDir()}, SkipVerify: true})
	if _, err := get(t, srv.URL, cfg); err != nil {
		t.Fatalf("SkipVerify: %v", err)
	}
}

func TestTLSBadFiles(t *testing.T) {
	ca := testauth.NewCA(t)
	client := ca.ClientCert(t, "c")
	certPEM, _ := os.ReadFile(client.CertFile)
	keyPEM, _ := os.ReadFile(client.KeyFile)
	tests := []struct {
		name  string
		files map[string][]byte
		want  string // the file the error must name
	}{
		{"cert without key", map[string][]byte{"client.cert": certPEM}, "client.cert"},
		{"key without cert", map[string][]byte{"client.key": keyPEM}, "client.key"},
		{"crt that is no certificate", map[string][]byte{"ca.crt": []byte("not PEM")}, "ca.crt"},
		{"key that does not match", map[string][]byte{"client.cert": ca.PEM, "client.key": keyPEM}, "client.cert"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := registries.TLSConfig("r.example.com", registries.TLSOptions{CertDir: dir})
			if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, tc.want)) {
				t.Fatalf("TLSConfig: %v; want an error naming %s", err, tc.want)
			}
		})
	}
}

func TestTLSBadHost(t *testing.T) {
	for _, host := range []string{"", "..", "a/../../etc", `a\b`} {
		if _, err := registries.TLSConfig(host, registries.TLSOptions{CertsDirs: []string{t.TempDir()}}); err == nil {
			t.Errorf("TLSConfig(%q) succeeded; want an error", host)
		}
	}
}
