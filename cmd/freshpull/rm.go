package main

import (
	"fmt"

	"github.com/freshpull/freshpull/policy"
	"github.com/freshpull/freshpull/store"
	"github.com/spf13/cobra"
)

func newRmCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rm REF...",
		Short: "Remove images from the store",
		Long: `Remove the store entries for each REF (all platforms, or only --platform when
given). Blobs are kept until garbage collection reclaims those no entry
reaches. Exits 3 if a reference is not in the store.`,
		Example: `  freshpull rm alpine:3.20
  freshpull rm --platform linux/arm64 localhost:5000/app:1`,
		Args: minArgs(1, "image reference"),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.openStore()
			if err != nil {
				return err
			}
			// Held so that gc, which clears the temp directory, does
			// not run while the index is rewritten.
			release, err := st.Use(cmd.Context())
			if err != nil {
				return err
			}
			defer release()
			platformSet := cmd.Flags().Changed("platform")
			code := exitOK
			var removed []imageInfo
			for _, a := range args {
				entries, err := findEntries(g, st, a, platformSet)
				if err == nil && len(entries) == 0 {
					err = fmt.Errorf("rm %s: %w in store %s", a, policy.ErrNotPresent, st.Dir())
				}
				for _, e := range entries {
					p := e.Platform
					var gone []imageInfo
					es, rerr := st.Remove(cmd.Context(), e.Reference, &p)
					for _, r := range es {
						gone = append(gone, imageInfo{Reference: r.Reference, Platform: store.FormatPlatform(r.Platform), Digest: r.Manifest.Digest.String(), ResolvedDigest: r.ResolvedDigest.String(), MediaType: r.Manifest.MediaType, Pulled: r.Pulled})
					}
					removed = append(removed, gone...)
					if rerr != nil {
						err = rerr
					}
				}
				if err != nil {
					code = worse(code, exitCode(err))
					fmt.Fprintf(g.stderr, "freshpull: %v\n", err)
				}
			}
			if g.json() {
				if removed == nil {
					removed = []imageInfo{}
				}
				if err := writeJSON(g.stdout, removed); err != nil {
					return err
				}
			} else {
				for _, r := range removed {
					fmt.Fprintf(g.stdout, "removed %s %s %s\n", r.Reference, r.Platform, r.Digest)
				}
			}
			if code != exitOK {
				return &exitError{code}
			}
			return nil
		},
	}
}
