#!/usr/bin/env bash
# npm test: on a fresh clone of a fresh Debian machine, as root. Installs the
# Debian packages the tests use (scripts/test-packages.txt, the same list the
# demo and CI install), the npm dependencies when missing, builds, and runs
# every test: the unit tests and the kernel tests (network namespaces, a
# container booted with systemd-nspawn). Arguments go to vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-packages.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build
exec npx vitest run "$@"
