package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/freshpull/freshpull"
	"github.com/freshpull/freshpull/reference"
	"github.com/freshpull/freshpull/registries"
	"github.com/freshpull/freshpull/registry"
	"github.com/freshpull/freshpull/store"
	"github.com/freshpull/freshpull/trust"
	"github.com/google/go-containerregistry/pkg/authn"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

// Exit codes.
const (
	exitOK       = 0
	exitFailed   = 1 // an operation failed: network, registry, store
	exitUsage    = 2 // usage error or invalid input
	exitNotFound = 3 // not in the registry, or not in the store under never
	exitRejected = 5 // the signature policy rejected the image
	// exitInterrupted follows the shell's 128+SIGINT convention.
	exitInterrupted = 130
)

// globals are the flags every command accepts, before or after its name.
type globals struct {
	store     string
	output    string
	quiet     bool
	platform  string
	insecure  []string
	authfile  string
	logLevel  string
	timeout   time.Duration
	creds     string
	tlsVerify bool
	certDir   string
	// registriesConf is --registries-conf.
	registriesConf string
	// signaturePolicy is --signature-policy; registriesD --registries-d.
	signaturePolicy string
	registriesD     string
	// ctx ends on SIGINT or SIGTERM; it bounds the password prompt.
	ctx       context.Context
	stdout    io.Writer
	stderr    io.Writer
	stderrTTY bool
	log       *slog.Logger
}

// usageError marks errors that exit 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// exitError carries an exit code for a command that has already printed its
// own per-item errors.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{ctx: ctx, stdout: stdout, stderr: stderr}
	if f, ok := stderr.(*os.File); ok {
		g.stderrTTY = isTerminal(f)
	}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintf(stderr, "freshpull: %v\n", err)
	return exitCode(err)
}

func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue), freshpull.IsInput(err):
		return exitUsage
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case freshpull.IsRejected(err):
		return exitRejected
	case freshpull.IsNotFound(err):
		return exitNotFound
	}
	return exitFailed
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "freshpull",
		Short: "Pull container images into a local OCI store, never building on a stale digest",
		Long: `freshpull pulls container images from OCI and Docker registries into a local
OCI image-layout store under a pull policy, and reports for every image which
digest a build gets and why.

Pull policies: always, missing (ifmissing, ifnotpresent), newer (ifnewer; the
default: one HEAD request checks the tag, and a failed check falls back to the
local copy with a warning, or fails with --strict), never.

Exit codes: 0 success; 1 an operation failed; 2 usage error or invalid input;
3 not found; 4 pin --check found stale or unpinned references; 5 the
signature policy (containers-policy.json) rejected the image; 130
interrupted; build: buildah's exit status when the build fails in buildah,
127 when buildah is not installed.`,
		Example: `  freshpull pull docker.io/library/alpine:3.20
  freshpull pull --policy missing -o json localhost:5000/app:1 localhost:5000/base:2
  freshpull resolve quay.io/org/img:1.4
  freshpull images`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return g.setup()
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&g.store, "store", "", "store directory (default $FRESHPULL_STORE, else $XDG_DATA_HOME/freshpull, else ~/.local/share/freshpull)")
	pf.StringVarP(&g.output, "output", "o", "text", "output format: text or json")
	pf.BoolVarP(&g.quiet, "quiet", "q", false, "print only results; no progress")
	pf.StringVar(&g.platform, "platform", "", "platform os/arch[/variant] (default: this machine's)")
	pf.StringArrayVar(&g.insecure, "insecure-registry", nil, "registry HOST[:PORT] to reach over plain HTTP (repeatable; localhost and 127.0.0.1 always are)")
	pf.StringVar(&g.authfile, "authfile", "", "credentials file (containers auth.json or docker config.json format), used instead of $REGISTRY_AUTH_FILE and $XDG_RUNTIME_DIR/containers/auth.json")
	pf.StringVar(&g.logLevel, "log-level", "warn", "log level on stderr: error, warn, info, debug")
	pf.DurationVar(&g.timeout, "timeout", registry.DefaultTimeout, "how long to wait for a registry to connect, start answering, or send more of an answer")
	pf.StringVar(&g.creds, "creds", "", "credentials USER[:PASSWORD] for the registries of the references given (the password is asked for on the terminal when omitted)")
	pf.BoolVar(&g.tlsVerify, "tls-verify", true, "verify registries' TLS certificates (--tls-verify=false for one-off use; prints a warning)")
	pf.StringVar(&g.certDir, "cert-dir", "", "directory of *.crt CA certificates and *.cert/*.key client certificates, used instead of /etc/containers/certs.d and /etc/docker/certs.d")
	pf.StringVar(&g.registriesConf, "registries-conf", "", "registries.conf file (mirrors, locations, insecure and blocked registries), used instead of $CONTAINERS_REGISTRIES_CONF, ~/.config/containers/registries.conf(.d) and /etc/containers/registries.conf(.d)")
	pf.StringVar(&g.signaturePolicy, "signature-policy", "", "signature policy (containers-policy.json) every image must pass, used instead of ~/.config/containers/policy.json and /etc/containers/policy.json")
	pf.StringVar(&g.registriesD, "registries-d", "", "registries.d directory (where signatures are: lookaside, sigstore attachments), used instead of ~/.config/containers/registries.d and /etc/containers/registries.d")
	root.AddCommand(newVerifyCmd(g), newPullCmd(g), newResolveCmd(g), newRefCmd(g), newImagesCmd(g), newInspectCmd(g), newRmCmd(g), newExtractCmd(g), newPinCmd(g), newBuildCmd(g), newGCCmd(g), newFsckCmd(g), newVersionCmd(g))
	root.CompletionOptions.HiddenDefaultCmd = false
	return root
}

