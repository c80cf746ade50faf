package buildah

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/freshpull/freshpull"
)

// ErrNotInstalled is returned by [New] when there is no buildah to run.
var ErrNotInstalled = errors.New("buildah not found: install buildah (apt-get install buildah)")

// Options configure the engine.
type Options struct {
	// Path is the buildah executable; "" looks up "buildah" in $PATH.
	Path string
	// Isolation is buildah's --isolation (oci, chroot, rootless); ""
	// leaves buildah's default ($BUILDAH_ISOLATION, else oci).
	Isolation string
	// Root, RunRoot and StorageDriver are buildah's global options of
	// those names, to keep its images elsewhere than its default storage;
	// "" leaves each at buildah's default.
	Root, RunRoot, StorageDriver string
	// Insecure are registries, HOST[:PORT], to push to over plain HTTP or
	// without verifying TLS (buildah's --tls-verify=false).
	Insecure []string
	// AuthFile is the credentials file for pushing; "" leaves buildah's
	// default lookup.
	AuthFile string
	// Log receives buildah's own output (its steps, the RUN commands'
	// output); nil discards it.
	Log io.Writer
}

// enginePolicy is buildah's signature policy during a build: the images it
// is handed, in oci: layouts, accepted; any other source rejected.
const enginePolicy = `{"default": [{"type": "reject"}], "transports": {"oci": {"": [{"type": "insecureAcceptAnything"}]}}}`

// Engine builds with buildah. It implements [freshpull.Engine].
type Engine struct {
	opts Options
	path string
}

// New returns an engine, or [ErrNotInstalled] when buildah cannot be found.
func New(opts Options) (*Engine, error) {
	name := opts.Path
	if name == "" {
		name = "buildah"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("%w (looked for %s)", ErrNotInstalled, name)
	}
	return &Engine{opts: opts, path: path}, nil
}

// StepError is a failed buildah run.
type StepError struct {
	// Step is the step buildah was running, as it printed it
	// ("STEP 3/5: RUN make", "[2/2] STEP 1/4: FROM …"); "" when it
	// failed before its first step.
	Step string
	// Status is buildah's exit status.
	Status int
	// Message is buildah's last error line.
	Message string
	// Command is what failed: "buildah build", "buildah push".
	Command string
}

func (e *StepError) Error() string {
	var b strings.Builder
	if e.Step != "" {
		fmt.Fprintf(&b, "%s: ", e.Step)
	}
	fmt.Fprintf(&b, "%s exited with status %d", e.Command, e.Status)
	if e.Message != "" {
		fmt.Fprintf(&b, " (%s)", e.Message)
	}
	return b.String()
}

// ExitStatus is buildah's exit status, for a CLI to pass on.
func (e *StepError) ExitStatus() int { return e.Status }

// Build runs buildah build on req, then buildah push for req.Output and
// req.Push.
func (e *Engine) Build(ctx context.Context, req freshpull.EngineRequest) (freshpull.EngineResult, error) {
	var res freshpull.EngineResult
	tmp, err := os.MkdirTemp("", "freshpull-buildah-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp)
	iidfile := filepath.Join(tmp, "iid")
	// freshpull has judged every image under the user's signature policy
	// before buildah starts; buildah, left to the same policy, would judge
	// the private oci: layout it is given (a default of reject refuses
	// it). Its own policy accepts that transport only and rejects every
	// other, so buildah cannot fetch an image from a registry either.
	policy := filepath.Join(tmp, "policy.json")
	if err := os.WriteFile(policy, []byte(enginePolicy), 0o600); err != nil {
		return res, err
	}
	args := []string{"build", "--pull=never", "--signature-policy", policy, "-f", req.Dockerfile, "--iidfile", iidfile}
	if e.opts.Isolation != "" {
		args = append(args, "--isolation", e.opts.Isolation)
	}
	if req.Platform != "" {
		args = append(args, "--platform", req.Platform)
	}
	keys := make([]string, 0, len(req.Annotations))
	for k := range req.Annotations {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--annotation", k+"="+req.Annotations[k])
	}
	for _, t := range req.Tags {
		args = append(args, "-t", t)
	}
	for _, a := range req.BuildArgs {
		args = append(args, "--build-arg", a)
	}
	args = append(args, req.Context)
	if _, err := e.run(ctx, "buildah build", true, args); err != nil {
		return res, err
	}
	id, err := os.ReadFile(iidfile)
	if err != nil {
		return res, fmt.Errorf("buildah build wrote no image ID: %w", err)
	}
	res.ImageID = strings.TrimSpace(string(id))
	if req.Output != "" {
		if res.OutputDigest, err = e.push(ctx, res.ImageID, req.Output, tmp); err != nil {
			return res, err
		}
		res.Digest = res.OutputDigest
	}
	if req.Push != "" {
		if res.PushDigest, err = e.push(ctx, res.ImageID, "docker://"+req.Push, tmp); err != nil {
			return res, err
		}
		res.Digest = res.PushDigest
	}
	return res, nil
}

// Images lists the IDs of the images buildah's storage has: there, an
// image's ID is its config digest. It implements [freshpull.EngineStorage],
// so that a base image buildah copied in before is used from its storage,
// by ID, instead of being copied again.
func (e *Engine) Images(ctx context.Context) (map[string]bool, error) {
	out, err := e.run(ctx, "buildah images", false, []string{"images", "--all", "--quiet", "--no-trunc"})
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, line := range strings.Fields(out) {
		ids[line] = true
	}
	return ids, nil
}

// push writes the image to dest, a transport reference, and returns the
// digest of the manifest written.
func (e *Engine) push(ctx context.Context, id, dest, tmp string) (string, error) {
	digestfile := filepath.Join(tmp, "digest")
	args := []string{"push", "--digestfile", digestfile}
	if registryRef, ok := strings.CutPrefix(dest, "docker://"); ok {
		if e.insecure(registryRef) {
			args = append(args, "--tls-verify=false")
		}
		if e.opts.AuthFile != "" {
			args = append(args, "--authfile", e.opts.AuthFile)
		}
	}
	args = append(args, id, dest)
	if _, err := e.run(ctx, "buildah push "+dest, true, args); err != nil {
		return "", err
	}
	d, err := os.ReadFile(digestfile)
	if err != nil {
		return "", fmt.Errorf("buildah push %s wrote no digest: %w", dest, err)
	}
	return strings.TrimSpace(string(d)), nil
}

// insecure reports whether ref's registry may be pushed to without TLS
// verification: it is listed in Options.Insecure, or on loopback, as
// freshpull treats pulls.
func (e *Engine) insecure(ref string) bool {
	host, _, _ := strings.Cut(ref, "/")
	name := host
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		name = host[:i]
	}
	if name == "localhost" || name == "127.0.0.1" || name == "[::1]" {
		return true
	}
	for _, h := range e.opts.Insecure {
		if h == host || h == name {
			return true
		}
	}
	return false
}

