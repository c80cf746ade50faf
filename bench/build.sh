#!/usr/bin/env bash
# Build benchmark: freshpull build against buildah bud --pull=newer on the
# same Dockerfile (FROM a busybox base with a bulk layer, one RUN), against
# a local distribution registry; cold and warm; medians and the registry
# requests each makes. Needs root (--isolation chroot), buildah and
# busybox-static.
#   bash bench/build.sh                 # 5 runs, 50 MB base layer
#   bash bench/build.sh -runs 11 -size-mb 200
set -euo pipefail
cd "$(dirname "$0")/.."
CGO_ENABLED=0 go build -o bin/freshpull ./cmd/freshpull
go run ./bench/buildbench "$@"
