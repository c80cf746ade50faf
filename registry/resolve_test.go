package registry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshpull/freshpull/reference"
)

// Resolve falls back to GET when the registry does not do HEAD, and not
// when it is failing: a GET then would wait all the retries (or the
// timeout) again.
func TestResolveGetFallback(t *testing.T) {
	manifest := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}`
	for head, wantGets := range map[int]int32{http.StatusMethodNotAllowed: 1, http.StatusServiceUnavailable: 0, http.StatusTooManyRequests: 0} {
		var gets atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.URL.Path == "/v2/":
			case r.Method == http.MethodHead:
				w.WriteHeader(head)
			default:
				gets.Add(1)
				w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
				w.Write([]byte(manifest))
			}
		}))
		ref, _ := reference.Parse(strings.TrimPrefix(srv.URL, "http://") + "/app:1")
		c := New(Options{RetryBase: time.Millisecond})
		repo, err := c.Repository(context.Background(), ref)
		if err != nil {
			t.Fatal(err)
		}
		res, err := repo.Resolve(context.Background(), ref)
		if gets.Load() != wantGets || (wantGets == 1) != (err == nil && res.Manifest != nil) {
			t.Errorf("HEAD %d: %d GETs (err %v), want %d", head, gets.Load(), err, wantGets)
		}
		srv.Close()
	}
}
