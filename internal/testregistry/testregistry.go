// Package testregistry runs the CNCF distribution registry
// (/usr/bin/docker-registry, Debian package docker-registry) on 127.0.0.1 at
// a free port for tests, and pushes test images to it with
// go-containerregistry.
package testregistry

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Binary is the registry executable.
const Binary = "/usr/bin/docker-registry"

// Registry is a running distribution registry.
type Registry struct {
	// Host is "127.0.0.1:PORT".
	Host string
	dir  string
	cmd  *exec.Cmd
	log  *bytes.Buffer
	t    testing.TB
	// Extra is appended to the generated config (YAML), for auth or
	// proxy settings.
	extra string
}

// Require fails the test when the registry binary is missing and CI is set,
// and skips it otherwise.
func Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (apt-get install docker-registry): %v", Binary, err)
		}
		t.Skipf("%s is missing (apt-get install docker-registry)", Binary)
	}
}

// Start runs a registry with its own storage for the life of the test.
func Start(t testing.TB) *Registry {
	t.Helper()
	Require(t)
	r := &Registry{dir: t.TempDir(), t: t}
	r.Host = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	r.start()
	t.Cleanup(r.Stop)
	return r
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (r *Registry) start() {
	t := r.t
	t.Helper()
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
%s`, filepath.Join(r.dir, "data"), r.Host, r.extra)
	cfgPath := filepath.Join(r.dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	r.log = &bytes.Buffer{}
	r.cmd = exec.Command(Binary, "serve", cfgPath)
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", Binary, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + r.Host + "/v2/")
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			r.Stop()
			t.Fatalf("registry on %s did not come up: %v\n%s", r.Host, err, r.log)
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
func (r *Registry) Restart() {
	r.t.Helper()
	r.Stop()
	r.start()
}

// Ref returns "HOST/repo:tag" for this registry.
func (r *Registry) Ref(repoTag string) string { return r.Host + "/" + repoTag }
