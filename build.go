package freshpull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/freshpull/freshpull/dockerfile"
	"github.com/freshpull/freshpull/extract"
	"github.com/freshpull/freshpull/reference"
	"github.com/freshpull/freshpull/store"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The annotations a built image carries about its final stage's base, as
// the OCI image spec defines them.
const (
	AnnotationBaseName   = "org.opencontainers.image.base.name"
	AnnotationBaseDigest = "org.opencontainers.image.base.digest"
)

// Engine runs a build whose images freshpull has already obtained: every
// image the Dockerfile it is given names is an "oci:DIR:NAME" reference to
// a layout holding exactly the digest freshpull reported, and it must not
// ask a registry for any of them.
type Engine interface {
	Build(ctx context.Context, req EngineRequest) (EngineResult, error)
}

// EngineStorage is implemented by an engine that keeps images in storage
// of its own, under IDs that are their config digests. Build names the
// images it already holds by ID, instead of having the engine copy them
// out of the layout again: an ID names exactly one config, hence exactly
// the layers freshpull pulled.
type EngineStorage interface {
	// Images lists the IDs ("sha256:…") of the images the engine's
	// storage has. Build asks while the pulls run, so the listing costs
	// the build no time of its own.
	Images(ctx context.Context) (map[string]bool, error)
}

// EngineRequest is one build for an [Engine].
type EngineRequest struct {
	// Dockerfile is the rewritten Dockerfile to build (not the user's).
	Dockerfile string
	// Context is the build context directory.
	Context string
	// Tags name the built image.
	Tags []string
	// BuildArgs are the user's build args, NAME=VALUE.
	BuildArgs []string
	// Annotations go on the built image's manifest.
	Annotations map[string]string
	// Platform is os/arch[/variant] to build for; "" means the engine's
	// default.
	Platform string
	// Output is where to write the image, as a transport reference
	// ("oci:DIR[:NAME]"); "" for none.
	Output string
	// Push is a registry reference to push the image to; "" for none.
	Push string
}

// EngineResult is what an [Engine] built.
type EngineResult struct {
	// ImageID is the engine's ID of the image (the config digest).
	ImageID string `json:"imageId"`
	// Digest is the digest of the manifest written to Push, else to
	// Output; empty when the image is only in the engine's storage, where
	// ImageID names it (the manifest kept there is not the one a push
	// writes, so its digest would name nothing anywhere else).
	Digest string `json:"digest,omitempty"`
	// OutputDigest and PushDigest are the manifest digests written to
	// Output and Push.
	OutputDigest string `json:"outputDigest,omitempty"`
	PushDigest   string `json:"pushDigest,omitempty"`
}

// BuildOptions configure [Build].
type BuildOptions struct {
	// Engine runs the build. Required.
	Engine Engine
	// Dockerfile is the file to build; "" means Dockerfile, else
	// Containerfile, in the context directory.
	Dockerfile string
	// Tags name the built image.
	Tags []string
	// BuildArgs override ARG defaults, NAME=VALUE, as docker build's
	// --build-arg does.
	BuildArgs []string
	// ImageSources are copied out of images into the context before the
	// build, as OpenShift image sources are.
	ImageSources []ImageSource
	// Output and Push: see [EngineRequest].
	Output, Push string
	// Platform is passed to the engine when set; base images are pulled
	// for [Options.Platform] either way.
	Platform string
}

// ImageSource is files to copy from an image into the build context.
type ImageSource struct {
	// Reference is the image.
	Reference string
	// Path selects the files; its DestDir is relative to the context.
	Path extract.PathSpec
}

