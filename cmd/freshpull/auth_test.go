package main

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/freshpull/freshpull/internal/countproxy"
	"github.com/freshpull/freshpull/internal/testauth"
	"github.com/freshpull/freshpull/internal/testregistry"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// secretsOf lists what must never appear in any output: the passwords,
// the base64 auth strings that carry them, and anything shaped like a JWT.
func secretsOf(accounts ...testauth.Account) []string {
	var s []string
	for _, a := range accounts {
		s = append(s, a.Password, a.Password+"-wrong",
			base64.StdEncoding.EncodeToString([]byte(a.User+":"+a.Password)),
			base64.StdEncoding.EncodeToString([]byte(a.User+":"+a.Password+"-wrong")))
	}
	return append(s, "eyJ") // a JWT's header starts so
}

// fpSecret runs freshpull at debug log level and fails if any secret shows
// in stdout or stderr. It never prints the output when it finds one.
func fpSecret(t *testing.T, env []string, args ...string) cmdResult {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"--log-level", "debug"}, args...)...)
	cmd.Env = append(testEnv(t), env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	for _, s := range secretsOf(testauth.Pusher, testauth.Puller) {
		if strings.Contains(out.String(), s) || strings.Contains(errb.String(), s) {
			t.Fatalf("freshpull %s: a credential or token appears in its output (output withheld)", args[0])
		}
	}
	return cmdResult{out.String(), errb.String(), code}
}

func pushAuth(t *testing.T, ref string, img v1.Image, ca *testauth.CA, a testauth.Account) v1.Hash {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithAuth(&authn.Basic{Username: a.User, Password: a.Password}), remote.WithTransport(ca.Transport())); err != nil {
		t.Fatalf("push %s: error withheld (it might carry a secret)", ref)
	}
	d, _ := img.Digest()
	return d
}

// authFile writes an auth.json (containers format) for host.
func authFile(t *testing.T, host string, a testauth.Account, wrong bool) string {
	pw := a.Password
	if wrong {
		pw += "-wrong"
	}
	path := filepath.Join(t.TempDir(), "auth.json")
	b, _ := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(a.User + ":" + pw))}}})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// basicAuthRegistry starts the registry over TLS, with a private CA, and
// htpasswd (Basic) authentication.
func basicAuthRegistry(t *testing.T) (*testregistry.Registry, *testauth.CA) {
	t.Helper()
	testregistry.Require(t)
	ca := testauth.NewCA(t)
	htpasswd := testauth.Htpasswd(t, t.TempDir(), testauth.Pusher, testauth.Puller)
	reg := testregistry.StartWithConfig(t, testauth.Merge(
		testauth.ServeTLS(ca.ServerCert(t, "127.0.0.1", "localhost")),
		testauth.HtpasswdAuth(htpasswd),
	))
	return reg, ca
}

