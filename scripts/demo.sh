#!/usr/bin/env bash
# Builds freshpull and runs the offline demo: a local distribution registry
# on 127.0.0.1, a tag that moves, and what each pull policy does about it.
# Installs the registry (Debian package docker-registry) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/docker-registry ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    trap '$sudo rm -f "$policy"' EXIT
  fi
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q docker-registry
fi
go build -o bin/freshpull ./cmd/freshpull
go run ./demo
