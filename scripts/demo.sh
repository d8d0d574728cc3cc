#!/usr/bin/env bash
# The README's main job. Until the full testbed lands (issue 5) this is the
# agent demo: one testbed host (network namespace, bridge, dnsmasq, HTTP image
# repository), a real vonode-agent in it, and real QEMU guests built from the
# Debian cloud kernel, deployed 1 and 3 at a time, cold and warm cache, with
# live phase progress and a Table-2-style timing report. Leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/install-deps.sh
vonode_require_root scripts/demo.sh
vonode_check_node
vonode_install_debian
vonode_install_npm
exec node --import tsx scripts/bench/agent-deploy.ts --progress --payload-mb "${VONODE_DEMO_PAYLOAD_MB:-64}" --rate-mbit "${VONODE_DEMO_RATE_MBIT:-400}" "$@"