// ParseImageSource parses REF:SRC[:DESTDIR]. SRC is absolute, so the
// reference ends at the first ":/" (no reference contains one).
func ParseImageSource(s string) (ImageSource, error) {
	ref, path, ok := strings.Cut(s, ":/")
	if !ok || ref == "" {
		return ImageSource{}, &InputError{fmt.Errorf("image source %q: want REF:SRC[:DESTDIR] with an absolute SRC, e.g. registry.example.com/tools:1:/usr/bin/tool:bin", s)}
	}
	if _, err := reference.Parse(ref); err != nil {
		return ImageSource{}, &InputError{fmt.Errorf("image source %q: %w", s, err)}
	}
	ps, err := extract.ParsePathSpec("/" + path)
	if err != nil {
		return ImageSource{}, &InputError{fmt.Errorf("image source %q: %w", s, err)}
	}
	return ImageSource{Reference: ref, Path: ps}, nil
}

// BuildImage is one distinct image the build used: its pull's Result and
// where the build uses it.
type BuildImage struct {
	Result
	// Uses are the instructions that name the image
	// ("Dockerfile:3 FROM", "--image-source").
	Uses []string `json:"uses"`
}

// ImageSourceResult is what one image source copied into the context.
type ImageSourceResult struct {
	Reference string `json:"reference"`
	Canonical string `json:"canonical"`
	Digest    string `json:"digest"`
	Path      string `json:"path"`
	// Dest is the directory written, inside the context.
	Dest  string `json:"dest"`
	Files int64  `json:"files"`
	Bytes int64  `json:"bytes"`
}

// BuildResult says what a build used and made.
type BuildResult struct {
	Dockerfile string `json:"dockerfile"`
	Context    string `json:"context"`
	// Images lists each distinct image used, once, in the order the
	// Dockerfile first names it (image sources last).
	Images       []BuildImage        `json:"images"`
	ImageSources []ImageSourceResult `json:"imageSources"`
	// BaseName and BaseDigest are the final stage's base, as annotated on
	// the built image; empty when it builds on scratch.
	BaseName   string `json:"baseName,omitempty"`
	BaseDigest string `json:"baseDigest,omitempty"`
	EngineResult
	Tags   []string `json:"tags"`
	Output string   `json:"output,omitempty"`
	Push   string   `json:"push,omitempty"`
	// Warnings are the pulls' warnings (a fallback to a local copy).
	Warnings []string `json:"warnings,omitempty"`
	// Error is the failure, when there was one.
	Error string `json:"error,omitempty"`
	// Err is the failure as an error, for errors.Is and errors.As.
	Err error `json:"-"`
}

// Build builds the Dockerfile in contextDir on exactly the images freshpull
// resolved: it finds every image the file names (FROM, COPY --from, RUN
// --mount from=, ARGs substituted), pulls each distinct one once under
// opts.Policy with [PullAll], copies the image sources into the context,
// and has the engine build a copy of the file in which every such image is
// the stored digest, never a name for the engine to resolve again. The
// store's shared lock is held from the first byte extracted to the end of
// the build, so garbage collection cannot remove what the engine reads.
//
// Nothing reaches the engine when a pull fails (with opts.Strict, also
// when the registry cannot be checked).
func Build(ctx context.Context, contextDir string, opts Options, bopts BuildOptions) (BuildResult, error) {
	res := BuildResult{Context: contextDir, Tags: bopts.Tags, Output: bopts.Output, Push: bopts.Push, Images: []BuildImage{}, ImageSources: []ImageSourceResult{}}
	if res.Tags == nil {
		res.Tags = []string{}
	}
	err := build(ctx, contextDir, opts, bopts, &res)
	if err != nil {
		res.Error, res.Err = err.Error(), err
	}
	return res, err
}

