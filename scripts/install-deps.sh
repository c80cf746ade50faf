#!/usr/bin/env bash
# Installs the Debian packages named as COMMAND=PACKAGE arguments whose
# command is missing, e.g.:
#   bash scripts/install-deps.sh /usr/bin/docker-registry=docker-registry skopeo=skopeo
# Package scripts are kept from starting services: the docker-registry
# package would otherwise start a system registry on port 5000 on all
# interfaces.
set -euo pipefail
need=()
for pair in "$@"; do
  cmd=${pair%%=*}
  pkg=${pair#*=}
  command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  trap '$sudo rm -f "$policy"' EXIT
fi
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${need[@]}"
