#!/usr/bin/env bash
# Builds a tiny VO appliance from Debian packages, for tests, benchmarks and
# the demo: the Debian cloud kernel (direct boot), a busybox initramfs that
# takes its address by DHCP and reports readiness on the serial console, and
# a qcow2 disk carrying the VO's marker (plus optional incompressible payload
# so image propagation has something to move).
#
# Usage: scripts/appliance/build-guest.sh OUTDIR [--vo NAME] [--payload-mb N]
#          [--vo-appliance [--appliance-id ID] [--sge-cell-dir DIR] [--job-user NAME]
#                          [--vo-package PKG]...]
# Writes OUTDIR/{vmlinuz,initrd.gz,disk.qcow2,manifest.json}. Idempotent;
# the kernel package is cached in ${VONODE_CACHE:-/var/cache/vonode-build}.
#
# --vo-appliance (what scripts/appliance/build-vo-appliance.sh asks for) adds
# to the initramfs: the VO marker /etc/vonode-vo and /usr/local/bin/<vo>-tool,
# sge_execd/sge_shepherd with every shared library they need (from the
# installed Debian gridengine-exec), a passwd/group with sgeadmin and
# unprivileged job users, an SGE cell (--sge-cell-dir copies a cell's common/
# directory; default: the package's bootstrap), and an init step that, after
# the DHCP lease, reads vonode.sge_master= vonode.sge_master_ip=
# vonode.sge_cell= vonode.sge_root= (optional vonode.hostname=
# vonode.sge_spool=) from the kernel command line, writes /etc/hosts and
# starts sge_execd. --vo-package PKG (repeatable) adds the VO's own software:
# the programs of Debian package PKG (/usr/bin/*, with their libraries). Without
# --vo-appliance the build is the plain test appliance.
set -euo pipefail

die() { echo "build-guest: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: build-guest.sh OUTDIR [--vo NAME] [--payload-mb N] [--vo-appliance [--appliance-id ID] [--sge-cell-dir DIR] [--job-user NAME]]"
out=$1; shift
vo=test; payload_mb=0
vo_appliance=0; appliance_id=; sge_cell_dir=; job_user=vojob; vo_packages=()
while [ $# -gt 0 ]; do
  case $1 in
    --vo) vo=${2:?--vo needs a name}; shift 2 ;;
    --payload-mb) payload_mb=${2:?--payload-mb needs a number}; shift 2 ;;
    --vo-appliance) vo_appliance=1; shift ;;
    --appliance-id) appliance_id=${2:?--appliance-id needs an id}; shift 2 ;;
    --sge-cell-dir) sge_cell_dir=${2:?--sge-cell-dir needs a directory}; shift 2 ;;
    --job-user) job_user=${2:?--job-user needs a name}; shift 2 ;;
    --vo-package) vo_packages+=("${2:?--vo-package needs a Debian package name}"); shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done
[[ $vo =~ ^[a-z][a-z0-9_-]{0,31}$ ]] || die "--vo must be a VO name (a-z, 0-9, _ -)"
[[ $payload_mb =~ ^[0-9]+$ ]] || die "--payload-mb must be a whole number"
if [ "$vo_appliance" = 0 ]; then
  [ -z "$appliance_id$sge_cell_dir${vo_packages[*]}" ] || die "--appliance-id, --sge-cell-dir and --vo-package need --vo-appliance"
else
  [ -n "$appliance_id" ] || appliance_id=$vo-$(date -u +%Y%m%d%H%M%S)
  [[ $appliance_id =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]] || die "--appliance-id must be 1-64 of A-Z a-z 0-9 . _ -"
  [[ $job_user =~ ^[a-z][a-z0-9_-]{0,31}$ ]] || die "--job-user must be a user name"
  for p in "${vo_packages[@]}"; do [[ $p =~ ^[a-z0-9][a-z0-9+.-]{1,62}$ ]] || die "--vo-package $p is not a Debian package name"; done
  if [ -n "$sge_cell_dir" ]; then
    [ -f "$sge_cell_dir/bootstrap" ] || die "--sge-cell-dir $sge_cell_dir has no bootstrap (give the cell's common/ directory)"
  fi
fi
[ "$(id -u)" = 0 ] || die "run as root (apt-get download, mkfs)"

cache=${VONODE_CACHE:-/var/cache/vonode-build}
mkdir -p "$cache" "$out"
out=$(cd "$out" && pwd)

