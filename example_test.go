package freshpull_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/freshpull/freshpull"
	"github.com/freshpull/freshpull/internal/localregistry"
	"github.com/freshpull/freshpull/policy"
	"github.com/freshpull/freshpull/registry"
	"github.com/freshpull/freshpull/store"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// A builder pulls its base image under policy newer before every build, and
// learns which digest it gets and why.
func ExamplePull() {
	// A registry to pull from (go-containerregistry's in-memory one, so the
	// example runs anywhere) holding one image.
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/app-base:1.4"
	img, _ := localregistry.RandomImage(2, 1024, v1.Platform{OS: "linux", Architecture: "amd64"})
	pushed, _ := localregistry.Push(ref, img)

	dir, _ := os.MkdirTemp("", "freshpull-example-")
	defer os.RemoveAll(dir)
	st, err := store.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	opts := freshpull.Options{
		Store:    st,
		Registry: registry.New(registry.Options{}),
		Policy:   policy.Newer,
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
	}

	for range 2 {
		res, err := freshpull.Pull(context.Background(), ref, opts)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(res.Action, res.Digest == pushed.String(), res.BlobsFetched, res.Reason)
	}
	// Output:
	// pulled true 3 not present locally
	// up-to-date true 0 registry digest matches the local copy
}
