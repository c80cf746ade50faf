#!/usr/bin/env bash
# Runs every freshpull test. Installs what the tests need when it is missing
# (the CNCF distribution registry, skopeo, umoci, gpg, buildah, and a static
# busybox for the build tests' base images; Debian packages), then runs
# `go test` on the whole module. The tests start their own registries on
# 127.0.0.1; nothing reaches beyond loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh /usr/bin/docker-registry=docker-registry skopeo=skopeo umoci=umoci gpg=gnupg buildah=buildah /bin/busybox=busybox-static

go vet ./...
# staticcheck where it installs (it comes from the Go module proxy).
if GOBIN="$PWD/bin" go install honnef.co/go/tools/cmd/staticcheck@v0.8.2; then
  bin/staticcheck ./...
else
  echo "staticcheck did not install; skipping it" >&2
fi
go test -count=1 -timeout 20m ./...

# Fuzz targets, briefly, beyond their seed corpora (which `go test` above
# already ran). The budget is a count of runs, not a duration: with a
# duration, go1.26's fuzzing coordinator can fail a target with a bare
# "context deadline exceeded" as the time runs out (golang/go#75804, fixed
# in Go 1.27). FUZZTIME=2000000x (or, on Go 1.27, 2m) for a longer run.
fuzztime=${FUZZTIME:-100000x}
for target in "FuzzParse ./reference" "FuzzJoin ./reference" "FuzzManifestDecode ." "FuzzChildren ./store" "FuzzParse ./dockerfile" "FuzzParse ./trust" "FuzzVerifySET ./trust"; do
  set -- $target
  go test -run='^$' -fuzz="^$1\$" -fuzztime="$fuzztime" "$2"
done
