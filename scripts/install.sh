#!/usr/bin/env bash
# Installs artesca-fw on this machine (as root):
#   /opt/artesca-fw            the build (dist/, bin/, production node_modules)
#   /usr/local/bin/artesca-fw  the command
#   /etc/systemd/system/artesca-fw.service
#   /etc/artesca-fw/           example config and inventory, only where none exist yet
# DESTDIR=/some/root installs under that root instead (packaging, tests).
# Run from a checkout after `npm ci && npm run build`.
set -euo pipefail
cd "$(dirname "$0")/.."
root="${DESTDIR:-}"
prefix="$root/opt/artesca-fw"

[ -f dist/src/cli.js ] || { echo "install.sh: build first (npm ci && npm run build)" >&2; exit 1; }
command -v nft >/dev/null || echo "install.sh: note: install nftables (nft) for event-driven drift detection; without it the agent polls" >&2

rm -rf "$prefix.new"
mkdir -p "$prefix.new"
cp -r dist bin package.json package-lock.json README.md "$prefix.new/"
(cd "$prefix.new" && npm ci --omit=dev --no-audit --no-fund --ignore-scripts >/dev/null)
rm -rf "$prefix.old"
[ -d "$prefix" ] && mv "$prefix" "$prefix.old"
mv "$prefix.new" "$prefix"
rm -rf "$prefix.old"

mkdir -p "$root/usr/local/bin" "$root/etc/systemd/system" "$root/etc/artesca-fw" "$root/var/lib/artesca-fw"
chmod 0700 "$root/var/lib/artesca-fw"
ln -sfn /opt/artesca-fw/bin/artesca-fw "$root/usr/local/bin/artesca-fw"
install -m 0644 systemd/artesca-fw.service "$root/etc/systemd/system/artesca-fw.service"
for f in config.yaml inventory.yaml; do
  if [ -e "$root/etc/artesca-fw/$f" ]; then
    echo "install.sh: keeping the existing /etc/artesca-fw/$f"
  else
    install -m 0644 "config/$f" "$root/etc/artesca-fw/$f"
    echo "install.sh: wrote an example /etc/artesca-fw/$f: edit it for this node"
  fi
done
if [ -z "$root" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  echo "install.sh: installed. Check with 'artesca-fw check', then: systemctl enable --now artesca-fw"
else
  echo "install.sh: installed under ${root:-/}"
fi
