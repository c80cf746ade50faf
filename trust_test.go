package freshpull_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/freshpull/freshpull"
	"github.com/freshpull/freshpull/internal/testregistry"
	"github.com/freshpull/freshpull/policy"
	"github.com/freshpull/freshpull/registry"
	"github.com/freshpull/freshpull/store"
	"github.com/freshpull/freshpull/trust"
)

// counting counts the requests a client sends, by method and what they
// ask for (the /v2/ ping, manifests, blobs).
type counting struct {
	mu    sync.Mutex
	count map[string]int
}

func (c *counting) RoundTrip(req *http.Request) (*http.Response, error) {
	kind := "ping"
	for _, k := range []string{"/manifests/", "/blobs/"} {
		if strings.Contains(req.URL.Path, k) {
			kind = strings.Trim(k, "/")
		}
	}
	c.mu.Lock()
	c.count[req.Method+" "+kind]++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func (c *counting) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.count
	c.count = map[string]int{}
	return n
}

// The library enforces Options.Trust as the CLI does, and checking
// signatures from a lookaside costs the registry no request: a rejected
// image is not fetched at all, an accepted one with exactly the requests of
// a pull without a policy.
func TestPullTrustRequests(t *testing.T) {
	reg := testregistry.Start(t)
	ref := reg.Ref("lib/app:1")
	d := testregistry.Push(t, ref, testregistry.Image(t, 2, 1024, testregistry.Linux("amd64")))
	dir := t.TempDir()

	// A GPG key, and a simple signing signature of the image in a
	// file:// lookaside.
	key, err := openpgp.NewEntity("lib test", "", "lib@test.invalid", nil)
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	if err := key.Serialize(&pub); err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, "key.gpg")
	os.WriteFile(keyPath, pub.Bytes(), 0o644)
	var sig bytes.Buffer
	w, err := openpgp.Sign(&sig, key, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, `{"critical":{"identity":{"docker-reference":%q},"image":{"docker-manifest-digest":%q},"type":"atomic container signature"},"optional":{}}`, ref, d)
	w.Close()
	sigDir := filepath.Join(dir, "lookaside", "lib", "app@"+strings.Replace(d.String(), ":", "=", 1))
	os.MkdirAll(sigDir, 0o755)
	os.WriteFile(filepath.Join(sigDir, "signature-1"), sig.Bytes(), 0o644)
	regs := &trust.Registries{Default: &trust.Namespace{Lookaside: "file://" + filepath.Join(dir, "lookaside")}, Docker: map[string]trust.Namespace{}}

	load := func(content string) *trust.Config {
		p, err := trust.Parse("policy.json", []byte(content))
		if err != nil {
			t.Fatal(err)
		}
		return &trust.Config{Policy: p, Registries: regs}
	}
	signedBy := load(fmt.Sprintf(`{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": %q}]}`, keyPath))
	reject := load(`{"default": [{"type": "reject"}]}`)

	counter := &counting{count: map[string]int{}}
	pull := func(tc *trust.Config) (freshpull.Result, map[string]int, *store.Store) {
		t.Helper()
		st, err := store.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		counter.take()
		res, _ := freshpull.Pull(context.Background(), ref, freshpull.Options{
			Store:    st,
			Registry: registry.New(registry.Options{Transport: counter}),
			Policy:   policy.Always,
			Trust:    tc,
		})
		return res, counter.take(), st
	}

	plain, plainN, _ := pull(nil)
	if plain.Err != nil || plain.Trust != nil {
		t.Fatalf("pull without a policy: %v, trust %+v", plain.Err, plain.Trust)
	}
	signed, signedN, _ := pull(signedBy)
	if signed.Err != nil || signed.Trust == nil || signed.Trust.Signer == "" {
		t.Fatalf("signed pull: %v, trust %+v", signed.Err, signed.Trust)
	}
	if fmt.Sprint(signedN) != fmt.Sprint(plainN) {
		t.Errorf("requests with a signedBy policy %v, without a policy %v: checking a lookaside signature should cost the registry nothing", signedN, plainN)
	}
	rejected, rejectedN, st := pull(reject)
	if !freshpull.IsRejected(rejected.Err) {
		t.Fatalf("pull under reject: %v", rejected.Err)
	}
	if rejectedN["GET manifests"]+rejectedN["GET blobs"] != 0 {
		t.Errorf("a rejected image was fetched: %v requests", rejectedN)
	}
	if es, _ := st.Entries(); len(es) != 0 {
		t.Errorf("a rejected image is in the store: %v", es)
	}

	v, err := freshpull.Verify(context.Background(), ref, freshpull.Options{Registry: registry.New(registry.Options{}), Trust: signedBy})
	if err != nil || v.Digest != d.String() || v.Trust == nil || v.Trust.Type != trust.TypeSignedBy {
		t.Errorf("verify: %+v, %v", v, err)
	}
}
