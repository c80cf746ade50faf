package freshpull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	dref "github.com/distribution/reference"
	"github.com/freshpull/freshpull/policy"
	"github.com/freshpull/freshpull/reference"
	"github.com/freshpull/freshpull/registries"
	"github.com/freshpull/freshpull/registry"
	"github.com/freshpull/freshpull/store"
	"github.com/freshpull/freshpull/trust"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// IsRejected reports whether err is a signature policy's rejection of an
// image. A CLI exits 5 on it.
func IsRejected(err error) bool { return trust.IsRejected(err) }

// trustRecord is what the store records of an acceptance
// (store.AnnotationTrust): the decision, and what it was about.
type trustRecord struct {
	trust.Decision
	// Reference is the reference the policy was evaluated for, with its
	// tag or digest.
	Reference string `json:"reference"`
	// Digest is the digest it was evaluated on.
	Digest digest.Digest `json:"digest"`
}

// trustRef is ref as the policy sees it: the repository with its digest
// when it has one (the digest is what freshpull pulls), else with its tag.
func trustRef(ref reference.Reference) (dref.Named, error) {
	named, err := dref.ParseNormalizedNamed(ref.Repository())
	if err != nil {
		return nil, err
	}
	if d := ref.Digest(); d != "" {
		return dref.WithDigest(named, d)
	}
	tag := ref.Tag()
	if tag == "" {
		tag = reference.DefaultTag
	}
	return dref.WithTag(named, tag)
}

// checkTrust evaluates opts.Trust's policy for ref resolved to d: it fetches
// only the signatures the chosen requirements can use (none for
// insecureAcceptAnything or reject), each for digest d alone, so a
// signature of another digest never admits d. d is what the reference
// resolved to: for a multi-platform image the index, whose signature
// covers the platform manifests it lists by digest — what skopeo copy and
// podman pull check too (a signature of one platform's manifest alone does
// not admit the index). src may be nil: a source is
// made when signatures must come from the registry.
func checkTrust(ctx context.Context, opts Options, src *source, ref reference.Reference, d digest.Digest) (*trust.Decision, error) {
	named, err := trustRef(ref)
	if err != nil {
		return nil, err
	}
	pol, regs := opts.Trust.Policy, opts.Trust.Registries
	if regs == nil {
		regs = &trust.Registries{Docker: map[string]trust.Namespace{}}
	}
	simple, sigstore := pol.Needs(named)
	if (simple || sigstore && regs.UseSigstoreAttachments(named)) && src == nil {
		if src, err = newSource(opts.Registry, ref, opts.logger()); err != nil {
			return nil, err
		}
	}
	var sigs []trust.Signature
	advertised := false
	if simple {
		// As in containers/image, a registry that advertises the
		// signature API extension is asked instead of the lookaside.
		var found []trust.Signature
		if found, advertised, err = src.apiSignatures(ctx, d); err != nil {
			return nil, fmt.Errorf("signatures of %s: %w", d, err)
		}
		sigs = append(sigs, found...)
	}
	if simple && !advertised {
		base, err := regs.Lookaside(named)
		if err != nil {
			return nil, err
		}
		client := opts.Trust.HTTP
		if client == nil {
			client = &http.Client{Timeout: registry.DefaultTimeout}
		}
		found, err := trust.ReadLookaside(ctx, client, base, d)
		if err != nil {
			return nil, fmt.Errorf("signatures of %s: %w", d, err)
		}
		sigs = append(sigs, found...)
	}
	if sigstore && regs.UseSigstoreAttachments(named) {
		found, err := src.attachments(ctx, d)
		if err != nil {
			return nil, fmt.Errorf("sigstore signatures of %s: %w", d, err)
		}
		sigs = append(sigs, found...)
	}
	dec, err := pol.Evaluate(trust.Image{Ref: named, Digest: d}, sigs)
	opts.logger().Debug("signature policy", "reference", named.String(), "digest", d, "scope", dec.Scope, "type", dec.Type, "signatures", len(sigs), "err", err)
	return &dec, err
}

// record is the store annotation for an acceptance.
func record(dec *trust.Decision, ref reference.Reference, d digest.Digest) string {
	if dec == nil {
		return ""
	}
	named, _ := trustRef(ref)
	b, _ := json.Marshal(trustRecord{Decision: *dec, Reference: named.String(), Digest: d})
	return string(b)
}

