#!/usr/bin/env bash
# Runs a command with the Node.js runtime the package ships (24 LTS) first on
# PATH: CI runs the whole suite on it; the machine's own Node stays for development.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(bash scripts/package/fetch-node.sh)
export PATH="$dir/bin:$PATH"
exec "$@"
