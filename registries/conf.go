package registries

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
)

// Default locations, as in containers/image.
const (
	DefaultSystemPath = "/etc/containers/registries.conf"
	DefaultDropInDir  = "/etc/containers/registries.conf.d"
	// EnvConf names a registries.conf to use instead of the system one.
	EnvConf = "CONTAINERS_REGISTRIES_CONF"
	// UserPath, under $HOME, is a user's own registries.conf; when it
	// exists it is read instead of the system file. Its drop-ins are in
	// UserPath + ".d".
	UserPath = ".config/containers/registries.conf"
)

// LoadOptions say where [Load] looks. The zero value reads the system
// configuration.
type LoadOptions struct {
	// Path is the file given with --registries-conf; "" if none.
	Path string
	// Env looks up environment variables; nil means os.Getenv.
	Env func(string) string
	// SystemPath replaces DefaultSystemPath (tests).
	SystemPath string
	// DropInDir replaces DefaultDropInDir (tests).
	DropInDir string
}

// PullFromMirror says which pulls a mirror serves.
type PullFromMirror string

// The values of pull-from-mirror.
const (
	// PullAll: tags and digests (the default).
	PullAll PullFromMirror = "all"
	// PullDigestOnly: content by digest only; tags are resolved elsewhere.
	PullDigestOnly PullFromMirror = "digest-only"
	// PullTagOnly: references by tag only.
	PullTagOnly PullFromMirror = "tag-only"
)

// Config is the registries configuration: the [[registry]] tables of all
// files read, drop-ins applied. It does not change after Load and is safe
// for concurrent use. A nil *Config routes every reference to itself.
type Config struct {
	entries  []*entry
	files    []string
	warnings []string
}

// entry is one [[registry]] table.
type entry struct {
	prefix   pattern
	location location // empty only for a wildcard prefix without location
	insecure bool
	blocked  bool
	mirrors  []mirror
	file     string
}

type mirror struct {
	location location
	insecure bool
	pull     PullFromMirror
}

// Files returns the files the configuration was read from, in order.
func (c *Config) Files() []string {
	if c == nil {
		return nil
	}
	return c.files
}

// Warnings returns what was ignored while reading the files and why:
// unknown keys (often misspellings, such as "pull-from-mirrors") and
// prefixes that can match no image. Callers should log them.
func (c *Config) Warnings() []string {
	if c == nil {
		return nil
	}
	return c.warnings
}