func build(ctx context.Context, contextDir string, opts Options, bopts BuildOptions, res *BuildResult) error {
	if bopts.Engine == nil {
		return errors.New("build: no build engine configured")
	}
	if fi, err := os.Stat(contextDir); err != nil || !fi.IsDir() {
		return &InputError{fmt.Errorf("build: context %s is not a directory", contextDir)}
	}
	if err := checkOutput(bopts.Output, opts.Store); err != nil {
		return err
	}
	df, err := dockerfilePath(contextDir, bopts.Dockerfile)
	if err != nil {
		return err
	}
	res.Dockerfile = df
	args, err := buildArgMap(bopts.BuildArgs)
	if err != nil {
		return err
	}
	file, err := dockerfile.ParseFile(df, args)
	if err != nil {
		return &InputError{fmt.Errorf("build: %w", err)}
	}

	// The distinct images (reference and platform), each pulled once;
	// refImage maps each reference of the file to its image.
	var refs []string
	var platforms []ocispec.Platform
	index := map[string]int{}
	refImage := make([]int, len(file.Refs))
	add := func(input string, platform ocispec.Platform, use string) (int, error) {
		r, err := reference.Parse(input)
		if err != nil {
			return 0, err
		}
		key := r.WithDefaultTag().String() + " " + store.FormatPlatform(platform)
		i, ok := index[key]
		if !ok {
			i = len(refs)
			index[key] = i
			refs = append(refs, input)
			platforms = append(platforms, platform)
			res.Images = append(res.Images, BuildImage{})
		}
		res.Images[i].Uses = append(res.Images[i].Uses, use)
		return i, nil
	}
	for n, r := range file.Refs {
		use := fmt.Sprintf("%s:%d %s", df, r.InstructionLine, r.Instruction)
		if r.Build == "" {
			return &InputError{fmt.Errorf("build: %s %s: %s", use, r.Text, r.Skip)}
		}
		platform, err := fromPlatform(r.Platform, opts.platform())
		if err != nil {
			return &InputError{fmt.Errorf("build: %s --platform=%s: %w", use, r.Platform, err)}
		}
		i, err := add(r.Build, platform, use)
		if err != nil {
			return &InputError{fmt.Errorf("build: %s %s: %w", use, r.Build, err)}
		}
		refImage[n] = i
	}
	// A word the build could not replace is found before anything is
	// pulled.
	if _, err := file.Rewrite(func(int, dockerfile.Ref) string { return "oci:/check:image-0" }); err != nil {
		return &InputError{fmt.Errorf("build: %w", err)}
	}
	sourceImage := make([]int, len(bopts.ImageSources))
	for n, s := range bopts.ImageSources {
		i, err := add(s.Reference, opts.platform(), "--image-source")
		if err != nil {
			return &InputError{fmt.Errorf("build: --image-source %s: %w", s.Reference, err)}
		}
		sourceImage[n] = i
	}

	listing, stopListing := context.WithCancel(ctx)
	defer stopListing()
	held := engineImages(listing, bopts.Engine, opts.logger())
	if err := pullImages(ctx, refs, platforms, opts, res); err != nil {
		return fmt.Errorf("build: %w; nothing was built", err)
	}

	release, err := opts.Store.Use(ctx)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	defer release()
	// Made under the lock, and checked blob by blob: each pull let go of
	// the store before the lock was taken, and a concurrent pull that
	// moved a tag, with a gc after it, could have removed what this build
	// was about to use.
	layout, configs, err := privateLayout(opts.Store, res.Images)
	if err != nil {
		return fmt.Errorf("build: %w; nothing was built", err)
	}
	defer os.RemoveAll(layout)

	for n, s := range bopts.ImageSources {
		img := res.Images[sourceImage[n]]
		sr, err := extractSource(ctx, opts.Store, img.Result, s, contextDir)
		if err != nil {
			return err
		}
		res.ImageSources = append(res.ImageSources, sr)
	}
	names := make([]string, len(res.Images))
	for i := range names {
		names[i] = fmt.Sprintf("oci:%s:%s", layout, layoutName(i))
	}
	if ids := <-held; ids != nil {
		for i, c := range configs {
			if ids[c] {
				names[i] = strings.TrimPrefix(c, "sha256:")
			}
		}
	}
	src, err := file.Rewrite(func(n int, _ dockerfile.Ref) string { return names[refImage[n]] })
	if err != nil {
		return &InputError{fmt.Errorf("build: %w", err)}
	}
	rewritten := filepath.Join(layout, "Dockerfile")
	if err := os.WriteFile(rewritten, src, 0o644); err != nil {
		return fmt.Errorf("build: %w", err)
	}

	req := EngineRequest{
		Dockerfile: rewritten,
		Context:    contextDir,
		Tags:       bopts.Tags,
		BuildArgs:  bopts.BuildArgs,
		Platform:   bopts.Platform,
		Output:     bopts.Output,
		Push:       bopts.Push,
	}
	if i := finalBase(file); i >= 0 {
		img := res.Images[refImage[i]]
		res.BaseName, res.BaseDigest = img.Canonical, img.ResolvedDigest
		// The engine would name the private layout instead.
		req.Annotations = map[string]string{AnnotationBaseName: res.BaseName, AnnotationBaseDigest: res.BaseDigest}
	}
	er, err := bopts.Engine.Build(ctx, req)
	res.EngineResult = er
	if err != nil {
		return fmt.Errorf("build %s: %w", df, err)
	}
	return nil
}