need() { command -v "$1" >/dev/null || missing+=("$2"); }
missing=()
need busybox busybox-static; need cpio cpio; need qemu-img qemu-utils; need mkfs.ext4 e2fsprogs; need gzip gzip
if [ ${#missing[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null \
    || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; } \
    || die "cannot install ${missing[*]}"
fi
busybox_bin=$(command -v busybox)
file "$busybox_bin" 2>/dev/null | grep -q 'dynamically linked' && die "$busybox_bin is dynamic; install busybox-static"

# --- kernel: newest Debian cloud kernel, unpacked once -----------------------
kernel_pkg() { apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'; }
pkg=$(kernel_pkg)
[ -n "$pkg" ] || { apt-get update >/dev/null; pkg=$(kernel_pkg); }
[ -n "$pkg" ] || die "cannot find the Debian cloud kernel package (linux-image-cloud-amd64)"
kroot=$cache/$pkg
if [ ! -d "$kroot/boot" ]; then
  (cd "$cache" && ls ${pkg}_*.deb >/dev/null 2>&1 || apt-get download "$pkg" >/dev/null 2>&1) || die "apt-get download $pkg failed"
  rm -rf "$kroot.tmp"; dpkg -x "$cache"/${pkg}_*.deb "$kroot.tmp" && mv "$kroot.tmp" "$kroot"
fi
krel=$(ls "$kroot/lib/modules")
moddir=$kroot/lib/modules/$krel

# --- initramfs -----------------------------------------------------------------
work=$(mktemp -d /tmp/vonode-guest.XXXXXX); trap 'rm -rf "$work"' EXIT
tree=$work/tree
mkdir -p "$tree"/{bin,sbin,etc,proc,sys,dev,mnt/app,run,tmp,lib/modules,usr/share/udhcpc,etc/acpi/PWRF}
cp "$busybox_bin" "$tree/bin/busybox"
for applet in $("$busybox_bin" --list); do [ -e "$tree/bin/$applet" ] || ln -s busybox "$tree/bin/$applet"; done

# Modules the guest needs, in load order: dependencies first (read from each
# module's own depends= field; depmod is not on a fresh machine).
declare -A seen=(); order=()
add_mod() {
  local name=$1 file deps d
  [ -n "${seen[$name]:-}" ] && return; seen[$name]=1
  file=$(find "$moddir/kernel" -name "$name.ko" | head -1)
  if [ -z "$file" ]; then grep -q "/$name.ko$" "$moddir/modules.builtin" || die "module $name not found"; return; fi
  deps=$(grep -ao 'depends=[a-z0-9_,-]*' "$file" | head -1 | cut -d= -f2)
  for d in ${deps//,/ }; do add_mod "$d"; done
  cp "$file" "$tree/lib/modules/"; order+=("$name")
}
for m in virtio_pci virtio_net virtio_blk virtio_console button evdev; do add_mod "$m"; done
printf '%s\n' "${order[@]}" > "$tree/etc/modules.order"

cat > "$tree/usr/share/udhcpc/default.script" <<'SCRIPT'
#!/bin/sh
# udhcpc hook: configure the lease (busybox udhcpc does nothing without one).
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
    [ -n "$hostname" ] && hostname "$hostname"
    echo "$ip" > /run/ip
    cut -d' ' -f1 /proc/uptime > /run/lease-uptime ;;
esac
exit 0
SCRIPT
chmod +x "$tree/usr/share/udhcpc/default.script"

# Power button (QMP system_powerdown / xl shutdown) -> clean poweroff, after
# the appliance's shutdown steps (/etc/vonode/shutdown.d/*, e.g. stopping a
# batch daemon so its server sees the connection close).
mkdir -p "$tree/etc/vonode/shutdown.d"
cat > "$tree/etc/acpi/PWRF/00000080" <<'POWEROFF'
#!/bin/sh
echo VONODE-GUEST-POWEROFF > /dev/console
for step in /etc/vonode/shutdown.d/*; do [ -x "$step" ] && "$step"; done
sync
poweroff -f
POWEROFF
chmod +x "$tree/etc/acpi/PWRF/00000080"

# Snapshot templates (vonode.template=1 on the kernel command line): the agent
# saves the guest's memory here, before any network traffic, DHCP or batch
# daemon, and every restore continues from this point with its own identity.
mkdir -p "$tree/etc/vonode"
cat > "$tree/etc/vonode/await-identity.sh" <<'IDENTITY'
#!/bin/sh
# Template point: say "ready" on the virtio-serial port org.vonode.identity,
# then wait for one line "identity hostname=H mac=M ip=I time=EPOCH seed=HEX"
# from the agent (after a restore), and take it: the clock, fresh randomness
# (every copy restores the same kernel RNG state), the pool MAC on eth0 (the
# restored NIC still has the template's, and eth0 stays down until it changes,
# so two copies never share a MAC on the wire), and the hostname.
port=; i=0
while [ -z "$port" ] && [ $i -lt 100 ]; do
  for p in /sys/class/virtio-ports/*; do [ "$(cat "$p/name" 2>/dev/null)" = org.vonode.identity ] && port=/dev/${p##*/}; done
  [ -n "$port" ] || { sleep 0.05; i=$((i+1)); }
done
[ -n "$port" ] || { echo "VONODE-TEMPLATE-NO-PORT" > /dev/console; exit 1; }
exec 3<>"$port"
read up _ < /proc/uptime
echo "VONODE-TEMPLATE-WAITING uptime=$up" > /dev/console
echo ready >&3
line=
while :; do
  # EOF while no host end is connected: poll; a connected, silent host end blocks the read.
  read -r line <&3 || { [ -z "$line" ] && sleep 0.02; }
  case $line in "identity "*) break ;; esac
  line=
done
# Restored: TCG translates every code path afresh here, so this step forks as little as it can
# (one fork before the acknowledgement; builtins and /proc writes for the rest).
h=; mac=; t=; seed=
for w in $line; do
  case $w in
    hostname=*) h=${w#hostname=} ;;
    mac=*) mac=${w#mac=} ;;
    time=*) t=${w#time=} ;;
    seed=*) seed=${w#seed=} ;;
  esac
done
case $mac in [0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]) ;; *) echo "VONODE-TEMPLATE-BAD-IDENTITY $line" > /dev/console; echo "error bad mac" >&3; exit 1 ;; esac
[ -n "$seed" ] && echo "$seed" > /dev/urandom
ip link set eth0 address "$mac" || { echo "error mac" >&3; exit 1; }
if [ -n "$h" ]; then echo "$h" > /proc/sys/kernel/hostname; echo "$h" > /run/vonode-hostname; fi
echo ok >&3
exec 3>&-
[ -n "$t" ] && date -s "@$t" >/dev/null 2>&1
read up _ < /proc/uptime
echo "VONODE-TEMPLATE-RESTORED hostname=$h mac=$mac uptime=$up" > /dev/console
exit 0
IDENTITY
chmod +x "$tree/etc/vonode/await-identity.sh"

