package main

import (
	"fmt"

	"github.com/freshpull/freshpull"
	"github.com/freshpull/freshpull/extract"
	"github.com/freshpull/freshpull/policy"
	"github.com/spf13/cobra"
)

func newExtractCmd(g *globals) *cobra.Command {
	pol := policy.Default
	var strict, force, rootless bool
	var paths []string
	cmd := &cobra.Command{
		Use:   "extract [--policy P] REF DEST [--path SRC[:DESTDIR]]...",
		Short: "Write an image's files into a directory, safely",
		Long: `Obtain REF under the pull policy, exactly as pull does, and write its
flattened root filesystem into DEST — layers applied in order with OCI
whiteouts, so DEST is what a container would see. With --path, only those
paths are copied, as OpenShift image sources do:

  --path /app            the directory /app, copied as DEST/app
  --path /app/.:src      the contents of /app, into DEST/src
  --path /app/*.jar:lib  matching files, into DEST/lib

No entry of the image can create, change or follow anything outside DEST:
absolute and relative symlinks resolve inside DEST, and entries that would
escape are refused naming the entry. DEST must be empty or absent unless
--force; a failed extraction leaves no half-written DEST. A --path that is
not in the image exits 3.`,
		Example: `  freshpull extract alpine:3.20 ./rootfs
  freshpull extract --policy missing registry.example.com/tools:1 ./ctx --path /usr/share/tools/.:tools
  freshpull extract -o json app:1 ./build --path '/app/*.jar:lib'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return &usageError{fmt.Errorf("%s takes an image reference and a destination directory, got %d arguments; see --help", cmd.CommandPath(), len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var specs []extract.PathSpec
			for _, p := range paths {
				ps, err := extract.ParsePathSpec(p)
				if err != nil {
					return &usageError{fmt.Errorf("--path %q: %v", p, err)}
				}
				specs = append(specs, ps)
			}
			opts, err := g.options(args[:1])
			if err != nil {
				return err
			}
			opts.Policy, opts.Strict = pol, strict
			res, err := freshpull.Extract(cmd.Context(), args[0], args[1], opts,
				freshpull.ExtractOptions{Paths: specs, Force: force, Rootless: rootless})
			if res.Warning != "" {
				fmt.Fprintf(g.stderr, "warning: %s\n", res.Warning)
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(g.stderr, "warning: %s\n", w)
			}
			if g.json() {
				if werr := writeJSON(g.stdout, res); werr != nil {
					return werr
				}
				if err != nil {
					return &exitError{exitCode(err)}
				}
				return nil
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, pullLine(res.Result))
			fmt.Fprintf(g.stdout, "extracted %d files (%s) into %s\n", res.Files, humanSize(res.Bytes), res.Dest)
			return nil
		},
	}
	f := cmd.Flags()
	f.Var(&pol, "policy", "pull policy: always, missing (ifmissing, ifnotpresent), newer (ifnewer), never")
	f.BoolVar(&strict, "strict", false, "with policy newer, fail instead of using the local copy when the registry cannot be checked")
	f.StringArrayVar(&paths, "path", nil, "copy only SRC (a file, a directory, DIR/. for its contents, or a glob) into DEST/DESTDIR (repeatable)")
	f.BoolVar(&force, "force", false, "allow a non-empty DEST")
	f.BoolVar(&rootless, "rootless", false, "extract as an unprivileged user would even as root: no ownership from the image, no device nodes")
	return cmd
}
