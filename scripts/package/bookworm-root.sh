#!/usr/bin/env bash
# Makes a fresh minimal Debian bookworm root at ROOT, to install the vonode package into
# (test/integration/package/deb-package.spec.ts): `debootstrap --variant=minbase` plus adduser
# (the package's one Depends: minbase lacks) and systemd (as on a real host: `systemd-analyze
# verify --root` checks the units against it), from the Debian mirror this machine's apt uses.
# The first run keeps the root as a tarball under VONODE_BUILD_CACHE (default
# /var/cache/vonode-build); later runs unpack that instead (seconds instead of minutes).
#
# Usage: scripts/package/bookworm-root.sh ROOT     (as root; ROOT must not exist or be empty)
set -euo pipefail
root=${1:?usage: bookworm-root.sh ROOT}
[ "$(id -u)" = 0 ] || { echo "bookworm-root.sh must run as root (debootstrap, chroot)" >&2; exit 2; }
cache=${VONODE_BUILD_CACHE:-/var/cache/vonode-build}
tarball=$cache/bookworm-minbase-systemd.tar.gz
mkdir -p "$root"
[ -z "$(ls -A "$root")" ] || { echo "bookworm-root.sh: $root is not empty" >&2; exit 2; }

if [ -f "$tarball" ]; then
  tar -xzf "$tarball" -C "$root"
  exit 0
fi

# The mirror of the machine's own bookworm entry (deb822 .sources or one-line .list), not the
# security archive.
mirror=$(
  {
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      awk 'BEGIN { RS = ""; FS = "\n" } {
        uris = ""; suites = ""; types = ""; enabled = "yes"
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris) }
          if ($i ~ /^Suites:/) { suites = $i }
          if ($i ~ /^Types:/) { types = $i }
          if ($i ~ /^Enabled:[ \t]*no/) { enabled = "no" }
        }
        if (enabled == "yes" && types ~ /[ \t]deb([ \t]|$)/ && suites ~ /[ \t]bookworm([ \t]|$)/) { split(uris, u, /[ \t]+/); print u[1] }
      }' "$f"
    done
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ } if ($(i + 1) == "bookworm") print $i }'
  } | head -1
) || true # a missing sources file is no error
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
command -v debootstrap >/dev/null || { echo "bookworm-root.sh: debootstrap is missing (scripts/lib/install-deps.sh installs it)" >&2; exit 2; }
echo "debootstrap bookworm from $mirror into $root (cached after as $tarball)" >&2
log=$(mktemp /tmp/vonode-debootstrap.XXXXXX.log)
if ! debootstrap --variant=minbase --include=adduser,systemd bookworm "$root" "$mirror" >"$log" 2>&1; then
  tail -20 "$log" >&2
  echo "bookworm-root.sh: debootstrap failed; see $log" >&2
  exit 3
fi
rm -f "$log"
rm -rf "$root"/var/cache/apt/archives/*.deb
mkdir -p "$cache"
tar -czf "$tarball.tmp" -C "$root" .
mv "$tarball.tmp" "$tarball"
