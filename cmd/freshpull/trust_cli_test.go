package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/freshpull/freshpull"
	"github.com/freshpull/freshpull/internal/testregistry"
)

// trustFixture is a registry with a GPG-signed image (ns/app:1) and an
// unsigned one (ns/unsigned:1), and a policy that wants signatures by key A
// for R/ns and rejects everything else.
type trustFixture struct {
	*signing
	policyFile string
	app        string // R/ns/app:1
	unsigned   string
}

func newTrustFixture(t *testing.T) *trustFixture {
	testregistry.Require(t)
	s := newSigning(t)
	f := &trustFixture{signing: s, app: s.reg + "/ns/app:1", unsigned: s.reg + "/ns/unsigned:1"}
	s.push("src/app:1")
	s.sign("src/app:1", "ns/app:1", "--sign-by", s.fprA)
	s.push("ns/unsigned:1")
	f.policyFile = filepath.Join(s.dir, "policy.json")
	writeFile(t, f.policyFile, f.policyJSON(""))
	return f
}

func (f *trustFixture) policyJSON(extra string) string {
	return fmt.Sprintf(`{"default": [{"type": "reject"}], "transports": {"docker": {%q: [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": %q}]}}}%s`, f.reg+"/ns", f.keyA, extra)
}

// fp runs freshpull with the fixture's policy and registries.d.
func (f *trustFixture) fp(t *testing.T, args ...string) cmdResult {
	t.Helper()
	return fp(t, append([]string{"--signature-policy", f.policyFile, "--registries-d", f.regsD}, args...)...)
}

func (f *trustFixture) pull(t *testing.T, storeDir string, wantCode int, args ...string) freshpull.Result {
	t.Helper()
	return pullOne(t, storeDir, wantCode, append([]string{"--signature-policy", f.policyFile, "--registries-d", f.regsD}, args...)...)
}

func storeAnnotations(t *testing.T, storeDir, ref string) map[string]string {
	t.Helper()
	var idx struct {
		Manifests []struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(storeDir, "index.json"))), &idx); err != nil {
		t.Fatal(err)
	}
	for _, m := range idx.Manifests {
		if m.Annotations["org.opencontainers.image.ref.name"] == ref {
			return m.Annotations
		}
	}
	return nil
}

// A rejected image exits 5, names the policy file, the scope, the
// requirement and the key, and is never indexed; an accepted one says who
// signed it, and the store records it.
func TestTrustPullRejectsAndRecords(t *testing.T) {
	f := newTrustFixture(t)
	st := t.TempDir()

	r := f.pull(t, st, exitRejected, f.unsigned)
	for _, want := range []string{"pull " + f.unsigned + ": rejected by policy " + f.policyFile, fmt.Sprintf("scope %q requires signedBy", f.reg+"/ns"), "no signature of " + f.digests["ns/unsigned:1"], f.keyA} {
		if !strings.Contains(r.Error, want) {
			t.Errorf("error %q does not say %q", r.Error, want)
		}
	}
	if r.Trust == nil || r.Trust.Scope != f.reg+"/ns" || r.Trust.Type != "signedBy" {
		t.Errorf("trust of the rejection = %+v, want scope %s and type signedBy", r.Trust, f.reg+"/ns")
	}
	if a := storeAnnotations(t, st, f.unsigned); a != nil {
		t.Errorf("the rejected image is in the store's index: %v", a)
	}
	text := f.fp(t, "--store", st, "pull", f.unsigned)
	if text.code != exitRejected || !strings.Contains(text.stderr, "rejected by policy") {
		t.Errorf("text pull of the unsigned image: exit %d, stderr %q; want 5 and the rejection", text.code, text.stderr)
	}
	f.push("elsewhere/x:1")
	other := f.pull(t, st, exitRejected, f.reg+"/elsewhere/x:1")
	if !strings.Contains(other.Error, "the default scope requires reject") {
		t.Errorf("outside R/ns: %q, want the default scope's reject", other.Error)
	}

	ok := f.pull(t, st, 0, f.app)
	if ok.Action != "pulled" || ok.Trust == nil || ok.Trust.Signer != f.fprA || ok.Trust.Key != f.keyA || ok.Trust.Scope != f.reg+"/ns" || ok.Trust.Type != "signedBy" {
		t.Fatalf("signed pull: action %q, trust %+v; want pulled, signed by %s with %s", ok.Action, ok.Trust, f.fprA, f.keyA)
	}
	if a := storeAnnotations(t, st, f.app); a == nil || !strings.Contains(a["io.freshpull.trust"], f.fprA) {
		t.Errorf("the store entry does not record the acceptance: %v", a)
	}
	in := f.fp(t, "--store", st, "inspect", f.app)
	if in.code != 0 || !strings.Contains(in.stdout, "Accepted by:     signedBy, scope \""+f.reg+"/ns\"") || !strings.Contains(in.stdout, "signed by "+f.fprA) {
		t.Errorf("inspect does not show what accepted the image: %s%s", in.stdout, in.stderr)
	}
}

