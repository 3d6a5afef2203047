#!/usr/bin/env bash
# npm run demo: installs what the demo needs when missing (Debian packages,
# the npm dependencies, the Node.js runtime the package ships), builds, and
# runs the example cluster on that runtime. Each step is one line on the
# terminal; what the tools print goes to a log file (its path is printed
# first, and its last lines again if a step fails).
set -euo pipefail
cd "$(dirname "$0")/.."
log=${ARTESCA_FW_DEMO_LOG:-${TMPDIR:-/tmp}/artesca-fw-demo.log}
: > "$log"
echo "demo: the output of each step goes to $log"

step() {
  local what=$1
  shift
  printf '%s ... ' "$what"
  local t0=$SECONDS
  if "$@" >> "$log" 2>&1; then
    echo "done ($((SECONDS - t0)) s)"
  else
    echo "FAILED; the end of $log:"
    tail -n 20 "$log" | sed 's/^/  | /'
    exit 1
  fi
}

# What the agent itself runs, and what the namespaces and probes need: not the
# whole test list (no etcd, no container, no package tools).
step "Debian packages the demo needs (installed when missing)" \
  bash scripts/ensure-packages.sh iptables-nft-restore:iptables ipset:ipset ip:iproute2 nft:nftables \
  conntrack:conntrack tcpdump:tcpdump nsenter:util-linux
if [ -d node_modules ]; then echo "npm dependencies ... present"; else step "npm dependencies (npm ci)" npm ci --no-audit --no-fund; fi
step "Node.js 24, the runtime the package ships" bash scripts/package/fetch-node.sh
step "build (tsc)" npm run --silent build
echo
exec bash scripts/with-node24.sh node dist/scripts/demo.js
