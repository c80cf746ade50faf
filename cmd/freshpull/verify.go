package main

import (
	"fmt"

	"github.com/freshpull/freshpull"
	"github.com/spf13/cobra"
)

func newVerifyCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "verify REF...",
		Short: "Check images against the signature policy without pulling them",
		Long: `Resolve each REF once and check the digest it points to against the
signature policy (containers-policy.json, --signature-policy), with the
signatures found for that digest (registries.d lookaside, sigstore
attachments), as pull does before it fetches anything. Nothing is stored.

Exit 5 when the policy rejects an image.`,
		Example: `  freshpull verify registry.example.com/app-base:1.4
  freshpull verify --signature-policy ./policy.json -o json localhost:5000/app:1`,
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
			tc, err := g.trustConfig()
			if err != nil {
				return err
			}
			// No store: verify fetches nothing to keep.
			opts := freshpull.Options{Registry: reg, Platform: platform, Logger: g.log, Trust: tc}
			return eachRef(cmd.Context(), g, args, opts, freshpull.Verify, func(r freshpull.Verification) string {
				line := fmt.Sprintf("accepted %s %s (%s, scope %q)", r.Canonical, r.Digest, r.Trust.Type, r.Trust.Scope)
				if r.Trust.Signer != "" {
					line += " signed by " + r.Trust.SignedBy()
				}
				return line
			})
		},
	}
}
