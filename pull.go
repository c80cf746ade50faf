package freshpull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshpull/freshpull/policy"
	"github.com/freshpull/freshpull/reference"
	"github.com/freshpull/freshpull/registries"
	"github.com/freshpull/freshpull/registry"
	"github.com/freshpull/freshpull/store"
	"github.com/freshpull/freshpull/trust"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// Options configure the operations.
type Options struct {
	// Store is where images are kept. Required.
	Store *store.Store
	// Registry speaks to registries. Required unless the policy never
	// needs the network.
	Registry *registry.Client
	// Policy decides when the registry is asked; the zero value is
	// policy.Newer.
	Policy policy.Policy
	// Strict makes a failed registry check under policy newer an error
	// instead of a fallback to the local copy.
	Strict bool
	// Platform selects the image from a multi-platform index; the zero
	// value means HostPlatform().
	Platform ocispec.Platform
	// Jobs is how many blobs of one image download at once; zero means 4.
	Jobs int
	// Progress, when set, is told about each blob download.
	Progress Progress
	// Logger receives debug and info logs; nil discards them.
	Logger *slog.Logger
	// Trust is the signature policy (containers-policy.json) every image
	// must pass before it is used: checked on the digest the reference
	// resolved to, before the image is stored, and again for a local copy
	// when the policy changed. Nil checks nothing, for library callers
	// that enforce no policy; the CLI always sets it.
	Trust *trust.Config
}

// Progress observes blob downloads. Its methods are called from several
// goroutines at once.
type Progress interface {
	// Start is called when the download of a blob of ref begins.
	Start(ref string, desc ocispec.Descriptor)
	// Advance reports n more bytes of desc received.
	Advance(desc ocispec.Descriptor, n int64)
	// Done is called when the blob is stored or its download failed.
	Done(desc ocispec.Descriptor, err error)
}

func (o Options) platform() ocispec.Platform {
	if o.Platform.OS == "" {
		return HostPlatform()
	}
	return o.Platform
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// Result says what a pull did and why.
type Result struct {
	// Reference is the input as given.
	Reference string `json:"reference"`
	// Canonical is the fully qualified reference that was pulled (with
	// ":latest" when the input named neither tag nor digest).
	Canonical string `json:"canonical"`
	// Digest is the digest of the stored platform-specific manifest.
	Digest string `json:"digest"`
	// ResolvedDigest is what the reference resolved to: an index for a
	// multi-platform image, else the manifest itself.
	ResolvedDigest string `json:"resolvedDigest"`
	// Platform of the image, os/arch[/variant].
	Platform string `json:"platform"`
	// Policy that decided.
	Policy string `json:"policy"`
	// Action is "pulled", "up-to-date", "local" or "local-fallback";
	// empty when the pull failed.
	Action string `json:"action"`
	// Reason says why, in words.
	Reason string `json:"reason"`
	// BlobsFetched and BytesFetched count the blobs downloaded;
	// BlobsReused those already in the store.
	BlobsFetched int   `json:"blobsFetched"`
	BlobsReused  int   `json:"blobsReused"`
	BytesFetched int64 `json:"bytesFetched"`
	// Source is the repository, at a mirror or the primary location, that
	// served the content, or that answered the registry check.
	Source string `json:"source,omitempty"`
	// Warning is set when the user must know something, such as a
	// fallback to a local copy that may be stale.
	Warning string `json:"warning,omitempty"`
	// Trust says what accepted the image under the signature policy
	// (or, with Error, what rejected it); absent without a policy.
	Trust *trust.Decision `json:"trust,omitempty"`
	// Error is the failure, when there was one.
	Error string `json:"error,omitempty"`
	// Err is the failure as an error, for errors.Is and errors.As.
	Err error `json:"-"`
	// Entry is the store entry the image is under (for the library:
	// extraction reads the image through it).
	Entry store.Entry `json:"-"`
}

// PullAll pulls several references concurrently. Results are in the order
// of refs; the error is the failure of the first failing reference in that
// order (each Result also carries its own).
func PullAll(ctx context.Context, refs []string, opts Options) ([]Result, error) {
	results := make([]Result, len(refs))
	errs := make([]error, len(refs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, ref := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i], errs[i] = Pull(ctx, ref, opts)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return results, err
		}
	}
	return results, nil
}

