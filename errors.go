package freshpull

import (
	"errors"
	"fmt"
	"strings"

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

// opError is err as "OP REF: …", naming REF once when err already begins
// with it (registry errors name the reference they are about).
func opError(op, ref string, err error) error {
	if strings.HasPrefix(err.Error(), ref+": ") {
		return fmt.Errorf("%s %w", op, err)
	}
	return fmt.Errorf("%s %s: %w", op, ref, err)
}
