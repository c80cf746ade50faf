package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/freshpull/freshpull/policy"
	"github.com/freshpull/freshpull/store"
	"github.com/freshpull/freshpull/trust"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

// inspectInfo is `freshpull inspect -o json`.
type inspectInfo struct {
	Reference      string               `json:"reference"`
	Platform       string               `json:"platform"`
	Digest         string               `json:"digest"`
	ResolvedDigest string               `json:"resolvedDigest"`
	Pulled         time.Time            `json:"pulled"`
	Manifest       json.RawMessage      `json:"manifest"`
	Config         configSummary        `json:"config"`
	Layers         []ocispec.Descriptor `json:"layers"`
	// Trust is what accepted the image under the signature policy, as the
	// store recorded it; absent for an image pulled without a policy.
	Trust *trustInfo `json:"trust,omitempty"`
}

// trustInfo is the store's record of an acceptance (io.freshpull.trust).
type trustInfo struct {
	trust.Decision
	// Reference is the reference it was accepted for.
	Reference string `json:"reference"`
}

type configSummary struct {
	Digest     string            `json:"digest"`
	Created    *time.Time        `json:"created,omitempty"`
	User       string            `json:"user,omitempty"`
	Entrypoint []string          `json:"entrypoint,omitempty"`
	Cmd        []string          `json:"cmd,omitempty"`
	WorkingDir string            `json:"workingDir,omitempty"`
	Env        []string          `json:"env,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
}

func newInspectCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect REF",
		Short: "Show an image in the store: manifest, config summary, layers",
		Long: `Show the stored image for REF (":latest" when no tag is given; a digest
reference finds the image by digest): its digests, platform, manifest, a
summary of its config and its layers. Reads only the store; exits 3 when the
image is not there.`,
		Example: `  freshpull inspect alpine:3.20
  freshpull inspect -o json --platform linux/arm64 localhost:5000/app:1`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &usageError{fmt.Errorf("%s takes exactly one image reference, got %d", cmd.CommandPath(), len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.openStore()
			if err != nil {
				return err
			}
			entries, err := findEntries(g, st, args[0], true)
			if err != nil {
				return err
			}
			if len(entries) == 0 {
				return fmt.Errorf("inspect %s: %w in store %s; pull it first", args[0], policy.ErrNotPresent, st.Dir())
			}
			info, err := inspectEntry(st, entries[0])
			if err != nil {
				return fmt.Errorf("inspect %s: %w", args[0], err)
			}
			if g.json() {
				return writeJSON(g.stdout, info)
			}
			printInspect(g, info)
			return nil
		},
	}
}

func inspectEntry(st *store.Store, e store.Entry) (inspectInfo, error) {
	m, raw, err := st.Manifest(e)
	if err != nil {
		return inspectInfo{}, err
	}
	cb, err := st.ReadBlob(m.Config)
	if err != nil {
		return inspectInfo{}, err
	}
	var c ocispec.Image
	if err := json.Unmarshal(cb, &c); err != nil {
		return inspectInfo{}, fmt.Errorf("config %s: malformed: %v", m.Config.Digest, err)
	}
	var ti *trustInfo
	if e.Trust != "" {
		ti = &trustInfo{}
		if json.Unmarshal([]byte(e.Trust), ti) != nil {
			ti = nil
		}
	}
	return inspectInfo{
		Trust:     ti,
		Reference: e.Reference, Platform: store.FormatPlatform(e.Platform),
		Digest: e.Manifest.Digest.String(), ResolvedDigest: e.ResolvedDigest.String(), Pulled: e.Pulled,
		Manifest: raw,
		Config: configSummary{
			Digest: m.Config.Digest.String(), Created: c.Created, User: c.Config.User,
			Entrypoint: c.Config.Entrypoint, Cmd: c.Config.Cmd, WorkingDir: c.Config.WorkingDir,
			Env: c.Config.Env, Labels: c.Config.Labels,
		},
		Layers: m.Layers,
	}, nil
}

func printInspect(g *globals, i inspectInfo) {
	w := g.stdout
	fmt.Fprintf(w, "Reference:       %s\n", i.Reference)
	fmt.Fprintf(w, "Platform:        %s\n", i.Platform)
	fmt.Fprintf(w, "Digest:          %s\n", i.Digest)
	fmt.Fprintf(w, "Resolved digest: %s\n", i.ResolvedDigest)
	fmt.Fprintf(w, "Pulled:          %s\n", i.Pulled.Local().Format(time.RFC3339))
	if t := i.Trust; t != nil {
		line := fmt.Sprintf("%s, scope %q of %s", t.Type, t.Scope, t.Policy)
		if t.Signer != "" {
			line += ", signed by " + t.SignedBy()
		}
		fmt.Fprintf(w, "Accepted by:     %s\n", line)
	}
	fmt.Fprintf(w, "Config:          %s\n", i.Config.Digest)
	if i.Config.Created != nil {
		fmt.Fprintf(w, "  Created:       %s\n", i.Config.Created.Format(time.RFC3339))
	}
	if len(i.Config.Entrypoint) > 0 {
		fmt.Fprintf(w, "  Entrypoint:    %s\n", strings.Join(i.Config.Entrypoint, " "))
	}
	if len(i.Config.Cmd) > 0 {
		fmt.Fprintf(w, "  Cmd:           %s\n", strings.Join(i.Config.Cmd, " "))
	}
	if i.Config.WorkingDir != "" {
		fmt.Fprintf(w, "  WorkingDir:    %s\n", i.Config.WorkingDir)
	}
	if i.Config.User != "" {
		fmt.Fprintf(w, "  User:          %s\n", i.Config.User)
	}
	for _, e := range i.Config.Env {
		fmt.Fprintf(w, "  Env:           %s\n", e)
	}
	fmt.Fprintf(w, "Layers:          %d\n", len(i.Layers))
	for _, l := range i.Layers {
		fmt.Fprintf(w, "  %s  %10s  %s\n", l.Digest, humanSize(l.Size), l.MediaType)
	}
}
