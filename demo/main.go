// Command demo shows freshpull's main job offline: it starts a local
// distribution registry on 127.0.0.1, pushes an image, pulls it, moves its
// tag, and shows how the pull policies answer — `missing` silently keeps
// the stale digest, `newer` notices the move with one HEAD request, and a
// registry that goes away is never a silent fallback.
//
// Run it from the repository root: go run ./demo
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/freshpull/freshpull/internal/localregistry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	work, err := os.MkdirTemp("", "freshpull-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	bin := filepath.Join(work, "freshpull")
	step("Building freshpull")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/freshpull").CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/freshpull (run the demo from the repository root): %v\n%s", err, out)
	}

	step("Starting a local distribution registry on 127.0.0.1")
	reg, err := localregistry.Start(filepath.Join(work, "registry"), localregistry.Config{})
	if err != nil {
		return err
	}
	defer reg.Stop()
	fmt.Println("registry at", reg.Host)

	store := filepath.Join(work, "store")
	// The demo is about pull policies, not signatures: a signature policy
	// of its own that accepts every image, so that it runs on a machine
	// without /etc/containers/policy.json.
	policy := filepath.Join(work, "policy.json")
	if err := os.WriteFile(policy, []byte(`{"default": [{"type": "insecureAcceptAnything"}]}`), 0o644); err != nil {
		return err
	}
	ref := reg.Ref("demo/app-base:1.4")
	platform := v1.Platform{OS: "linux", Architecture: "amd64"}
	fp := func(args ...string) {
		full := append([]string{"--store", store, "--platform", "linux/amd64", "--signature-policy", policy}, args...)
		fmt.Printf("\n$ freshpull %s\n", strings.Join(args, " "))
		cmd := exec.Command(bin, full...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
		if err := cmd.Run(); err != nil {
			fmt.Printf("(exit status: %v)\n", err)
		}
	}

	step("Pushing " + ref + " (version A) and pre-pulling it, as a build node does")
	imgA, err := localregistry.RandomImage(3, 256<<10, platform)
	if err != nil {
		return err
	}
	a, err := localregistry.Push(ref, imgA)
	if err != nil {
		return err
	}
	fmt.Println("pushed version A:", a)
	fp("pull", ref)

	step("Someone moves the tag: " + ref + " now points at version B")
	imgB, err := localregistry.RandomImage(3, 256<<10, platform)
	if err != nil {
		return err
	}
	b, err := localregistry.Push(ref, imgB)
	if err != nil {
		return err
	}
	fmt.Println("pushed version B:", b)

	step("Policy missing never asks the registry: the build would start from stale version A")
	fp("pull", "--policy", "missing", ref)

	step("Policy newer (the default) asks with one HEAD request and pulls version B")
	fp("pull", ref)

	step("Asked again, newer finds the local copy current and downloads nothing")
	fp("pull", "-o", "json", ref)

	step("Pinning by digest: name:tag@digest pulls the digest, whatever the tag says")
	fp("pull", "-q", reg.Ref("demo/app-base:1.4@"+a.String()))

	step("A cluster's signature policy refuses the demo/ namespace: nothing is stored (exit 5)")
	next := reg.Ref("demo/app-base:1.5")
	imgC, err := localregistry.RandomImage(1, 64<<10, platform)
	if err != nil {
		return err
	}
	if _, err := localregistry.Push(next, imgC); err != nil {
		return err
	}
	refuse := filepath.Join(work, "cluster-policy.json")
	if err := os.WriteFile(refuse, []byte(`{"default": [{"type": "insecureAcceptAnything"}], "transports": {"docker": {"`+reg.Host+`/demo": [{"type": "reject"}]}}}`), 0o644); err != nil {
		return err
	}
	fp("--signature-policy", refuse, "pull", next)

	step("The registry goes away: newer keeps the local copy and says so")
	reg.Stop()
	fp("pull", ref)

	step("With --strict, an unreachable registry is an error instead")
	fp("pull", "--strict", ref)

	step("What the store holds (an OCI image layout that skopeo and umoci read)")
	fp("images")
	return nil
}

func step(s string) { fmt.Printf("\n==> %s\n", s) }
