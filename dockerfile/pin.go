package dockerfile

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/freshpull/freshpull/reference"
)

// Resolver tells what a tag points at now: the digest of the manifest or
// index the registry returns for ref. For a multi-platform image it is the
// index digest, so that a pin builds on every platform. ref always has a tag
// and no digest. The registry implementation makes one HEAD request.
type Resolver interface {
	Resolve(ctx context.Context, ref reference.Reference) (digest.Digest, error)
}

// ResolverFunc adapts a function to [Resolver].
type ResolverFunc func(ctx context.Context, ref reference.Reference) (digest.Digest, error)

// Resolve calls f.
func (f ResolverFunc) Resolve(ctx context.Context, ref reference.Reference) (digest.Digest, error) {
	return f(ctx, ref)
}

// Mode is what [Pin] does.
type Mode int

const (
	// ModePrint reports what each reference resolves to now. Only unpinned
	// references are resolved: a pinned one builds on its digest whatever
	// its tag does.
	ModePrint Mode = iota
	// ModeWrite pins each unpinned reference to what its tag points at now,
	// rewriting it in the file as NAME:TAG@DIGEST.
	ModeWrite
	// ModeCheck asks, for each NAME:TAG@DIGEST pin, whether the tag still
	// points at DIGEST, and reports unpinned references: a CI gate
	// ([Report.CheckFailed]).
	ModeCheck
	// ModeUpdate does what ModeCheck does and rewrites stale pins to the
	// tag's current digest.
	ModeUpdate
)

