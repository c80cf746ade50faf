package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/freshpull/freshpull/internal/countproxy"
	"github.com/freshpull/freshpull/internal/testregistry"
	"github.com/freshpull/freshpull/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// startFP starts freshpull in the background.
func startFP(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = testEnv(t)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// fsckClean runs fsck and fails the test unless the store is consistent.
func fsckClean(t *testing.T, storeDir, when string) store.FsckReport {
	t.Helper()
	out := fp(t, "--store", storeDir, "-o", "json", "fsck")
	var rep store.FsckReport
	if err := json.Unmarshal([]byte(out.stdout), &rep); err != nil {
		t.Fatalf("%s: fsck output: %v\n%s%s", when, err, out.stdout, out.stderr)
	}
	if out.code != 0 || !rep.OK {
		t.Fatalf("%s: fsck exit %d, store inconsistent: %s", when, out.code, out.stdout)
	}
	return rep
}

func tempLeft(t *testing.T, storeDir string) []string {
	t.Helper()
	es, _ := os.ReadDir(filepath.Join(storeDir, ".freshpull", "tmp"))
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// A pull killed with SIGKILL at a random moment leaves a consistent store,
// and the next pull completes. FRESHPULL_KILLS raises the count (the stress
// script bench/killstress.sh does).
func TestKillDuringPull(t *testing.T) {
	kills := 25
	if n, err := strconv.Atoi(os.Getenv("FRESHPULL_KILLS")); err == nil && n > 0 {
		kills = n
	}
	reg := testregistry.Start(t)
	proxy := countproxy.Start(t, reg.Host)
	img := testregistry.Image(t, 8, 1<<20, host) // 8 layers of 1 MiB
	want := testregistry.Push(t, reg.Ref("big/app:1"), img)
	ref := proxy.Host + "/big/app:1"
	// About half a second per pull, so kills land in every phase:
	// handshake, manifest, blob streams, renames, index update.
	const rate = 4 << 20 // per connection; four blobs stream at once
	midPull := 0
	for i := range kills {
		storeDir := t.TempDir()
		proxy.SetRate(rate)
		cmd := startFP(t, "--store", storeDir, "-q", "pull", ref)
		time.Sleep(time.Duration(rand.Int64N(int64(700 * time.Millisecond))))
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok && !ee.Exited() {
			midPull++
		}
		fsckClean(t, storeDir, fmt.Sprintf("after kill %d", i))

		proxy.SetRate(0)
		r := pullOne(t, storeDir, 0, ref)
		if r.Digest != want.String() || (r.Action != "pulled" && r.Action != "up-to-date") {
			t.Fatalf("pull after kill %d = %+v, want %s", i, r, want)
		}
		rep := fsckClean(t, storeDir, fmt.Sprintf("after the pull that followed kill %d", i))
		if len(rep.Entries) != 1 || rep.BlobsChecked != 10 {
			t.Fatalf("after kill %d: %d entries, %d blobs; want 1 entry of 10 blobs", i, len(rep.Entries), rep.BlobsChecked)
		}
	}
	t.Logf("%d kills, %d of them while the pull was running; fsck clean after every one", kills, midPull)
	if midPull < kills/2 {
		t.Errorf("only %d of %d kills landed mid-pull; the test is not exercising interruption", midPull, kills)
	}
}

// gc runs in a loop while other processes pull: it never deletes what a
// pull in flight needs.
func TestGCDuringPulls(t *testing.T) {
	reg := testregistry.Start(t)
	proxy := countproxy.Start(t, reg.Host)
	storeDir := t.TempDir()
	// Garbage for gc to find: an image pulled and removed.
	testregistry.Push(t, reg.Ref("gone:1"), testregistry.Image(t, 2, 50000, host))
	pullOne(t, storeDir, 0, reg.Ref("gone:1"))
	if out := fp(t, "--store", storeDir, "rm", reg.Ref("gone:1")); out.code != 0 {
		t.Fatal(out.stderr)
	}
	var refs []string
	base := testregistry.Image(t, 3, 200000, host)
	for i := range 6 {
		ref := fmt.Sprintf("gcrace/app%d:1", i)
		img := base
		if i%2 == 1 {
			img = testregistry.Image(t, 3, 200000, host)
		}
		testregistry.Push(t, reg.Ref(ref), img)
		refs = append(refs, proxy.Host+"/"+ref)
	}
	proxy.SetRate(2 << 20)

	stop := make(chan struct{})
	var gcRuns int
	var freed int
	var gcErr string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			out := fp(t, "--store", storeDir, "-o", "json", "gc")
			if out.code != 0 {
				gcErr = out.stderr
				return
			}
			var res store.GCResult
			json.Unmarshal([]byte(out.stdout), &res)
			gcRuns++
			freed += res.Blobs
		}
	}()
	var pulls sync.WaitGroup
	errs := make([]string, len(refs))
	for i, ref := range refs {
		pulls.Add(1)
		go func() {
			defer pulls.Done()
			if out := fp(t, "--store", storeDir, "pull", ref); out.code != 0 {
				errs[i] = out.stderr
			}
		}()
		// Staggered starts: pulls overlap each other and gc's runs.
		time.Sleep(150 * time.Millisecond)
	}
	pulls.Wait()
	close(stop)
	wg.Wait()
	if gcErr != "" {
		t.Fatalf("gc failed: %s", gcErr)
	}
	for i, e := range errs {
		if e != "" {
			t.Errorf("pull %s during gc: %s", refs[i], e)
		}
	}
	rep := fsckClean(t, storeDir, "after pulls raced gc")
	if len(rep.Entries) != len(refs) {
		t.Errorf("%d entries after the race, want %d", len(rep.Entries), len(refs))
	}
	if gcRuns < 2 || freed < 4 {
		t.Errorf("gc ran %d times and freed %d blobs; want it to run during the pulls and free the removed image's 4 blobs", gcRuns, freed)
	}
	t.Logf("gc ran %d times during the pulls, freed %d blobs", gcRuns, freed)
}

