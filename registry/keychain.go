package registry

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// FileKeychain reads credentials from one file in docker's config.json or
// containers' auth.json format (the --authfile flag). Keys may name a
// registry ("quay.io", "https://index.docker.io/v1/") or, as in auth.json, a
// namespace or repository within it ("quay.io/org/app"); the most specific
// key wins.
func FileKeychain(path string) (authn.Keychain, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("authfile %s: %w", path, err)
	}
	defer f.Close()
	cf, err := config.LoadFromReader(f)
	if err != nil {
		return nil, fmt.Errorf("authfile %s: not a docker config.json or containers auth.json: %w", path, err)
	}
	return &fileKeychain{cf: cf}, nil
}

type fileKeychain struct {
	cf *configfile.ConfigFile
}

func (k *fileKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	for _, key := range authKeys(target) {
		ac, err := k.cf.GetAuthConfig(key)
		if err != nil {
			return nil, fmt.Errorf("credentials for %s: %w", target.RegistryStr(), err)
		}
		if ac.Username == "" && ac.Password == "" && ac.Auth == "" && ac.IdentityToken == "" && ac.RegistryToken == "" {
			continue
		}
		return authn.FromConfig(authn.AuthConfig{
			Username:      ac.Username,
			Password:      ac.Password,
			Auth:          ac.Auth,
			IdentityToken: ac.IdentityToken,
			RegistryToken: ac.RegistryToken,
		}), nil
	}
	return authn.Anonymous, nil
}

// authKeys lists the keys a credential for target may be stored under, most
// specific first.
func authKeys(target authn.Resource) []string {
	hosts := []string{target.RegistryStr()}
	if target.RegistryStr() == name.DefaultRegistry {
		hosts = append(hosts, "docker.io", "https://index.docker.io/v1/")
	}
	var keys []string
	if repo, ok := target.(name.Repository); ok {
		path := repo.RepositoryStr()
		for {
			for _, h := range hosts[:min(2, len(hosts))] {
				keys = append(keys, h+"/"+path)
			}
			i := strings.LastIndexByte(path, '/')
			if i < 0 {
				break
			}
			path = path[:i]
		}
	}
	return append(keys, hosts...)
}

// KeychainOptions say where credentials come from.
type KeychainOptions struct {
	// AuthFile is --authfile: used instead of $REGISTRY_AUTH_FILE and the
	// default auth.json, and it must exist.
	AuthFile string
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// Home is the user's home directory; "" means os.UserHomeDir.
	Home string
}

// Keychain finds credentials in the files podman and docker use, in
// podman's order (containers-auth.json(5)): the auth file (--authfile, else
// $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json), then
// $XDG_CONFIG_HOME/containers/auth.json (~/.config/containers/auth.json),
// then docker's config.json ($DOCKER_CONFIG, else ~/.docker), whose
// credHelpers and credsStore helpers are used. The first file holding
// credentials for a registry wins.
func Keychain(opts KeychainOptions) (authn.Keychain, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	home := opts.Home
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	var paths []string
	switch {
	case opts.AuthFile != "":
		if _, err := os.Stat(opts.AuthFile); err != nil {
			return nil, fmt.Errorf("authfile %s: %w", opts.AuthFile, err)
		}
		paths = append(paths, opts.AuthFile)
	case getenv("REGISTRY_AUTH_FILE") != "":
		paths = append(paths, getenv("REGISTRY_AUTH_FILE"))
	case getenv("XDG_RUNTIME_DIR") != "":
		paths = append(paths, filepath.Join(getenv("XDG_RUNTIME_DIR"), "containers", "auth.json"))
	}
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		paths = append(paths, filepath.Join(d, "containers", "auth.json"))
	} else if home != "" {
		paths = append(paths, filepath.Join(home, ".config", "containers", "auth.json"))
	}
	if d := getenv("DOCKER_CONFIG"); d != "" {
		paths = append(paths, filepath.Join(d, "config.json"))
	} else if home != "" {
		paths = append(paths, filepath.Join(home, ".docker", "config.json"))
	}
	var kcs []authn.Keychain
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		kc, err := FileKeychain(p)
		if err != nil {
			return nil, err
		}
		kcs = append(kcs, kc)
	}
	return authn.NewMultiKeychain(kcs...), nil
}

// CredsKeychain holds one-off credentials (--creds USER:PASSWORD) for the
// registries named in hosts, and for no other: a mirror the user did not
// name never sees them. A nil hosts means every registry (pin, whose
// references come from files).
func CredsKeychain(hosts []string, user, password string) authn.Keychain {
	return &credsKeychain{hosts: hosts, auth: &authn.Basic{Username: user, Password: password}}
}

type credsKeychain struct {
	hosts []string
	auth  authn.Authenticator
}

func (k *credsKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	if k.hosts == nil {
		return k.auth, nil
	}
	for _, h := range k.hosts {
		if strings.EqualFold(h, target.RegistryStr()) || (h == "docker.io" && target.RegistryStr() == name.DefaultRegistry) {
			return k.auth, nil
		}
	}
	return authn.Anonymous, nil
}
