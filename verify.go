package freshpull

import (
	"context"
	"errors"

	"github.com/freshpull/freshpull/reference"
	"github.com/freshpull/freshpull/trust"
)

// Verification is what [Verify] found.
type Verification struct {
	// Reference is the input as given.
	Reference string `json:"reference"`
	// Canonical is the fully qualified reference checked.
	Canonical string `json:"canonical"`
	// Digest is what the reference resolved to, the digest checked.
	Digest string `json:"digest"`
	// Trust says what accepted the image, or what rejected it.
	Trust *trust.Decision `json:"trust,omitempty"`
	// Error is the failure or rejection, when there was one.
	Error string `json:"error,omitempty"`
	// Err is the failure as an error, for errors.Is and errors.As.
	Err error `json:"-"`
}

// Verify checks input against opts.Trust's policy without pulling it: one
// resolution of the reference, then the signatures of that digest, exactly
// as [Pull] checks before it fetches.
func Verify(ctx context.Context, input string, opts Options) (Verification, error) {
	res := Verification{Reference: input}
	err := verify(ctx, input, opts, &res)
	if err != nil {
		res.Error, res.Err = err.Error(), err
	}
	return res, err
}

func verify(ctx context.Context, input string, opts Options, res *Verification) error {
	if opts.Trust == nil {
		return errors.New("verify: no signature policy given")
	}
	ref, err := reference.Parse(input)
	if err != nil {
		return &InputError{err}
	}
	target := ref.WithDefaultTag()
	res.Canonical = target.String()
	src, r, err := resolveOnce(ctx, "verify", target, opts)
	if err != nil {
		return err
	}
	res.Digest = r.Descriptor.Digest.String()
	res.Trust, err = checkTrust(ctx, opts, src, target, r.Descriptor.Digest)
	if err != nil {
		return opError("verify", res.Canonical, err)
	}
	return nil
}