// engineImages lists, in the background, the images eng's storage holds
// when it is an [EngineStorage]; the channel yields nil when it is not, or
// when the listing failed (only slower: the engine then copies each image
// from the layout). The listing ends with ctx.
func engineImages(ctx context.Context, eng Engine, log *slog.Logger) <-chan map[string]bool {
	ch := make(chan map[string]bool, 1)
	es, ok := eng.(EngineStorage)
	if !ok {
		ch <- nil
		return ch
	}
	go func() {
		ids, err := es.Images(ctx)
		if err != nil {
			log.Debug("engine storage not consulted", "err", err)
		}
		ch <- ids
	}()
	return ch
}

// pullImages pulls refs[i] for platforms[i] with [PullAll], once per
// platform (nearly always one), into res.Images.
func pullImages(ctx context.Context, refs []string, platforms []ocispec.Platform, opts Options, res *BuildResult) error {
	var order []string
	groups := map[string][]int{}
	for i, p := range platforms {
		key := store.FormatPlatform(p)
		if groups[key] == nil {
			order = append(order, key)
		}
		groups[key] = append(groups[key], i)
	}
	var first error
	for _, key := range order {
		idx := groups[key]
		group := make([]string, len(idx))
		for j, i := range idx {
			group[j] = refs[i]
		}
		popts := opts
		popts.Platform = platforms[idx[0]]
		pulled, err := PullAll(ctx, group, popts)
		for j, p := range pulled {
			res.Images[idx[j]].Result = p
		}
		if err != nil && first == nil {
			first = err
		}
	}
	for _, img := range res.Images {
		if img.Warning != "" {
			res.Warnings = append(res.Warnings, img.Warning)
		}
	}
	return first
}

// fromPlatform is the platform to pull a FROM's image for: its --platform
// when it names one, the build's platform ($TARGETPLATFORM) or this
// machine's ($BUILDPLATFORM) when it names those, else the build's.
func fromPlatform(flag string, build ocispec.Platform) (ocispec.Platform, error) {
	switch flag {
	case "":
		return build, nil
	case "$BUILDPLATFORM", "${BUILDPLATFORM}":
		return HostPlatform(), nil
	}
	if strings.Contains(flag, "$") {
		return build, nil
	}
	return ParsePlatform(flag)
}

// dockerfilePath returns the Dockerfile to build: the one given, else
// CONTEXT/Dockerfile, else CONTEXT/Containerfile.
func dockerfilePath(contextDir, given string) (string, error) {
	if given != "" {
		return given, nil
	}
	for _, name := range []string{"Dockerfile", "Containerfile"} {
		p := filepath.Join(contextDir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", &InputError{fmt.Errorf("build: no Dockerfile or Containerfile in %s; name the file with -f", contextDir)}
}

func buildArgMap(args []string) (map[string]string, error) {
	m := map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, &InputError{fmt.Errorf("--build-arg %q: want NAME=VALUE", a)}
		}
		m[k] = v
	}
	return m, nil
}

