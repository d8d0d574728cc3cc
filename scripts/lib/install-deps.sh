#!/usr/bin/env bash
# Installs what vonode's tests, benchmarks and demo need on a fresh Debian
# bookworm machine, as root: Debian packages (only the missing ones), then the
# npm dependencies. Sourced by scripts/test.sh and scripts/demo.sh.
set -euo pipefail

DEBIAN_PACKAGES=(
  qemu-system-x86 qemu-utils      # QEMU guests (TCG) and qcow2 overlays
  dnsmasq-base isc-dhcp-server    # DHCP backends
  iproute2                        # namespaces, bridges, taps
  libvirt-clients libvirt-daemon libxml2-utils  # virsh + libvirt's test:///default driver; xmllint for virt-xml-validate
  xen-utils-4.17 libxen-dev gcc libc6-dev  # real xl parser + headers for its LD_PRELOAD shim
  busybox-static cpio e2fsprogs   # the test appliance
  protobuf-compiler               # protoc for ts-proto codegen
  gridengine-master gridengine-exec gridengine-client  # SGE testbed: qmaster, execd, qconf/qstat/qsub (scripts/testbed/sge.sh)
  bdii slapd ldap-utils glue-schema  # a real resource BDII (scripts/testbed/bdii.sh), ldapsearch, GLUE 1.3/2.0 schemas
  slurm-wlm slurm-client munge   # Slurm testbed: slurmctld, slurmd -Z, scontrol/squeue/sinfo, munged (scripts/testbed/slurm.sh)
  ca-certificates openssl         # the site PKI (scripts/pki/make-site-pki.sh)
  etcd-server etcd-client         # the HA coordinator's store: 3-member clusters on loopback in tests (test/support/etcd-cluster.ts)
  dpkg-dev binutils python3 make g++  # the Debian package (scripts/package/build-deb.sh): dpkg-shlibdeps, strip, node-gyp for better-sqlite3
  lintian debootstrap systemd     # its tests (test/integration/package/deb-package.spec.ts): lintian, a fresh bookworm root, systemd-analyze verify
  chromium fonts-dejavu-core      # the web console's browser tests: puppeteer-core drives Debian's chromium headless (test/e2e/console)
  prometheus                      # promtool: check and unit-test the shipped alert rules (packaging/prometheus, test/integration/package/prometheus-rules.spec.ts); its daemon is not started
)

vonode_require_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "$1 must run as root: it creates network namespaces, bridges and taps and installs Debian packages (try: sudo $1)" >&2
    exit 2
  fi
}

# Installs the Debian packages given that are missing, without letting their
# package scripts start daemons (isc-dhcp-server, libvirtd, slapd, munge,
# gridengine...): the project starts what it needs itself, inside its own
# namespaces. Used by this file and by the testbed scripts (scripts/testbed/).
vonode_apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing Debian packages: ${missing[*]}" >&2
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"; created_policy=1; fi
  # gridengine: no system cell; the testbed makes private ones (scripts/testbed/sge.sh).
  if command -v debconf-set-selections >/dev/null; then
    printf '%s\n' 'gridengine-common shared/gridengineconfig boolean false' \
      'gridengine-common shared/gridenginecell string default' \
      'gridengine-common shared/gridenginemaster string localhost' | debconf-set-selections
  fi
  local log=/tmp/vonode-apt.log
  local apt=(apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}")
  if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" >"$log" 2>&1; then
    apt-get update >>"$log" 2>&1 || true
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" >>"$log" 2>&1 || {
      [ $created_policy = 1 ] && rm -f "$policy"
      tail -20 "$log" >&2
      echo "could not install Debian packages (${missing[*]}); see $log. Check the machine reaches a Debian mirror." >&2
      exit 3
    }
  fi
  [ $created_policy = 1 ] && rm -f "$policy"
  return 0
}

vonode_install_debian() {
  vonode_apt_install "${DEBIAN_PACKAGES[@]}"
}

vonode_install_npm() {
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "installing npm dependencies (npm ci)"
    npm ci --no-audit --no-fund 2>&1 | grep -v 'Unknown user config' | tail -5
  fi
}

vonode_check_node() {
  local major
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$major" -lt 20 ]; then echo "vonode needs Node.js >= 20 (found: $(node --version 2>/dev/null || echo none))" >&2; exit 2; fi
}
