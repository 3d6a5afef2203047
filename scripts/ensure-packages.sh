#!/usr/bin/env bash
# Installs the Debian packages whose command is missing, without letting their
# services start in the machine's own namespace.
#   scripts/ensure-packages.sh COMMAND:PACKAGE[,PACKAGE...] ...
set -euo pipefail
missing=()
for pair in "$@"; do
  cmd="${pair%%:*}"
  if ! command -v "$cmd" >/dev/null && [ ! -x "/usr/sbin/$cmd" ]; then
    IFS=',' read -r -a pkgs <<< "${pair#*:}"
    missing+=("${pkgs[@]}")
  fi
done
[ ${#missing[@]} -gt 0 ] || exit 0
[ -z "${ENSURE_DRY_RUN:-}" ] || { echo "would install: ${missing[*]}"; exit 0; }
apt-get update -qq
made_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
[ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
