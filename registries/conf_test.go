package registries_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/freshpull/freshpull/reference"
	"github.com/freshpull/freshpull/registries"
)

func write(t *testing.T, path, text string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// mirrorOf returns the first fetch endpoint of ref: the mirror in use, or
// the primary.
func mirrorOf(t *testing.T, cfg *registries.Config, ref string) string {
	t.Helper()
	return route(t, cfg, ref).FetchEndpoints(registries.Endpoint{})[0].Ref.Domain()
}

func hub(mirror string) string {
	return "[[registry]]\nprefix = \"docker.io\"\nlocation = \"docker.io\"\n[[registry.mirror]]\nlocation = \"" + mirror + "\"\n"
}

func TestLoadPrecedence(t *testing.T) {
	dir := t.TempDir()
	flag := write(t, filepath.Join(dir, "flag.conf"), hub("flag.local"))
	fromEnv := write(t, filepath.Join(dir, "env.conf"), hub("env.local"))
	system := write(t, filepath.Join(dir, "etc", "registries.conf"), hub("system.local"))
	dropIns := filepath.Join(dir, "etc", "registries.conf.d")
	write(t, filepath.Join(dropIns, "50-other.conf"), "[[registry]]\nprefix = \"quay.io\"\nblocked = true\n")

	tests := []struct {
		name   string
		opts   registries.LoadOptions
		mirror string
		files  []string
	}{
		{"flag beats env and system", registries.LoadOptions{Path: flag, Env: env(map[string]string{registries.EnvConf: fromEnv}), SystemPath: system, DropInDir: dropIns},
			"flag.local", []string{flag}},
		{"env beats system", registries.LoadOptions{Env: env(map[string]string{registries.EnvConf: fromEnv}), SystemPath: system, DropInDir: dropIns},
			"env.local", []string{fromEnv}},
		{"system and drop-ins", registries.LoadOptions{Env: env(nil), SystemPath: system, DropInDir: dropIns},
			"system.local", []string{system, filepath.Join(dropIns, "50-other.conf")}},
		{"nothing at all", registries.LoadOptions{Env: env(nil), SystemPath: filepath.Join(dir, "none.conf"), DropInDir: filepath.Join(dir, "none.d")},
			"docker.io", nil},
		{"drop-ins without system file", registries.LoadOptions{Env: env(nil), SystemPath: filepath.Join(dir, "none.conf"), DropInDir: dropIns},
			"docker.io", []string{filepath.Join(dropIns, "50-other.conf")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { load(t, tc.opts, tc.mirror, tc.files) })
	}
}

// load loads the configuration and checks which mirror serves Docker Hub
// and which files were read.
func load(t *testing.T, opts registries.LoadOptions, mirror string, files []string) *registries.Config {
	t.Helper()
	cfg, err := registries.Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := mirrorOf(t, cfg, "ubuntu@"+dA); got != mirror {
		t.Errorf("first fetch endpoint %s, want %s", got, mirror)
	}
	if !equal(cfg.Files(), files) {
		t.Errorf("Files() = %q, want %q", cfg.Files(), files)
	}
	return cfg
}

// A user's own registries.conf replaces the system file and its drop-ins;
// without one, the user's drop-ins still come after the system's (as
// containers-registries.conf.d(5) says), and a later drop-in wins.
func TestLoadUserConfiguration(t *testing.T) {
	dir := t.TempDir()
	system := write(t, filepath.Join(dir, "etc", "registries.conf"), hub("system.local"))
	systemDropIns := filepath.Join(dir, "etc", "registries.conf.d")
	systemOther := write(t, filepath.Join(systemDropIns, "50-other.conf"), "[[registry]]\nprefix = \"quay.io\"\nblocked = true\n")

	withUserFile := filepath.Join(dir, "home1")
	userFile := write(t, filepath.Join(withUserFile, ".config", "containers", "registries.conf"), hub("user.local"))
	userDropIn := write(t, filepath.Join(withUserFile, ".config", "containers", "registries.conf.d", "10-gcr.conf"), "[[registry]]\nprefix = \"gcr.io\"\nblocked = true\n")

	onlyDropIns := filepath.Join(dir, "home2")
	userHub := write(t, filepath.Join(onlyDropIns, ".config", "containers", "registries.conf.d", "00-hub.conf"), hub("user-dropin.local"))

	tests := []struct {
		name, home, mirror string
		files              []string
		quayBlocked        bool
	}{
		{"user file replaces system", withUserFile, "user.local", []string{userFile, userDropIn}, false},
		{"user drop-ins after system ones", onlyDropIns, "user-dropin.local", []string{system, systemOther, userHub}, true},
		{"no home", "", "system.local", []string{system, systemOther}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := load(t, registries.LoadOptions{Env: env(map[string]string{"HOME": tc.home}), SystemPath: system, DropInDir: systemDropIns}, tc.mirror, tc.files)
			_, err := cfg.Route(mustParse(t, "quay.io/a/b:1"))
			if blocked := errors.Is(err, registries.ErrBlocked); blocked != tc.quayBlocked {
				t.Errorf("quay.io blocked = %v, want %v (%v)", blocked, tc.quayBlocked, err)
			}
		})
	}
}

func TestLoadNamedFileMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.conf")
	for _, opts := range []registries.LoadOptions{
		{Path: missing},
		{Env: env(map[string]string{registries.EnvConf: missing})},
	} {
		_, err := registries.Load(opts)
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
			t.Errorf("Load(%+v): %v; want a not-exist error naming the file", opts.Path, err)
		}
	}
}

