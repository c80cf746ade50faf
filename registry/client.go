package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/freshpull/freshpull/reference"
	"github.com/freshpull/freshpull/registries"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// DefaultTimeout bounds connecting to a registry, waiting for the start of
// its answer, and any silence part-way through an answer, when
// Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Options configure a Client.
type Options struct {
	// Keychain finds credentials; nil means authn.DefaultKeychain.
	Keychain authn.Keychain
	// Insecure lists registries (host or host:port) that may be spoken to
	// over plain HTTP or with unverified certificates. localhost and
	// loopback addresses always may use plain HTTP.
	Insecure []string
	// Timeout bounds connecting, waiting for response headers, and each
	// wait for more of a response body (not the transfer of a large body
	// as a whole). Zero means DefaultTimeout.
	Timeout time.Duration
	// Transport is the base HTTP transport; nil means a tuned clone of
	// http.DefaultTransport. Tests use it to count requests.
	Transport http.RoundTripper
	// UserAgent is sent with every request.
	UserAgent string
	// Logger receives debug logs of requests (method, host, path and
	// status; never headers, query strings or credentials). Nil discards.
	Logger *slog.Logger
	// RetryBase is the first backoff between retries; zero means 500ms.
	RetryBase time.Duration
	// TLS says where CA and client certificates come from (certs.d, or
	// --cert-dir) and whether to verify certificates at all.
	TLS registries.TLSOptions
	// Routes is the registries.conf configuration: mirrors, rewritten
	// locations, insecure and blocked registries. Nil routes every
	// reference to itself.
	Routes *registries.Config
	// Challenges remembers how registries authenticate, so that later
	// runs skip the /v2/ ping. Nil pings every time.
	Challenges ChallengeCache
}

// Client speaks to registries. It is safe for concurrent use and caches one
// authenticated transport per repository.
type Client struct {
	opts  Options
	base  http.RoundTripper
	mu    sync.Mutex
	repos map[string]*repoEntry
	// insecureHosts are hosts registries.conf marks insecure: plain HTTP
	// allowed and certificates not verified.
	insecureHosts map[string]bool
	features      *featureTransport
}

type repoEntry struct {
	once sync.Once
	repo *Repository
	err  error
	cut  bool // the handshake failed because its caller's context ended
}

// New returns a Client.
func New(opts Options) *Client {
	if opts.Keychain == nil {
		opts.Keychain = authn.DefaultKeychain
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = 500 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{opts: opts, repos: map[string]*repoEntry{}, insecureHosts: map[string]bool{}}
	base := opts.Transport
	if base == nil {
		base = &hostTransport{timeout: opts.Timeout, tls: opts.TLS, skip: c.insecure, hosts: map[string]*hostEntry{}}
	}
	base = &httpGuard{inner: base, allow: c.allowHTTP}
	base = &stallTransport{inner: base, timeout: opts.Timeout}
	base = &logTransport{inner: base, log: opts.Logger}
	base = &retryTransport{inner: base, attempts: 4, base: opts.RetryBase, maxWait: 2 * time.Minute}
	if opts.UserAgent != "" {
		base = transport.NewUserAgent(base, opts.UserAgent)
	}
	c.features = &featureTransport{inner: base, hosts: map[string]bool{}}
	c.base = c.features
	return c
}

func (c *Client) insecure(host string) bool {
	for _, h := range c.opts.Insecure {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return c.isInsecureHost(host)
}

// allowHTTP reports whether host may be spoken to without TLS: loopback,
// and registries the user named.
func (c *Client) allowHTTP(host string) bool {
	return isLoopback(host) || c.insecure(host) || c.opts.TLS.SkipVerify
}

func (c *Client) isInsecureHost(host string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.insecureHosts[strings.ToLower(host)]
}

// Route says where ref may be pulled from: the primary location and the
// mirrors registries.conf names, or an error wrapping
// registries.ErrBlocked.
func (c *Client) Route(ref reference.Reference) (registries.Route, error) {
	return c.opts.Routes.Route(ref.WithDefaultTag())
}

// Endpoint returns the handle for one endpoint of a route, honouring its
// insecure flag.
func (c *Client) Endpoint(ctx context.Context, ep registries.Endpoint) (*Repository, error) {
	if ep.Insecure {
		c.mu.Lock()
		c.insecureHosts[strings.ToLower(ep.Ref.Domain())] = true
		c.mu.Unlock()
	}
	return c.Repository(ctx, ep.Ref)
}

// Repository returns the handle for a repository ("docker.io/library/ubuntu"),
// performing the registry handshake (ping, credentials, token) on first use.
func (c *Client) Repository(ctx context.Context, ref reference.Reference) (*Repository, error) {
	key := ref.Repository()
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		e, ok := c.repos[key]
		if !ok {
			e = &repoEntry{}
			c.repos[key] = e
		}
		c.mu.Unlock()
		// Concurrent callers share one handshake, run with the context
		// of the caller that started it.
		e.once.Do(func() {
			e.repo, e.err = c.connect(ctx, ref)
			e.cut = e.err != nil && ctx.Err() != nil
		})
		if e.err == nil {
			return e.repo, nil
		}
		// A failed handshake is not cached: the next pull tries again.
		c.mu.Lock()
		if c.repos[key] == e {
			delete(c.repos, key)
		}
		c.mu.Unlock()
		// When the caller that ran it was cancelled, that is no answer
		// for a caller whose own context is live: it runs its own.
		if !e.cut || ctx.Err() != nil || attempt > 0 {
			return nil, e.err
		}
	}
}

func (c *Client) connect(ctx context.Context, ref reference.Reference) (*Repository, error) {
	var nopts []name.Option
	if c.insecure(ref.Domain()) || c.opts.TLS.SkipVerify {
		nopts = append(nopts, name.Insecure)
	}
	repo, err := name.NewRepository(ref.Repository(), nopts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref.Repository(), err)
	}
	host := repo.RegistryStr()
	auth, err := authn.Resolve(ctx, c.opts.Keychain, repo)
	if err != nil {
		return nil, fmt.Errorf("%s: credentials for %s: %w", ref.Repository(), host, err)
	}
	rt, scheme, err := c.handshake(ctx, repo, auth)
	if err != nil {
		return nil, classify(host, ref.Repository(), err)
	}
	return &Repository{
		name:     repo,
		host:     host,
		scheme:   scheme,
		rt:       rt,
		client:   &http.Client{Transport: rt},
		features: c.features,
	}, nil
}