// Sixteen processes pull overlapping images into one store: every entry is
// there afterwards, fsck is clean, and each distinct blob came from the
// registry exactly once.
func TestSixteenProcessesOneDownloadPerBlob(t *testing.T) {
	reg := testregistry.Start(t)
	proxy := countproxy.Start(t, reg.Host)
	storeDir := t.TempDir()
	shared := testregistry.Image(t, 4, 300000, host)
	blobs := map[string]bool{}
	addBlobs := func(img v1.Image) {
		m, _ := img.Manifest()
		blobs[m.Config.Digest.String()] = true
		for _, l := range m.Layers {
			blobs[l.Digest.String()] = true
		}
	}
	var refs []string
	for i := range 4 {
		ref := fmt.Sprintf("sixteen/app%d:1", i)
		img := shared
		if i >= 2 {
			img = testregistry.Image(t, 3, 300000, host)
		}
		addBlobs(img)
		testregistry.Push(t, reg.Ref(ref), img)
		refs = append(refs, proxy.Host+"/"+ref)
	}
	proxy.Reset()
	proxy.SetRate(32 << 20) // keep downloads overlapping in time
	var wg sync.WaitGroup
	errs := make([]string, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out := fp(t, "--store", storeDir, "-q", "pull", refs[i%len(refs)]); out.code != 0 {
				errs[i] = out.stderr
			}
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != "" {
			t.Error(e)
		}
	}
	rep := fsckClean(t, storeDir, "after 16 concurrent pulls")
	if len(rep.Entries) != len(refs) {
		t.Errorf("%d entries, want %d", len(rep.Entries), len(refs))
	}
	for d := range blobs {
		if n := proxy.Count("GET", "/blobs/"+d); n != 1 {
			t.Errorf("blob %s fetched %d times, want exactly 1", d, n)
		}
	}
	t.Logf("%d distinct blobs, %d blob GETs in all", len(blobs), proxy.Count("GET", "/blobs/"))
}

