package trust

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	dref "github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"gopkg.in/yaml.v3"
)

// SystemRegistriesDir is where containers/image reads registries.d when the
// user has none.
var SystemRegistriesDir = "/etc/containers/registries.d"

// Registries is the merged content of a registries.d directory
// (containers-registries.d(5)): where signatures are for each docker scope.
type Registries struct {
	// Dir is the directory read.
	Dir string
	// Default is default-docker; nil when no file sets it.
	Default *Namespace
	// Docker maps docker scopes to their settings.
	Docker map[string]Namespace
}

// Namespace is the signature configuration of one scope.
type Namespace struct {
	Lookaside        string `yaml:"lookaside"`
	LookasideStaging string `yaml:"lookaside-staging"`
	// SigStore and SigStoreStaging are the old names of Lookaside and
	// LookasideStaging, still read.
	SigStore               string `yaml:"sigstore"`
	SigStoreStaging        string `yaml:"sigstore-staging"`
	UseSigstoreAttachments *bool  `yaml:"use-sigstore-attachments,omitempty"`
}

type registriesFile struct {
	DefaultDocker *Namespace           `yaml:"default-docker"`
	Docker        map[string]Namespace `yaml:"docker"`
}

// RegistriesDir finds registries.d as containers/image does: named (from
// --registries-d) if given, else ~/.config/containers/registries.d if it
// exists, else /etc/containers/registries.d. One directory is read, not
// both.
func RegistriesDir(named string) string {
	if named != "" {
		return named
	}
	if home, err := os.UserHomeDir(); err == nil {
		d := filepath.Join(home, ".config", "containers", "registries.d")
		if _, err := os.Stat(d); err == nil {
			return d
		}
	}
	return SystemRegistriesDir
}

// LoadRegistries reads every *.yaml file of dir; a missing dir is an empty
// configuration. A scope (or default-docker) set in two files is an error,
// as in containers/image.
func LoadRegistries(dir string) (*Registries, error) {
	r := &Registries{Dir: dir, Docker: map[string]Namespace{}}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("registries.d: %w", err)
	}
	from := map[string]string{}
	var defaultFrom string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("registries.d: %w", err)
		}
		var f registriesFile
		if err := yaml.Unmarshal(data, &f); err != nil {
			return nil, fmt.Errorf("%s: %v", p, strings.TrimPrefix(err.Error(), "yaml: "))
		}
		if f.DefaultDocker != nil {
			if r.Default != nil {
				return nil, fmt.Errorf("%s: default-docker is set in %s too; keep one", p, defaultFrom)
			}
			r.Default, defaultFrom = f.DefaultDocker, p
		}
		for scope, ns := range f.Docker {
			if prev, ok := from[scope]; ok {
				return nil, fmt.Errorf("%s: docker scope %q is set in %s too; keep one", p, scope, prev)
			}
			for _, u := range []string{ns.Lookaside, ns.SigStore} {
				if _, err := url.Parse(u); err != nil {
					return nil, fmt.Errorf("%s: docker scope %q: invalid URL %q: %v", p, scope, u, err)
				}
			}
			r.Docker[scope], from[scope] = ns, p
		}
	}
	return r, nil
}

func (ns *Namespace) lookaside() string {
	if ns.Lookaside != "" {
		return ns.Lookaside
	}
	return ns.SigStore
}

// namespaces lists the configured namespaces that apply to ref, most
// specific first, default-docker last.
func (r *Registries) namespaces(ref dref.Named) []*Namespace {
	var out []*Namespace
	for _, s := range append([]string{scopeIdentity(ref)}, scopeNamespaces(ref)...) {
		if ns, ok := r.Docker[s]; ok {
			out = append(out, &ns)
		}
	}
	if r.Default != nil {
		out = append(out, r.Default)
	}
	return out
}

