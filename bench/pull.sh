#!/usr/bin/env bash
# Pull benchmark: freshpull vs skopeo, crane and podman against a local
# distribution registry. Prints a table of medians, freshpull's ratio to each
# peer, request counts for the up-to-date check and peak RSS.
#   bash bench/pull.sh                 # full run
#   bash bench/pull.sh -scale 0.1      # quick run
#   bash bench/pull.sh -rss-gb 1       # also the 1 GB peak-RSS pull
# crane is installed into bench/.tools (never committed); skopeo and podman
# come from Debian (apt-get install skopeo podman) and are skipped when
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x bench/.tools/crane ]; then
  GOBIN="$PWD/bench/.tools" go install github.com/google/go-containerregistry/cmd/crane@v0.22.1
fi
go build -o bin/freshpull ./cmd/freshpull
go run ./bench/pullbench "$@"