func (g *globals) setup() error {
	switch g.output {
	case "text", "json":
	default:
		return &usageError{fmt.Errorf("invalid --output %q: valid values are text, json", g.output)}
	}
	var level slog.Level
	switch strings.ToLower(g.logLevel) {
	case "error":
		level = slog.LevelError
	case "warn", "warning":
		level = slog.LevelWarn
	case "info":
		level = slog.LevelInfo
	case "debug":
		level = slog.LevelDebug
	default:
		return &usageError{fmt.Errorf("invalid --log-level %q: valid values are error, warn, info, debug", g.logLevel)}
	}
	g.log = slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level}))
	if g.timeout <= 0 {
		return &usageError{fmt.Errorf("invalid --timeout %v: must be positive", g.timeout)}
	}
	return nil
}

func (g *globals) json() bool { return g.output == "json" }

// storeDir applies the documented order: --store, $FRESHPULL_STORE,
// $XDG_DATA_HOME/freshpull, ~/.local/share/freshpull.
func (g *globals) storeDir() (string, error) {
	if g.store != "" {
		return g.store, nil
	}
	if d := os.Getenv("FRESHPULL_STORE"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "freshpull"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no store directory: set --store or $FRESHPULL_STORE (%v)", err)
	}
	return filepath.Join(home, ".local", "share", "freshpull"), nil
}

func (g *globals) openStore() (*store.Store, error) {
	dir, err := g.storeDir()
	if err != nil {
		return nil, err
	}
	return store.Open(dir)
}

func (g *globals) platformValue() (ocispec.Platform, error) {
	if g.platform == "" {
		return freshpull.HostPlatform(), nil
	}
	return freshpull.ParsePlatform(g.platform)
}

// registryClient builds the registry client from the global flags. refs are
// the references the command works on: --creds are given to their
// registries only (nil: to every registry, for pin, whose references are in
// files).
func (g *globals) registryClient(refs []string) (*registry.Client, error) {
	routes, err := registries.Load(registries.LoadOptions{Path: g.registriesConf})
	if err != nil {
		return nil, err
	}
	for _, w := range routes.Warnings() {
		g.log.Warn(w)
	}
	kc, err := registry.Keychain(registry.KeychainOptions{AuthFile: g.authfile})
	if err != nil {
		return nil, &usageError{err}
	}
	if g.creds != "" {
		user, password, err := g.credentials()
		if err != nil {
			return nil, err
		}
		kc = authn.NewMultiKeychain(registry.CredsKeychain(credsHosts(routes, refs), user, password), kc)
	}
	if !g.tlsVerify {
		fmt.Fprintln(g.stderr, "warning: TLS certificate verification is off (--tls-verify=false): anyone on the network path can impersonate the registry")
	}
	return registry.New(registry.Options{
		Keychain:   kc,
		Insecure:   g.insecure,
		Timeout:    g.timeout,
		UserAgent:  "freshpull/" + version(),
		Logger:     g.log,
		TLS:        registries.TLSOptions{CertDir: g.certDir, SkipVerify: !g.tlsVerify},
		Routes:     routes,
		Challenges: challengeCache(),
	}), nil
}

