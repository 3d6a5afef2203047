#!/usr/bin/env bash
# npm run demo: installs what the demo needs on a fresh Debian 12 machine (as
# root), builds, and runs the example cluster in network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-packages.sh iptables-nft-restore:iptables ipset:ipset ip:iproute2 nft:nftables conntrack:conntrack
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build
exec node dist/scripts/demo.js
