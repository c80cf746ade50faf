package buildah

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/freshpull/freshpull"
)

// fake writes a stand-in for buildah that records its arguments in
// DIR/args and runs script.
func fake(t *testing.T, script string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "buildah")
	body := "#!/bin/sh\necho \"$@\" >> " + filepath.Join(dir, "args") + "\n" + script + "\n"
	if err := os.WriteFile(bin, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, filepath.Join(dir, "args")
}

// TestFailedStep: the error names the last step buildah announced and
// carries its exit status and last error line; buildah got --pull=never,
// its own signature policy, the storage options, the annotations, tags and build args.
func TestFailedStep(t *testing.T) {
	bin, argsFile := fake(t, `echo "[1/2] STEP 1/1: FROM oci:/l:image-0 AS a"
echo "[2/2] STEP 2/3: RUN make"
echo "compiling"
echo "Error: building at STEP \"RUN make\": exit status 2" >&2
exit 2`)
	var log strings.Builder
	e, err := New(Options{Path: bin, Isolation: "chroot", Root: "/r", StorageDriver: "vfs", Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Build(context.Background(), freshpull.EngineRequest{
		Dockerfile: "/l/Dockerfile", Context: "/ctx", Tags: []string{"app:1"}, BuildArgs: []string{"A=1"},
		Annotations: map[string]string{"k": "v"},
	})
	var se *StepError
	if !errors.As(err, &se) || se.ExitStatus() != 2 || se.Step != "[2/2] STEP 2/3: RUN make" || se.Message != `building at STEP "RUN make": exit status 2` {
		t.Fatalf("err %#v", err)
	}
	if want := `[2/2] STEP 2/3: RUN make: buildah build exited with status 2 (building at STEP "RUN make": exit status 2)`; err.Error() != want {
		t.Errorf("error %q\nwant  %q", err, want)
	}
	if !strings.Contains(log.String(), "compiling\n") {
		t.Errorf("buildah's output did not reach the log: %q", log.String())
	}
	b, _ := os.ReadFile(argsFile)
	want := "--root /r --storage-driver vfs build --pull=never --signature-policy "
	if !strings.HasPrefix(string(b), want) || !strings.Contains(string(b), "/policy.json -f /l/Dockerfile --iidfile ") || !strings.Contains(string(b), "--isolation chroot --annotation k=v -t app:1 --build-arg A=1 /ctx") {
		t.Errorf("buildah got %q", b)
	}
}

// TestBuildAndPush: the image ID comes from --iidfile, the digest from
// push's --digestfile; a loopback registry is pushed to without TLS
// verification, another one with it.
func TestBuildAndPush(t *testing.T) {
	bin, argsFile := fake(t, `while [ $# -gt 0 ]; do
  case "$1" in
  --iidfile) echo sha256:id > "$2"; shift;;
  --digestfile) echo sha256:pushed > "$2"; shift;;
  --format) echo sha256:local; shift;;
  esac
  shift
done`)
	e, err := New(Options{Path: bin})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Build(context.Background(), freshpull.EngineRequest{Dockerfile: "D", Context: "C", Push: "127.0.0.1:5000/app:1", Output: "oci:/out"})
	if err != nil {
		t.Fatal(err)
	}
	if res.ImageID != "sha256:id" || res.Digest != "sha256:pushed" || res.OutputDigest != "sha256:pushed" || res.PushDigest != "sha256:pushed" {
		t.Errorf("result %+v", res)
	}
	b, _ := os.ReadFile(argsFile)
	if !strings.Contains(string(b), "--tls-verify=false sha256:id docker://127.0.0.1:5000/app:1") || !strings.Contains(string(b), "sha256:id oci:/out") {
		t.Errorf("buildah got %q", b)
	}
	if e.insecure("registry.example.com/app:1") || !e.insecure("localhost:5000/a") {
		t.Error("insecure: only loopback and Options.Insecure")
	}
}

func TestNotInstalled(t *testing.T) {
	if _, err := New(Options{Path: filepath.Join(t.TempDir(), "buildah")}); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("err %v, want ErrNotInstalled", err)
	}
}

// TestImages reads buildah's image IDs (config digests).
func TestImages(t *testing.T) {
	bin, _ := fake(t, `echo sha256:aaa; echo sha256:bbb`)
	e, err := New(Options{Path: bin})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := e.Images(context.Background())
	if err != nil || len(ids) != 2 || !ids["sha256:aaa"] || !ids["sha256:bbb"] {
		t.Fatalf("images %v, err %v", ids, err)
	}
}