// stepLine matches buildah's announcement of a step: "STEP 2/5: RUN x",
// "[1/2] STEP 2/5: RUN x".
var stepLine = regexp.MustCompile(`^(\[\d+/\d+\] )?STEP \d+/\d+: `)

// run runs buildah with the global options and args. Its output goes to
// Options.Log when logged; the step it was at and its last error line make the
// error. It returns what buildah printed on standard output.
func (e *Engine) run(ctx context.Context, what string, logged bool, args []string) (string, error) {
	var global []string
	for _, o := range []struct{ flag, v string }{{"--root", e.opts.Root}, {"--runroot", e.opts.RunRoot}, {"--storage-driver", e.opts.StorageDriver}} {
		if o.v != "" {
			global = append(global, o.flag, o.v)
		}
	}
	cmd := exec.CommandContext(ctx, e.path, append(global, args...)...)
	cmd.Env = env()
	// A build interrupted by Ctrl-C gets the chance to clean up its
	// containers and release its storage locks, as buildah does on SIGTERM.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	log := e.opts.Log
	if log == nil {
		log = io.Discard
	}
	if !logged {
		log = io.Discard
	}
	var stdout bytes.Buffer
	var mu sync.Mutex
	t := &tracker{mu: &mu, log: log}
	outw, errw := &lineWriter{t: t}, &lineWriter{t: t, stderr: true}
	cmd.Stdout = io.MultiWriter(&stdout, outw)
	cmd.Stderr = errw
	err := cmd.Run()
	outw.flush()
	errw.flush()
	if err == nil {
		return stdout.String(), nil
	}
	if ctx.Err() != nil {
		return "", fmt.Errorf("%s: %w", what, ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() > 0 {
		return "", &StepError{Step: t.step, Status: ee.ExitCode(), Message: t.lastError, Command: what}
	}
	return "", fmt.Errorf("%s: %w", what, err)
}

// env is buildah's environment: ours, except a $DOCKER_CONFIG that holds
// no config.json, which buildah 1.28 takes for a missing --authfile and
// refuses to push with, even to an oci: directory.
func env() []string {
	dc := os.Getenv("DOCKER_CONFIG")
	if dc == "" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dc, "config.json")); err == nil {
		return nil
	}
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DOCKER_CONFIG=") {
			out = append(out, kv)
		}
	}
	return out
}

// tracker passes buildah's output on to the log, one line at a time from
// either stream, and remembers the last step announced and the last error
// line.
type tracker struct {
	mu              *sync.Mutex
	log             io.Writer
	step, lastError string
}

// lineWriter is one of buildah's output streams.
type lineWriter struct {
	t      *tracker
	stderr bool
	part   []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.part = append(w.part, p...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			break
		}
		w.t.line(w.part[:i+1], w.stderr)
		w.part = w.part[i+1:]
	}
	return len(p), nil
}

// flush passes on a last line that had no newline.
func (w *lineWriter) flush() {
	if len(w.part) > 0 {
		w.t.line(append(w.part, '\n'), w.stderr)
		w.part = nil
	}
}

func (t *tracker) line(b []byte, stderr bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.log.Write(b)
	line := strings.TrimRight(string(b), "\r\n")
	switch {
	case stepLine.MatchString(line):
		t.step = line
	case stderr && strings.HasPrefix(line, "Error: "):
		t.lastError = strings.TrimPrefix(line, "Error: ")
	}
}
