#!/usr/bin/env bash
# Builds freshpull and runs the offline demo: a local distribution registry
# on 127.0.0.1, a tag that moves, and what each pull policy does about it.
# Installs the registry (Debian package docker-registry) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh /usr/bin/docker-registry=docker-registry
CGO_ENABLED=0 go build -o bin/freshpull ./cmd/freshpull
go run ./demo