// Load reads the registries configuration: LoadOptions.Path, else
// $CONTAINERS_REGISTRIES_CONF, else the user's or the system file and the
// drop-ins (see the package documentation). A missing system file or drop-in directory
// is an empty configuration; a named file that is missing, or any file
// that does not parse, is an error naming the file (and line, for syntax
// errors).
func Load(opts LoadOptions) (*Config, error) {
	getenv := opts.Env
	if getenv == nil {
		getenv = os.Getenv
	}
	c := &Config{}
	switch env := getenv(EnvConf); {
	case opts.Path != "":
		return c, c.readFile(opts.Path, "--registries-conf")
	case env != "":
		return c, c.readFile(env, "$"+EnvConf)
	}
	// As containers-registries.conf.d(5): a user file replaces the system
	// file and its drop-ins; the user's drop-ins come last either way.
	var user, userDropIns string
	if home := getenv("HOME"); home != "" {
		user = filepath.Join(home, UserPath)
		userDropIns = user + ".d"
	}
	if user != "" {
		err := c.readFile(user, "")
		if err == nil {
			return c, c.readDropIns(userDropIns)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	system := cmp.Or(opts.SystemPath, DefaultSystemPath)
	if err := c.readFile(system, ""); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := c.readDropIns(cmp.Or(opts.DropInDir, DefaultDropInDir)); err != nil {
		return nil, err
	}
	if userDropIns != "" {
		if err := c.readDropIns(userDropIns); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// readDropIns reads the *.conf files of dir, if it exists, in lexical
// order (the order containers/image uses).
func (c *Config) readDropIns(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("registries.conf drop-ins %s: %w", dir, err)
	}
	// ReadDir sorts by name.
	for _, de := range ents {
		if de.IsDir() || !strings.HasSuffix(de.Name(), ".conf") {
			continue
		}
		if err := c.readFile(filepath.Join(dir, de.Name()), ""); err != nil {
			return err
		}
	}
	return nil
}

// readFile parses one file into c, replacing tables with the same prefix.
// givenBy, when set, says which option named the file, for the error when
// it is missing.
func (c *Config) readFile(path, givenBy string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		if givenBy != "" && errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("registries configuration %s (given by %s) does not exist: %w", path, givenBy, err)
		}
		return fmt.Errorf("read registries configuration: %w", err)
	}
	entries, warnings, err := parseFile(path, data)
	if err != nil {
		return err
	}
	c.files = append(c.files, path)
	c.warnings = append(c.warnings, warnings...)
	for _, e := range entries {
		c.put(e)
	}
	return nil
}

// put adds e, replacing an entry with the same prefix: that is how a
// drop-in overrides the tables of earlier files.
func (c *Config) put(e *entry) {
	for i, old := range c.entries {
		if samePrefix(old.prefix, e.prefix) {
			c.entries[i] = e
			return
		}
	}
	c.entries = append(c.entries, e)
}

func samePrefix(a, b pattern) bool {
	return strings.EqualFold(a.host, b.host) && a.suffix == b.suffix && a.path == b.path && a.tag == b.tag && a.digest == b.digest
}

// The TOML layout of one file. Tables and keys freshpull has no use for
// (aliases, unqualified-search-registries, short-name-mode,
// credential-helpers, …) are ignored without a warning.
type tomlFile struct {
	Registries []tomlRegistry `toml:"registry"`
	V1         struct {
		Search   tomlV1List `toml:"search"`
		Insecure tomlV1List `toml:"insecure"`
		Block    tomlV1List `toml:"block"`
	} `toml:"registries"`
}

type tomlRegistry struct {
	Prefix             string       `toml:"prefix"`
	Location           string       `toml:"location"`
	Insecure           bool         `toml:"insecure"`
	Blocked            bool         `toml:"blocked"`
	MirrorByDigestOnly bool         `toml:"mirror-by-digest-only"`
	PullFromMirror     string       `toml:"pull-from-mirror"`
	Mirrors            []tomlMirror `toml:"mirror"`
}

type tomlMirror struct {
	Location       string `toml:"location"`
	Insecure       bool   `toml:"insecure"`
	PullFromMirror string `toml:"pull-from-mirror"`
}

type tomlV1List struct {
	Registries []string `toml:"registries"`
}

// knownIgnored are top-level keys of containers-registries.conf(5) that
// do not affect where a fully qualified pull goes.
var knownIgnored = map[string]bool{
	"unqualified-search-registries":      true,
	"short-name-mode":                    true,
	"credential-helpers":                 true,
	"additional-layer-store-auth-helper": true,
	"aliases":                            true,
}

func parseFile(path string, data []byte) ([]*entry, []string, error) {
	var f tomlFile
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, nil, fmt.Errorf("%s:%d: %s; fix the TOML syntax (containers-registries.conf(5))", path, pe.Position.Line, pe.Message)
		}
		// Type mismatches come as plain errors that already name the line.
		return nil, nil, fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "toml: "))
	}
	var warnings []string
	for _, k := range md.Undecoded() {
		if !knownIgnored[k[0]] {
			warnings = append(warnings, fmt.Sprintf("%s: unknown key %q ignored", path, k.String()))
		}
	}
	v1 := len(f.V1.Search.Registries)+len(f.V1.Insecure.Registries)+len(f.V1.Block.Registries) > 0
	if v1 && len(f.Registries) > 0 {
		return nil, nil, fmt.Errorf("%s: mixes the v1 format ([registries.insecure], [registries.block], [registries.search]) with v2 [[registry]] tables; rewrite the v1 lists as [[registry]] tables with insecure = true or blocked = true", path)
	}
	if v1 {
		entries, err := fromV1(path, &f)
		return entries, warnings, err
	}
	var entries []*entry
	for i, r := range f.Registries {
		e, err := fromTOML(path, r)
		if errors.Is(err, errNoHost) {
			warnings = append(warnings, fmt.Sprintf("%s: [[registry]] #%d: prefix %q %v; ignored (write e.g. docker.io/library/ubuntu)", path, i+1, r.Prefix, err))
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: [[registry]] #%d (prefix %q, location %q): %w", path, i+1, r.Prefix, r.Location, err)
		}
		for _, other := range entries {
			if samePrefix(other.prefix, e.prefix) {
				return nil, nil, fmt.Errorf("%s: [[registry]] #%d: prefix %q is defined twice in this file; merge the two tables", path, i+1, e.prefix.text)
			}
		}
		entries = append(entries, e)
	}
	return entries, warnings, nil
}

