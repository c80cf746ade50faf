package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/freshpull/freshpull"
)

// binary is the freshpull executable built once for the integration tests,
// which run it as a user would.
var binary string

// buildFlags are extra flags for building the binary under test.
var buildFlags []string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "freshpull-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "freshpull")
	build := exec.Command("go", append(append([]string{"build"}, buildFlags...), "-o", binary, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build freshpull:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var homes sync.Map // *testing.T → home directory

type cmdResult struct {
	stdout, stderr string
	code           int
}

// env isolates a test from the machine's credentials and stores.
// Each test has one home directory, kept across the commands it runs, as a
// user's is.
func testEnv(t *testing.T) []string {
	home := testHome(t)
	// No mirrors or blocked registries from the machine's registries.conf.
	conf := filepath.Join(home, "registries.conf")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A signature policy of the test's own, not the machine's: every image
	// accepted unless the test passes --signature-policy.
	pol := filepath.Join(home, ".config", "containers", "policy.json")
	if _, err := os.Stat(pol); os.IsNotExist(err) {
		if err := os.MkdirAll(filepath.Dir(pol), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(pol, []byte(`{"default": [{"type": "insecureAcceptAnything"}]}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return append(os.Environ(),
		"CONTAINERS_REGISTRIES_CONF="+conf,
		"HOME="+home,
		"DOCKER_CONFIG="+filepath.Join(home, ".docker"),
		"XDG_DATA_HOME="+filepath.Join(home, ".local", "share"),
		"XDG_RUNTIME_DIR="+filepath.Join(home, "run"),
		"REGISTRY_AUTH_FILE=",
		"FRESHPULL_STORE=",
	)
}

// testHome is the test's home directory, made on first use: what a test
// writes under it before its first command (a policy.json, say) the
// commands see as the user's own.
func testHome(t *testing.T) string {
	h, ok := homes.Load(t)
	if !ok {
		h, _ = homes.LoadOrStore(t, t.TempDir())
	}
	return h.(string)
}

// fp runs freshpull with args.
func fp(t *testing.T, args ...string) cmdResult {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = testEnv(t)
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run freshpull %q: %v", args, err)
	}
	return cmdResult{out.String(), errb.String(), code}
}

// pullJSON runs `freshpull pull -o json` and decodes the results.
func pullJSON(t *testing.T, storeDir string, args ...string) ([]freshpull.Result, cmdResult) {
	t.Helper()
	r := fp(t, append([]string{"--store", storeDir, "-o", "json", "pull"}, args...)...)
	var results []freshpull.Result
	if err := json.Unmarshal([]byte(r.stdout), &results); err != nil {
		t.Fatalf("pull %q: stdout is not a JSON array of results: %v\nstdout: %s\nstderr: %s", args, err, r.stdout, r.stderr)
	}
	return results, r
}

// pullOne pulls one reference and expects exit code want.
func pullOne(t *testing.T, storeDir string, wantCode int, args ...string) freshpull.Result {
	t.Helper()
	results, r := pullJSON(t, storeDir, args...)
	if r.code != wantCode {
		t.Fatalf("pull %q: exit %d, want %d\nstdout: %s\nstderr: %s", args, r.code, wantCode, r.stdout, r.stderr)
	}
	if len(results) != 1 {
		t.Fatalf("pull %q: %d results, want 1", args, len(results))
	}
	return results[0]
}
