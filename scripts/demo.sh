#!/usr/bin/env bash
# The README's main job: the whole vonode site on this machine (DESIGN §7).
# Installs what is missing (Debian packages, npm dependencies), builds the bio
# and fusion VO appliances (Debian cloud kernel + busybox + sge_execd), brings
# up the namespace testbed (frontend: SGE qmaster, BDII, image repository,
# coordinator; physical hosts: vonode-agent, dnsmasq, bridge; one cluster
# LAN), submits jobs to bio.q and fusion.q, shows live how the coordinator
# deploys QEMU VMs in the policy's ratio, prints what the jobs saw inside
# their VMs and the Table 2 / Table 3 / Figure 3 timing report, checks nothing
# is left behind and tears everything down.
#
# Usage: scripts/demo.sh [--keep | --down] [--dir DIR] [...]   (--help for all)
#   --keep leaves the testbed up (CLI: DIR/vonode status); --down removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/install-deps.sh
vonode_require_root scripts/demo.sh
vonode_check_node
vonode_install_debian
vonode_install_npm
exec node --import tsx scripts/testbed/demo.ts "$@"
