package registries

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DefaultCertsDirs are the certs.d roots searched for a registry's
// certificates, in order, as containers/image does for root.
var DefaultCertsDirs = []string{"/etc/containers/certs.d", "/etc/docker/certs.d"}

// TLSOptions say where the certificates for a registry come from.
type TLSOptions struct {
	// CertDir is --cert-dir: a directory holding the *.crt, *.cert and
	// *.key files themselves. When set it replaces the certs.d lookup,
	// as in podman.
	CertDir string
	// CertsDirs are the certs.d roots holding one HOST[:PORT]
	// subdirectory per registry; the first root that has one for the host
	// is used, the others are not read. Nil means DefaultCertsDirs.
	CertsDirs []string
	// SkipVerify accepts any server certificate (--tls-verify=false). The
	// caller should warn: the connection is then open to interception.
	SkipVerify bool
}

// TLSConfig returns the TLS client configuration for the registry host
// ("HOST[:PORT]", as in a reference's domain): the system certificate
// authorities plus the *.crt files of the host's certificate directory,
// and the client certificates of its *.cert files with their *.key files.
// A host without a certificate directory gets the system defaults. A
// .cert without its .key (or the reverse), or a file that holds no usable
// certificate, is an error naming the file.
func TLSConfig(host string, opts TLSOptions) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: opts.SkipVerify}
	dir := opts.CertDir
	if dir == "" {
		if host == "" || host == "." || host == ".." || strings.ContainsAny(host, `/\`) {
			return nil, fmt.Errorf("TLS configuration: %q is not a registry HOST[:PORT]", host)
		}
		roots := opts.CertsDirs
		if roots == nil {
			roots = DefaultCertsDirs
		}
		for _, root := range roots {
			d := filepath.Join(root, host)
			if fi, err := os.Stat(d); err == nil && fi.IsDir() {
				dir = d
				break
			}
		}
		if dir == "" {
			return cfg, nil
		}
	}
	if err := loadCertDir(cfg, dir); err != nil {
		return nil, fmt.Errorf("TLS configuration for %s: %w", host, err)
	}
	return cfg, nil
}

// loadCertDir adds the certificates of dir to cfg, following
// containers-certs.d(5): *.crt are CAs, *.cert + *.key client key pairs.
func loadCertDir(cfg *tls.Config, dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("certificate directory %s does not exist", dir)
		}
		return fmt.Errorf("read certificate directory: %w", err)
	}
	for _, de := range ents {
		name := de.Name()
		path := filepath.Join(dir, name)
		switch {
		case strings.HasSuffix(name, ".crt"):
			pem, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("read CA certificate: %w", err)
			}
			if cfg.RootCAs == nil {
				// The system pool stays trusted: a private CA is added for
				// this registry, it does not replace the public ones.
				if cfg.RootCAs, err = x509.SystemCertPool(); err != nil {
					cfg.RootCAs = x509.NewCertPool()
				}
			}
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return fmt.Errorf("%s holds no PEM certificate; a .crt file must be a CA certificate in PEM form", path)
			}
		case strings.HasSuffix(name, ".cert"):
			keyPath := strings.TrimSuffix(path, ".cert") + ".key"
			if _, err := os.Stat(keyPath); err != nil {
				return fmt.Errorf("client certificate %s has no key %s; put the key next to it (CA certificates are named *.crt)", path, filepath.Base(keyPath))
			}
			pair, err := tls.LoadX509KeyPair(path, keyPath)
			if err != nil {
				return fmt.Errorf("client certificate %s with key %s: %w", path, filepath.Base(keyPath), err)
			}
			cfg.Certificates = append(cfg.Certificates, pair)
		case strings.HasSuffix(name, ".key"):
			certPath := strings.TrimSuffix(path, ".key") + ".cert"
			if _, err := os.Stat(certPath); err != nil {
				return fmt.Errorf("key %s has no client certificate %s; put the certificate next to it", path, filepath.Base(certPath))
			}
		}
	}
	return nil
}