// Pull obtains ref under opts.Policy and returns what it did. On failure
// the Result still carries the reference, the policy, the reason and the
// error.
func Pull(ctx context.Context, input string, opts Options) (Result, error) {
	res := Result{Reference: input, Policy: opts.Policy.String()}
	release, err := opts.Store.Use(ctx)
	if err == nil {
		err = pull(ctx, input, opts, &res)
		release()
	} else {
		err = opError("pull", input, err)
	}
	res.fail(err)
	return res, err
}

func (r *Result) fail(err error) {
	if err != nil {
		r.Action = ""
		r.Error, r.Err = err.Error(), err
	}
}

// pull does the work of Pull; the caller holds the store's shared lock.
func pull(ctx context.Context, input string, opts Options, res *Result) error {
	ref, err := reference.Parse(input)
	if err != nil {
		return &InputError{err}
	}
	target := ref.WithDefaultTag()
	res.Canonical = target.String()
	platform := opts.platform()
	res.Platform = store.FormatPlatform(platform)
	log := opts.logger().With("reference", res.Canonical)

	entry, present, err := lookup(opts.Store, target, platform)
	if err != nil {
		return opError("pull", res.Canonical, err)
	}
	localDigest := entry.ResolvedDigest
	if d := target.Digest(); d != "" && present {
		// Found by that digest (an index or the platform manifest):
		// locally the reference resolves to what it names.
		localDigest = d
	}
	facts := policy.Facts{
		Policy: opts.Policy,
		Pinned: target.Digest() != "",
		Local:  policy.Local{Present: present, Digest: localDigest},
		Strict: opts.Strict,
	}
	decision := policy.Decide(facts)
	var src *source
	var resolved registry.Resolved
	if decision.Action == policy.AskRegistry {
		src, err = newSource(opts.Registry, target, log)
		if err != nil {
			return opError("pull", res.Canonical, err)
		}
		// The one and only resolution of the tag in this pull.
		var at registries.Endpoint
		resolved, at, err = src.resolve(ctx)
		if err == nil {
			res.Source = at.Ref.Repository()
		}
		if ctx.Err() != nil {
			return opError("pull", res.Canonical, ctx.Err())
		}
		facts.Remote = policy.Remote{Asked: true, Digest: resolved.Descriptor.Digest, Err: err, NotFound: errors.Is(err, registry.ErrNotFound)}
		decision = policy.Decide(facts)
		log.Debug("resolved", "digest", resolved.Descriptor.Digest, "err", err)
	}
	res.Reason = decision.Reason

	switch decision.Action {
	case policy.Fail:
		if errors.Is(decision.Err, policy.ErrNotPresent) {
			return fmt.Errorf("pull %s: %w in store %s and policy is never; pull it with --policy missing or newer", res.Canonical, decision.Err, opts.Store.Dir())
		}
		return opError("pull", res.Canonical, decision.Err)
	case policy.UseLocal, policy.UpToDate, policy.Fallback:
		if opts.Trust != nil {
			if res.Trust, err = trustLocal(ctx, opts, src, target, entry, localDigest); err != nil {
				return opError("pull", res.Canonical, err)
			}
		}
		res.fromEntry(entry)
		res.ResolvedDigest = localDigest.String()
		res.Action = decision.Action.String()
		if decision.Action == policy.Fallback {
			res.Warning = fmt.Sprintf("%s: %s", res.Canonical, decision.Reason)
			log.Debug("using local copy; registry check failed", "digest", entry.ResolvedDigest, "err", facts.Remote.Err)
		}
		return nil
	case policy.Pull:
		if opts.Trust != nil {
			// On the digest resolved, before anything is fetched: a
			// rejected image is never stored, and the content fetched
			// next is that digest's, whatever the tag does meanwhile.
			if res.Trust, err = checkTrust(ctx, opts, src, target, resolved.Descriptor.Digest); err != nil {
				return opError("pull", res.Canonical, err)
			}
		}
		e, err := fetch(ctx, opts, src, target, resolved, platform, res)
		if served := src.servedBy(); served != "" {
			res.Source = served
		}
		if err != nil {
			return opError("pull", res.Canonical, err)
		}
		res.fromEntry(e)
		res.Action = decision.Action.String()
		return nil
	}
	return fmt.Errorf("pull %s: unexpected decision %v", res.Canonical, decision.Action)
}

