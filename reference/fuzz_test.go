package reference

import (
	"strings"
	"testing"
)

// FuzzParse: no input panics, and whatever parses round-trips through its
// canonical form and through Join.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"ubuntu", "ubuntu:22.04", "docker.io/library/ubuntu", "index.docker.io/ubuntu",
		"localhost:5000/a", "localhost:5000/a:1@" + dA, "[::1]:5000/app", "a@" + dA,
		"img:sha256:" + hexA, "UPPER", "a//b", "", ":", "@", "a:b:c", "ubuntu@sha512:" + hexA + hexA,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(r.String())
		if err != nil || again.String() != r.String() {
			t.Fatalf("Parse(%q) = %q, which re-parses as %q, %v", s, r, again, err)
		}
		part := r.Tag()
		if d := r.Digest(); d != "" {
			part += "@" + d.String()
		}
		joined, err := Join(r.Repository(), part)
		if err != nil || joined.String() != r.String() {
			t.Fatalf("Join(%q, %q) = %q, %v; want %q", r.Repository(), part, joined, err, r)
		}
	})
}

// FuzzJoin: no input panics, and a digest is never joined with ':'.
func FuzzJoin(f *testing.F) {
	f.Add("ubuntu", "22.04")
	f.Add("localhost:5000/a", dA)
	f.Add("quay.io/x", "1@"+dA)
	f.Add("x", "sha256:abc")
	f.Add("x", "@")
	f.Fuzz(func(t *testing.T, repo, part string) {
		r, err := Join(repo, part)
		if err != nil {
			return
		}
		s := r.String()
		if i := strings.LastIndexByte(s, '/'); strings.Contains(s[i+1:], ":sha256:") {
			t.Fatalf("Join(%q, %q) = %q: digest joined with ':'", repo, part, s)
		}
		if _, err := Parse(s); err != nil {
			t.Fatalf("Join(%q, %q) = %q, which does not parse: %v", repo, part, s, err)
		}
	})
}