// A local copy is used under missing/never/up-to-date newer only when the
// policy in force now accepted it; a changed policy is checked again.
func TestTrustLocalUseFollowsThePolicy(t *testing.T) {
	f := newTrustFixture(t)
	st := t.TempDir()
	f.pull(t, st, 0, f.app)

	// The acceptance is recorded: with the signatures gone, the same
	// policy still takes the local copy without asking again.
	sigDir := filepath.Join(f.lookside, "ns", "app@"+strings.Replace(f.digests["ns/app:1"], ":", "=", 1))
	hidden := sigDir + ".hidden"
	if err := os.Rename(sigDir, hidden); err != nil {
		t.Fatal(err)
	}
	for _, pol := range []string{"missing", "newer", "never"} {
		r := f.pull(t, st, 0, "--policy", pol, f.app)
		if r.Trust == nil || r.Trust.Signer != f.fprA {
			t.Errorf("--policy %s: trust %+v, want the recorded acceptance", pol, r.Trust)
		}
	}

	// The policy changes: the local copy is checked again, and without its
	// signatures it is rejected, under missing as under newer.
	writeFile(t, f.policyFile, f.policyJSON("\n"))
	for _, pol := range []string{"missing", "newer"} {
		r := f.pull(t, st, exitRejected, "--policy", pol, f.app)
		if !strings.Contains(r.Error, "no signature of") {
			t.Errorf("--policy %s after the policy changed: %q, want a rejection for want of signatures", pol, r.Error)
		}
	}
	never := f.pull(t, st, exitFailed, "--policy", "never", f.app)
	if !strings.Contains(never.Error, "checking it again needs its signatures") || !strings.Contains(never.Error, "--policy missing or newer") {
		t.Errorf("--policy never after the policy changed: %q", never.Error)
	}

	// Signatures back: accepted again and recorded, so never can use it.
	if err := os.Rename(hidden, sigDir); err != nil {
		t.Fatal(err)
	}
	if r := f.pull(t, st, 0, "--policy", "missing", f.app); r.Action != "local" || r.Trust == nil {
		t.Errorf("after the signatures are back: %s %+v", r.Action, r.Trust)
	}
	if r := f.pull(t, st, 0, "--policy", "never", f.app); r.Action != "local" {
		t.Errorf("never after the new acceptance was recorded: %s %s", r.Action, r.Error)
	}

	// A policy that now rejects the repository outright needs no
	// signatures to say so, even under never.
	writeFile(t, f.policyFile, `{"default": [{"type": "reject"}]}`)
	if r := f.pull(t, st, exitRejected, "--policy", "never", f.app); !strings.Contains(r.Error, "requires reject") {
		t.Errorf("never under a rejecting policy: %q", r.Error)
	}
}

// verify, extract and pin go through the same check.
func TestTrustVerifyExtractPin(t *testing.T) {
	requireTool(t, "skopeo")
	f := newTrustFixture(t)
	st := t.TempDir()

	v := f.fp(t, "--store", st, "verify", f.app)
	if v.code != 0 || !strings.Contains(v.stdout, "accepted "+f.app+" "+f.digests["ns/app:1"]) || !strings.Contains(v.stdout, f.fprA) {
		t.Errorf("verify signed: exit %d, %q", v.code, v.stdout)
	}
	v = f.fp(t, "-o", "json", "verify", f.unsigned)
	var vs []freshpull.Verification
	if err := json.Unmarshal([]byte(v.stdout), &vs); err != nil || v.code != exitRejected || len(vs) != 1 || vs[0].Trust == nil || vs[0].Digest != f.digests["ns/unsigned:1"] {
		t.Errorf("verify unsigned: exit %d, %s (%v)", v.code, v.stdout, err)
	}
	if entries := readDir(t, st); len(entries) != 0 {
		t.Errorf("verify wrote to the store: %v", entries)
	}

	dest := filepath.Join(t.TempDir(), "rootfs")
	x := f.fp(t, "--store", st, "extract", f.unsigned, dest)
	if x.code != exitRejected || !strings.Contains(x.stderr, "rejected by policy") {
		t.Errorf("extract unsigned: exit %d, %q", x.code, x.stderr)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("extract of a rejected image created %s", dest)
	}
	if x := f.fp(t, "--store", st, "extract", f.app, dest); x.code != 0 {
		t.Errorf("extract signed: exit %d, %s", x.code, x.stderr)
	}

	dockerfile := filepath.Join(t.TempDir(), "Dockerfile")
	content := "FROM " + f.unsigned + "\n"
	writeFile(t, dockerfile, content)
	p := f.fp(t, "pin", "--write", dockerfile)
	if p.code != exitRejected || readFile(t, dockerfile) != content {
		t.Errorf("pin --write of an unsigned base: exit %d, file now %q\n%s", p.code, readFile(t, dockerfile), p.stderr)
	}
	writeFile(t, dockerfile, "FROM "+f.app+"\n")
	if p := f.fp(t, "pin", "--write", dockerfile); p.code != 0 || !strings.Contains(readFile(t, dockerfile), f.digests["ns/app:1"]) {
		t.Errorf("pin --write of a signed base: exit %d, file %q\n%s", p.code, readFile(t, dockerfile), p.stderr)
	}
}

