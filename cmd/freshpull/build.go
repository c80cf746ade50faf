package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/freshpull/freshpull"
	"github.com/freshpull/freshpull/buildah"
	"github.com/freshpull/freshpull/policy"
	"github.com/spf13/cobra"
)

// exitNoEngine is the shell's "command not found": buildah is missing.
const exitNoEngine = 127

func newBuildCmd(g *globals) *cobra.Command {
	pol := policy.Default
	var strict bool
	var bopts freshpull.BuildOptions
	var sources []string
	var eopts buildah.Options
	cmd := &cobra.Command{
		Use:   "build [-f Dockerfile] [-t NAME]... [--build-arg K=V]... [--image-source REF:SRC[:DESTDIR]]... CONTEXT",
		Short: "Build a Dockerfile with buildah on exactly the images freshpull resolved",
		Long: `Find every image the Dockerfile builds on (FROM, COPY --from, RUN --mount
from=, ARG defaults substituted and --build-arg overrides applied, as pin
does), pull each distinct one once under the pull policy, copy each
--image-source into the context (as extract --path does; DESTDIR is
relative to CONTEXT), then run buildah build --pull=never on a copy of the
Dockerfile in which every image is the stored digest. buildah never asks a
registry about an image the Dockerfile names, so a tag that moves during
the build cannot change what it builds on.

The built image carries org.opencontainers.image.base.name and
org.opencontainers.image.base.digest for its final stage's base. With
--output oci:DIR[:NAME] or --push REF it is written there too (buildah
push).

Exit status: freshpull's own codes for what fails before buildah starts
(2 for a Dockerfile error, which names the file and line; 1 for a failed
pull, ...); buildah's exit status when the build fails (for a failed RUN,
the command's status), with the step named; 127 when buildah is missing.`,
		Example: `  freshpull build -t app:1 .
  freshpull build -f build/Dockerfile --build-arg BASE=registry.example.com/base:2 --output oci:/tmp/out:app .
  freshpull build --image-source registry.example.com/tools:1:/usr/bin/.:bin --push registry.example.com/app:1 .
  freshpull build --strict -o json --isolation chroot .`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &usageError{fmt.Errorf("%s takes one context directory, got %d arguments; see --help", cmd.CommandPath(), len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, s := range sources {
				is, err := freshpull.ParseImageSource(s)
				if err != nil {
					return err
				}
				bopts.ImageSources = append(bopts.ImageSources, is)
			}
			eopts.Insecure = g.insecure
			if !g.tlsVerify && bopts.Push != "" {
				eopts.Insecure = append(eopts.Insecure, hostOf(bopts.Push))
			}
			eopts.AuthFile = g.authfile
			// buildah's output is progress: stdout carries only results.
			eopts.Log = g.stderr
			engine, err := buildah.New(eopts)
			if err != nil {
				// Before anything is pulled: there would be nothing to
				// build with.
				res := freshpull.BuildResult{Context: args[0], Images: []freshpull.BuildImage{}, ImageSources: []freshpull.ImageSourceResult{}, Tags: []string{}, Error: err.Error(), Err: err}
				return reportBuild(g, res, err)
			}
			bopts.Engine = engine
			bopts.Platform = g.platform
			opts, err := g.options(nil)
			if err != nil {
				return err
			}
			opts.Policy, opts.Strict = pol, strict
			res, err := freshpull.Build(cmd.Context(), args[0], opts, bopts)
			return reportBuild(g, res, err)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&bopts.Dockerfile, "file", "f", "", "the Dockerfile (default CONTEXT/Dockerfile, else CONTEXT/Containerfile)")
	f.StringArrayVarP(&bopts.Tags, "tag", "t", nil, "name for the built image, in buildah's storage (repeatable)")
	f.StringArrayVar(&bopts.BuildArgs, "build-arg", nil, "NAME=VALUE for an ARG, as docker build takes it (repeatable)")
	f.StringArrayVar(&sources, "image-source", nil, "REF:SRC[:DESTDIR]: copy SRC from image REF into CONTEXT/DESTDIR before building (repeatable)")
	f.Var(&pol, "policy", "pull policy for the images: always, missing (ifmissing, ifnotpresent), newer (ifnewer), never")
	f.BoolVar(&strict, "strict", false, "with policy newer, fail before building when a registry cannot be checked")
	f.VarP(&buildOutput{g: g, dest: &bopts.Output}, "output", "o", "text or json: the result format, as for every command; or oci:DIR[:NAME] (any destination buildah push takes): also write the image there. Repeatable, so both can be given")
	f.StringVar(&bopts.Push, "push", "", "also push the image to this registry reference")
	f.StringVar(&eopts.Isolation, "isolation", "", "buildah's --isolation: oci, chroot, rootless (default buildah's)")
	f.StringVar(&eopts.Root, "root", "", "buildah's storage root (default buildah's)")
	f.StringVar(&eopts.RunRoot, "runroot", "", "buildah's storage run root (default buildah's)")
	f.StringVar(&eopts.StorageDriver, "storage-driver", "", "buildah's storage driver (default buildah's)")
	f.StringVar(&eopts.Path, "buildah", "", "the buildah executable (default buildah in $PATH)")
	return cmd
}

// buildOutput is build's --output: the result format (text, json) as for
// every command, or, as buildah takes --output, where to write the image.
// The two cannot be confused: a destination names a transport
// ("oci:DIR").
type buildOutput struct {
	g    *globals
	dest *string
}

func (o *buildOutput) String() string { return o.g.output }
func (o *buildOutput) Type() string   { return "format|dest" }

func (o *buildOutput) Set(v string) error {
	switch {
	case v == "text" || v == "json":
		o.g.output = v
	case strings.Contains(v, ":"):
		*o.dest = v
	default:
		return fmt.Errorf("want text, json, or a destination such as oci:DIR[:NAME]")
	}
	return nil
}

// hostOf returns the registry host of a reference as written.
func hostOf(ref string) string {
	host, _, _ := strings.Cut(ref, "/")
	return host
}

// reportBuild prints the result and returns the exit status: buildah's
// own when the build failed in buildah.
func reportBuild(g *globals, res freshpull.BuildResult, err error) error {
	for _, w := range res.Warnings {
		fmt.Fprintf(g.stderr, "warning: %s\n", w)
	}
	if g.json() {
		if werr := writeJSON(g.stdout, res); werr != nil {
			return werr
		}
	} else {
		for _, img := range res.Images {
			if img.Action != "" {
				fmt.Fprintln(g.stdout, pullLine(img.Result))
			}
		}
		for _, s := range res.ImageSources {
			fmt.Fprintf(g.stdout, "%-14s %s %s: %s into %s (%d files)\n", "image-source", s.Canonical, s.Digest, s.Path, s.Dest, s.Files)
		}
		if err == nil {
			fmt.Fprintln(g.stdout, strings.TrimSpace(fmt.Sprintf("%-14s %s %s", "built", res.ImageID, res.Digest)))
		}
	}
	if err == nil {
		return nil
	}
	if !g.json() {
		fmt.Fprintf(g.stderr, "freshpull: %v\n", err)
	}
	var st *buildah.StepError
	switch {
	case errors.As(err, &st):
		return &exitError{st.ExitStatus()}
	case errors.Is(err, buildah.ErrNotInstalled):
		return &exitError{exitNoEngine}
	}
	return &exitError{exitCode(err)}
}
