package reference

import (
	"strings"
	"testing"
)

const (
	hexA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	dA   = "sha256:" + hexA
)

func TestParse(t *testing.T) {
	tests := []struct {
		in                                     string
		canonical, familiar, domain, path, tag string
		digest                                 string
	}{
		{in: "ubuntu", canonical: "docker.io/library/ubuntu", familiar: "ubuntu", domain: "docker.io", path: "library/ubuntu"},
		{in: "ubuntu:22.04", canonical: "docker.io/library/ubuntu:22.04", familiar: "ubuntu:22.04", domain: "docker.io", path: "library/ubuntu", tag: "22.04"},
		{in: "library/ubuntu", canonical: "docker.io/library/ubuntu", familiar: "ubuntu", domain: "docker.io", path: "library/ubuntu"},
		{in: "docker.io/ubuntu", canonical: "docker.io/library/ubuntu", familiar: "ubuntu", domain: "docker.io", path: "library/ubuntu"},
		{in: "index.docker.io/library/ubuntu:1", canonical: "docker.io/library/ubuntu:1", familiar: "ubuntu:1", domain: "docker.io", path: "library/ubuntu", tag: "1"},
		{in: "index.docker.io/ubuntu", canonical: "docker.io/library/ubuntu", familiar: "ubuntu", domain: "docker.io", path: "library/ubuntu"},
		{in: "user/app", canonical: "docker.io/user/app", familiar: "user/app", domain: "docker.io", path: "user/app"},
		{in: "localhost/app", canonical: "localhost/app", familiar: "localhost/app", domain: "localhost", path: "app"},
		{in: "localhost:5000/a", canonical: "localhost:5000/a", familiar: "localhost:5000/a", domain: "localhost:5000", path: "a"},
		{in: "localhost:5000/a:5000", canonical: "localhost:5000/a:5000", familiar: "localhost:5000/a:5000", domain: "localhost:5000", path: "a", tag: "5000"},
		{in: "127.0.0.1:5000/team/app:v1", canonical: "127.0.0.1:5000/team/app:v1", familiar: "127.0.0.1:5000/team/app:v1", domain: "127.0.0.1:5000", path: "team/app", tag: "v1"},
		{in: "[::1]:5000/app", canonical: "[::1]:5000/app", familiar: "[::1]:5000/app", domain: "[::1]:5000", path: "app"},
		{in: "quay.io/org/img:1.4", canonical: "quay.io/org/img:1.4", familiar: "quay.io/org/img:1.4", domain: "quay.io", path: "org/img", tag: "1.4"},
		{in: "registry.example.com:443/a/b/c:tag_1.2-rc", canonical: "registry.example.com:443/a/b/c:tag_1.2-rc", familiar: "registry.example.com:443/a/b/c:tag_1.2-rc", domain: "registry.example.com:443", path: "a/b/c", tag: "tag_1.2-rc"},
		// Docker's grammar reads a bare "host:port" as a Docker Hub name with a tag.
		{in: "localhost:5000", canonical: "docker.io/library/localhost:5000", familiar: "localhost:5000", domain: "docker.io", path: "library/localhost", tag: "5000"},
		{in: "ubuntu@" + dA, canonical: "docker.io/library/ubuntu@" + dA, familiar: "ubuntu@" + dA, domain: "docker.io", path: "library/ubuntu", digest: dA},
		{in: "ubuntu:22.04@" + dA, canonical: "docker.io/library/ubuntu:22.04@" + dA, familiar: "ubuntu:22.04@" + dA, domain: "docker.io", path: "library/ubuntu", tag: "22.04", digest: dA},
		{in: "localhost:5000/a:1@" + dA, canonical: "localhost:5000/a:1@" + dA, familiar: "localhost:5000/a:1@" + dA, domain: "localhost:5000", path: "a", tag: "1", digest: dA},
		{in: "host:5000/a@" + dA, canonical: "host:5000/a@" + dA, familiar: "host:5000/a@" + dA, domain: "host:5000", path: "a", digest: dA},
	}
	for _, tc := range tests {
		r, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		got := [...]string{r.String(), r.Familiar(), r.Domain(), r.Path(), r.Tag(), string(r.Digest())}
		want := [...]string{tc.canonical, tc.familiar, tc.domain, tc.path, tc.tag, tc.digest}
		if got != want {
			t.Errorf("Parse(%q) = %q, want %q", tc.in, got, want)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	for _, in := range []string{
		"",
		" ubuntu",
		"ubuntu ",
		"Ubuntu",
		"ubuntu:",
		"ubuntu:sha256:" + hexA, // the mangled form this project exists to end
		"ubuntu@sha256:abc",
		"ubuntu@" + hexA,
		"ubuntu@md5:abc",
		"ubuntu:tag:tag",
		":tag",
		"@" + dA,
		"a//b",
		"a/../b",
		"-a",
		"localhost:/a",
		hexA,
		"ubuntu:" + strings.Repeat("t", 129),
		strings.Repeat("a/", 200) + "a" + strings.Repeat("b", 300),
		"ubuntu\n",
		"ubu ntu",
		"http://docker.io/ubuntu",
	} {
		if r, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %q, want error", in, r)
		} else if !strings.Contains(err.Error(), "invalid reference") {
			t.Errorf("Parse(%q) error %q does not say the reference is invalid", in, err)
		}
	}
}

func TestJoin(t *testing.T) {
	tests := []struct{ repo, part, want string }{
		{"ubuntu", "", "docker.io/library/ubuntu"},
		{"ubuntu", "22.04", "docker.io/library/ubuntu:22.04"},
		{"ubuntu", dA, "docker.io/library/ubuntu@" + dA},
		{"ubuntu", "@" + dA, "docker.io/library/ubuntu@" + dA},
		{"ubuntu", "22.04@" + dA, "docker.io/library/ubuntu:22.04@" + dA},
		{"docker.io/library/ubuntu", dA, "docker.io/library/ubuntu@" + dA},
		{"index.docker.io/library/ubuntu", "1", "docker.io/library/ubuntu:1"},
		{"localhost:5000/a", dA, "localhost:5000/a@" + dA},
		{"localhost:5000/a", "5000", "localhost:5000/a:5000"},
		{"localhost:5000/a", "latest", "localhost:5000/a:latest"},
		{"localhost:5000/a", " latest ", "localhost:5000/a:latest"},
		{"host:5000/team/app", "v1@" + dA, "host:5000/team/app:v1@" + dA},
		{"quay.io/org/img", "sha512:" + hexA + hexA, "quay.io/org/img@sha512:" + hexA + hexA},
	}
	for _, tc := range tests {
		r, err := Join(tc.repo, tc.part)
		if err != nil {
			t.Errorf("Join(%q, %q): %v", tc.repo, tc.part, err)
			continue
		}
		if r.String() != tc.want {
			t.Errorf("Join(%q, %q) = %q, want %q", tc.repo, tc.part, r, tc.want)
		}
		if strings.Contains(r.String(), ":sha256:") || strings.Contains(r.String(), ":sha512:") {
			t.Errorf("Join(%q, %q) = %q: digest joined with ':'", tc.repo, tc.part, r)
		}
	}
}

func TestJoinInvalid(t *testing.T) {
	tests := []struct{ repo, part string }{
		{"ubuntu:1", "2"},        // repository already tagged
		{"ubuntu@" + dA, "2"},    // repository already digested
		{"ubuntu", "sha256:abc"}, // digest-looking but malformed: never glued with ':'
		{"ubuntu", "sha256:" + strings.ToUpper(hexA)},
		{"ubuntu", "@"},
		{"ubuntu", "1@"},
		{"ubuntu", "bad tag"},
		{"ubuntu", "-tag"},
		{"ubuntu", strings.Repeat("t", 129)},
		{"Ubuntu", "1"},
		{"", "1"},
	}
	for _, tc := range tests {
		if r, err := Join(tc.repo, tc.part); err == nil {
			t.Errorf("Join(%q, %q) = %q, want error", tc.repo, tc.part, r)
		}
	}
}

func TestDerived(t *testing.T) {
	r, err := Parse("ubuntu")
	if err != nil {
		t.Fatal(err)
	}
	if got := r.WithDefaultTag().String(); got != "docker.io/library/ubuntu:latest" {
		t.Errorf("WithDefaultTag = %q", got)
	}
	pinned, _ := Parse("ubuntu@" + dA)
	if got := pinned.WithDefaultTag().String(); got != "docker.io/library/ubuntu@"+dA {
		t.Errorf("WithDefaultTag on a digest reference added a tag: %q", got)
	}
	tagged, _ := Parse("localhost:5000/a:1")
	if got, _ := tagged.WithDigest(dA); got.String() != "localhost:5000/a@"+dA {
		t.Errorf("WithDigest = %q", got)
	}
	if got, _ := tagged.Pinned(dA); got.String() != "localhost:5000/a:1@"+dA {
		t.Errorf("Pinned = %q", got)
	}
	if got, _ := r.Pinned(dA); got.String() != "docker.io/library/ubuntu@"+dA {
		t.Errorf("Pinned without tag = %q", got)
	}
}