// Ctrl-C stops a pull, removes its temp files and leaves the store
// consistent.
func TestInterruptCleansUp(t *testing.T) {
	reg := testregistry.Start(t)
	proxy := countproxy.Start(t, reg.Host)
	storeDir := t.TempDir()
	testregistry.Push(t, reg.Ref("slow:1"), testregistry.Image(t, 4, 2<<20, host))
	proxy.SetRate(1 << 20) // 8 MiB at 1 MiB/s: plenty of time to interrupt
	cmd := exec.Command(binary, "--store", storeDir, "-q", "pull", proxy.Host+"/slow:1")
	cmd.Env = testEnv(t)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until a blob is being downloaded.
	for deadline := time.Now().Add(30 * time.Second); len(tempLeft(t, storeDir)) == 0; {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no download started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("pull did not stop after SIGINT")
	}
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 130 {
		t.Errorf("exit after SIGINT: %v, want status 130", err)
	}
	if !strings.Contains(stderr.String(), "interrupt") {
		t.Errorf("stderr does not say the pull was cancelled: %q", stderr.String())
	}
	if left := tempLeft(t, storeDir); len(left) != 0 {
		t.Errorf("temp files left after SIGINT: %v", left)
	}
	fsckClean(t, storeDir, "after SIGINT")
	if out := fp(t, "--store", storeDir, "-o", "json", "images"); strings.Contains(out.stdout, "slow:1") {
		t.Errorf("interrupted pull left an entry: %s", out.stdout)
	}
}

// A store on a full filesystem: a clear error naming the store, and the
// store stays consistent.
func TestFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("the full-disk test mounts a tmpfs and needs root")
		}
		t.Skip("the full-disk test mounts a tmpfs and needs root")
	}
	reg := testregistry.Start(t)
	storeDir := filepath.Join(t.TempDir(), "small")
	os.MkdirAll(storeDir, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", storeDir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", storeDir).Run() })
	small := testregistry.Image(t, 1, 100000, host)
	testregistry.Push(t, reg.Ref("fits:1"), small)
	testregistry.Push(t, reg.Ref("toobig:1"), testregistry.Image(t, 2, 2<<20, host))
	pullOne(t, storeDir, 0, reg.Ref("fits:1"))

	r := pullOne(t, storeDir, 1, reg.Ref("toobig:1"))
	if !strings.Contains(r.Error, "no space left on device") || !strings.Contains(r.Error, storeDir) {
		t.Errorf("full disk error %q should say 'no space left on device' and name the store %s", r.Error, storeDir)
	}
	if left := tempLeft(t, storeDir); len(left) != 0 {
		t.Errorf("temp files left on the full disk: %v", left)
	}
	rep := fsckClean(t, storeDir, "after running out of space")
	if len(rep.Entries) != 1 {
		t.Errorf("%d entries after the failed pull, want only fits:1", len(rep.Entries))
	}
	if r := pullOne(t, storeDir, 0, "--policy", "never", reg.Ref("fits:1")); r.Action != "local" {
		t.Errorf("the image that fit is no longer usable: %+v", r)
	}
}

// fsck finds a damaged layer, --repair drops the entry, and the next pull
// fetches the layer again.
func TestFsckRepairThenPull(t *testing.T) {
	reg := testregistry.Start(t)
	storeDir := t.TempDir()
	img := testregistry.Image(t, 2, 10000, host)
	testregistry.Push(t, reg.Ref("fix:1"), img)
	pullOne(t, storeDir, 0, reg.Ref("fix:1"))
	m, _ := img.Manifest()
	layer := m.Layers[1].Digest
	path := filepath.Join(storeDir, "blobs", "sha256", layer.Hex)
	os.WriteFile(path, []byte("bit rot"), 0o644)

	out := fp(t, "--store", storeDir, "fsck")
	if out.code != 1 || !strings.Contains(out.stdout, layer.String()) || !strings.Contains(out.stdout, "BROKEN") {
		t.Fatalf("fsck on a damaged layer: exit %d\n%s", out.code, out.stdout)
	}
	out = fp(t, "--store", storeDir, "fsck", "--repair")
	if out.code != 0 || !strings.Contains(out.stdout, "dropped entry") || !strings.Contains(out.stdout, "deleted bad blob "+layer.String()) {
		t.Fatalf("fsck --repair: exit %d\n%s", out.code, out.stdout)
	}
	r := pullOne(t, storeDir, 0, reg.Ref("fix:1"))
	if r.Action != "pulled" || r.BlobsFetched != 1 || r.BlobsReused != 2 {
		t.Errorf("pull after repair = %+v, want the one bad layer fetched again", r)
	}
	fsckClean(t, storeDir, "after repair and pull")
	out = fp(t, "--store", storeDir, "-o", "json", "gc")
	if out.code != 0 {
		t.Fatalf("gc: %s", out.stderr)
	}
}