func (m Mode) String() string {
	switch m {
	case ModePrint:
		return "print"
	case ModeWrite:
		return "write"
	case ModeCheck:
		return "check"
	case ModeUpdate:
		return "update"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Status is what [Pin] found, or did, for one reference.
type Status string

const (
	// StatusUnpinned: the reference names no digest. Digest is what its tag
	// (or "latest") points at now. Reason says why if the file cannot hold
	// a pin for it.
	StatusUnpinned Status = "unpinned"
	// StatusPinned: the reference names a digest, which is Digest; it was
	// not checked (ModePrint, ModeWrite), or cannot be because it has no
	// tag (Reason says so).
	StatusPinned Status = "pinned"
	// StatusCurrent: the pin's tag still points at the pinned digest.
	StatusCurrent Status = "current"
	// StatusStale: the pin's tag now points at Digest, not at the pinned
	// digest (named in Reason). ModeUpdate leaves a pin stale when it cannot
	// be rewritten, and Reason says why.
	StatusStale Status = "stale"
	// StatusWritten: ModeWrite pinned the reference to Digest in the file.
	StatusWritten Status = "written"
	// StatusUpdated: ModeUpdate replaced a stale pin by Digest in the file.
	StatusUpdated Status = "updated"
	// StatusSkipped: the reference cannot be resolved (an ARG without a
	// value, a reference only partly made of ARGs) or, in ModeWrite, cannot
	// be rewritten. Reason says why and what to do.
	StatusSkipped Status = "skipped"
	// StatusError: resolving the reference or writing the file failed;
	// Reason holds the error, which [Pin] also returns.
	StatusError Status = "error"
)

// Result is the outcome for one reference. The JSON form is what
// "freshpull pin -o json" prints.
type Result struct {
	File string `json:"file"`
	// Line is the line of the reference's token, as in [Ref.Line].
	Line  int    `json:"line"`
	Stage string `json:"stage"`
	// Reference is the reference as the build uses it ([Ref.Value]), or as
	// written ([Ref.Text]) when it was skipped.
	Reference string        `json:"reference"`
	Digest    digest.Digest `json:"digest"`
	Status    Status        `json:"status"`
	Reason    string        `json:"reason"`
	// Ref is the reference the result is about.
	Ref Ref `json:"-"`
}

// Report is the outcome of [Pin], one Result per reference, in file order.
type Report struct {
	Results []Result
}

// CheckFailed reports whether any reference is stale or unpinned: then
// "freshpull pin --check" exits 4. Skipped references do not count, since
// no edit of the reference alone could pin them.
func (r *Report) CheckFailed() bool {
	for _, res := range r.Results {
		if res.Status == StatusStale || res.Status == StatusUnpinned {
			return true
		}
	}
	return false
}

// Pin does mode on the references of files, asking resolver about tags.
// A tag is resolved at most once per call, so that every reference to it
// gets the same answer.
//
// ModeWrite and ModeUpdate rewrite only the reference tokens, atomically,
// and refuse to write a file that changed on disk since it was parsed; a
// written File is parsed again, so it is up to date afterwards.
//
// The report covers every reference even when some fail: the error joins
// every resolution and write failure, each naming the file and line. When
// ctx is done Pin stops, writes nothing more, and returns ctx's error with
// the results so far.
func Pin(ctx context.Context, files []*File, mode Mode, resolver Resolver) (*Report, error) {
	if mode < ModePrint || mode > ModeUpdate {
		return nil, fmt.Errorf("pin: unknown mode %v", mode)
	}
	pn := &pinner{resolver: resolver, mode: mode, seen: map[string]resolved{}}
	report := &Report{}
	var errs []error
	for _, f := range files {
		var results []Result
		edits := map[int]edit{}
		for _, ref := range f.Refs {
			if err := ctx.Err(); err != nil {
				report.Results = append(report.Results, results...)
				return report, err
			}
			res, ed, err := pn.pin(ctx, f, ref)
			if err != nil {
				errs = append(errs, err)
			}
			if ed != nil {
				edits[ed.start] = *ed
			}
			results = append(results, res)
		}
		if len(edits) > 0 {
			if err := f.rewrite(edits); err != nil {
				errs = append(errs, err)
				for i := range results {
					if results[i].Status == StatusWritten || results[i].Status == StatusUpdated {
						results[i].Status, results[i].Reason = StatusError, err.Error()
					}
				}
			}
		}
		report.Results = append(report.Results, results...)
	}
	return report, errors.Join(errs...)
}

// resolved is the answer for one tag.
type resolved struct {
	digest digest.Digest
	err    error
}

type pinner struct {
	resolver Resolver
	mode     Mode
	seen     map[string]resolved
}

func (pn *pinner) resolve(ctx context.Context, tagged reference.Reference) (digest.Digest, error) {
	key := tagged.String()
	if r, ok := pn.seen[key]; ok {
		return r.digest, r.err
	}
	d, err := pn.resolver.Resolve(ctx, tagged)
	if err == nil {
		err = d.Validate()
	}
	pn.seen[key] = resolved{d, err}
	return d, err
}

// pin decides the result for one reference, and the edit to make if any.
func (pn *pinner) pin(ctx context.Context, f *File, ref Ref) (Result, *edit, error) {
	res := Result{File: f.Name, Line: ref.Line, Stage: ref.Stage, Reference: ref.Value, Ref: ref}
	if ref.Skip != "" {
		res.Reference, res.Status, res.Reason = ref.Text, StatusSkipped, ref.Skip
		return res, nil, nil
	}
	r := ref.Reference
	if ref.DigestOnly() {
		res.Digest, res.Status = r.Digest(), StatusPinned
		res.Reason = "pinned by digest only: there is no tag to check it against; write NAME:TAG@DIGEST to have it checked"
		return res, nil, nil
	}
	pinned := ref.Pinned()
	if pinned && (pn.mode == ModePrint || pn.mode == ModeWrite) {
		res.Digest, res.Status = r.Digest(), StatusPinned
		return res, nil, nil
	}

	// What the build would pull if the file named no digest: the tag, or
	// "latest" when it names none.
	tagged, err := reference.Join(r.Repository(), r.WithDefaultTag().Tag())
	if err != nil {
		return pn.fail(res, err)
	}
	now, err := pn.resolve(ctx, tagged)
	if err != nil {
		return pn.fail(res, fmt.Errorf("%s:%d: resolve %s: %w", f.Name, ref.Line, tagged.Familiar(), err))
	}
	res.Digest = now

	if !pinned {
		switch {
		case pn.mode == ModeWrite && ref.NoEdit == "":
			return pn.edit(f, res, tagged, now, StatusWritten, "")
		case pn.mode == ModeWrite:
			res.Status, res.Reason = StatusSkipped, ref.NoEdit
		case pn.mode == ModeUpdate:
			res.Status, res.Reason = StatusUnpinned, "not pinned to a digest; --update only refreshes pins: "+fix(ref, "pin it with freshpull pin --write")
		case pn.mode == ModeCheck:
			res.Status, res.Reason = StatusUnpinned, "not pinned to a digest: "+fix(ref, "pin it with freshpull pin --write")
		default:
			res.Status, res.Reason = StatusUnpinned, ref.NoEdit
		}
		return res, nil, nil
	}
	if now == r.Digest() {
		res.Status = StatusCurrent
		return res, nil, nil
	}
	if pn.mode == ModeUpdate && ref.NoEdit == "" {
		return pn.edit(f, res, tagged, now, StatusUpdated, "was "+r.Digest().String())
	}
	res.Status = StatusStale
	res.Reason = fmt.Sprintf("tag %s now points at %s, the file pins %s: %s", tagged.Familiar(), now, r.Digest(), fix(ref, "refresh it with freshpull pin --update"))
	return res, nil, nil
}

// fix returns what the user can do about ref: advice, or why the reference
// cannot be rewritten.
func fix(ref Ref, advice string) string {
	if ref.NoEdit != "" {
		return ref.NoEdit
	}
	return advice
}

func (pn *pinner) fail(res Result, err error) (Result, *edit, error) {
	res.Status, res.Reason = StatusError, err.Error()
	return res, nil, err
}

// edit pins the reference of res to d in the file, which must be able to
// hold the pin (ref.NoEdit is "").
func (pn *pinner) edit(f *File, res Result, tagged reference.Reference, d digest.Digest, done Status, reason string) (Result, *edit, error) {
	ref := res.Ref
	to, err := tagged.Pinned(d)
	if err != nil {
		return pn.fail(res, fmt.Errorf("%s:%d: pin %s to %s: %w", f.Name, ref.Line, tagged.Familiar(), d, err))
	}
	text, err := spell(string(f.Src[ref.Start:ref.End]), to)
	if err != nil {
		return pn.fail(res, fmt.Errorf("%s:%d: %w", f.Name, ref.Line, err))
	}
	res.Status, res.Reason = done, reason
	return res, &edit{start: ref.Start, end: ref.End, text: text}, nil
}
