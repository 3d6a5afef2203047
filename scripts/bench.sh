#!/usr/bin/env bash
# npm run bench: installs what the benchmarks need (as root), builds, and runs
# scripts/bench.ts, which writes BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
for pair in iptables-nft-restore:iptables ipset:ipset ip:iproute2 nft:nftables conntrack:conntrack iperf3:iperf3 wrk:wrk; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build
exec node dist/scripts/bench.js
