#!/usr/bin/env bash
# Extraction benchmark: a synthetic builder image (4 layers, ~3,800 files,
# ~240 MB unpacked) written with freshpull's extract package, with
# `umoci unpack` and with `tar -x` of each layer, on the same machine in the
# same run (each tool once per round, in turn), and one small --path. Prints
# MB/s, files/s, how many times faster freshpull is than each tool, and the
# one-path extraction's time as a share of the full one.
#   bash bench/extract.sh                         # gzip layers, $TMPDIR disk
#   EXTRACT_BENCH_ZSTD=1 bash bench/extract.sh    # zstd layers (umoci 0.4 cannot read them)
#   TMPDIR=/dev/shm bash bench/extract.sh         # on tmpfs
#   EXTRACT_BENCH_SCALE=0.2 bash bench/extract.sh # a quick run
set -euo pipefail
cd "$(dirname "$0")/.."
command -v umoci >/dev/null || echo "umoci is not installed (apt-get install umoci): it is left out" >&2
go test -run '^$' -bench 'Extract' -benchtime "${BENCHTIME:-3x}" -timeout 60m ./extract/
