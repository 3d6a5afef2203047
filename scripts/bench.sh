#!/usr/bin/env bash
# npm run bench: installs what the benchmarks need (as root), builds, and runs
# scripts/bench.ts, which writes BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-packages.sh iptables-nft-restore:iptables ipset:ipset ip:iproute2 nft:nftables conntrack:conntrack iperf3:iperf3 wrk:wrk
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build
# On the runtime the package ships (Node 24), as CI tests: the figures are those of what runs on nodes.
exec bash scripts/with-node24.sh node dist/scripts/bench.js
