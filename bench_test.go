package freshpull_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/freshpull/freshpull"
	"github.com/freshpull/freshpull/internal/testregistry"
	"github.com/freshpull/freshpull/policy"
	"github.com/freshpull/freshpull/registry"
	"github.com/freshpull/freshpull/store"
)

// BenchmarkPull pulls from the real registry on loopback: a cold pull of
// one 50 MB layer, a cold pull of 8 layers of 25 MB, and the up-to-date
// check. Profile with
//
//	go test -run '^$' -bench Pull -cpuprofile cpu.out . && go tool pprof cpu.out
//
// bench/pull.sh compares the CLI with skopeo, crane and podman.
func BenchmarkPull(b *testing.B) {
	reg := testregistry.Start(b)
	amd64 := testregistry.Linux("amd64")
	single := reg.Ref("bench/single:1")
	multi := reg.Ref("bench/multi:1")
	testregistry.Push(b, single, testregistry.Image(b, 1, 50e6, amd64))
	testregistry.Push(b, multi, testregistry.Image(b, 8, 25e6, amd64))

	// A new client for every pull, as each CLI run is, with the CLI's
	// remembered auth challenges (no ping once the registry is known).
	challenges := registry.FileChallengeCache(filepath.Join(b.TempDir(), "registries.json"))
	pull := func(b *testing.B, dir, ref string, p policy.Policy) freshpull.Result {
		st, err := store.Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		res, err := freshpull.Pull(context.Background(), ref, freshpull.Options{
			Store:    st,
			Registry: registry.New(registry.Options{Challenges: challenges}),
			Policy:   p,
			Platform: freshpull.HostPlatform(),
		})
		if err != nil {
			b.Fatal(err)
		}
		return res
	}
	for _, c := range []struct {
		name  string
		ref   string
		bytes int64
	}{{"cold-50MB", single, 50e6}, {"cold-8x25MB", multi, 200e6}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(c.bytes)
			for b.Loop() {
				b.StopTimer()
				dir := b.TempDir()
				b.StartTimer()
				if res := pull(b, dir, c.ref, policy.Always); res.BlobsFetched == 0 {
					b.Fatalf("%s: nothing fetched", c.ref)
				}
			}
		})
	}
	b.Run("up-to-date", func(b *testing.B) {
		dir := b.TempDir()
		pull(b, dir, single, policy.Missing)
		for b.Loop() {
			if res := pull(b, dir, single, policy.Newer); res.Action != policy.UpToDate.String() {
				b.Fatalf("%s: %s, want up-to-date", single, res.Action)
			}
		}
	})
}
