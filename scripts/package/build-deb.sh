#!/usr/bin/env bash
# Builds the vonode Debian package: vonode_VERSION_ARCH.deb with the compiled daemons and CLI,
# their production npm dependencies, the Node runtime they run on, the systemd units
# (packaging/systemd/), example configs as conffiles in /etc/vonode, and the maintainer scripts
# (packaging/deb/).
#
# Usage: scripts/package/build-deb.sh [--out DIR] [--version V]
#   --out DIR     where the .deb goes (default: build/ in the checkout)
#   --version V   package version (default: package.json's)
# Environment: VONODE_BUILD_CACHE (default /var/cache/vonode-build) keeps the staged production
# node_modules per package-lock.json, Node version and architecture (compiling better-sqlite3 takes
# minutes); DEBFULLNAME / DEBEMAIL name the maintainer (default: an address under .invalid).
#
# One package, not one per role: agent, coordinator, CLI and MAD share one dist/ tree, one
# node_modules and one Node runtime (~90% of the size), and a site's service host often runs an
# agent too. Per-role packages would need a fourth common package that holds nearly everything;
# installing the units costs nothing, and neither unit is enabled until the admin enables it.
#
# Node: vonode needs Node >= 20 and bookworm's nodejs is 18, so the package bundles the Node 20
# binary this script runs on as /usr/lib/vonode/bin/node (native modules are compiled against that
# same binary); its Depends: come from dpkg-shlibdeps over that binary and the native modules.
#
# Runs on a fresh Debian bookworm machine as root (it apt-get installs what it lacks: dpkg-dev,
# and a C++ toolchain for better-sqlite3); as another user, those must already be there. Needs only
# the npm registry and a Debian mirror. The TypeScript build goes to a staging directory, never to
# the checkout's dist/.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
usage='usage: scripts/package/build-deb.sh [--out DIR] [--version V]'
out=$REPO/build
version=''
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=${2:?$usage}; shift 2 ;;
    --version) version=${2:?$usage}; shift 2 ;;
    -h | --help) echo "$usage"; exit 0 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done

cd "$REPO"
. scripts/lib/install-deps.sh
vonode_check_node
TOOLS=(dpkg-dev binutils python3 make g++) # dpkg-shlibdeps; strip; node-gyp for better-sqlite3
if [ "$(id -u)" = 0 ]; then
  vonode_apt_install "${TOOLS[@]}"
else
  for t in dpkg-shlibdeps strip python3 make g++; do
    command -v "$t" >/dev/null || { echo "build-deb.sh: $t is missing; run as root to install ${TOOLS[*]}" >&2; exit 2; }
  done
fi
vonode_install_npm # typescript, for the build

NODE=$(readlink -f "$(command -v node)")
ARCH=$(dpkg --print-architecture)
[ -n "$version" ] || version=$("$NODE" -p 'require(process.argv[1]).version' "$REPO/package.json")
[[ $version =~ ^[0-9][A-Za-z0-9.+~-]*$ ]] || { echo "build-deb.sh: bad --version $version (Debian version: digits first, then A-Za-z0-9.+~-)" >&2; exit 2; }
maintainer="${DEBFULLNAME:-vonode developers} <${DEBEMAIL:-vonode@maintainers.invalid}>"
mkdir -p "$out"
out=$(cd "$out" && pwd)
deb=$out/vonode_${version}_${ARCH}.deb