// Bad policy input names the file and the line, or the key path.
func TestTrustBadInput(t *testing.T) {
	testregistry.Require(t)
	reg := testregistry.Start(t)
	testregistry.Push(t, reg.Ref("app:1"), testregistry.Image(t, 1, 256, host))
	dir := t.TempDir()
	bad := filepath.Join(dir, "policy.json")
	writeFile(t, bad, "{\n  \"default\": [\n    {\"type\": \"signedBy\", \"keyType\": \"GPGKeys\", \"keyPat\": \"/k\"}\n  ]\n}\n")
	r := fp(t, "--store", t.TempDir(), "--signature-policy", bad, "pull", reg.Ref("app:1"))
	if r.code != exitUsage || !strings.Contains(r.stderr, bad+":3: default[0]: unknown field \"keyPat\"") {
		t.Errorf("malformed policy: exit %d, %q", r.code, r.stderr)
	}
	missing := filepath.Join(dir, "none.json")
	r = fp(t, "--store", t.TempDir(), "--signature-policy", missing, "pull", reg.Ref("app:1"))
	if r.code != exitUsage || !strings.Contains(r.stderr, missing+" does not exist") {
		t.Errorf("missing policy: exit %d, %q", r.code, r.stderr)
	}
	key := filepath.Join(dir, "nokey.gpg")
	pol := filepath.Join(dir, "key.json")
	writeFile(t, pol, fmt.Sprintf(`{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": %q}]}`, key))
	r = fp(t, "--store", t.TempDir(), "--signature-policy", pol, "pull", reg.Ref("app:1"))
	if r.code != exitRejected || !strings.Contains(r.stderr, "cannot read key "+key) {
		t.Errorf("unreadable key: exit %d, %q", r.code, r.stderr)
	}
	regsD := filepath.Join(dir, "registries.d")
	os.MkdirAll(regsD, 0o755)
	writeFile(t, filepath.Join(regsD, "x.yaml"), "docker:\n  quay.io:\n    lookaside: [\n")
	r = fp(t, "--store", t.TempDir(), "--registries-d", regsD, "pull", reg.Ref("app:1"))
	if r.code != exitUsage || !strings.Contains(r.stderr, filepath.Join(regsD, "x.yaml")) || !strings.Contains(r.stderr, "line") {
		t.Errorf("malformed registries.d: exit %d, %q", r.code, r.stderr)
	}
}

// An http:// lookaside is read as the file:// one is, and skopeo agrees.
func TestTrustHTTPLookaside(t *testing.T) {
	f := newTrustFixture(t)
	srv := httptest.NewServer(http.FileServer(http.Dir(f.lookside)))
	t.Cleanup(srv.Close)
	regsD := filepath.Join(f.dir, "registries-http.d")
	os.MkdirAll(regsD, 0o755)
	writeFile(t, filepath.Join(regsD, "default.yaml"), "default-docker:\n  lookaside: "+srv.URL+"\n")
	st := t.TempDir()
	for _, c := range []struct {
		ref  string
		want bool
	}{{f.app, true}, {f.unsigned, false}} {
		r := fp(t, "--signature-policy", f.policyFile, "--registries-d", regsD, "--store", st, "pull", c.ref)
		f.regsD, regsD = regsD, f.regsD
		skopeoOK, out := f.skopeoAccepts(f.policyFile, c.ref)
		f.regsD, regsD = regsD, f.regsD
		if (r.code == 0) != c.want || skopeoOK != c.want {
			t.Errorf("%s over http: freshpull exit %d (%s), skopeo accepted %v (%s); want accepted %v", c.ref, r.code, r.stderr, skopeoOK, out, c.want)
		}
	}
}

