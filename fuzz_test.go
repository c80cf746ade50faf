package freshpull

import (
	"encoding/json"
	"github.com/freshpull/freshpull/store"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// FuzzManifestDecode feeds arbitrary bytes to the manifest and index
// decoding a pull does on what a registry sends: no input may panic.
func FuzzManifestDecode(f *testing.F) {
	seeds := []struct{ mt, body string }{
		{ocispec.MediaTypeImageManifest, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","size":3}]}`},
		{ocispec.MediaTypeImageIndex, `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","size":7,"platform":{"os":"linux","architecture":"amd64"}}]}`},
		{store.DockerManifestList, `{"schemaVersion":2,"manifests":[{"digest":"sha256:x","platform":null}]}`},
		{"", `{"schemaVersion":1}`},
		{"", `{"manifests":null,"config":null}`},
		{store.DockerManifest, `{"config":{"digest":"md5:1"},"layers":[{"size":-1}]}`},
		{"", `[]`},
		{"", `null`},
	}
	for _, s := range seeds {
		f.Add(s.mt, []byte(s.body))
	}
	want := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	f.Fuzz(func(t *testing.T, sent string, body []byte) {
		mt, err := sniffMediaType(sent, body)
		if err != nil {
			return
		}
		if store.IsIndex(mt) {
			var idx ocispec.Index
			if json.Unmarshal(body, &idx) == nil {
				choosePlatform(idx, want)
			}
			return
		}
		var m ocispec.Manifest
		if json.Unmarshal(body, &m) == nil {
			checkManifest(m)
		}
	})
}
