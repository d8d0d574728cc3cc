#!/usr/bin/env bash
# Usage: scripts/appliance/vo-sge-demo.sh [WORKDIR]   (root; default /tmp/vo-sge-demo)
# A real qmaster (scripts/testbed/sge.sh, LAN 10.124.0.0/24 inside its own
# namespace) and a bio VO appliance guest (QEMU TCG) on the master's bridge,
# leased by a dnsmasq in that namespace: shows the guest's execd registering.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
DIR=${1:-/tmp/vo-sge-demo}
export SGE_TESTBED_LAN=10.124.0
SGE="$REPO/scripts/testbed/sge.sh"
APP=$DIR-app
GUEST=vwn-bio-001; GIP=10.124.0.50; MAC=52:54:00:24:00:50
cleanup() {
  [ -n "${QPID:-}" ] && kill "$QPID" 2>/dev/null || true
  [ -n "${DPID:-}" ] && kill "$DPID" 2>/dev/null || true
  "$SGE" stop "$DIR" || true
}
trap cleanup EXIT
case $DIR in /?*) ;; *) echo "WORKDIR must be an absolute path" >&2; exit 1 ;; esac
rm -rf "$DIR"; mkdir -p "$DIR"
"$SGE" start "$DIR"
NS=$(cat "$DIR/tag")-sge-master
"$REPO/scripts/appliance/build-vo-appliance.sh" "$APP" --vo bio --appliance-id bio-demo-1 --sge-cell-dir "$DIR/root/default/common" >/dev/null
# guest name <-> address, as the qmaster sees it (keep the inode)
{ cat "$DIR/hosts"; echo "$GIP $GUEST"; } > "$DIR/hosts.new"; cat "$DIR/hosts.new" > "$DIR/hosts"; rm -f "$DIR/hosts.new"
f=$(mktemp); printf 'hostname %s\nload_scaling NONE\ncomplex_values NONE\nuser_lists NONE\nxuser_lists NONE\nprojects NONE\nxprojects NONE\nusage_scaling NONE\nreport_variables NONE\n' "$GUEST" > "$f"
"$SGE" exec "$DIR" sge-master qconf -Ae "$f"; rm -f "$f"
# DHCP + tap on the master's bridge
ip -n "$NS" tuntap add tapvo0 mode tap
ip -n "$NS" link set tapvo0 master sgebr0 up
ip netns exec "$NS" dnsmasq --keep-in-foreground --port=0 --no-resolv --no-hosts --interface=sgebr0 --bind-interfaces \
  --dhcp-range=10.124.0.50,static,255.255.255.0 --dhcp-host="$MAC,$GIP,$GUEST" --dhcp-leasefile="$DIR/leases" --pid-file="$DIR/dnsmasq.pid" &
DPID=$!
ip netns exec "$NS" qemu-system-x86_64 -accel tcg -m 256 -smp 1 -no-reboot -nodefaults -display none -monitor none \
  -kernel "$APP/vmlinuz" -initrd "$APP/initrd.gz" \
  -append "console=ttyS0 panic=-1 quiet vonode.sge_master=sge-master vonode.sge_master_ip=10.124.0.1 vonode.sge_cell=default vonode.sge_root=/opt/sge vonode.sge_spool=$DIR/spool/execd" \
  -drive "file=$APP/disk.qcow2,if=virtio,format=qcow2,snapshot=on" \
  -netdev tap,id=n0,ifname=tapvo0,script=no,downscript=no -device virtio-net-pci,netdev=n0,mac=$MAC \
  -serial "file:$DIR/console.log" &
QPID=$!
T0=$(date +%s.%N)
for i in $(seq 1 300); do
  ld=$("$SGE" exec "$DIR" sge-master qhost -h "$GUEST" 2>/dev/null | awk -v h="$GUEST" '$1==h{print $7}')
  if [ -n "$ld" ] && [ "$ld" != "-" ]; then break; fi
  sleep 0.2
done
echo "--- console"; grep -a VONODE "$DIR/console.log" || true
echo "--- qhost (after $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s)"
"$SGE" exec "$DIR" sge-master qhost -h "$GUEST"
[ -n "$ld" ] && [ "$ld" != "-" ] && echo "REGISTERED load=$ld" || { echo "NOT REGISTERED"; tail -5 "$DIR/spool/qmaster/messages"; exit 1; }