// Repository is an authenticated handle on one repository.
type Repository struct {
	name name.Repository
	host string
	// scheme is what the registry speaks. go-containerregistry builds
	// http:// URLs for loopback and private addresses whatever it is;
	// the transport sends them with this scheme.
	scheme string
	rt     http.RoundTripper
	client *http.Client
	// features says what the registry advertised.
	features *featureTransport
}

func (r *Repository) remoteOptions(ctx context.Context) []remote.Option {
	// rt is a transport.Wrapper: remote adds no retry, ping or token
	// logic of its own on top of the handshake already done.
	return []remote.Option{remote.WithTransport(r.rt), remote.WithContext(ctx)}
}

// Resolved is what a reference points at in the registry.
type Resolved struct {
	// Descriptor of the manifest or index (digest, size, media type).
	Descriptor ocispec.Descriptor
	// Manifest holds the body when a GET was needed to learn the digest;
	// it has been verified against Descriptor. Nil after a HEAD.
	Manifest []byte
}

// Resolve asks what tagOrDigest points to now. It sends one HEAD; only if
// the registry refuses HEAD or leaves out Docker-Content-Digest does it GET
// the manifest, and then returns the body so the caller need not fetch it
// again. A registry that fails the HEAD (no answer in time, 429, a 5xx that
// retries did not get past) is not asked again with a GET.
func (r *Repository) Resolve(ctx context.Context, ref reference.Reference) (Resolved, error) {
	nref, err := r.nameRef(ref)
	if err != nil {
		return Resolved{}, err
	}
	desc, herr := remote.Head(nref, r.remoteOptions(ctx)...)
	if herr == nil {
		return Resolved{Descriptor: ocispec.Descriptor{MediaType: string(desc.MediaType), Digest: digest.Digest(desc.Digest.String()), Size: desc.Size}}, nil
	}
	if err := r.classify(ref.String(), herr); errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnauthorized) || ctx.Err() != nil || !headUnsupported(herr) {
		return Resolved{}, err
	}
	return r.resolveGet(ctx, ref)
}

