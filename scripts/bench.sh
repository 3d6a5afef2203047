#!/usr/bin/env bash
# npm run bench: installs what the benchmarks need (as root), builds, and runs
# scripts/bench.ts, which writes BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-packages.sh iptables-nft-restore:iptables ipset:ipset ip:iproute2 nft:nftables conntrack:conntrack iperf3:iperf3 wrk:wrk
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build
exec node dist/scripts/bench.js