func TestDropIns(t *testing.T) {
	dir := t.TempDir()
	system := write(t, filepath.Join(dir, "registries.conf"), hub("system.local")+"[[registry]]\nprefix = \"quay.io\"\nblocked = true\n")
	d := filepath.Join(dir, "registries.conf.d")
	// Lexical order: 10 < 20 < 9; the last one to name docker.io wins.
	write(t, filepath.Join(d, "20-hub.conf"), hub("twenty.local"))
	write(t, filepath.Join(d, "10-hub.conf"), hub("ten.local"))
	write(t, filepath.Join(d, "9-hub.conf"), hub("nine.local"))
	// Neither a .txt nor a directory named .conf is read.
	write(t, filepath.Join(d, "99-hub.conf.txt"), hub("txt.local"))
	write(t, filepath.Join(d, "98-dir.conf", "x.conf"), hub("dir.local"))
	// A drop-in replaces the whole table: quay.io is no longer blocked.
	write(t, filepath.Join(d, "30-quay.conf"), "[[registry]]\nprefix = \"quay.io\"\nlocation = \"quay.io\"\n")

	cfg, err := registries.Load(registries.LoadOptions{Env: env(nil), SystemPath: system, DropInDir: d})
	if err != nil {
		t.Fatal(err)
	}
	if got := mirrorOf(t, cfg, "ubuntu@"+dA); got != "nine.local" {
		t.Errorf("docker.io mirror %s, want nine.local (the lexically last drop-in)", got)
	}
	want := []string{system, filepath.Join(d, "10-hub.conf"), filepath.Join(d, "20-hub.conf"), filepath.Join(d, "30-quay.conf"), filepath.Join(d, "9-hub.conf")}
	if !equal(cfg.Files(), want) {
		t.Errorf("Files() = %q, want %q", cfg.Files(), want)
	}
	r := route(t, cfg, "quay.io/org/app:1")
	if r.File != filepath.Join(d, "30-quay.conf") {
		t.Errorf("quay.io routed by %s, want the 30-quay.conf drop-in", r.File)
	}
}