cat > "$tree/init" <<'INIT'
#!/bin/sh
# vonode test appliance: modules, DHCP, VO marker, readiness line, then wait.
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /etc/modules.order); do insmod /lib/modules/$m.ko; done
# acpid first: a power-button press that arrives while DHCP runs must not be lost.
acpid -d -c /etc/acpi >/dev/null 2>&1 &
ip link set lo up
i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
if grep -qw vonode.template=1 /proc/cmdline; then /etc/vonode/await-identity.sh || { echo "VONODE-TEMPLATE-FAILED" > /dev/console; poweroff -f; }; fi
ip link set eth0 up
# Keep asking until a lease comes: on a loaded host (six TCG guests on two cores) 20 one-second tries
# could all expire before an answer, and a guest that gave up would never lease (the agent's VMR
# timeout bounds the wait).
until udhcpc -i eth0 -s /usr/share/udhcpc/default.script -t 20 -T 1 -q -n >/dev/null 2>&1; do echo "VONODE-GUEST-DHCP-RETRY" > /dev/console; done
appliance=none
if [ -b /dev/vda ] && mount -o ro -t ext4 /dev/vda /mnt/app 2>/dev/null; then appliance=$(cat /mnt/app/appliance-id 2>/dev/null | tr '\n' ' '); fi
echo "VONODE-GUEST-READY uptime=$(cut -d' ' -f1 /proc/uptime) ip=$(cat /run/ip 2>/dev/null || echo none) hostname=$(hostname) kernel=$(uname -r) appliance=$appliance" > /dev/console
while true; do sleep 3600; done
INIT
chmod +x "$tree/init"
if [ "$vo_appliance" = 1 ]; then
  # shellcheck source=scripts/appliance/vo-layer.sh
  . "$(dirname "$0")/vo-layer.sh"
  add_vo_layer
fi
(cd "$tree" && find . | cpio -o -H newc 2>/dev/null | gzip -9) > "$work/initrd.gz"

# --- disk with the VO marker (and payload) -------------------------------------
mkdir -p "$work/disk"
echo "vo=$vo appliance=${appliance_id:-$vo-$(date -u +%Y%m%d%H%M%S)}" > "$work/disk/appliance-id"
[ "$payload_mb" -gt 0 ] && head -c "${payload_mb}M" /dev/urandom > "$work/disk/payload.bin"
size_mb=$(( payload_mb + payload_mb / 10 + 16 ))
mkfs.ext4 -q -F -L "vonode-$vo" -d "$work/disk" "$work/disk.raw" "${size_mb}M"
qemu-img convert -f raw -O qcow2 "$work/disk.raw" "$work/disk.qcow2"

cp "$kroot/boot/vmlinuz-$krel" "$work/vmlinuz"
for f in vmlinuz initrd.gz disk.qcow2; do mv "$work/$f" "$out/$f"; done
entry() { printf '"%s": {"sha256": "%s", "bytes": %s}' "$1" "$(sha256sum "$out/$1" | cut -d' ' -f1)" "$(stat -c %s "$out/$1")"; }
extra=
[ "$vo_appliance" = 0 ] || extra=" \"applianceId\": \"$appliance_id\", \"voAppliance\": true,"
cat > "$out/manifest.json" <<JSON
{ "vo": "$vo",$extra "kernelRelease": "$krel", "files": { $(entry vmlinuz), $(entry initrd.gz), $(entry disk.qcow2) } }
JSON
echo "build-guest: $out (vo=$vo kernel=$krel, disk $(stat -c %s "$out/disk.qcow2") bytes)"