// The tag moves to an unsigned image right after freshpull resolved it:
// what is stored is the digest that was checked, and the next pull, which
// sees the new digest, rejects it and leaves the signed copy in place.
func TestTrustTagMovesAfterTheCheck(t *testing.T) {
	f := newTrustFixture(t)
	upstream, _ := url.Parse("http://" + f.reg)
	var once sync.Once
	proxy := httputil.NewSingleHostReverseProxy(upstream)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxy.ServeHTTP(w, r)
		if r.Method == http.MethodHead && strings.HasSuffix(r.URL.Path, "/ns/app/manifests/1") {
			once.Do(func() { testregistry.Push(t, f.reg+"/ns/app:1", testregistry.Image(t, 1, 256, host)) })
		}
	}))
	t.Cleanup(srv.Close)
	ref := strings.TrimPrefix(srv.URL, "http://") + "/ns/app:1"
	pol := filepath.Join(f.dir, "proxy-policy.json")
	writeFile(t, pol, fmt.Sprintf(`{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": %q, "signedIdentity": {"type": "remapIdentity", "prefix": %q, "signedPrefix": %q}}]}`, f.keyA, strings.TrimPrefix(srv.URL, "http://"), f.reg))
	st := t.TempDir()
	first := pullOne(t, st, 0, "--signature-policy", pol, "--registries-d", f.regsD, ref)
	if first.Digest != f.digests["ns/app:1"] {
		t.Fatalf("stored %s, want the signed digest %s that was checked", first.Digest, f.digests["ns/app:1"])
	}
	second := pullOne(t, st, exitRejected, "--signature-policy", pol, "--registries-d", f.regsD, ref)
	if second.Digest != "" || !strings.Contains(second.Error, "no signature of") {
		t.Errorf("pull of the moved tag: digest %q, error %q; want a rejection", second.Digest, second.Error)
	}
	if third := pullOne(t, st, 0, "--signature-policy", pol, "--registries-d", f.regsD, "--policy", "never", ref); third.Digest != f.digests["ns/app:1"] {
		t.Errorf("the signed copy is no longer the one in the store: %s", third.Digest)
	}
}

// A registry that advertises the signature API extension is asked for
// simple signing signatures instead of the lookaside, by freshpull as by
// skopeo.
func TestTrustSignatureAPIExtension(t *testing.T) {
	f := newTrustFixture(t)
	upstream, _ := url.Parse("http://" + f.reg)
	proxy := httputil.NewSingleHostReverseProxy(upstream)
	var mu sync.Mutex
	asked := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Registry-Supports-Signatures", "1")
		repo, dgst, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/extensions/v2/"), "/signatures/")
		if !ok || !strings.HasPrefix(r.URL.Path, "/extensions/v2/") {
			proxy.ServeHTTP(w, r)
			return
		}
		mu.Lock()
		asked++
		mu.Unlock()
		type sig struct {
			Version int    `json:"schemaVersion"`
			Name    string `json:"name"`
			Type    string `json:"type"`
			Content []byte `json:"content"`
		}
		list := struct {
			Signatures []sig `json:"signatures"`
		}{Signatures: []sig{}}
		dir := filepath.Join(f.lookside, repo+"@"+strings.Replace(dgst, ":", "=", 1))
		for i := 1; ; i++ {
			b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("signature-%d", i)))
			if err != nil {
				break
			}
			list.Signatures = append(list.Signatures, sig{Version: 2, Name: fmt.Sprintf("%s@%d", dgst, i), Type: "atomic", Content: b})
		}
		json.NewEncoder(w).Encode(list)
	}))
	t.Cleanup(srv.Close)
	ext := strings.TrimPrefix(srv.URL, "http://")
	// The lookaside is empty: only the extension has the signatures.
	empty := filepath.Join(f.dir, "registries-empty.d")
	os.MkdirAll(empty, 0o755)
	writeFile(t, filepath.Join(empty, "default.yaml"), "default-docker:\n  lookaside: file://"+filepath.Join(f.dir, "nothing")+"\n")
	pol := filepath.Join(f.dir, "ext-policy.json")
	writeFile(t, pol, fmt.Sprintf(`{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": %q, "signedIdentity": {"type": "remapIdentity", "prefix": %q, "signedPrefix": %q}}]}`, f.keyA, ext, f.reg))
	st := t.TempDir()
	for _, c := range []struct {
		repo string
		want bool
	}{{"ns/app:1", true}, {"ns/unsigned:1", false}} {
		ref := ext + "/" + c.repo
		r := fp(t, "--signature-policy", pol, "--registries-d", empty, "--store", st, "pull", ref)
		saved := f.regsD
		f.regsD = empty
		skopeoOK, out := f.skopeoAccepts(pol, ref)
		f.regsD = saved
		if (r.code == 0) != c.want || skopeoOK != c.want {
			t.Errorf("%s through the API extension: freshpull exit %d (%s), skopeo accepted %v (%s); want accepted %v", ref, r.code, r.stderr, skopeoOK, out, c.want)
		}
		if c.want && r.code == 0 && !strings.Contains(r.stdout, f.digests[c.repo]) {
			t.Errorf("pulled %q, want %s", r.stdout, f.digests[c.repo])
		}
	}
	if asked < 4 {
		t.Errorf("the signature API was asked %d times, want twice by each tool", asked)
	}
}
