#!/usr/bin/env bash
# Runs every freshpull test. Installs what the tests need when it is missing
# (the CNCF distribution registry, skopeo, umoci; Debian packages), then runs
# `go test` on the whole module. The tests start their own registries on
# 127.0.0.1; nothing reaches beyond loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
command -v umoci >/dev/null || need+=(umoci)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  # The docker-registry package would start a system registry on port 5000
  # on all interfaces; keep package scripts from starting services.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    trap '$sudo rm -f "$policy"' EXIT
  fi
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${need[@]}"
fi

go vet ./...
# staticcheck where it installs (it comes from the Go module proxy).
if GOBIN="$PWD/bin" go install honnef.co/go/tools/cmd/staticcheck@v0.8.2; then
  bin/staticcheck ./...
else
  echo "staticcheck did not install; skipping it" >&2
fi
go test -count=1 -timeout 20m ./...

# Fuzz targets, briefly, beyond their seed corpora (which `go test` above
# already ran). FUZZTIME=2m for a longer run.
fuzztime=${FUZZTIME:-10s}
for target in "FuzzParse ./reference" "FuzzJoin ./reference" "FuzzManifestDecode ." "FuzzChildren ./store" "FuzzParse ./dockerfile"; do
  set -- $target
  go test -run='^$' -fuzz="^$1\$" -fuzztime="$fuzztime" "$2"
done
