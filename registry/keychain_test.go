package registry

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

func writeAuth(t *testing.T, path, host, user string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	body := `{"auths":{"` + host + `":{"auth":"` + base64.StdEncoding.EncodeToString([]byte(user+":secret")) + `"}}}`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func userFor(t *testing.T, kc authn.Keychain, repo string) string {
	t.Helper()
	r, err := name.NewRepository(repo)
	if err != nil {
		t.Fatal(err)
	}
	a, err := kc.Resolve(r)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := a.Authorization()
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Username
}

// Credentials are found in podman's order, the first file that has the
// registry winning.
func TestKeychainOrder(t *testing.T) {
	home := t.TempDir()
	env := map[string]string{
		"XDG_RUNTIME_DIR": filepath.Join(home, "run"),
		"DOCKER_CONFIG":   filepath.Join(home, "docker"),
	}
	getenv := func(k string) string { return env[k] }
	writeAuth(t, filepath.Join(home, "run", "containers", "auth.json"), "a.example.com", "runtime")
	writeAuth(t, filepath.Join(home, ".config", "containers", "auth.json"), "b.example.com", "config")
	writeAuth(t, filepath.Join(home, "docker", "config.json"), "a.example.com", "docker-a")
	os.WriteFile(filepath.Join(home, "docker", "config.json"), []byte(`{"auths":{"a.example.com":{"auth":"`+base64.StdEncoding.EncodeToString([]byte("docker-a:x"))+`"},"c.example.com":{"auth":"`+base64.StdEncoding.EncodeToString([]byte("docker-c:x"))+`"}}}`), 0o600)

	kc, err := Keychain(KeychainOptions{Getenv: getenv, Home: home})
	if err != nil {
		t.Fatal(err)
	}
	for repo, want := range map[string]string{
		"a.example.com/app": "runtime", // auth.json before docker's config.json
		"b.example.com/app": "config",
		"c.example.com/app": "docker-c",
		"d.example.com/app": "",
	} {
		if got := userFor(t, kc, repo); got != want {
			t.Errorf("%s: user %q, want %q", repo, got, want)
		}
	}

	// --authfile replaces the runtime auth.json, and must exist.
	authfile := filepath.Join(t.TempDir(), "mine.json")
	writeAuth(t, authfile, "a.example.com", "authfile")
	kc, err = Keychain(KeychainOptions{AuthFile: authfile, Getenv: getenv, Home: home})
	if err != nil {
		t.Fatal(err)
	}
	if got := userFor(t, kc, "a.example.com/app"); got != "authfile" {
		t.Errorf("with --authfile: user %q", got)
	}
	if _, err := Keychain(KeychainOptions{AuthFile: filepath.Join(home, "nope.json")}); err == nil || !strings.Contains(err.Error(), "nope.json") {
		t.Errorf("missing --authfile: %v", err)
	}
	// $REGISTRY_AUTH_FILE replaces the runtime one too.
	env["REGISTRY_AUTH_FILE"] = authfile
	kc, _ = Keychain(KeychainOptions{Getenv: getenv, Home: home})
	if got := userFor(t, kc, "a.example.com/app"); got != "authfile" {
		t.Errorf("with REGISTRY_AUTH_FILE: user %q", got)
	}
}

// --creds go to the named registries only.
func TestCredsKeychainScope(t *testing.T) {
	kc := CredsKeychain([]string{"registry.example.com", "docker.io"}, "me", "pw")
	for repo, want := range map[string]string{
		"registry.example.com/app": "me",
		"docker.io/library/ubuntu": "me",
		"mirror.example.com/app":   "",
	} {
		if got := userFor(t, kc, repo); got != want {
			t.Errorf("%s: user %q, want %q", repo, got, want)
		}
	}
	if got := userFor(t, CredsKeychain(nil, "me", "pw"), "any.example.com/x"); got != "me" {
		t.Errorf("CredsKeychain(nil): user %q, want credentials for every host", got)
	}
	if got := userFor(t, CredsKeychain([]string{}, "me", "pw"), "any.example.com/x"); got != "" {
		t.Errorf("CredsKeychain(empty) gave credentials to a host not named")
	}
}
