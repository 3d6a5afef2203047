#!/usr/bin/env bash
# npm run demo: installs what the demo needs on a fresh Debian 12 machine (as
# root), builds, and runs the example cluster in network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v iptables-nft-restore >/dev/null || missing+=(iptables)
command -v ipset >/dev/null || missing+=(ipset)
command -v ip >/dev/null || missing+=(iproute2)
command -v nft >/dev/null || missing+=(nftables)
command -v conntrack >/dev/null || missing+=(conntrack)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build
exec node dist/scripts/demo.js
