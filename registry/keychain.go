package registry

import (
	"fmt"
	"os"
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
