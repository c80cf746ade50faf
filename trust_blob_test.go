package freshpull

import (
	"context"
	"strings"
	"testing"

	"github.com/freshpull/freshpull/internal/testregistry"
	"github.com/freshpull/freshpull/reference"
	"github.com/freshpull/freshpull/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestSmallBlobVerifies: a signature blob is used only when it is exactly
// what its descriptor names, size and digest, and never read past the
// limit a signature may have.
func TestSmallBlobVerifies(t *testing.T) {
	reg := testregistry.Start(t)
	img := testregistry.Image(t, 1, 1024, testregistry.Linux("amd64"))
	testregistry.Push(t, reg.Ref("sig/blob:1"), img)
	raw, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := reference.Parse(reg.Ref("sig/blob:1"))
	if err != nil {
		t.Fatal(err)
	}
	repo, err := registry.New(registry.Options{}).Repository(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	desc := ocispec.Descriptor{Digest: digest.FromBytes(raw), Size: int64(len(raw))}
	if b, err := smallBlob(context.Background(), repo, desc, 4<<20); err != nil || string(b) != string(raw) {
		t.Fatalf("the blob as named: %v", err)
	}
	wrongSize := desc
	wrongSize.Size--
	if _, err := smallBlob(context.Background(), repo, wrongSize, 4<<20); err == nil || !strings.Contains(err.Error(), "rejected") {
		t.Errorf("a blob of another size than its descriptor's: err %v, want it rejected", err)
	}
	if _, err := smallBlob(context.Background(), repo, desc, desc.Size-1); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("a blob over the limit: err %v, want it refused", err)
	}
}
