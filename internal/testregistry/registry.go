// Package testregistry starts the real distribution registry for tests (see
// localregistry) and pushes test images to it with go-containerregistry.
package testregistry

import (
	"errors"
	"os"
	"testing"

	"github.com/freshpull/freshpull/internal/localregistry"
)

// Registry is a registry running for one test.
type Registry struct {
	*localregistry.Registry
	t testing.TB
}

// Require fails the test when the registry binary is missing and CI is set,
// and skips it otherwise.
func Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(localregistry.Binary); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(localregistry.ErrMissing)
		}
		t.Skip(localregistry.ErrMissing)
	}
}

// Start runs a registry with its own storage for the life of the test.
func Start(t testing.TB) *Registry {
	t.Helper()
	return StartWithConfig(t, localregistry.Config{})
}

// StartWithConfig is Start with additions to the registry config.
func StartWithConfig(t testing.TB, cfg localregistry.Config) *Registry {
	t.Helper()
	Require(t)
	r, err := localregistry.Start(t.TempDir(), cfg)
	if errors.Is(err, localregistry.ErrMissing) {
		Require(t)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return &Registry{Registry: r, t: t}
}

// Restart starts a stopped registry again on the same address and storage.
func (r *Registry) Restart() {
	r.t.Helper()
	if err := r.Registry.Restart(); err != nil {
		r.t.Fatal(err)
	}
}
