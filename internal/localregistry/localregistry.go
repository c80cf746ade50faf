// Package localregistry runs the CNCF distribution registry
// (/usr/bin/docker-registry, Debian package docker-registry) on 127.0.0.1 at
// a free port, with its own storage directory: the real registry behind
// freshpull's tests, benchmarks and offline demo.
package localregistry

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Binary is the registry executable.
const Binary = "/usr/bin/docker-registry"

// ErrMissing is returned when the registry binary is not installed.
var ErrMissing = errors.New(Binary + " is missing; install it with: apt-get install docker-registry")

// Registry is a running distribution registry.
type Registry struct {
	// Host is "127.0.0.1:PORT".
	Host string
	dir  string
	cfg  Config
	cmd  *exec.Cmd
	log  *bytes.Buffer
}

// Config adds to the generated registry configuration (YAML).
type Config struct {
	// HTTP is added under the http: key, indented by the caller with
	// two spaces (e.g. "  tls:\n    certificate: …").
	HTTP string
	// Top is added at the top level (auth:, proxy:).
	Top string
	// Scheme is "https" when HTTP configures TLS; "" means "http".
	Scheme string
}

// Start runs a registry whose storage and config live in dir.
func Start(dir string, cfg Config) (*Registry, error) {
	if _, err := os.Stat(Binary); err != nil {
		return nil, ErrMissing
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &Registry{Host: fmt.Sprintf("127.0.0.1:%d", port), dir: dir, cfg: cfg}
	if err := r.start(); err != nil {
		return nil, err
	}
	return r, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (r *Registry) start() error {
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
%s
%s`, filepath.Join(r.dir, "data"), r.Host, r.cfg.HTTP, r.cfg.Top)
	cfgPath := filepath.Join(r.dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	r.log = &bytes.Buffer{}
	r.cmd = exec.Command(Binary, "serve", cfgPath)
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", Binary, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	// Readiness only: any answer, even 401, a TLS certificate the probe
	// does not trust, or a TLS alert (a registry that wants a client
	// certificate), means the registry is listening.
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	scheme := r.cfg.Scheme
	if scheme == "" {
		scheme = "http"
	}
	for {
		resp, err := client.Get(scheme + "://" + r.Host + "/v2/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		// crypto/tls exports no type for an alert received over TCP.
		if strings.Contains(err.Error(), "remote error: tls:") {
			return nil
		}
		if time.Now().After(deadline) {
			r.Stop()
			return fmt.Errorf("registry on %s did not come up: %v\n%s", r.Host, err, r.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the registry; its storage stays for Restart.
func (r *Registry) Stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	r.cmd.Process.Kill()
	r.cmd.Wait()
	r.cmd = nil
}

// Restart starts a stopped registry again on the same address and storage.
func (r *Registry) Restart() error {
	r.Stop()
	return r.start()
}

// Ref returns "HOST/repo:tag" for this registry.
func (r *Registry) Ref(repoTag string) string { return r.Host + "/" + repoTag }