// checkOutput refuses to have the engine write into the store, where it
// would bypass the store's locks and bookkeeping.
func checkOutput(output string, st *store.Store) error {
	dir, ok := strings.CutPrefix(output, "oci:")
	if !ok {
		return nil
	}
	dir, _, _ = strings.Cut(dir, ":")
	abs, err := filepath.Abs(dir)
	if err == nil && abs == st.Dir() {
		return &InputError{fmt.Errorf("build: --output %s is freshpull's store; write the image to another directory", output)}
	}
	return nil
}

// finalBase returns the index in f.Refs of the image the last stage builds
// on, following stages built on stages; -1 for scratch.
func finalBase(f *dockerfile.File) int {
	if len(f.Stages) == 0 {
		return -1
	}
	s := f.Stages[len(f.Stages)-1]
	for hops := 0; s.Ref < 0 && hops < len(f.Stages); hops++ {
		found := false
		for _, earlier := range f.Stages {
			if earlier.Name != "" && strings.EqualFold(earlier.Name, s.Base) {
				s, found = earlier, true
				break
			}
		}
		if !found {
			return -1
		}
	}
	return s.Ref
}

// extractSource copies one image source out of the stored image into the
// context, from exactly the digest the build pulled.
func extractSource(ctx context.Context, st *store.Store, img Result, s ImageSource, contextDir string) (ImageSourceResult, error) {
	sr := ImageSourceResult{Reference: s.Reference, Canonical: img.Canonical, Digest: img.Digest, Path: s.Path.String(), Dest: filepath.Join(contextDir, s.Path.DestDir)}
	layers, err := storeLayers(st, img.Entry)
	if err != nil {
		return sr, fmt.Errorf("build: --image-source %s: %w", s.Reference, err)
	}
	xr, err := extract.Extract(ctx, layers, contextDir, extract.Options{Paths: []extract.PathSpec{s.Path}, Force: true})
	sr.Files, sr.Bytes = xr.Files, xr.Bytes
	if err != nil {
		return sr, fmt.Errorf("build: --image-source %s:%s: %w; nothing was built", s.Reference, s.Path, err)
	}
	return sr, nil
}

func layoutName(i int) string { return fmt.Sprintf("image-%d", i) }

// privateLayout writes an OCI layout for one build: its index names exactly
// the images this build pulled, and each of its blobs is a symbolic link to
// the store's. The store's own index.json cannot serve: a concurrent pull
// may point a tag's entry at another digest while the engine reads.
//
// The layout lives in the system's temp directory, not the store's:
// buildah names the image it copies from "oci:DIR:NAME" after DIR, which
// must then be a valid repository path (lower case, no element starting
// with a dot), and a store's path need not be one.
//
// Every blob is checked to be in the store as it is linked. It returns the
// layout's directory and each image's config digest.
func privateLayout(st *store.Store, images []BuildImage) (string, []string, error) {
	parent := ""
	for _, d := range []string{os.TempDir(), "/tmp", "/var/tmp"} {
		if validRepoPath.MatchString(d) {
			parent = d
			break
		}
	}
	if parent == "" {
		return "", nil, fmt.Errorf("no temp directory whose path buildah accepts in an oci: reference (lower case letters, digits, '.', '_', '-'); set TMPDIR to one")
	}
	dir, err := os.MkdirTemp(parent, "freshpull-build-")
	if err != nil {
		return "", nil, err
	}
	configs, err := writeLayout(dir, st, images)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, configs, nil
}