// trustLocal decides whether a local entry may be used for target under the
// policy in force: yes at once when the policy (and its keys) that accepted
// it, for this reference and digest, is the one in force now; otherwise it
// is checked again, and the new acceptance recorded. Under policy never a
// check that needs signatures, which need the network, is an error.
func trustLocal(ctx context.Context, opts Options, src *source, target reference.Reference, e store.Entry, d digest.Digest) (*trust.Decision, error) {
	named, err := trustRef(target)
	if err != nil {
		return nil, err
	}
	var rec trustRecord
	if e.Trust != "" && json.Unmarshal([]byte(e.Trust), &rec) == nil &&
		rec.PolicyDigest == opts.Trust.Policy.Digest && rec.Reference == named.String() && rec.Digest == d {
		return &rec.Decision, nil
	}
	if opts.Policy == policy.Never {
		if simple, sigstore := opts.Trust.Policy.Needs(named); simple || sigstore {
			return nil, fmt.Errorf("the local copy was not accepted under the signature policy in force (%s), and checking it again needs its signatures, which policy never does not fetch; use --policy missing or newer", opts.Trust.Policy.Path)
		}
	}
	dec, err := checkTrust(ctx, opts, src, target, d)
	if err != nil {
		return dec, err
	}
	if e.Reference == target.String() {
		e.Trust = record(dec, target, d)
		if err := opts.Store.Put(ctx, e); err != nil {
			return nil, err
		}
	}
	return dec, nil
}

// apiSignatures reads the simple signing signatures of d through the
// registry's signature API extension, when the endpoint content comes from
// advertises it; advertised says whether it did. An endpoint not heard from
// yet in this process (a remembered auth challenge spares the ping) is
// asked about d with one HEAD first: its answer carries the advertisement.
func (s *source) apiSignatures(ctx context.Context, d digest.Digest) (sigs []trust.Signature, advertised bool, err error) {
	err = s.attempt(ctx, d.String(), false, func(repo *registry.Repository, ep registries.Endpoint) error {
		sigs, advertised = nil, false
		supported, known := repo.SupportsSignatures()
		if !known {
			if ref, err := reference.Join(ep.Ref.Repository(), d.String()); err == nil {
				_, _ = repo.Resolve(ctx, ref)
			}
			supported, _ = repo.SupportsSignatures()
		}
		if !supported {
			return nil
		}
		advertised = true
		blobs, err := repo.Signatures(ctx, d)
		if err != nil {
			return err
		}
		for i, b := range blobs {
			sigs = append(sigs, trust.Signature{Kind: trust.SimpleSigning, Data: b, Source: fmt.Sprintf("%s signature API, signature %d", ep.Ref.Repository(), i+1)})
		}
		return nil
	})
	return sigs, advertised, err
}

// attachments reads the sigstore signatures of d: the manifest tagged
// sha256-<hex>.sig in the same repository, whose layers are signature
// payloads (a 404 means there are none). Everything is fetched through the
// pull's own endpoints, credentials and TLS settings.
func (s *source) attachments(ctx context.Context, d digest.Digest) ([]trust.Signature, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	tag := fmt.Sprintf("%s-%s.sig", d.Algorithm(), d.Encoded())
	var sigs []trust.Signature
	err := s.attempt(ctx, tag, false, func(repo *registry.Repository, ep registries.Endpoint) error {
		sigs = nil
		ref, err := reference.Join(ep.Ref.Repository(), tag)
		if err != nil {
			return err
		}
		r, err := repo.Resolve(ctx, ref)
		if errors.Is(err, registry.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		body := r.Manifest
		if body == nil {
			if body, _, err = repo.Manifest(ctx, r.Descriptor.Digest); err != nil {
				return err
			}
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(body, &m); err != nil {
			return fmt.Errorf("%s: malformed manifest: %v", ref, err)
		}
		for i, l := range m.Layers {
			if l.MediaType != trust.SigstorePayloadMediaType {
				continue
			}
			payload, err := smallBlob(ctx, repo, l, 4<<20)
			if err != nil {
				return fmt.Errorf("%s layer %d: %w", ref, i, err)
			}
			sigs = append(sigs, trust.Signature{Kind: trust.Sigstore, Data: payload, Annotations: l.Annotations, Source: fmt.Sprintf("%s layer %d", ref, i)})
		}
		return nil
	})
	return sigs, err
}

// smallBlob reads a blob of at most limit bytes, verified against desc
// (size and digest).
func smallBlob(ctx context.Context, repo *registry.Repository, desc ocispec.Descriptor, limit int64) ([]byte, error) {
	if desc.Size > limit {
		return nil, fmt.Errorf("%d bytes, more than %d", desc.Size, limit)
	}
	rc, _, err := repo.Blob(ctx, desc.Digest, 0)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if err := store.Verify(desc, b); err != nil {
		return nil, fmt.Errorf("%w; rejected", err)
	}
	return b, nil
}
