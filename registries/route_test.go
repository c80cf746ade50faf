package registries_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/freshpull/freshpull/reference"
	"github.com/freshpull/freshpull/registries"
)

const (
	hexA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	dA   = "sha256:" + hexA
)

// conf exercises every [[registry]] feature; routeTests route references
// through it.
const conf = `
unqualified-search-registries = ["docker.io", "quay.io"]
short-name-mode = "enforcing"
credential-helpers = ["containers-auth.json"]

[aliases]
"ubuntu" = "docker.io/library/ubuntu"

# Docker Hub through a digest-only pull-through cache: the build-farm setup.
[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "hub-cache.local:5000/hub"
pull-from-mirror = "digest-only"

# The man page's docker.io example: /library must be spelled out.
[[registry]]
prefix = "docker.io/library/alpine"
location = "alpine.local/alp"

# prefix defaults to location.
[[registry]]
location = "example.com:5000"
insecure = true

[[registry]]
prefix = "example.com/foo"
location = "internal.example.net/bar"
[[registry.mirror]]
location = "m0.local/foo"
pull-from-mirror = "all"
[[registry.mirror]]
location = "m1.local/mirrors/foo"
insecure = true
pull-from-mirror = "tag-only"
[[registry.mirror]]
location = "m2.local/foo"
pull-from-mirror = "digest-only"

[[registry]]
prefix = "example.com/foo/blocked"
blocked = true

[[registry]]
prefix = "*.example.org"
insecure = true

[[registry]]
prefix = "*.build.example.org"
insecure = true

[[registry]]
prefix = "exact.example.org"
location = "exact.example.org"

[[registry]]
prefix = "legacy.io"
mirror-by-digest-only = true
[[registry.mirror]]
location = "legacy-mirror.io"

[[registry]]
prefix = "pinned.io/app:bad"
blocked = true

[[registry]]
prefix = "solo.io/app"
location = "mirror.local"

[[registry]]
location = "[::1]:5000"
insecure = true
[[registry.mirror]]
location = "127.0.0.1:5001/v6"
`

// ep is an expected endpoint: "REF" for the primary, "m REF" for a
// mirror, with "!" appended when insecure.
type ep = string