func TestHtpasswdOverTLS(t *testing.T) {
	reg, ca := basicAuthRegistry(t)
	ref := reg.Ref("basic/app:1")
	want := pushAuth(t, ref, testregistry.Image(t, 2, 1000, host), ca, testauth.Pusher)
	certDir := ca.WriteCertDir(t, t.TempDir(), nil)

	// --authfile with the right password, CA from --cert-dir.
	st := t.TempDir()
	out := fpSecret(t, nil, "--store", st, "-o", "json", "pull", "--cert-dir", certDir, "--authfile", authFile(t, reg.Host, testauth.Puller, false), ref)
	if out.code != 0 || !strings.Contains(out.stdout, want.String()) {
		t.Fatalf("pull with the right credentials: exit %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	// The same credentials found through REGISTRY_AUTH_FILE and through
	// docker's config.json.
	out = fpSecret(t, []string{"REGISTRY_AUTH_FILE=" + authFile(t, reg.Host, testauth.Puller, false)}, "--store", t.TempDir(), "pull", "--cert-dir", certDir, ref)
	if out.code != 0 {
		t.Errorf("pull with REGISTRY_AUTH_FILE: exit %d %s", out.code, out.stderr)
	}
	dockerDir := t.TempDir()
	os.Rename(authFile(t, reg.Host, testauth.Puller, false), filepath.Join(dockerDir, "config.json"))
	out = fpSecret(t, []string{"DOCKER_CONFIG=" + dockerDir}, "--store", t.TempDir(), "pull", "--cert-dir", certDir, ref)
	if out.code != 0 {
		t.Errorf("pull with DOCKER_CONFIG: exit %d %s", out.code, out.stderr)
	}
	// --creds for one-off use.
	out = fpSecret(t, nil, "--store", t.TempDir(), "pull", "--cert-dir", certDir, "--creds", testauth.Puller.User+":"+testauth.Puller.Password, ref)
	if out.code != 0 {
		t.Errorf("pull with --creds: exit %d %s", out.code, out.stderr)
	}

	// A wrong password, and no credentials at all: exit 1, the registry
	// named, and how to log in.
	for name, args := range map[string][]string{
		"wrong password": {"--authfile", authFile(t, reg.Host, testauth.Puller, true)},
		"wrong --creds":  {"--creds", testauth.Puller.User + ":" + testauth.Puller.Password + "-wrong"},
		"no credentials": nil,
	} {
		out := fpSecret(t, nil, append([]string{"--store", t.TempDir(), "pull", "--cert-dir", certDir}, append(args, ref)...)...)
		if out.code != 1 || !strings.Contains(out.stderr, reg.Host) || !strings.Contains(out.stderr, "login") {
			t.Errorf("%s: exit %d, want 1 naming %s and how to log in: %s", name, out.code, reg.Host, out.stderr)
		}
	}

	// Without the CA the certificate is refused; --tls-verify=false
	// accepts it with a warning.
	out = fpSecret(t, nil, "--store", t.TempDir(), "pull", "--creds", testauth.Puller.User+":"+testauth.Puller.Password, ref)
	if out.code != 1 || !strings.Contains(out.stderr, "certificate") {
		t.Errorf("pull without the CA: exit %d %s", out.code, out.stderr)
	}
	out = fpSecret(t, nil, "--store", t.TempDir(), "pull", "--tls-verify=false", "--creds", testauth.Puller.User+":"+testauth.Puller.Password, ref)
	if out.code != 0 || !strings.Contains(out.stderr, "warning") || !strings.Contains(out.stderr, "TLS") {
		t.Errorf("pull with --tls-verify=false: exit %d, want 0 and a warning: %s", out.code, out.stderr)
	}
}

func TestTokenAuthOverTLS(t *testing.T) {
	testregistry.Require(t)
	ca := testauth.NewCA(t)
	ts := testauth.NewTokenServer(t, testauth.TokenOptions{CA: ca, Accounts: []testauth.Account{testauth.Pusher, testauth.Puller}})
	reg := testregistry.StartWithConfig(t, testauth.Merge(
		testauth.ServeTLS(ca.ServerCert(t, "127.0.0.1", "localhost")),
		testauth.TokenAuth(ts),
	))
	ref := reg.Ref("team/app:1")
	want := pushAuth(t, ref, testregistry.Image(t, 2, 1000, host), ca, testauth.Pusher)
	certDir := ca.WriteCertDir(t, t.TempDir(), nil)
	creds := testauth.Puller.User + ":" + testauth.Puller.Password

	st := t.TempDir()
	out := fpSecret(t, nil, "--store", st, "-o", "json", "pull", "--cert-dir", certDir, "--creds", creds, ref)
	if out.code != 0 || !strings.Contains(out.stdout, want.String()) {
		t.Fatalf("pull with a token: exit %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	out = fpSecret(t, nil, "--store", st, "-o", "json", "pull", "--cert-dir", certDir, "--creds", creds, ref)
	if out.code != 0 || !strings.Contains(out.stdout, `"up-to-date"`) {
		t.Errorf("newer with a token: exit %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	out = fpSecret(t, nil, "--store", t.TempDir(), "pull", "--cert-dir", certDir, "--creds", creds+"-wrong", ref)
	if out.code != 1 || !strings.Contains(out.stderr, "login") {
		t.Errorf("token auth with a wrong password: exit %d: %s", out.code, out.stderr)
	}
	out = fpSecret(t, nil, "--store", t.TempDir(), "pull", "--cert-dir", certDir, ref)
	if out.code != 1 || !strings.Contains(out.stderr, reg.Host) {
		t.Errorf("token auth without credentials: exit %d: %s", out.code, out.stderr)
	}
}

// registriesConf writes a registries.conf and returns its path.
func registriesConf(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "registries.conf")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A pull-through cache as a digest-only mirror: tags are resolved upstream,
// bytes come from the mirror; a tag moved upstream is noticed; a stopped
// mirror falls back to upstream.
func TestPullThroughCacheMirror(t *testing.T) {
	upstream := testregistry.Start(t)
	mirror := testregistry.StartWithConfig(t, localRegistryProxy("http://"+upstream.Host))
	// Builders reach upstream through a counting proxy, to see what they
	// ask it; the mirror fetches from upstream directly.
	up := countproxy.Start(t, upstream.Host)
	first := testregistry.Push(t, upstream.Ref("farm/base:1"), testregistry.Image(t, 2, 5000, host))
	ref := up.Host + "/farm/base:1"
	conf := registriesConf(t, fmt.Sprintf(`
[[registry]]
location = %q
insecure = true

[[registry.mirror]]
location = %q
insecure = true
pull-from-mirror = "digest-only"
`, up.Host, mirror.Host))
	st := t.TempDir()
	r := pullOne(t, st, 0, "--registries-conf", conf, ref)
	if r.Digest != first.String() || !strings.HasPrefix(r.Source, mirror.Host) {
		t.Fatalf("first pull = %+v, want %s from the mirror %s", r, first, mirror.Host)
	}
	// Upstream answered the tag (one HEAD) and sent no content.
	if up.Count("HEAD", "/manifests/1") != 1 || up.Count("GET", "/manifests/") != 0 || up.Count("", "/blobs/") != 0 {
		t.Errorf("upstream saw more than the tag's HEAD:\n%s", up)
	}
	moved := testregistry.Push(t, upstream.Ref("farm/base:1"), testregistry.Image(t, 2, 5000, host))
	r = pullOne(t, st, 0, "--registries-conf", conf, ref)
	if r.Action != "pulled" || r.Digest != moved.String() || !strings.HasPrefix(r.Source, mirror.Host) {
		t.Errorf("newer after the tag moved upstream = %+v, want %s pulled through the mirror", r, moved)
	}
	mirror.Stop()
	again := testregistry.Push(t, upstream.Ref("farm/base:1"), testregistry.Image(t, 2, 5000, host))
	r = pullOne(t, st, 0, "--registries-conf", conf, ref)
	if r.Action != "pulled" || r.Digest != again.String() || !strings.HasPrefix(r.Source, up.Host) {
		t.Errorf("with the mirror stopped = %+v, want %s from upstream", r, again)
	}
}

func TestBlockedRegistry(t *testing.T) {
	conf := registriesConf(t, `
[[registry]]
prefix = "blocked.example.com"
location = "blocked.example.com"
blocked = true
`)
	r := pullOne(t, t.TempDir(), 1, "--registries-conf", conf, "blocked.example.com/app:1")
	if !strings.Contains(r.Error, "blocked") || !strings.Contains(r.Error, conf) {
		t.Errorf("blocked registry error %q should say blocked and name %s", r.Error, conf)
	}
}

// --creds USER asks for the password on the terminal and does not echo it.
func TestCredsPasswordPrompt(t *testing.T) {
	requireTool(t, "script")
	reg, ca := basicAuthRegistry(t)
	ref := reg.Ref("prompt/app:1")
	want := pushAuth(t, ref, testregistry.Image(t, 1, 1000, host), ca, testauth.Pusher)
	certDir := ca.WriteCertDir(t, t.TempDir(), nil)

	// script(1) runs freshpull on a pseudo-terminal; what freshpull echoes
	// comes back on script's output.
	term := onTerminal(t, fmt.Sprintf("%s --store %s --cert-dir %s -o json pull --creds %s %s", binary, t.TempDir(), certDir, testauth.Puller.User, ref))
	term.waitFor(t, "Password for "+testauth.Puller.User)
	out, err := term.finish(testauth.Puller.Password + "\n")
	for _, s := range secretsOf(testauth.Puller) {
		if strings.Contains(out, s) {
			t.Fatal("the password was echoed or printed (output withheld)")
		}
	}
	if err != nil || !strings.Contains(out, want.String()) {
		t.Fatalf("pull with a prompted password: %v; output without the digest %s", err, want)
	}
}

// terminal is a command running under script(1), on a pseudo-terminal:
// what it echoes comes back in its output.
type terminal struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out io.Reader
	// seen is the output so far.
	seen strings.Builder
}

func onTerminal(t *testing.T, line string) *terminal {
	t.Helper()
	term := &terminal{cmd: exec.Command("script", "-qfec", line, "/dev/null")}
	term.cmd.Env = testEnv(t)
	term.in, _ = term.cmd.StdinPipe()
	term.out, _ = term.cmd.StdoutPipe()
	if err := term.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return term
}

// waitFor reads the output until s shows.
func (term *terminal) waitFor(t *testing.T, s string) {
	t.Helper()
	buf := make([]byte, 4096)
	for !strings.Contains(term.seen.String(), s) {
		n, err := term.out.Read(buf)
		if err != nil {
			t.Fatalf("no %q; output: %q", s, term.seen.String())
		}
		term.seen.Write(buf[:n])
	}
}

// finish types input, then reads the output to the end and waits for the
// command; it is killed after a minute (a prompt that ignores what was
// typed would otherwise wait forever).
func (term *terminal) finish(input string) (string, error) {
	io.WriteString(term.in, input)
	stuck := time.AfterFunc(time.Minute, func() { term.cmd.Process.Kill() })
	defer stuck.Stop()
	rest, _ := io.ReadAll(term.out)
	term.seen.Write(rest)
	term.in.Close()
	err := term.cmd.Wait()
	return term.seen.String(), err
}

// A public registry behind token auth (as Docker Hub): anonymous pulls get a
// token. Once the challenge is known, the up-to-date check is two requests:
// one token and one HEAD, no /v2/ ping.
func TestAnonymousTokenUpToDateIsTwoRequests(t *testing.T) {
	testregistry.Require(t)
	ts := testauth.NewTokenServer(t, testauth.TokenOptions{HTTP: true, Accounts: []testauth.Account{testauth.Pusher}, Anonymous: []string{"pull"}})
	reg := testregistry.StartWithConfig(t, testauth.TokenAuth(ts))
	want := pushAuth(t, reg.Ref("public/app:1"), testregistry.Image(t, 2, 1000, host), ts.CA, testauth.Pusher)
	proxy := countproxy.Start(t, reg.Host)
	ref := proxy.Host + "/public/app:1"

	st := t.TempDir()
	out := fpSecret(t, nil, "--store", st, "-o", "json", "pull", ref)
	if out.code != 0 || !strings.Contains(out.stdout, want.String()) {
		t.Fatalf("anonymous pull: exit %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	proxy.Reset()
	tokens := len(ts.Requests())
	out = fpSecret(t, nil, "--store", st, "-o", "json", "pull", ref)
	if out.code != 0 || !strings.Contains(out.stdout, `"up-to-date"`) {
		t.Fatalf("anonymous up-to-date check: exit %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	registryRequests, tokenRequests := proxy.Count("", ""), len(ts.Requests())-tokens
	if registryRequests != 1 || proxy.Count("HEAD", "/manifests/1") != 1 || tokenRequests != 1 {
		t.Errorf("up-to-date check made %d registry requests and %d token requests, want one HEAD and one token:\n%s", registryRequests, tokenRequests, proxy)
	}
}

// Without --registries-conf or $CONTAINERS_REGISTRIES_CONF, a user's own
// ~/.config/containers/registries.conf applies, as it does for podman.
func TestUserRegistriesConf(t *testing.T) {
	home := t.TempDir()
	conf := filepath.Join(home, ".config", "containers", "registries.conf")
	if err := os.MkdirAll(filepath.Dir(conf), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("[[registry]]\nlocation = \"blocked.example.com\"\nblocked = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "--store", t.TempDir(), "pull", "blocked.example.com/app:1")
	cmd.Env = append(testEnv(t), "HOME="+home, "CONTAINERS_REGISTRIES_CONF=")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "blocked") || !strings.Contains(string(out), conf) {
		t.Errorf("pull with a user registries.conf that blocks the registry: %v\n%s", err, out)
	}
}

// Ctrl-C at the --creds password prompt stops freshpull at once (exit 130)
// and leaves the terminal echoing again.
func TestCredsPromptInterrupted(t *testing.T) {
	requireTool(t, "script")
	requireTool(t, "stty")
	wrapper := filepath.Join(t.TempDir(), "then-stty")
	if err := os.WriteFile(wrapper, []byte("#!/bin/bash\n\"$@\"\necho \"EXIT=$?\"\nstty -a\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	term := onTerminal(t, fmt.Sprintf("%s %s --store %s pull --creds someone registry.example.com/app:1", wrapper, binary, t.TempDir()))
	term.waitFor(t, "Password for someone")
	out, _ := term.finish("\x03") // Ctrl-C, as typed
	if !strings.Contains(out, "EXIT=130") || !strings.Contains(out, "interrupted") {
		t.Errorf("Ctrl-C at the prompt: want exit 130 and 'interrupted'; output:\n%s", out)
	}
	if !regexp.MustCompile(`(^|\s)echo(\s|$)`).MatchString(out) {
		t.Errorf("terminal echo is still off after the interrupted prompt; stty says:\n%s", out)
	}
}

// A registry that requires a client certificate (mutual TLS): the pull
// presents the one in the certs directory, and without one it fails with
// an error that names the registry.
func TestClientCertificateRegistry(t *testing.T) {
	testregistry.Require(t)
	ca := testauth.NewCA(t)
	client := ca.ClientCert(t, "builder-7")
	reg := testregistry.StartWithConfig(t, testauth.ServeMutualTLS(ca.ServerCert(t, "127.0.0.1", "localhost"), ca.WriteCA(t, t.TempDir(), "client-ca.pem")))
	ref := reg.Ref("mtls/app:1")
	tr := ca.Transport()
	tr.TLSClientConfig.Certificates = []tls.Certificate{client.TLS}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img := testregistry.Image(t, 1, 1000, host)
	if err := remote.Write(r, img, remote.WithTransport(tr)); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	want, _ := img.Digest()

	withCert := ca.WriteCertDir(t, t.TempDir(), client)
	out := fp(t, "--store", t.TempDir(), "-o", "json", "pull", "--cert-dir", withCert, ref)
	if out.code != 0 || !strings.Contains(out.stdout, want.String()) {
		t.Errorf("pull with a client certificate: exit %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	withoutCert := ca.WriteCertDir(t, t.TempDir(), nil)
	out = fp(t, "--store", t.TempDir(), "pull", "--cert-dir", withoutCert, ref)
	if out.code != 1 || !strings.Contains(out.stderr, reg.Host) || !strings.Contains(out.stderr, "client certificate") || strings.Contains(out.stderr, "http://") || strings.Count(out.stderr, ref) != 1 {
		t.Errorf("pull without the client certificate: exit %d, want 1 and an error naming %s and the client certificate (the reference once, no http:// URL): %s", out.code, reg.Host, out.stderr)
	}
	// A certs directory without the registry's CA: the server is not trusted.
	out = fp(t, "--store", t.TempDir(), "pull", "--cert-dir", t.TempDir(), ref)
	if out.code != 1 || !strings.Contains(out.stderr, "not trusted") || !strings.Contains(out.stderr, "ca.crt") {
		t.Errorf("pull without the registry's CA: exit %d, want 1 and an error saying the certificate is not trusted: %s", out.code, out.stderr)
	}
}