// resolveGet resolves ref with a GET of the manifest, for registries that
// do not answer HEAD usefully; the digest is that of the bytes returned.
func (r *Repository) resolveGet(ctx context.Context, ref reference.Reference) (Resolved, error) {
	nref, err := r.nameRef(ref)
	if err != nil {
		return Resolved{}, err
	}
	got, err := r.get(ctx, nref)
	if err != nil {
		return Resolved{}, r.classify(ref.String(), err)
	}
	d := ocispec.Descriptor{MediaType: string(got.MediaType), Digest: digest.FromBytes(got.Manifest), Size: int64(len(got.Manifest))}
	if want := ref.Digest(); want != "" && want != d.Digest {
		return Resolved{}, fmt.Errorf("%s: registry returned a manifest with digest %s; rejected", ref, d.Digest)
	}
	return Resolved{Descriptor: d, Manifest: got.Manifest}, nil
}

// headUnsupported tells a failed HEAD that a GET works around (an error
// status such as 405, or an answer without Docker-Content-Digest) from a
// registry that is failing: no answer in time, a refused connection, 429, a
// 5xx that the retries did not get past. A GET after those waits the whole
// --timeout or all the retries again, and after a 429 it spends the pull
// allowance that a HEAD does not.
func headUnsupported(err error) bool {
	var te *transport.Error
	if errors.As(err, &te) {
		return !retryStatus[te.StatusCode]
	}
	// remote reports a missing header with an error of its own; getting
	// no answer at all is a *url.Error from the HTTP client.
	var ue *url.Error
	return !errors.As(err, &ue)
}

// nameRef converts to go-containerregistry's reference type. A reference
// with a digest is asked for by digest alone: the tag of name:tag@digest
// is for humans, the digest is what is pulled.
func (r *Repository) nameRef(ref reference.Reference) (name.Reference, error) {
	if d := ref.Digest(); d != "" {
		return r.name.Digest(d.String()), nil
	}
	tag := ref.Tag()
	if tag == "" {
		tag = reference.DefaultTag
	}
	return r.name.Tag(tag), nil
}

// Manifest fetches the manifest or index with digest d and verifies its
// bytes against d.
func (r *Repository) Manifest(ctx context.Context, d digest.Digest) ([]byte, string, error) {
	got, err := r.get(ctx, r.name.Digest(d.String()))
	if err != nil {
		return nil, "", r.classify(r.name.String()+"@"+d.String(), err)
	}
	// remote verifies digest references already; checking again here
	// keeps the guarantee local to this package.
	if got := d.Algorithm().FromBytes(got.Manifest); got != d {
		return nil, "", fmt.Errorf("%s@%s: registry returned a manifest hashing to %s; rejected", r.name, d, got)
	}
	return got.Manifest, string(got.MediaType), nil
}

// manifestAttempts is how often a manifest whose body broke off is asked
// for again.
const manifestAttempts = 3

// get fetches a manifest or index. retryTransport retries what fails before
// the body; a body that breaks off (a reset, a short read) is read again
// here. Manifests are small: they are fetched again whole, not resumed as
// blobs are.
func (r *Repository) get(ctx context.Context, ref name.Reference) (*remote.Descriptor, error) {
	for attempt := 1; ; attempt++ {
		got, err := remote.Get(ref, r.remoteOptions(ctx)...)
		// Failures before the body come wrapped in a *url.Error, and
		// retryTransport has had its go at them.
		var ue *url.Error
		if err == nil || attempt == manifestAttempts || ctx.Err() != nil || !retryableErr(err) || errors.As(err, &ue) {
			return got, err
		}
	}
}

// Blob opens the blob with digest d, from offset when offset > 0 and the
// registry honours Range; start says where the returned bytes begin (0 when
// the registry sent the whole blob). The caller verifies the bytes.
func (r *Repository) Blob(ctx context.Context, d digest.Digest, offset int64) (rc io.ReadCloser, start int64, err error) {
	u := fmt.Sprintf("%s://%s/v2/%s/blobs/%s", r.scheme, r.host, r.name.RepositoryStr(), d)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("%s@%s: %w", r.name, d, redact(err))
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.Body, 0, nil
	case http.StatusPartialContent:
		if offset > 0 && strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", offset)) {
			return resp.Body, offset, nil
		}
		resp.Body.Close()
		return nil, 0, fmt.Errorf("%s@%s: registry answered Range %d- with Content-Range %q", r.name, d, offset, resp.Header.Get("Content-Range"))
	}
	defer resp.Body.Close()
	err = transport.CheckError(resp, http.StatusOK, http.StatusPartialContent)
	return nil, 0, r.classify(r.name.String()+"@"+d.String(), err)
}