func fromTOML(path string, r tomlRegistry) (*entry, error) {
	prefixText := r.Prefix
	if prefixText == "" {
		prefixText = r.Location
	}
	if prefixText == "" {
		return nil, errors.New("neither prefix nor location is set")
	}
	p, err := parsePattern(prefixText)
	if err != nil {
		return nil, fmt.Errorf("prefix %q: %w", prefixText, err)
	}
	e := &entry{prefix: p, insecure: r.Insecure, blocked: r.Blocked, file: path}
	switch {
	case r.Location != "" && p.suffix != "":
		// Every subdomain would land in one repository namespace, and
		// images of different registries would be indistinguishable
		// (containers/image refuses this too).
		return nil, fmt.Errorf("prefix %q: a wildcard prefix cannot have a location; give each registry its own [[registry]]", prefixText)
	case r.Location != "":
		if e.location, err = parseLocation(r.Location); err != nil {
			return nil, fmt.Errorf("location %q: %w", r.Location, err)
		}
	case p.suffix != "":
		// A wildcard without location applies its settings to the
		// reference as it is.
	default:
		// The prefix is its own location; its name part, since a location
		// never carries the prefix's tag or digest.
		e.location = location{text: p.host, host: p.host}
		if p.path != "" {
			e.location.text += "/" + p.path
		}
	}
	if r.PullFromMirror != "" {
		return nil, errors.New("pull-from-mirror belongs in a [[registry.mirror]] table, not in [[registry]]")
	}
	for j, m := range r.Mirrors {
		if m.Location == "" {
			return nil, fmt.Errorf("mirror #%d: location is not set", j+1)
		}
		loc, err := parseLocation(m.Location)
		if err != nil {
			return nil, fmt.Errorf("mirror #%d: location %q: %w", j+1, m.Location, err)
		}
		pull := PullFromMirror(m.PullFromMirror)
		switch pull {
		case "":
			pull = PullAll
			if r.MirrorByDigestOnly {
				pull = PullDigestOnly
			}
		case PullAll, PullDigestOnly, PullTagOnly:
			if r.MirrorByDigestOnly {
				return nil, fmt.Errorf("mirror #%d: pull-from-mirror = %q conflicts with mirror-by-digest-only = true; keep one of them (pull-from-mirror is the current form)", j+1, pull)
			}
		default:
			return nil, fmt.Errorf("mirror #%d: pull-from-mirror = %q; use \"all\", \"digest-only\" or \"tag-only\"", j+1, m.PullFromMirror)
		}
		e.mirrors = append(e.mirrors, mirror{location: loc, insecure: m.Insecure, pull: pull})
	}
	return e, nil
}

// fromV1 turns the v1 lists freshpull can honour into entries: a host in
// [registries.insecure] or [registries.block] is a [[registry]] with that
// prefix. [registries.search] only concerns short names and is ignored.
func fromV1(path string, f *tomlFile) ([]*entry, error) {
	var entries []*entry
	get := func(host string) (*entry, error) {
		p, err := parsePattern(host)
		if err != nil {
			return nil, fmt.Errorf("%s: v1 registry %q: %w", path, host, err)
		}
		for _, e := range entries {
			if samePrefix(e.prefix, p) {
				return e, nil
			}
		}
		loc, err := parseLocation(host)
		if err != nil {
			return nil, fmt.Errorf("%s: v1 registry %q: %w", path, host, err)
		}
		e := &entry{prefix: p, location: loc, file: path}
		entries = append(entries, e)
		return e, nil
	}
	for _, h := range f.V1.Insecure.Registries {
		e, err := get(h)
		if err != nil {
			return nil, err
		}
		e.insecure = true
	}
	for _, h := range f.V1.Block.Registries {
		e, err := get(h)
		if err != nil {
			return nil, err
		}
		e.blocked = true
	}
	return entries, nil
}
