#!/usr/bin/env bash
# Builds a VO appliance: the test appliance of build-guest.sh plus the VO's
# marker (/etc/vonode-vo) and tool (/usr/local/bin/<vo>-tool), sge_execd with
# its libraries, users for the SGE admin and jobs, and a boot step that starts
# sge_execd against the qmaster named on the kernel command line
# (vonode.sge_master=NAME vonode.sge_master_ip=IP vonode.sge_cell=CELL
# vonode.sge_root=DIR; see vo-layer.sh).
#
# Usage: scripts/appliance/build-vo-appliance.sh OUTDIR --vo NAME
#          [--appliance-id ID] [--sge-cell-dir CELL/common] [--job-user NAME] [--payload-mb N]
#          [--vo-package PKG]...    the VO's software: PKG's programs from Debian
set -euo pipefail
die() { echo "build-vo-appliance: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: build-vo-appliance.sh OUTDIR --vo NAME [--appliance-id ID] [--sge-cell-dir DIR] [--job-user NAME] [--payload-mb N] [--vo-package PKG]..."
out=$1; shift
has_vo=0
for a in "$@"; do [ "$a" = --vo ] && has_vo=1; done
[ "$has_vo" = 1 ] || die "--vo NAME is required"
exec "$(cd "$(dirname "$0")" && pwd)/build-guest.sh" "$out" --vo-appliance "$@"