// challengeCache remembers registries' auth challenges in the user's cache
// directory ($XDG_CACHE_HOME/freshpull, else ~/.cache/freshpull), so an
// up-to-date check needs no /v2/ ping. Nil (ping every time) when there is
// no cache directory.
func challengeCache() registry.ChallengeCache {
	dir, err := os.UserCacheDir()
	if err != nil {
		return nil
	}
	return registry.FileChallengeCache(filepath.Join(dir, "freshpull", "registries.json"))
}

// credentials splits --creds USER[:PASSWORD], asking for the password on
// the terminal, without echo, when it is not given.
func (g *globals) credentials() (user, password string, err error) {
	user, password, ok := strings.Cut(g.creds, ":")
	if user == "" {
		return "", "", &usageError{fmt.Errorf("--creds: want USER[:PASSWORD]")}
	}
	if ok {
		return user, password, nil
	}
	if !isTerminal(os.Stdin) {
		return "", "", &usageError{fmt.Errorf("--creds %s: no password given and standard input is not a terminal to ask for one; use --creds USER:PASSWORD or --authfile", user)}
	}
	password, err = readPassword(g.ctx, os.Stdin, g.stderr, fmt.Sprintf("Password for %s: ", user))
	if err != nil {
		return "", "", fmt.Errorf("--creds: read password: %w", err)
	}
	return user, password, nil
}

// credsHosts lists the registries --creds are for: those of refs and their
// primary locations in registries.conf. nil means every registry.
func credsHosts(routes *registries.Config, refs []string) []string {
	if refs == nil {
		return nil
	}
	hosts := []string{}
	for _, s := range refs {
		r, err := reference.Parse(s)
		if err != nil {
			continue
		}
		hosts = append(hosts, r.Domain())
		if route, err := routes.Route(r.WithDefaultTag()); err == nil {
			hosts = append(hosts, route.Primary.Ref.Domain())
		}
	}
	return hosts
}

// options builds the operations' options from the global flags.
func (g *globals) options(refs []string) (freshpull.Options, error) {
	st, err := g.openStore()
	if err != nil {
		return freshpull.Options{}, err
	}
	platform, err := g.platformValue()
	if err != nil {
		return freshpull.Options{}, err
	}
	reg, err := g.registryClient(refs)
	if err != nil {
		return freshpull.Options{}, err
	}
	tc, err := g.trustConfig()
	if err != nil {
		return freshpull.Options{}, err
	}
	return freshpull.Options{Store: st, Registry: reg, Platform: platform, Logger: g.log, Trust: tc}, nil
}

// trustConfig loads the signature policy and registries.d as podman finds
// them. The CLI always enforces a policy: a machine without one is an
// error that says how to make one, as podman's is.
func (g *globals) trustConfig() (*trust.Config, error) {
	pol, err := trust.Load(trust.PolicyPath(g.signaturePolicy))
	if err != nil {
		return nil, &usageError{err}
	}
	regs, err := trust.LoadRegistries(trust.RegistriesDir(g.registriesD))
	if err != nil {
		return nil, &usageError{err}
	}
	return &trust.Config{Policy: pol, Registries: regs, HTTP: &http.Client{Timeout: g.timeout}}, nil
}

// minArgs returns a cobra validator, whose errors exit 2, requiring at
// least n arguments.
func minArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return &usageError{fmt.Errorf("%s: missing %s; see %s --help", cmd.CommandPath(), what, cmd.CommandPath())}
		}
		return nil
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return &usageError{fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args)}
	}
	return nil
}
