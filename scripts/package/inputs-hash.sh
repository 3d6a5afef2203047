#!/usr/bin/env bash
# One digest of everything a package is built from (run from the checkout).
set -euo pipefail
cd "$(dirname "$0")/../.."
find src bin systemd scripts/package config docs deploy README.md package.json package-lock.json -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1
