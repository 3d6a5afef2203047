#!/usr/bin/env bash
# Installs the Debian packages whose command is missing, without letting their
# services start in the machine's own namespace.
#   scripts/ensure-packages.sh                       everything in scripts/test-packages.txt
#   scripts/ensure-packages.sh COMMAND:PACKAGE[,PACKAGE...] ...
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=("$@")
if [ ${#pairs[@]} -eq 0 ]; then
  while read -r cmd pkgs; do
    case "$cmd" in ''|'#'*) continue ;; esac
    pairs+=("$cmd:$pkgs")
  done < scripts/test-packages.txt
fi
missing=()
for pair in "${pairs[@]}"; do
  cmd="${pair%%:*}"
  if ! command -v "$cmd" >/dev/null && [ ! -x "/usr/sbin/$cmd" ]; then
    IFS=',' read -r -a pkgs <<< "${pair#*:}"
    missing+=("${pkgs[@]}")
  fi
done
[ ${#missing[@]} -gt 0 ] || exit 0
[ -z "${ENSURE_DRY_RUN:-}" ] || { echo "would install: ${missing[*]}"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "missing: ${missing[*]} (run as root, or apt-get install them)" >&2; exit 1; }
apt-get update -qq
made_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
[ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
