package freshpull

import (
	"errors"

	"github.com/freshpull/freshpull/extract"
	"github.com/freshpull/freshpull/policy"
	"github.com/freshpull/freshpull/registry"
)

// InputError is bad input from the user: a malformed reference, an unknown
// platform. A CLI exits 2 on it.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// IsNotFound reports whether err means what was asked for does not exist
// where it was looked for: an image not in the registry, or not in the
// store under policy never; a path not in the image. A CLI exits 3 on it.
func IsNotFound(err error) bool {
	var nf *extract.NotFoundError
	return errors.Is(err, registry.ErrNotFound) || errors.Is(err, policy.ErrNotPresent) || errors.As(err, &nf)
}

// IsInput reports whether err is an [InputError].
func IsInput(err error) bool {
	var ie *InputError
	return errors.As(err, &ie)
}