func TestRoute(t *testing.T) {
	cfg := loadConf(t, conf)
	tests := []struct {
		ref     string
		prefix  string // matched prefix
		resolve []ep   // ResolveEndpoints
		fetch   []ep   // FetchEndpoints(Endpoint{})
		err     string
	}{
		// Docker Hub normalisation: the prefix docker.io matches "ubuntu".
		{ref: "ubuntu:22.04", prefix: "docker.io",
			resolve: []ep{"docker.io/library/ubuntu:22.04"},
			fetch:   []ep{"m hub-cache.local:5000/hub/library/ubuntu:22.04", "docker.io/library/ubuntu:22.04"}},
		{ref: "ubuntu", prefix: "docker.io",
			resolve: []ep{"docker.io/library/ubuntu"},
			fetch:   []ep{"m hub-cache.local:5000/hub/library/ubuntu", "docker.io/library/ubuntu"}},
		// A digest reference may use the digest-only mirror from the start.
		{ref: "ubuntu@" + dA, prefix: "docker.io",
			resolve: []ep{"m hub-cache.local:5000/hub/library/ubuntu@" + dA, "docker.io/library/ubuntu@" + dA},
			fetch:   []ep{"m hub-cache.local:5000/hub/library/ubuntu@" + dA, "docker.io/library/ubuntu@" + dA}},
		// name:tag@digest: the digest wins, and both survive the rewrite.
		{ref: "ubuntu:22.04@" + dA, prefix: "docker.io",
			resolve: []ep{"m hub-cache.local:5000/hub/library/ubuntu:22.04@" + dA, "docker.io/library/ubuntu:22.04@" + dA},
			fetch:   []ep{"m hub-cache.local:5000/hub/library/ubuntu:22.04@" + dA, "docker.io/library/ubuntu:22.04@" + dA}},
		{ref: "index.docker.io/user/app:1", prefix: "docker.io",
			resolve: []ep{"docker.io/user/app:1"},
			fetch:   []ep{"m hub-cache.local:5000/hub/user/app:1", "docker.io/user/app:1"}},
		// Longest prefix wins; the docker.io mirror is not inherited.
		{ref: "alpine:3.20", prefix: "docker.io/library/alpine",
			resolve: []ep{"alpine.local/alp:3.20"}, fetch: []ep{"alpine.local/alp:3.20"}},
		{ref: "alpine/git:1", prefix: "docker.io",
			resolve: []ep{"docker.io/alpine/git:1"},
			fetch:   []ep{"m hub-cache.local:5000/hub/alpine/git:1", "docker.io/alpine/git:1"}},
		{ref: "docker.io/library/alpine-extra:1", prefix: "docker.io",
			resolve: []ep{"docker.io/library/alpine-extra:1"},
			fetch:   []ep{"m hub-cache.local:5000/hub/library/alpine-extra:1", "docker.io/library/alpine-extra:1"}},
		// host:port; the port is part of the host, both ways.
		{ref: "example.com:5000/x/y:1", prefix: "example.com:5000",
			resolve: []ep{"example.com:5000/x/y:1!"}, fetch: []ep{"example.com:5000/x/y:1!"}},
		{ref: "example.com/x:1", resolve: []ep{"example.com/x:1"}, fetch: []ep{"example.com/x:1"}},
		{ref: "example.com:5001/x:1", resolve: []ep{"example.com:5001/x:1"}, fetch: []ep{"example.com:5001/x:1"}},
		// Namespaces match whole path components.
		{ref: "example.com/foobar:1", resolve: []ep{"example.com/foobar:1"}, fetch: []ep{"example.com/foobar:1"}},
		// Location rewriting and every pull-from-mirror value.
		{ref: "example.com/foo/img:1", prefix: "example.com/foo",
			resolve: []ep{"m m0.local/foo/img:1", "m m1.local/mirrors/foo/img:1!", "internal.example.net/bar/img:1"},
			fetch:   []ep{"m m0.local/foo/img:1", "m m2.local/foo/img:1", "internal.example.net/bar/img:1"}},
		{ref: "example.com/foo/team/img@" + dA, prefix: "example.com/foo",
			resolve: []ep{"m m0.local/foo/team/img@" + dA, "m m2.local/foo/team/img@" + dA, "internal.example.net/bar/team/img@" + dA},
			fetch:   []ep{"m m0.local/foo/team/img@" + dA, "m m2.local/foo/team/img@" + dA, "internal.example.net/bar/team/img@" + dA}},
		{ref: "example.com/foo/img:1@" + dA, prefix: "example.com/foo",
			resolve: []ep{"m m0.local/foo/img:1@" + dA, "m m2.local/foo/img:1@" + dA, "internal.example.net/bar/img:1@" + dA},
			fetch:   []ep{"m m0.local/foo/img:1@" + dA, "m m2.local/foo/img:1@" + dA, "internal.example.net/bar/img:1@" + dA}},
		// Blocked, by namespace and by one tag.
		{ref: "example.com/foo/blocked/x:1", err: `prefix "example.com/foo/blocked"`},
		{ref: "example.com/foo/blocked", err: `prefix "example.com/foo/blocked"`},
		// A port does not slip past a block.
		{ref: "example.com:443/foo/blocked/x:1", err: `prefix "example.com/foo/blocked"`},
		{ref: "example.com:5000/foo/blocked/x:1", err: `prefix "example.com/foo/blocked"`},
		{ref: "example.com/foo/blockedx:1", prefix: "example.com/foo",
			resolve: []ep{"m m0.local/foo/blockedx:1", "m m1.local/mirrors/foo/blockedx:1!", "internal.example.net/bar/blockedx:1"},
			fetch:   []ep{"m m0.local/foo/blockedx:1", "m m2.local/foo/blockedx:1", "internal.example.net/bar/blockedx:1"}},
		{ref: "pinned.io/app:bad", err: `prefix "pinned.io/app:bad"`},
		{ref: "pinned.io/app:bad@" + dA, err: `prefix "pinned.io/app:bad"`},
		{ref: "pinned.io/app:good", resolve: []ep{"pinned.io/app:good"}, fetch: []ep{"pinned.io/app:good"}},
		// Wildcards: subdomains only, on any port, as-is without location,
		// the longer wildcard and then an exact host win.
		{ref: "a.example.org/x:1", prefix: "*.example.org", resolve: []ep{"a.example.org/x:1!"}, fetch: []ep{"a.example.org/x:1!"}},
		{ref: "a.b.example.org/x:1", prefix: "*.example.org", resolve: []ep{"a.b.example.org/x:1!"}, fetch: []ep{"a.b.example.org/x:1!"}},
		{ref: "example.org/x:1", resolve: []ep{"example.org/x:1"}, fetch: []ep{"example.org/x:1"}},
		{ref: "badexample.org/x:1", resolve: []ep{"badexample.org/x:1"}, fetch: []ep{"badexample.org/x:1"}},
		{ref: "a.example.org:5000/x:1", prefix: "*.example.org", resolve: []ep{"a.example.org:5000/x:1!"}, fetch: []ep{"a.example.org:5000/x:1!"}},
		{ref: "x.build.example.org/team/app:1", prefix: "*.build.example.org",
			resolve: []ep{"x.build.example.org/team/app:1!"}, fetch: []ep{"x.build.example.org/team/app:1!"}},
		{ref: "exact.example.org/x:1", prefix: "exact.example.org", resolve: []ep{"exact.example.org/x:1"}, fetch: []ep{"exact.example.org/x:1"}},
		// mirror-by-digest-only: every mirror is digest-only.
		{ref: "legacy.io/app:1", prefix: "legacy.io",
			resolve: []ep{"legacy.io/app:1"}, fetch: []ep{"m legacy-mirror.io/app:1", "legacy.io/app:1"}},
		{ref: "legacy.io/app@" + dA, prefix: "legacy.io",
			resolve: []ep{"m legacy-mirror.io/app@" + dA, "legacy.io/app@" + dA},
			fetch:   []ep{"m legacy-mirror.io/app@" + dA, "legacy.io/app@" + dA}},
		// A location without path for a whole-repository prefix leaves no
		// repository name: an error, not an image on Docker Hub.
		{ref: "solo.io/app:1", err: "no repository name is left"},
		{ref: "solo.io/app/sub:1", prefix: "solo.io/app", resolve: []ep{"mirror.local/sub:1"}, fetch: []ep{"mirror.local/sub:1"}},
		{ref: "[::1]:5000/a:1", prefix: "[::1]:5000",
			resolve: []ep{"m 127.0.0.1:5001/v6/a:1", "[::1]:5000/a:1!"}, fetch: []ep{"m 127.0.0.1:5001/v6/a:1", "[::1]:5000/a:1!"}},
		{ref: "localhost:5000/a:1", resolve: []ep{"localhost:5000/a:1"}, fetch: []ep{"localhost:5000/a:1"}},
	}
	for _, tc := range tests {
		t.Run(tc.ref, func(t *testing.T) {
			ref, err := reference.Parse(tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			r, err := cfg.Route(ref)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Route: %v; want an error with %q", err, tc.err)
				}
				if strings.Contains(tc.err, "prefix") && !errors.Is(err, registries.ErrBlocked) {
					t.Fatalf("Route: %v does not wrap ErrBlocked", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Route: %v", err)
			}
			if r.Prefix != tc.prefix {
				t.Errorf("prefix %q, want %q", r.Prefix, tc.prefix)
			}
			if got := eps(r.ResolveEndpoints()); !equal(got, tc.resolve) {
				t.Errorf("ResolveEndpoints\n got %q\nwant %q", got, tc.resolve)
			}
			if got := eps(r.FetchEndpoints(registries.Endpoint{})); !equal(got, tc.fetch) {
				t.Errorf("FetchEndpoints\n got %q\nwant %q", got, tc.fetch)
			}
		})
	}
}

// TestFetchAfterTagOnlyMirror: a tag-only mirror that resolved a tag also
// serves that content, in its place; one that did not, does not.
func TestFetchAfterTagOnlyMirror(t *testing.T) {
	r := route(t, loadConf(t, conf), "example.com/foo/img:1")
	res := r.ResolveEndpoints()
	if len(res) != 3 || res[1].PullFromMirror != registries.PullTagOnly {
		t.Fatalf("ResolveEndpoints = %q; want the tag-only mirror second", eps(res))
	}
	want := []ep{"m m0.local/foo/img:1", "m m1.local/mirrors/foo/img:1!", "m m2.local/foo/img:1", "internal.example.net/bar/img:1"}
	if got := eps(r.FetchEndpoints(res[1])); !equal(got, want) {
		t.Errorf("FetchEndpoints(tag-only mirror)\n got %q\nwant %q", got, want)
	}
	want = []ep{"m m0.local/foo/img:1", "m m2.local/foo/img:1", "internal.example.net/bar/img:1"}
	for _, at := range []registries.Endpoint{res[0], res[2]} {
		if got := eps(r.FetchEndpoints(at)); !equal(got, want) {
			t.Errorf("FetchEndpoints(%s)\n got %q\nwant %q", at.Ref, got, want)
		}
	}
}

func TestRouteEndpointFields(t *testing.T) {
	r := route(t, loadConf(t, conf), "example.com/foo/img:1")
	if r.Primary.Mirror || r.Primary.PullFromMirror != "" || r.Primary.Insecure {
		t.Errorf("primary %+v: want Mirror false, no PullFromMirror, secure", r.Primary)
	}
	want := []registries.PullFromMirror{registries.PullAll, registries.PullTagOnly, registries.PullDigestOnly}
	for i, m := range r.Mirrors {
		if !m.Mirror || m.PullFromMirror != want[i] {
			t.Errorf("mirror %d %+v: want Mirror true, PullFromMirror %q", i, m, want[i])
		}
	}
	if !strings.HasSuffix(r.File, "registries.conf") {
		t.Errorf("File %q: want the file that defined the table", r.File)
	}
}

func TestBlockedError(t *testing.T) {
	cfg := loadConf(t, conf)
	ref, _ := reference.Parse("example.com/foo/blocked/x:1")
	_, err := cfg.Route(ref)
	if !errors.Is(err, registries.ErrBlocked) {
		t.Fatalf("Route: %v; want ErrBlocked", err)
	}
	for _, want := range []string{"example.com/foo/blocked/x:1", `"example.com/foo/blocked"`, cfg.Files()[0]} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestNilConfigRoutesToItself(t *testing.T) {
	var cfg *registries.Config
	r := route(t, cfg, "ubuntu:24.04@"+dA)
	if got := eps(r.FetchEndpoints(registries.Endpoint{})); !equal(got, []ep{"docker.io/library/ubuntu:24.04@" + dA}) {
		t.Fatalf("FetchEndpoints = %q", got)
	}
}

func route(t *testing.T, cfg *registries.Config, s string) registries.Route {
	t.Helper()
	ref, err := reference.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	r, err := cfg.Route(ref)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func loadConf(t *testing.T, text string) *registries.Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), "registries.conf")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := registries.Load(registries.LoadOptions{Path: p})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func eps(es []registries.Endpoint) []ep {
	var out []ep
	for _, e := range es {
		s := e.Ref.String()
		if e.Mirror {
			s = "m " + s
		}
		if e.Insecure {
			s += "!"
		}
		out = append(out, s)
	}
	return out
}

func equal(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}
