package policy

import (
	"fmt"
	"strings"
)

// Policy says when a pull asks the registry.
type Policy int

// The pull policies; see DESIGN.md's table.
const (
	// Newer resolves remotely with one cheap check and pulls only when the
	// registry's digest differs from the local one. It is the default.
	Newer Policy = iota
	// Always resolves remotely and fetches missing blobs; a registry
	// failure is an error.
	Always
	// Missing uses a local copy without asking the registry.
	Missing
	// Never uses only the local copy.
	Never
)

// Default is the policy used when none is given.
const Default = Newer

var names = map[Policy]string{Always: "always", Missing: "missing", Newer: "newer", Never: "never"}

// String returns the policy's canonical name.
func (p Policy) String() string {
	if n, ok := names[p]; ok {
		return n
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// Parse accepts the spellings used across the ecosystem (podman, CRI,
// Kubernetes): always; missing, ifmissing, ifnotpresent; newer, ifnewer;
// never. Case and '-'/'_' separators are ignored ("IfNotPresent",
// "if-not-present").
func Parse(s string) (Policy, error) {
	k := strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(strings.TrimSpace(s)))
	switch k {
	case "always":
		return Always, nil
	case "missing", "ifmissing", "ifnotpresent":
		return Missing, nil
	case "newer", "ifnewer":
		return Newer, nil
	case "never":
		return Never, nil
	}
	return 0, fmt.Errorf("invalid pull policy %q: valid values are always, missing (ifmissing, ifnotpresent), newer (ifnewer, the default), never", s)
}

// Set implements pflag.Value so a Policy can be a command-line flag.
func (p *Policy) Set(s string) error {
	v, err := Parse(s)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Type implements pflag.Value.
func (p *Policy) Type() string { return "policy" }

// MarshalText implements encoding.TextMarshaler.
func (p Policy) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Policy) UnmarshalText(b []byte) error { return p.Set(string(b)) }
