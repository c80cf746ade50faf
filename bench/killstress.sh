#!/usr/bin/env bash
# Crash stress: kills `freshpull pull` of a large multi-layer image with
# SIGKILL at random moments, KILLS times (default 200), and checks after
# every kill that fsck is clean and that the next pull completes. Prints how
# many kills landed mid-pull.
set -euo pipefail
cd "$(dirname "$0")/.."
FRESHPULL_KILLS=${KILLS:-200} go test -count=1 -run '^TestKillDuringPull$' -v -timeout 60m ./cmd/freshpull/ | grep -E 'kills|^(---|ok|FAIL)'