WORK=$(mktemp -d /tmp/vonode-deb.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
PKG=$WORK/pkg
LIB=$PKG/usr/lib/vonode
DOC=$PKG/usr/share/doc/vonode
mkdir -p "$LIB/bin" "$PKG/usr/bin" "$PKG/lib/systemd/system" "$PKG/etc/vonode" "$DOC" \
  "$PKG/usr/share/lintian/overrides" "$PKG/DEBIAN"

echo "== production node_modules"
cache=${VONODE_BUILD_CACHE:-/var/cache/vonode-build}/deb-node-modules
key=$(cat package.json package-lock.json | sha256sum | cut -c1-16)-node$("$NODE" -p process.version)-$ARCH
if [ ! -d "$cache/$key/node_modules" ]; then
  stage=$WORK/npm
  mkdir -p "$stage"
  cp package.json package-lock.json "$stage/"
  # node-gyp builds against the bundled binary's own headers when they are installed next to it
  # (nodesource, official tarballs) instead of downloading them from nodejs.org.
  nodedir=$(dirname "$(dirname "$NODE")")
  [ -f "$nodedir/include/node/node.h" ] && export npm_config_nodedir=$nodedir
  (cd "$stage" && PATH="$(dirname "$NODE"):$PATH" npm ci --omit=dev --no-audit --no-fund 2>&1 | grep -v 'Unknown user config' | tail -3)
  # Keep only what runs: the native modules' compiled .node files, not their sources and objects.
  while IFS= read -r gyp; do
    mod=$(dirname "$gyp")
    [ -n "$(find "$mod/build/Release" -maxdepth 1 -name '*.node' 2>/dev/null)" ] || continue
    rm -rf "$WORK/keep" && mkdir "$WORK/keep"
    find "$mod/build/Release" -maxdepth 1 -name '*.node' ! -name 'test_*' -exec mv -t "$WORK/keep" {} +
    rm -rf "$mod/build" "$mod/deps" "$mod/src"
    mkdir -p "$mod/build/Release"
    mv "$WORK/keep/"*.node "$mod/build/Release/"
    strip --strip-unneeded "$mod/build/Release/"*.node
  done < <(find "$stage/node_modules" -maxdepth 4 -name binding.gyp)
  rm -rf "$stage/node_modules/.bin" "$stage/node_modules/.package-lock.json"
  mkdir -p "$cache"
  rm -rf "$cache/$key.tmp" && mkdir "$cache/$key.tmp" && mv "$stage/node_modules" "$cache/$key.tmp/"
  mv "$cache/$key.tmp" "$cache/$key"
fi
cp -a "$cache/$key/node_modules" "$LIB/node_modules"
# What nothing loads at run time: npm and VCS dotfiles, documentation (pino's docs page pulls
# scripts from CDNs), type declarations and source maps.
find "$LIB/node_modules" \( -name '.npmignore' -o -name '.eslintrc*' -o -name '.git*' -o -name '.husky' \
  -o -name '.github' -o -name '.travis.yml' -o -name '.editorconfig' -o -name '.prettierrc*' -o -name '.nycrc*' \
  -o -iname '*.md' -o -iname '*.markdown' -o -name '*.html' -o -name '*.d.ts' -o -name '*.d.mts' \
  -o -name '*.d.cts' -o -name '*.map' \) ! -iname 'licen[cs]e*' ! -iname 'copying*' -prune -exec rm -rf {} +

echo "== TypeScript build (tsconfig.build.json) into the package"
"$NODE" node_modules/typescript/bin/tsc -p tsconfig.build.json --outDir "$LIB/dist" \
  --tsBuildInfoFile "$WORK/tsbuildinfo" --sourceMap false
# The web console's page and bundle (esbuild, from coordinator/console/web): the coordinator serves dist/console.
"$NODE" --import tsx scripts/build/console-bundle.ts --out "$LIB/dist/console"
cp -r proto "$LIB/proto"                  # grpc-server.ts loads it from dist/../proto
cp package.json "$LIB/package.json"      # "type": "module" for dist/
# packaging/prometheus: the alert rules (not their promtool tests), for Prometheus to include.
shopt -s nullglob
rules=(packaging/prometheus/*.yml)
for f in "${rules[@]}"; do
  case $f in *.test.yml) continue ;; esac
  install -D -m 644 "$f" "$PKG/usr/share/vonode/prometheus/$(basename "$f")"
done
shopt -u nullglob

echo "== Node runtime $("$NODE" --version) ($NODE)"
install -m 755 "$NODE" "$LIB/bin/node"
strip --strip-unneeded "$LIB/bin/node"
# The native modules must load on the bundled runtime.
(cd "$LIB" && ./bin/node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()") ||
  { echo "build-deb.sh: better-sqlite3 does not load on the bundled Node" >&2; exit 1; }

echo "== commands, units, configs, documentation"
# The wrappers run package.json's "bin" entries on the bundled Node; the agent with its V8 flags.
agent_flags=$(cd "$LIB" && ./bin/node --input-type=module -e \
  "const m = await import('./dist/agent/node-flags.js'); console.log(m.AGENT_NODE_FLAGS.join(' '))")
"$NODE" -e 'for (const [n, p] of Object.entries(require(process.argv[1]).bin)) console.log(n, p)' "$REPO/package.json" |
  while read -r name entry; do
    [ -f "$LIB/$entry" ] || { echo "build-deb.sh: $name's entry $entry was not built" >&2; exit 1; }
    flags=''
    [ "$name" = vonode-agent ] && flags="$agent_flags "
    printf '#!/bin/sh\n# %s, on the Node runtime bundled with the vonode package.\nexec /usr/lib/vonode/bin/node %s/usr/lib/vonode/%s "$@"\n' \
      "$name" "$flags" "$entry" > "$PKG/usr/bin/$name"
    chmod 755 "$PKG/usr/bin/$name"
  done
install -m 644 packaging/systemd/vonode-agent.service packaging/systemd/vonode-coordinator.service "$PKG/lib/systemd/system/"
install -m 644 docs/agent.example.yaml "$PKG/etc/vonode/agent.yaml"
install -m 644 docs/policy.example.yaml "$PKG/etc/vonode/policy.yaml"
# The coordinator runs as user vonode and may write only /var/lib/vonode (its unit's ReadWritePaths).
sed 's#^stateDb: /var/lib/vonode-coordinator/state.db#stateDb: /var/lib/vonode/state.db#' docs/coordinator.example.yaml > "$PKG/etc/vonode/coordinator.yaml"
grep -q '^stateDb: /var/lib/vonode/state.db' "$PKG/etc/vonode/coordinator.yaml" ||
  { echo "build-deb.sh: docs/coordinator.example.yaml has no default stateDb line to point at /var/lib/vonode" >&2; exit 1; }
chmod 644 "$PKG/etc/vonode/coordinator.yaml"
(cd "$PKG" && find etc -type f | sort | sed 's#^#/#') > "$PKG/DEBIAN/conffiles"

gzip -9n < README.md > "$DOC/README.md.gz"
for f in docs/*.md; do gzip -9n < "$f" > "$DOC/$(basename "$f").gz"; done
cp packaging/deb/copyright "$DOC/copyright"
node_license=''
for f in "$(dirname "$(dirname "$NODE")")/share/doc/node/LICENSE" /usr/share/doc/nodejs/LICENSE; do
  [ -f "$f" ] && { node_license=$f; break; }
done
if [ -n "$node_license" ]; then gzip -9n < "$node_license" > "$DOC/node-LICENSE.gz"; fi
printf 'vonode (%s) unstable; urgency=medium\n\n  * Built by scripts/package/build-deb.sh.\n\n -- %s  %s\n' \
  "$version" "$maintainer" "$(date -R)" | gzip -9n > "$DOC/changelog.gz"
install -m 644 packaging/deb/lintian-overrides "$PKG/usr/share/lintian/overrides/vonode"
install -m 755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$PKG/DEBIAN/"

echo "== control"
# Modes as dpkg expects: directories 755, files 644 except the commands and the runtime (and the
# maintainer scripts); npm leaves some library files executable.
find "$PKG" -type d -exec chmod 755 {} +
find "$PKG" -type f ! -path "$PKG/DEBIAN/*" ! -path "$PKG/usr/bin/*" ! -path "$LIB/bin/*" -exec chmod 644 {} +
mkdir -p "$WORK/shlibs/debian"
printf 'Source: vonode\n\nPackage: vonode\nArchitecture: any\n' > "$WORK/shlibs/debian/control"
natives=()
while IFS= read -r f; do natives+=("-e$f"); done < <(find "$LIB" -name '*.node' -type f)
shlibs=$(cd "$WORK/shlibs" && dpkg-shlibdeps -O "-e$LIB/bin/node" "${natives[@]}" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "build-deb.sh: dpkg-shlibdeps found no library dependencies" >&2; exit 1; }
size=$(du -sk --exclude=DEBIAN "$PKG" | cut -f1)
cat > "$PKG/DEBIAN/control" <<EOF
Package: vonode
Version: $version
Architecture: $ARCH
Maintainer: $maintainer
Installed-Size: $size
Depends: adduser, $shlibs
Recommends: iproute2, qemu-system-x86, qemu-utils, dnsmasq-base, openssl
Suggests: libvirt-clients, xen-utils, gridengine-client, slurm-client, ldap-utils, prometheus
Section: admin
Priority: optional
Description: per-VO virtual worker nodes on a shared grid cluster
 vonode turns one shared physical cluster into per-community virtual worker
 nodes on demand: it boots VO-specific VM appliances on the site's hosts,
 registers each VM in the VO's batch queue, publishes the capacity to the
 grid information system and removes VMs when demand falls.
 .
 This package holds the agent (vonode-agent, one per physical host, run as
 root), the coordinator (vonode-coordinator, one per site, run as the vonode
 user), the admin CLI (vonode), GridWay's information MAD (vonode-gw-im-mad),
 their systemd units and example configuration in /etc/vonode. It bundles the
 Node.js 20 runtime it runs on (Debian bookworm ships Node.js 18).
EOF
(cd "$PKG" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) > "$PKG/DEBIAN/md5sums"
chmod 644 "$PKG/DEBIAN/control" "$PKG/DEBIAN/conffiles" "$PKG/DEBIAN/md5sums"

# xz level 1: 12 s instead of 70 s at the default level for a .deb 18% larger (31 MB, mostly node).
dpkg-deb --root-owner-group -Zxz -z1 --build "$PKG" "$deb" >/dev/null
echo "$deb"
