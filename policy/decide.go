package policy

import (
	"fmt"

	"github.com/opencontainers/go-digest"
)

// Local is what the store holds for the reference and platform.
type Local struct {
	// Present is true when the store has a complete copy.
	Present bool
	// Digest is the digest the reference resolved to when it was stored
	// (an index or a manifest).
	Digest digest.Digest
}

// Remote is what the registry said about the reference, if it was asked.
type Remote struct {
	// Asked is true once the registry has been asked.
	Asked bool
	// Digest is what the reference resolves to now. Empty when Err is set.
	Digest digest.Digest
	// Err is the registry's failure: unreachable, timed out, 5xx, 401.
	Err error
	// NotFound is true when the registry answered that the reference does
	// not exist; it is a definite answer, not a failure to ask.
	NotFound bool
}

// Facts are the inputs of a decision.
type Facts struct {
	Policy Policy
	// Pinned is true when the reference names a digest: its content can
	// never change, so a local copy needs no registry check.
	Pinned bool
	Local  Local
	Remote Remote
	// Strict turns newer's fallback to a local copy into a failure.
	Strict bool
}

// Action is what a pull does next.
type Action int

// The actions a decision can take.
const (
	// AskRegistry: resolve the reference remotely, then decide again with
	// the answer in Facts.Remote.
	AskRegistry Action = iota
	// UseLocal: use the local copy; no network.
	UseLocal
	// UpToDate: the registry confirmed the local copy is current.
	UpToDate
	// Pull: fetch Remote.Digest (only blobs not already in the store).
	Pull
	// Fallback: the registry could not be asked; use the local copy and
	// warn the user.
	Fallback
	// Fail: stop with Decision.Err.
	Fail
)

var actionNames = map[Action]string{
	AskRegistry: "ask-registry", UseLocal: "local", UpToDate: "up-to-date",
	Pull: "pulled", Fallback: "local-fallback", Fail: "failed",
}

// String returns the name reported to users ("pulled", "up-to-date",
// "local", "local-fallback").
func (a Action) String() string { return actionNames[a] }

// Decision is the outcome of [Decide].
type Decision struct {
	Action Action
	// Reason says why, in words for the user.
	Reason string
	// Err is set when Action is Fail.
	Err error
}

// ErrNotPresent is the cause of a Fail under policy never when the store has
// no copy.
var ErrNotPresent = fmt.Errorf("image not present locally")

// Decide applies the pull-policy table to the facts. It performs no I/O: when
// it needs the registry's answer it returns AskRegistry, and the caller asks
// and calls Decide again with Facts.Remote filled in.
func Decide(f Facts) Decision {
	p, local, remote := f.Policy, f.Local, f.Remote
	switch {
	case p == Never && !local.Present:
		return Decision{Action: Fail, Reason: "not present locally and policy is never", Err: ErrNotPresent}
	case p == Never:
		return Decision{Action: UseLocal, Reason: "policy never: using the local copy without asking the registry"}
	case p == Missing && local.Present:
		return Decision{Action: UseLocal, Reason: "policy missing: present locally, registry not asked"}
	case p == Newer && local.Present && f.Pinned:
		return Decision{Action: UseLocal, Reason: "reference names a digest that is present locally; content cannot change"}
	case !remote.Asked:
		return Decision{Action: AskRegistry, Reason: "resolving the reference at the registry"}
	}

	// The registry was asked.
	switch {
	case remote.NotFound:
		return Decision{Action: Fail, Reason: "not found in the registry", Err: remote.Err}
	case remote.Err != nil && p == Newer && local.Present && !f.Strict:
		return Decision{Action: Fallback, Reason: fmt.Sprintf("registry check failed, using the local copy %s, which may be stale: %v", local.Digest, remote.Err)}
	case remote.Err != nil && p == Newer && local.Present:
		return Decision{Action: Fail, Reason: "registry check failed and --strict forbids using the local copy", Err: remote.Err}
	case remote.Err != nil:
		return Decision{Action: Fail, Reason: "registry check failed", Err: remote.Err}
	case p == Newer && local.Present && remote.Digest == local.Digest:
		return Decision{Action: UpToDate, Reason: "registry digest matches the local copy"}
	case p == Newer && local.Present:
		return Decision{Action: Pull, Reason: fmt.Sprintf("registry digest %s differs from the local copy %s", remote.Digest, local.Digest)}
	case p == Always && local.Present && remote.Digest == local.Digest:
		return Decision{Action: Pull, Reason: "policy always: registry digest matches the local copy; fetching any missing blobs"}
	case p == Always && local.Present:
		return Decision{Action: Pull, Reason: fmt.Sprintf("policy always: registry digest %s differs from the local copy %s", remote.Digest, local.Digest)}
	case p == Always:
		return Decision{Action: Pull, Reason: "policy always: not present locally"}
	default:
		return Decision{Action: Pull, Reason: "not present locally"}
	}
}
