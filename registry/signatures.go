package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
)

// signaturesHeader is how a registry advertises the signature API
// extension (OpenShift's registry sends it on every answer).
const signaturesHeader = "X-Registry-Supports-Signatures"

// featureTransport notes the hosts that advertise the signature API
// extension, on whatever answer comes first: the ping, or the HEAD of a
// manifest when a remembered challenge made the ping unnecessary.
type featureTransport struct {
	inner http.RoundTripper
	mu    sync.Mutex
	// hosts maps each host that answered to whether it advertised.
	hosts map[string]bool
}

func (f *featureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := f.inner.RoundTrip(req)
	if err == nil {
		f.mu.Lock()
		f.hosts[req.URL.Host] = f.hosts[req.URL.Host] || resp.Header.Get(signaturesHeader) == "1"
		f.mu.Unlock()
	}
	return resp, err
}

// SupportsSignatures reports whether the registry advertised the signature
// API extension (X-Registry-Supports-Signatures: 1); known is false until
// it has answered a request in this process. containers/image reads simple
// signing signatures from the extension instead of a lookaside when it is
// advertised, and so does freshpull.
func (r *Repository) SupportsSignatures() (supported, known bool) {
	if r.features == nil {
		return false, false
	}
	r.features.mu.Lock()
	defer r.features.mu.Unlock()
	supported, known = r.features.hosts[r.host]
	return supported, known
}

// maxSignatureList bounds the answer of the signature API.
const maxSignatureList = 16 << 20

// Signatures reads the simple signing signatures of the manifest d through
// the signature API extension: GET /extensions/v2/REPO/signatures/DIGEST,
// whose answer lists signatures with their content in base64. Only
// schemaVersion 2 "atomic" signatures are kept, as containers/image keeps.
func (r *Repository) Signatures(ctx context.Context, d digest.Digest) ([][]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	u := fmt.Sprintf("%s://%s/extensions/v2/%s/signatures/%s", r.scheme, r.host, r.name.RepositoryStr(), d)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("signatures of %s@%s: %w", r.name, d, redact(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, r.classify(fmt.Sprintf("signatures of %s@%s", r.name, d), transport.CheckError(resp, http.StatusOK))
	}
	var list struct {
		Signatures []struct {
			Version int    `json:"schemaVersion"`
			Type    string `json:"type"`
			Content []byte `json:"content"`
		} `json:"signatures"`
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSignatureList+1))
	if err != nil {
		return nil, fmt.Errorf("signatures of %s@%s: %w", r.name, d, err)
	}
	if len(body) > maxSignatureList {
		return nil, fmt.Errorf("signatures of %s@%s: answer larger than %d bytes", r.name, d, maxSignatureList)
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("signatures of %s@%s: malformed answer: %v", r.name, d, strings.TrimSpace(err.Error()))
	}
	var sigs [][]byte
	for _, s := range list.Signatures {
		if s.Version == 2 && s.Type == "atomic" {
			sigs = append(sigs, s.Content)
		}
	}
	return sigs, nil
}
