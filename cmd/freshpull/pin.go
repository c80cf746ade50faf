package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/freshpull/freshpull"
	"github.com/freshpull/freshpull/dockerfile"
	"github.com/spf13/cobra"
)

// exitStale is pin --check's verdict: a pin is stale or a reference is
// unpinned.
const exitStale = 4

func newPinCmd(g *globals) *cobra.Command {
	var write, check, update bool
	var buildArgs []string
	cmd := &cobra.Command{
		Use:   "pin [--write | --check | --update] FILE...",
		Short: "Pin Dockerfile base images to digests, and check the pins are current",
		Long: `Find every image a Dockerfile or Containerfile builds on (FROM, COPY --from,
RUN --mount from=, with ARG defaults before FROM substituted) and:

  (default)  print each reference and the digest it resolves to now
  --write    rewrite unpinned references to name:tag@sha256:… (the tag stays
             for humans); nothing else in the file changes
  --check    for each name:tag@digest, ask the registry whether the tag still
             points at the digest (one HEAD each); exit 4 if any pin is stale
             or any reference unpinned — a CI gate
  --update   rewrite stale pins to the tag's current digest

For a multi-platform image the pin is the index digest, so the file still
builds on every platform.`,
		Example: `  freshpull pin Dockerfile
  freshpull pin --write Dockerfile build/Containerfile
  freshpull pin --check -o json Dockerfile     # exit 4 when stale
  freshpull pin --update --build-arg BASE_TAG=1.5 Dockerfile`,
		Args: minArgs(1, "Dockerfile"),
		RunE: func(cmd *cobra.Command, args []string) error {
			mode := dockerfile.ModePrint
			n := 0
			for flag, m := range map[*bool]dockerfile.Mode{&write: dockerfile.ModeWrite, &check: dockerfile.ModeCheck, &update: dockerfile.ModeUpdate} {
				if *flag {
					mode = m
					n++
				}
			}
			if n > 1 {
				return &usageError{fmt.Errorf("pin: --write, --check and --update exclude each other")}
			}
			bargs := map[string]string{}
			for _, a := range buildArgs {
				k, v, ok := strings.Cut(a, "=")
				if !ok || k == "" {
					return &usageError{fmt.Errorf("--build-arg %q: want NAME=VALUE", a)}
				}
				bargs[k] = v
			}
			reg, err := g.registryClient(nil)
			if err != nil {
				return err
			}
			tc, err := g.trustConfig()
			if err != nil {
				return err
			}
			// The same file twice would be written twice.
			var files []string
			seen := map[string]bool{}
			for _, a := range args {
				if c := filepath.Clean(a); !seen[c] {
					seen[c] = true
					files = append(files, a)
				}
			}
			rep, err := freshpull.Pin(cmd.Context(), files, freshpull.Options{Registry: reg, Logger: g.log, Trust: tc}, freshpull.PinOptions{Mode: mode, BuildArgs: bargs})
			if rep == nil {
				return err
			}
			results := rep.Results
			if results == nil {
				results = []dockerfile.Result{}
			}
			if g.json() {
				if werr := writeJSON(g.stdout, results); werr != nil {
					return werr
				}
			} else {
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				for _, r := range results {
					line := fmt.Sprintf("%s:%d\t%s\t%s\t%s", r.File, r.Line, r.Status, r.Reference, r.Digest)
					if r.Reason != "" {
						line += "\t(" + r.Reason + ")"
					}
					fmt.Fprintln(tw, line)
				}
				tw.Flush()
			}
			if err != nil {
				if !g.json() {
					fmt.Fprintf(g.stderr, "freshpull: %v\n", err)
				}
				return &exitError{exitCode(err)}
			}
			if mode == dockerfile.ModeCheck && rep.CheckFailed() {
				if !g.json() {
					fmt.Fprintln(g.stderr, "freshpull: stale or unpinned references; run freshpull pin --write (unpinned) or --update (stale)")
				}
				return &exitError{exitStale}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&write, "write", false, "pin unpinned references in the files")
	f.BoolVar(&check, "check", false, "exit 4 if any pin is stale or any reference unpinned")
	f.BoolVar(&update, "update", false, "refresh stale pins in the files")
	f.StringArrayVar(&buildArgs, "build-arg", nil, "NAME=VALUE overriding an ARG default, as docker build does (repeatable)")
	return cmd
}