func (r *Result) fromEntry(e store.Entry) {
	r.Digest = e.Manifest.Digest.String()
	r.ResolvedDigest = e.ResolvedDigest.String()
	r.Platform = store.FormatPlatform(e.Platform)
	r.Entry = e
}

// lookup finds the local copy of ref. A digest reference is present when any
// entry of its repository holds that digest, whatever tag it was pulled
// under: content addressed by digest cannot differ.
func lookup(s *store.Store, ref reference.Reference, platform ocispec.Platform) (store.Entry, bool, error) {
	e, ok, err := s.Lookup(ref, platform)
	if err != nil || !ok {
		return store.Entry{}, false, err
	}
	// An entry whose manifest blob is gone (removed by hand, or a
	// damaged store) is not a usable copy.
	if !s.HasBlob(e.Manifest) {
		return store.Entry{}, false, nil
	}
	return e, true, nil
}

// fetch stores the image that target resolved to, by digest only: the
// index or manifest with digest resolved.Descriptor.Digest, the platform's
// manifest chosen from it, and every blob not yet in the store. The entry is
// written last.
func fetch(ctx context.Context, opts Options, src *source, target reference.Reference, resolved registry.Resolved, platform ocispec.Platform, res *Result) (store.Entry, error) {
	st := opts.Store
	top := resolved.Descriptor
	topBytes := resolved.Manifest
	var err error
	if topBytes == nil {
		topBytes, err = manifestBytes(ctx, st, src, top)
		if err != nil {
			return store.Entry{}, err
		}
	}
	mediaType, err := sniffMediaType(top.MediaType, topBytes)
	if err != nil {
		return store.Entry{}, fmt.Errorf("%s: %w", top.Digest, err)
	}
	top.MediaType = mediaType

	manifestDesc, manifestRaw := top, topBytes
	var indexPlatform *ocispec.Platform
	if store.IsIndex(mediaType) {
		var idx ocispec.Index
		if err := json.Unmarshal(topBytes, &idx); err != nil {
			return store.Entry{}, fmt.Errorf("index %s: malformed: %v", top.Digest, err)
		}
		child, err := choosePlatform(idx, platform)
		if err != nil {
			return store.Entry{}, fmt.Errorf("index %s: %w", top.Digest, err)
		}
		manifestDesc = ocispec.Descriptor{MediaType: child.MediaType, Digest: child.Digest, Size: child.Size}
		indexPlatform = child.Platform
		manifestRaw, err = manifestBytes(ctx, st, src, manifestDesc)
		if err != nil {
			return store.Entry{}, err
		}
		if manifestDesc.MediaType, err = sniffMediaType(manifestDesc.MediaType, manifestRaw); err != nil {
			return store.Entry{}, fmt.Errorf("%s: %w", manifestDesc.Digest, err)
		}
	}
	if !store.IsManifest(manifestDesc.MediaType) {
		return store.Entry{}, fmt.Errorf("%s: unsupported media type %q; freshpull pulls OCI and Docker schema 2 images", manifestDesc.Digest, manifestDesc.MediaType)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(manifestRaw, &m); err != nil {
		return store.Entry{}, fmt.Errorf("manifest %s: malformed: %v", manifestDesc.Digest, err)
	}
	if err := checkManifest(m); err != nil {
		return store.Entry{}, fmt.Errorf("manifest %s: %w", manifestDesc.Digest, err)
	}

	blobs := append([]ocispec.Descriptor{m.Config}, m.Layers...)
	if err := fetchBlobs(ctx, opts, src, target, blobs, res); err != nil {
		return store.Entry{}, err
	}
	imagePlatform, err := configPlatform(st, m.Config, indexPlatform)
	if err != nil {
		return store.Entry{}, err
	}
	var requested ocispec.Platform
	if !store.PlatformMatches(imagePlatform, platform) {
		res.Warning = fmt.Sprintf("%s is for %s, not the requested %s", target, store.FormatPlatform(imagePlatform), store.FormatPlatform(platform))
		requested = platform
	}
	// Manifests after the blobs they reach, the entry after everything:
	// a reader never finds a manifest with a missing layer.
	if err := st.PutBlob(ctx, manifestDesc, manifestRaw); err != nil {
		return store.Entry{}, err
	}
	if store.IsIndex(mediaType) {
		if err := st.PutBlob(ctx, top, topBytes); err != nil {
			return store.Entry{}, err
		}
	}
	e := store.Entry{
		Reference:      target.String(),
		Manifest:       manifestDesc,
		ResolvedDigest: top.Digest,
		Platform:       imagePlatform,
		Pulled:         time.Now().UTC(),
		Requested:      requested,
		Trust:          record(res.Trust, target, top.Digest),
	}
	if err := st.Put(ctx, e); err != nil {
		return store.Entry{}, err
	}
	return e, nil
}

// manifestBytes reads a manifest or index by digest, from the store when it
// is there (no request at all), else from the registry. Both paths verify
// the bytes against the digest.
func manifestBytes(ctx context.Context, st *store.Store, src *source, desc ocispec.Descriptor) ([]byte, error) {
	if st.HasBlob(desc) {
		if b, err := st.ReadBlob(desc); err == nil {
			return b, nil
		}
	}
	if src == nil {
		return nil, fmt.Errorf("%s: not in the store and no registry to fetch it from", desc.Digest)
	}
	return src.manifest(ctx, desc.Digest)
}

func fetchBlobs(ctx context.Context, opts Options, src *source, target reference.Reference, blobs []ocispec.Descriptor, res *Result) error {
	jobs := opts.Jobs
	if jobs <= 0 {
		jobs = 4
	}
	var fetched, reused atomic.Int64
	var bytes atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	seen := map[digest.Digest]bool{}
	for _, desc := range blobs {
		if seen[desc.Digest] {
			continue
		}
		seen[desc.Digest] = true
		g.Go(func() error {
			if opts.Store.HasBlob(desc) {
				reused.Add(1)
				return nil
			}
			started := false
			fetcher := func(ctx context.Context, offset int64) (io.ReadCloser, int64, error) {
				if opts.Progress != nil && !started {
					started = true
					opts.Progress.Start(target.String(), desc)
				}
				rc, start, err := src.blob(ctx, desc.Digest, offset)
				if err != nil {
					return nil, 0, err
				}
				return &countingReader{rc: rc, desc: desc, progress: opts.Progress}, start, nil
			}
			got, n, err := opts.Store.EnsureBlob(gctx, desc, fetcher)
			if opts.Progress != nil && started {
				opts.Progress.Done(desc, err)
			}
			if err != nil {
				return fmt.Errorf("blob %s: %w", desc.Digest, err)
			}
			if got {
				fetched.Add(1)
				bytes.Add(n)
			} else {
				reused.Add(1)
			}
			return nil
		})
	}
	err := g.Wait()
	res.BlobsFetched = int(fetched.Load())
	res.BlobsReused = int(reused.Load())
	res.BytesFetched = bytes.Load()
	return err
}

type countingReader struct {
	rc       io.ReadCloser
	desc     ocispec.Descriptor
	progress Progress
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	if n > 0 && c.progress != nil {
		c.progress.Advance(c.desc, int64(n))
	}
	return n, err
}

func (c *countingReader) Close() error { return c.rc.Close() }