func writeLayout(dir string, st *store.Store, images []BuildImage) ([]string, error) {
	blob := func(d digest.Digest) string { return filepath.Join(dir, "blobs", d.Algorithm().String(), d.Encoded()) }
	var configs []string
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	for i, img := range images {
		gone := func(d ocispec.Descriptor) error {
			return fmt.Errorf("%s: blob %s is no longer in the store (a gc after a concurrent pull, or lost); run the build again, after freshpull fsck --repair if it is still missing", img.Canonical, d.Digest)
		}
		link := func(d ocispec.Descriptor) error {
			if !st.HasBlob(d) {
				return gone(d)
			}
			if err := os.MkdirAll(filepath.Dir(blob(d.Digest)), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(st.BlobPath(d.Digest), blob(d.Digest)); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			return nil
		}
		if !st.HasBlob(img.Entry.Manifest) {
			return nil, gone(img.Entry.Manifest)
		}
		m, _, err := st.Manifest(img.Entry)
		if err != nil {
			return nil, err
		}
		configs = append(configs, m.Config.Digest.String())
		for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
			if err := link(d); err != nil {
				return nil, err
			}
		}
		desc := img.Entry.Manifest
		if oci, changed := asOCI(m, desc.MediaType); changed {
			b, err := json.Marshal(oci)
			if err != nil {
				return nil, err
			}
			desc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(b), Size: int64(len(b))}
			if err := os.MkdirAll(filepath.Dir(blob(desc.Digest)), 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(blob(desc.Digest), b, 0o644); err != nil {
				return nil, err
			}
		} else if err := link(desc); err != nil {
			return nil, err
		}
		idx.Manifests = append(idx.Manifests, ocispec.Descriptor{
			MediaType:   desc.MediaType,
			Digest:      desc.Digest,
			Size:        desc.Size,
			Annotations: map[string]string{ocispec.AnnotationRefName: layoutName(i)},
		})
	}
	b, err := json.Marshal(idx)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), b, 0o644); err != nil {
		return nil, err
	}
	b, _ = json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	return configs, os.WriteFile(filepath.Join(dir, ocispec.ImageLayoutFile), b, 0o644)
}

// dockerToOCI maps Docker schema 2 media types to their OCI equivalents.
var dockerToOCI = map[string]string{
	"application/vnd.docker.container.image.v1+json":    ocispec.MediaTypeImageConfig,
	"application/vnd.docker.image.rootfs.diff.tar.gzip": ocispec.MediaTypeImageLayerGzip,
	// The image spec deprecates the name of the OCI equivalent, not
	// the media type.
	"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
	"application/vnd.docker.image.rootfs.diff.tar":              ocispec.MediaTypeImageLayer,
}

// asOCI returns m as an OCI image manifest, and whether that changed
// anything. buildah 1.28 (containers/image 5.23) reads only OCI manifests
// from an oci: layout, and a Docker schema 2 image is the same config and
// layers under other media types: the engine gets exactly the blobs
// freshpull pulled, under a manifest that names them the OCI way.
func asOCI(m ocispec.Manifest, mediaType string) (ocispec.Manifest, bool) {
	changed := mediaType != ocispec.MediaTypeImageManifest || (m.MediaType != "" && m.MediaType != ocispec.MediaTypeImageManifest)
	m.MediaType = ocispec.MediaTypeImageManifest
	if t, ok := dockerToOCI[m.Config.MediaType]; ok {
		m.Config.MediaType, changed = t, true
	}
	layers := make([]ocispec.Descriptor, len(m.Layers))
	for i, l := range m.Layers {
		if t, ok := dockerToOCI[l.MediaType]; ok {
			l.MediaType, changed = t, true
		}
		layers[i] = l
	}
	m.Layers = layers
	return m, changed
}

// validRepoPath is an absolute path whose elements are valid repository
// path components in Docker's grammar.
var validRepoPath = regexp.MustCompile(`^(/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$`)