func TestMalformed(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string // in the error, besides the file name
	}{
		{"syntax", "[[registry]]\nprefix = \"docker.io\"\nlocation = \"docker.io\n", []string{":3:"}},
		{"type", "[[registry]]\nprefix = \"docker.io\"\ninsecure = \"yes\"\n", []string{"line 3", "insecure"}},
		{"bad pull-from-mirror", "[[registry]]\nprefix = \"docker.io\"\n[[registry.mirror]]\nlocation = \"m.local\"\npull-from-mirror = \"digests\"\n", []string{`"digests"`, "digest-only"}},
		{"pull-from-mirror on the registry", "[[registry]]\nprefix = \"docker.io\"\npull-from-mirror = \"all\"\n", []string{"[[registry.mirror]]"}},
		{"mirror without location", "[[registry]]\nprefix = \"docker.io\"\n[[registry.mirror]]\ninsecure = true\n", []string{"mirror #1", "location"}},
		{"legacy and new mirror settings", "[[registry]]\nprefix = \"docker.io\"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = \"m.local\"\npull-from-mirror = \"tag-only\"\n", []string{"mirror-by-digest-only"}},
		{"scheme in location", "[[registry]]\nprefix = \"docker.io\"\nlocation = \"https://mirror.local\"\n", []string{"URI schemes"}},
		{"scheme in mirror", "[[registry]]\nprefix = \"docker.io\"\n[[registry.mirror]]\nlocation = \"http://mirror.local\"\n", []string{"mirror #1", "insecure = true"}},
		{"wildcard with location", "[[registry]]\nprefix = \"*.example.com\"\nlocation = \"cache.local/x\"\n", []string{"wildcard", "location"}},
		{"tag in location", "[[registry]]\nprefix = \"example.com/a\"\nlocation = \"mirror.local/a:1\"\n", []string{"tag or digest"}},
		{"location not a host", "[[registry]]\nprefix = \"example.com/a\"\nlocation = \"mirror/a\"\n", []string{"registry host"}},
		{"nothing set", "[[registry]]\ninsecure = true\n", []string{"neither prefix nor location"}},
		{"wildcard inside", "[[registry]]\nprefix = \"foo.*.example.com\"\n", []string{"wildcard"}},
		{"wildcard with path", "[[registry]]\nprefix = \"*.example.com/foo\"\n", []string{"wildcard"}},
		{"duplicate prefix", "[[registry]]\nprefix = \"docker.io\"\n[[registry]]\nprefix = \"docker.io/\"\ninsecure = true\n", []string{"defined twice"}},
		{"v1 and v2", "[registries.insecure]\nregistries = [\"a.example.com\"]\n[[registry]]\nprefix = \"docker.io\"\n", []string{"v1", "[[registry]]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, filepath.Join(t.TempDir(), "bad.conf"), tc.text)
			_, err := registries.Load(registries.LoadOptions{Path: p})
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range append([]string{p}, tc.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestMalformedDropIn(t *testing.T) {
	d := t.TempDir()
	write(t, filepath.Join(d, "10-good.conf"), hub("good.local"))
	bad := write(t, filepath.Join(d, "20-bad.conf"), "[[registry]]\nprefix = = \"x\"\n")
	_, err := registries.Load(registries.LoadOptions{Env: env(nil), SystemPath: filepath.Join(d, "none"), DropInDir: d})
	if err == nil || !strings.Contains(err.Error(), bad+":2:") {
		t.Fatalf("Load: %v; want an error at %s:2", err, bad)
	}
}

func TestV1(t *testing.T) {
	cfg := loadConf(t, `
[registries.search]
registries = ["docker.io"]
[registries.insecure]
registries = ["insecure.example.com", "both.example.com:5000"]
[registries.block]
registries = ["blocked.example.com", "both.example.com:5000"]
`)
	if r := route(t, cfg, "insecure.example.com/a:1"); !r.Primary.Insecure || r.Primary.Ref.String() != "insecure.example.com/a:1" {
		t.Errorf("insecure.example.com: primary %+v, want the same reference, insecure", r.Primary)
	}
	for _, ref := range []string{"blocked.example.com/a:1", "both.example.com:5000/a:1"} {
		if _, err := cfg.Route(mustParse(t, ref)); !errors.Is(err, registries.ErrBlocked) {
			t.Errorf("Route(%s): %v; want ErrBlocked", ref, err)
		}
	}
	if r := route(t, cfg, "ubuntu"); r.Prefix != "" || r.Primary.Insecure {
		t.Errorf("ubuntu: %+v; [registries.search] must not route anything", r)
	}
}

func TestWarnings(t *testing.T) {
	cfg := loadConf(t, `
short-name-mode = "permissive"
[aliases]
"x" = "quay.io/x"

[[registry]]
prefix = "docker.io"
insecure = true
[[registry.mirror]]
location = "m.local"
pull-from-mirrors = "digest-only"

[[registry]]
prefix = "ubuntu"
blocked = true
`)
	w := strings.Join(cfg.Warnings(), "\n")
	for _, want := range []string{`"registry.mirror.pull-from-mirrors"`, `prefix "ubuntu"`, cfg.Files()[0]} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings %q do not mention %s", w, want)
		}
	}
	if strings.Contains(w, "aliases") || strings.Contains(w, "short-name-mode") {
		t.Errorf("warnings %q mention tables freshpull ignores on purpose", w)
	}
	// The prefix without a host is ignored, not applied to Docker Hub.
	if r := route(t, cfg, "ubuntu:1"); r.Prefix != "docker.io" {
		t.Errorf("ubuntu routed by prefix %q, want docker.io", r.Prefix)
	}
	// The misspelt key is not applied either: the mirror serves tags.
	if got := len(route(t, cfg, "ubuntu:1").ResolveEndpoints()); got != 2 {
		t.Errorf("%d resolve endpoints, want 2 (mirror with the default \"all\", and primary)", got)
	}
}

func mustParse(t *testing.T, s string) reference.Reference {
	t.Helper()
	r, err := reference.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
