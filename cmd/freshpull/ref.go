package main

import (
	"fmt"

	"github.com/freshpull/freshpull/reference"
	"github.com/spf13/cobra"
)

// refInfo is one line of `freshpull ref -o json`.
type refInfo struct {
	Input     string `json:"input"`
	Canonical string `json:"canonical"`
	Familiar  string `json:"familiar"`
	Domain    string `json:"domain"`
	Path      string `json:"path"`
	Tag       string `json:"tag"`
	Digest    string `json:"digest"`
}

// refError is the line for an input that does not parse.
type refError struct {
	Input string `json:"input"`
	Error string `json:"error"`
}

func newRefCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "ref REF...",
		Short: "Print the parts of image references, as freshpull reads them",
		Long: `Parse each REF with Docker's grammar and normalisation and print its parts:
the canonical form (fully qualified, tag and digest as given), Docker's short
form, the registry domain, the repository path, the tag and the digest.
Exits 2 if any reference is invalid.`,
		Example: `  freshpull ref ubuntu localhost:5000/app:1
  freshpull ref -o json 'quay.io/org/img:1.4@sha256:…'`,
		Args: minArgs(1, "image reference"),
		RunE: func(cmd *cobra.Command, args []string) error {
			infos := make([]any, len(args))
			bad := false
			for i, a := range args {
				r, err := reference.Parse(a)
				if err != nil {
					infos[i] = refError{Input: a, Error: err.Error()}
					bad = true
					if !g.json() {
						fmt.Fprintf(g.stderr, "freshpull: %v\n", err)
					}
					continue
				}
				infos[i] = refInfo{Input: a, Canonical: r.String(), Familiar: r.Familiar(), Domain: r.Domain(), Path: r.Path(), Tag: r.Tag(), Digest: r.Digest().String()}
				if !g.json() {
					fmt.Fprintf(g.stdout, "%s\n  canonical: %s\n  familiar:  %s\n  domain:    %s\n  path:      %s\n  tag:       %s\n  digest:    %s\n",
						a, r.String(), r.Familiar(), r.Domain(), r.Path(), r.Tag(), r.Digest())
				}
			}
			if g.json() {
				if err := writeJSON(g.stdout, infos); err != nil {
					return err
				}
			}
			if bad {
				return &exitError{exitUsage}
			}
			return nil
		},
	}
}
