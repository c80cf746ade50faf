package main

import (
	"fmt"

	"github.com/freshpull/freshpull"
	"github.com/freshpull/freshpull/policy"
	"github.com/spf13/cobra"
)

func newPullCmd(g *globals) *cobra.Command {
	pol := policy.Default
	var strict bool
	cmd := &cobra.Command{
		Use:   "pull [--policy P] [--strict] REF...",
		Short: "Pull images into the store under a pull policy",
		Long: `Pull each REF into the store under the pull policy and report what was done
(pulled, up-to-date, local, local-fallback), why, and the digest.

A tag is resolved once, with one HEAD request; everything after that is
fetched by digest and verified. With policy newer (the default), a registry
that cannot be reached leaves the local copy in use with a warning; --strict
makes that an error.`,
		Example: `  freshpull pull alpine:3.20
  freshpull pull --policy always localhost:5000/app:1
  freshpull pull --strict -o json quay.io/org/base:2 quay.io/org/tools:5
  freshpull pull registry.example.com/app:1.4@sha256:…   # the digest wins`,
		Args: minArgs(1, "image reference"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := g.options(args)
			if err != nil {
				return err
			}
			opts.Policy, opts.Strict = pol, strict
			var bars *progressBars
			if g.stderrTTY && !g.quiet && !g.json() {
				bars = newProgressBars(cmd.Context(), g.stderr)
				opts.Progress = bars
			}
			results, _ := freshpull.PullAll(cmd.Context(), args, opts)
			if bars != nil {
				bars.Wait()
			}
			return reportPulls(g, results)
		},
	}
	cmd.Flags().Var(&pol, "policy", "pull policy: always, missing (ifmissing, ifnotpresent), newer (ifnewer), never")
	cmd.Flags().BoolVar(&strict, "strict", false, "with policy newer, fail instead of using the local copy when the registry cannot be checked")
	return cmd
}

// reportPulls prints results and returns the exit status: the worst of the
// per-reference outcomes (usage, then failure, then not found).
func reportPulls(g *globals, results []freshpull.Result) error {
	code := exitOK
	for _, r := range results {
		if r.Warning != "" {
			fmt.Fprintf(g.stderr, "warning: %s\n", r.Warning)
		}
		if r.Error != "" {
			code = worse(code, exitCode(r.Err))
			if !g.json() {
				fmt.Fprintf(g.stderr, "freshpull: %s\n", r.Error)
			}
			continue
		}
		if !g.json() {
			fmt.Fprintln(g.stdout, pullLine(r))
		}
	}
	return finish(g, results, code)
}

// worse orders exit codes by what a caller most needs to know: bad input,
// then a failure, then a policy rejection, then not found.
func worse(a, b int) int {
	rank := map[int]int{exitOK: 0, exitNotFound: 1, exitRejected: 2, exitFailed: 3, exitUsage: 4, exitInterrupted: 5}
	if rank[b] > rank[a] {
		return b
	}
	return a
}
