package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/freshpull/freshpull"
	"github.com/freshpull/freshpull/reference"
	"github.com/freshpull/freshpull/store"
	"github.com/spf13/cobra"
)

// imageInfo is one line of `freshpull images -o json`.
type imageInfo struct {
	Reference      string    `json:"reference"`
	Platform       string    `json:"platform"`
	Digest         string    `json:"digest"`
	ResolvedDigest string    `json:"resolvedDigest"`
	MediaType      string    `json:"mediaType"`
	Size           int64     `json:"size"`
	Pulled         time.Time `json:"pulled"`
}

func newImagesCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "images",
		Short: "List the images in the store",
		Long: `List the store's images: reference, platform, manifest digest, total size
(manifest, config and layers) and when each was pulled.`,
		Example: `  freshpull images
  freshpull images -o json --store /var/lib/builder/images`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.openStore()
			if err != nil {
				return err
			}
			entries, err := st.Entries()
			if err != nil {
				return err
			}
			infos := make([]imageInfo, 0, len(entries))
			for _, e := range entries {
				infos = append(infos, imageInfo{
					Reference: e.Reference, Platform: store.FormatPlatform(e.Platform),
					Digest: e.Manifest.Digest.String(), ResolvedDigest: e.ResolvedDigest.String(),
					MediaType: e.Manifest.MediaType, Size: imageSize(st, e), Pulled: e.Pulled,
				})
			}
			if g.json() {
				return writeJSON(g.stdout, infos)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REFERENCE\tPLATFORM\tDIGEST\tSIZE\tPULLED")
			for _, i := range infos {
				size := "? (run fsck)"
				if i.Size >= 0 {
					size = humanSize(i.Size)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", i.Reference, i.Platform, shortDigest(i.Digest), size, i.Pulled.Local().Format("2006-01-02 15:04:05"))
			}
			return tw.Flush()
		},
	}
}

// imageSize adds up manifest, config and layers; -1 when the manifest
// cannot be read (fsck says why).
func imageSize(st *store.Store, e store.Entry) int64 {
	m, _, err := st.Manifest(e)
	if err != nil {
		return -1
	}
	n := e.Manifest.Size + m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}

// findEntries returns the store entries a user's reference names: by
// reference (":latest" when no tag is given) or, for a digest reference,
// by digest; only those for --platform when it was given.
func findEntries(g *globals, st *store.Store, input string, platformSet bool) ([]store.Entry, error) {
	ref, err := reference.Parse(input)
	if err != nil {
		return nil, &freshpull.InputError{Err: err}
	}
	if !platformSet {
		return st.Find(ref, nil)
	}
	platform, err := g.platformValue()
	if err != nil {
		return nil, err
	}
	return st.Find(ref, &platform)
}
