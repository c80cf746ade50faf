// Package policy decides what a pull does: use the local copy, pull, or
// fail. The decision is a pure function of facts — the policy, what the
// store holds for the reference, and what the registry said — so every cell
// of the pull-policy table is a row in a table test, and no I/O can change
// the outcome behind the caller's back.
package policy
