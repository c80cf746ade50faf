package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/freshpull/freshpull"
	"golang.org/x/term"
)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// pullLine is a pull's result in text, as pull, extract and build print
// it: action, canonical reference, digest, and the reason.
func pullLine(r freshpull.Result) string {
	return fmt.Sprintf("%-14s %s %s (%s)", r.Action, r.Canonical, r.Digest, r.Reason)
}

// eachRef runs op on every reference in turn, for the commands that look
// without pulling: in text, each failure goes to stderr and each result's
// line to stdout; the exit code is the worst failure's.
func eachRef[T any](ctx context.Context, g *globals, refs []string, opts freshpull.Options, op func(context.Context, string, freshpull.Options) (T, error), line func(T) string) error {
	results := make([]T, len(refs))
	code := exitOK
	for i, ref := range refs {
		var err error
		results[i], err = op(ctx, ref, opts)
		switch {
		case err != nil:
			code = worse(code, exitCode(err))
			if !g.json() {
				fmt.Fprintf(g.stderr, "freshpull: %v\n", err)
			}
		case !g.json():
			fmt.Fprintln(g.stdout, line(results[i]))
		}
	}
	return finish(g, results, code)
}

// finish prints results as JSON when asked (text went out item by item) and
// turns the worst per-item status into the command's exit status.
func finish(g *globals, results any, code int) error {
	if g.json() {
		if err := writeJSON(g.stdout, results); err != nil {
			return err
		}
	}
	if code != exitOK {
		return &exitError{code}
	}
	return nil
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// shortDigest abbreviates a digest for tables: "sha256:0123456789ab".
func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

func humanSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}
