package main

import (
	"fmt"

	"github.com/freshpull/freshpull"
	"github.com/spf13/cobra"
)

func newResolveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "resolve REF...",
		Short: "Ask the registry what a reference points to now, without pulling",
		Long: `Resolve each REF at its registry with one HEAD request and print the digest
it points to now. For a multi-platform index, the manifest for --platform is
named too (one more request, by digest).`,
		Example: `  freshpull resolve alpine:3.20
  freshpull resolve --platform linux/arm64 -o json quay.io/org/img:1.4`,
		Args: minArgs(1, "image reference"),
		RunE: func(cmd *cobra.Command, args []string) error {
			platform, err := g.platformValue()
			if err != nil {
				return err
			}
			reg, err := g.registryClient(args)
			if err != nil {
				return err
			}
			opts := freshpull.Options{Registry: reg, Platform: platform, Logger: g.log}
			return eachRef(cmd.Context(), g, args, opts, freshpull.Resolve, func(r freshpull.Resolution) string {
				line := fmt.Sprintf("%s %s %s", r.Canonical, r.Digest, r.MediaType)
				if r.PlatformDigest != "" {
					line += fmt.Sprintf(" (%s: %s)", r.Platform, r.PlatformDigest)
				}
				return line
			})
		},
	}
}
