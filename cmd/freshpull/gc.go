package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newGCCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "gc",
		Short: "Remove blobs no image uses, and leftovers of interrupted pulls",
		Long: `Remove the blobs that no store entry reaches (for example after rm, or after
newer replaced an image) and the temp files of interrupted writes, and report
what was freed.

gc takes the store's exclusive lock: it waits for running pulls to finish, and
pulls that start meanwhile wait for it, so it never deletes a blob a pull
still needs. A store whose index or manifests cannot be read is left alone:
run fsck.`,
		Example: `  freshpull gc
  freshpull gc -o json --store /var/lib/builder/images`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.openStore()
			if err != nil {
				return err
			}
			res, err := st.GC(cmd.Context())
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(g.stdout, res)
			}
			fmt.Fprintf(g.stdout, "freed %d blobs (%s) and %d temp files (%s); %d blobs kept\n",
				res.Blobs, humanSize(res.Bytes), res.TempFiles, humanSize(res.TempBytes), res.Kept)
			return nil
		},
	}
}
