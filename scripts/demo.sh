#!/usr/bin/env bash
# npm run demo: installs what is missing (the same list as the tests and CI),
# the npm dependencies when missing, builds, and runs the example cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-packages.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build
exec node dist/scripts/demo.js
