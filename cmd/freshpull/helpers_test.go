package main

import (
	"github.com/freshpull/freshpull/internal/localregistry"
	"os"
	"os/exec"
	"testing"
)

// requireTool fails when tool is missing and CI is set, else skips.
func requireTool(t *testing.T, tool string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (apt-get install %s)", tool, tool)
		}
		t.Skipf("%s is missing (apt-get install %s)", tool, tool)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

func readDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// localRegistryProxy configures a distribution registry as a pull-through
// cache of remote.
func localRegistryProxy(remote string) localregistry.Config {
	return localregistry.Config{Top: "proxy:\n  remoteurl: " + remote + "\n"}
}
