#!/usr/bin/env bash
# Pull benchmark: freshpull vs skopeo, crane and podman against a local
# distribution registry. Prints a table of medians, freshpull's ratio to each
# peer, request counts for the up-to-date check and peak RSS.
#   bash bench/pull.sh                 # full run
#   bash bench/pull.sh -scale 0.1      # quick run
#   bash bench/pull.sh -rss-gb 1       # also the 1 GB peak-RSS pull
# crane is installed into bench/.tools (never committed); skopeo and podman
# come from Debian (apt-get install skopeo podman) and are skipped when
# missing. freshpull and crane are both built static (CGO_ENABLED=0), as
# crane's own release binaries are.
set -euo pipefail
cd "$(dirname "$0")/.."
crane=bench/.tools/crane-v0.22.1-static/crane
if [ ! -x "$crane" ]; then
  CGO_ENABLED=0 GOBIN="$PWD/${crane%/crane}" go install github.com/google/go-containerregistry/cmd/crane@v0.22.1
fi
CGO_ENABLED=0 go build -o bin/freshpull ./cmd/freshpull
go run ./bench/pullbench -crane "$crane" "$@"
