package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newFsckCmd(g *globals) *cobra.Command {
	var repair bool
	cmd := &cobra.Command{
		Use:   "fsck [--repair]",
		Short: "Check that every image in the store is complete and intact",
		Long: `Check every store entry: its manifest, config and layers must be present
with the right size and digest (each blob is hashed). Problems are reported
per entry; the exit status is 1 when anything is wrong.

With --repair, broken entries are dropped and corrupt or partial blobs
deleted, so that the next pull fetches them again; an unreadable index.json
is moved aside and replaced with an empty one. Repair waits for running pulls
and holds them off while it works.`,
		Example: `  freshpull fsck
  freshpull fsck --repair -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.openStore()
			if err != nil {
				return err
			}
			rep, err := st.Fsck(cmd.Context(), repair)
			if err != nil {
				return err
			}
			if g.json() {
				if err := writeJSON(g.stdout, rep); err != nil {
					return err
				}
			} else {
				if rep.IndexProblem != "" {
					fmt.Fprintf(g.stdout, "index.json: %s\n", rep.IndexProblem)
				}
				for _, e := range rep.Entries {
					status := "ok"
					if !e.OK {
						status = "BROKEN"
					}
					if e.Dropped {
						status = "DROPPED"
					}
					fmt.Fprintf(g.stdout, "%-7s %s %s %s\n", status, e.Reference, e.Platform, e.Digest)
					for _, p := range e.Problems {
						fmt.Fprintf(g.stdout, "        %s %s: %s\n", p.Kind, p.Digest, p.Detail)
					}
				}
				for _, r := range rep.Repairs {
					fmt.Fprintf(g.stdout, "repair: %s\n", r)
				}
				fmt.Fprintf(g.stdout, "%d entries, %d blobs checked: %s\n", len(rep.Entries), rep.BlobsChecked, map[bool]string{true: "clean", false: "problems found (run freshpull fsck --repair)"}[rep.OK])
			}
			if !rep.OK {
				return &exitError{exitFailed}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&repair, "repair", false, "drop broken entries and bad blobs so the next pull fetches them again")
	return cmd
}