// Lookaside returns the URL under which ref's simple signing signatures
// are: the most specific scope that sets lookaside (else containers/image's
// built-in default directory), followed by the repository's path.
func (r *Registries) Lookaside(ref dref.Named) (*url.URL, error) {
	top := ""
	for _, ns := range r.namespaces(ref) {
		if top = ns.lookaside(); top != "" {
			break
		}
	}
	var base *url.URL
	if top == "" {
		base = defaultLookaside()
	} else {
		u, err := url.Parse(top)
		if err != nil {
			return nil, fmt.Errorf("registries.d %s: invalid lookaside URL %q: %v", r.Dir, top, err)
		}
		base = u
	}
	repo := dref.Path(ref)
	if path.Clean(repo) != repo {
		return nil, fmt.Errorf("unexpected path elements in %s", ref)
	}
	base.Path = base.Path + "/" + repo
	return base, nil
}

// defaultLookaside is containers/image's built-in lookaside: a directory
// for root, one in the home directory for others.
func defaultLookaside() *url.URL {
	if os.Geteuid() == 0 {
		return &url.URL{Scheme: "file", Path: "/var/lib/containers/sigstore"}
	}
	home, _ := os.UserHomeDir()
	return &url.URL{Scheme: "file", Path: filepath.Join(home, ".local", "share", "containers", "sigstore")}
}

// UseSigstoreAttachments reports whether sigstore attachments are read for
// ref: the most specific scope that says.
func (r *Registries) UseSigstoreAttachments(ref dref.Named) bool {
	for _, ns := range r.namespaces(ref) {
		if ns.UseSigstoreAttachments != nil {
			return *ns.UseSigstoreAttachments
		}
	}
	return false
}

// maxSignatures and maxSignatureSize bound what a lookaside may make
// freshpull read.
const (
	maxSignatures    = 128
	maxSignatureSize = 4 << 20
)

// ReadLookaside reads the simple signing signatures of digest d under
// base (from [Registries.Lookaside]): signature-1, signature-2, … until the
// first that does not exist. file:// is read from disk; http(s):// with
// client.
func ReadLookaside(ctx context.Context, client *http.Client, base *url.URL, d digest.Digest) ([]Signature, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	var sigs []Signature
	for i := 1; i <= maxSignatures; i++ {
		u := *base
		u.Path = fmt.Sprintf("%s@%s=%s/signature-%d", u.Path, d.Algorithm(), d.Encoded(), i)
		data, found, err := readURL(ctx, client, &u)
		if err != nil {
			return nil, err
		}
		if !found {
			break
		}
		sigs = append(sigs, Signature{Kind: SimpleSigning, Data: data, Source: u.Redacted()})
	}
	return sigs, nil
}

func readURL(ctx context.Context, client *http.Client, u *url.URL) ([]byte, bool, error) {
	switch u.Scheme {
	case "file":
		f, err := os.Open(u.Path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("lookaside: %w", err)
		}
		defer f.Close()
		b, err := readLimited(f, u)
		return b, err == nil, err
	case "http", "https":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, false, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, false, fmt.Errorf("lookaside: %w", err)
		}
		defer resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusNotFound:
			return nil, false, nil
		case resp.StatusCode != http.StatusOK:
			return nil, false, fmt.Errorf("lookaside %s: %s", u.Redacted(), resp.Status)
		}
		b, err := readLimited(resp.Body, u)
		return b, err == nil, err
	}
	return nil, false, fmt.Errorf("lookaside %s: unsupported URL scheme %q; use file://, http:// or https:// in registries.d", u.Redacted(), u.Scheme)
}

func readLimited(r io.Reader, u *url.URL) ([]byte, error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, maxSignatureSize+1))
	if err != nil {
		return nil, fmt.Errorf("lookaside %s: %w", u.Redacted(), err)
	}
	if n > maxSignatureSize {
		return nil, fmt.Errorf("lookaside %s: larger than %d bytes", u.Redacted(), maxSignatureSize)
	}
	return buf.Bytes(), nil
}

// Config is what an operation needs to enforce a signature policy.
type Config struct {
	// Policy is the policy in force.
	Policy *Policy
	// Registries says where signatures are; nil reads none from a
	// lookaside or attachments.
	Registries *Registries
	// HTTP reads http(s):// lookasides; nil means a client with a 30 s
	// timeout.
	HTTP *http.Client
}
