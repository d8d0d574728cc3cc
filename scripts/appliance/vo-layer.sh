# Sourced by build-guest.sh --vo-appliance (not run on its own): adds to the
# initramfs tree what makes the test appliance a VO appliance.
# Uses build-guest.sh's variables: tree vo appliance_id sge_cell_dir job_user,
# and its die().
#
# Added to the tree:
#   /etc/vonode-vo                      "vo=<vo> appliance=<id>"
#   /usr/local/bin/<vo>-tool            prints vo=, appliance=, the guest kernel (and software= if any)
#   /usr/bin/*, /etc/vonode/vo-software the programs of each --vo-package (+ libraries), "pkg=version" lines
#   /usr/lib/gridengine/sge_{execd,shepherd,coshepherd} (+ /usr/sbin links)
#   /lib/x86_64-linux-gnu/..., /lib64/ld-linux-x86-64.so.2   their libraries (ldd)
#   /etc/{passwd,group,nsswitch.conf,services}   root, SGE admin user, nobody,
#                                       the job user (uid 1000); no job runs as root
#   /etc/vonode/sge-cell/               the cell's common/ files (bootstrap, ...)
#   /etc/vonode/vo-prepare.sh           run by /init before the template point (no identity needed)
#   /etc/vonode/vo-init.sh              boot step run by /init after the DHCP lease
#   /etc/vonode/shutdown.d/50-sge-execd power-off step: stops sge_execd cleanly

add_vo_layer() {
  local f lib bin admin admin_uid admin_gid
  dpkg-query -W -f='${Status}\n' gridengine-exec 2>/dev/null | grep -q 'install ok installed' \
    || die "gridengine-exec is not installed (scripts/testbed/sge.sh install)"
  command -v ldd >/dev/null || die "ldd is missing (libc-bin)"

  # --- the VO marker and tool ---------------------------------------------------
  mkdir -p "$tree/etc/vonode" "$tree/usr/local/bin" "$tree/usr/sbin" "$tree/home" "$tree/var/spool/gridengine/execd"
  chmod 1777 "$tree/tmp"
  printf 'vo=%s appliance=%s\n' "$vo" "$appliance_id" > "$tree/etc/vonode-vo"
  printf 'VONODE_VO=%s\nVONODE_APPLIANCE=%s\n' "$vo" "$appliance_id" > "$tree/etc/vonode/vo.env"
  # --- the VO's own software: programs of Debian packages -----------------------
  : > "$tree/etc/vonode/vo-software"
  local pkg deb x version
  for pkg in "${vo_packages[@]}"; do
    deb=$(find "$cache" -maxdepth 1 -name "${pkg}_*.deb" | head -1)
    if [ -z "$deb" ]; then
      (cd "$cache" && apt-get download "$pkg" >/dev/null 2>&1) || { apt-get update >/dev/null 2>&1; (cd "$cache" && apt-get download "$pkg" >/dev/null 2>&1); } \
        || die "apt-get download $pkg failed (is it a Debian package? is a mirror reachable?)"
      deb=$(find "$cache" -maxdepth 1 -name "${pkg}_*.deb" | head -1)
    fi
    version=$(dpkg-deb -f "$deb" Version)
    x=$work/pkg-$pkg; rm -rf "$x"; dpkg -x "$deb" "$x"
    ls "$x"/usr/bin/* >/dev/null 2>&1 || die "Debian package $pkg has no programs in /usr/bin"
    for bin in "$x"/usr/bin/*; do
      install -D -m 755 "$bin" "$tree/usr/bin/$(basename "$bin")"
      for lib in $(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
        [ -e "$tree$lib" ] || install -D -m 755 "$(readlink -f "$lib")" "$tree$lib"
      done
      if ldd "$bin" | grep -q 'not found'; then die "$pkg: $(basename "$bin") needs libraries this machine lacks ($(ldd "$bin" | awk '/not found/ {print $1}' | tr '\n' ' '))"; fi
    done
    echo "$pkg=$version" >> "$tree/etc/vonode/vo-software"
  done
  cat > "$tree/usr/local/bin/$vo-tool" <<TOOL
#!/bin/sh
# $vo-tool: proves which VO's appliance (and guest kernel) a job runs in, and
# which of the VO's own software it carries.
sw=\$(tr '\\n' ' ' < /etc/vonode/vo-software | sed 's/ \$//')
echo "vo=$vo appliance=$appliance_id kernel=\$(uname -r)\${sw:+ software=\$sw}"
TOOL
  chmod 755 "$tree/usr/local/bin/$vo-tool"

  # --- sge_execd and friends with every library ldd names -----------------------
  copy_with_libs() {   # FILE: FILE and its libraries to the same paths in the tree
    local file=$1 l
    install -D -m 755 "$file" "$tree$file"
    for l in $(ldd "$file" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
      [ -e "$tree$l" ] || install -D -m 755 "$(readlink -f "$l")" "$tree$l"
    done
    if ldd "$file" | grep -q 'not found'; then die "$file: libraries not found on this machine"; fi
  }
  for bin in sge_execd sge_shepherd sge_coshepherd; do
    f=$(dpkg -L gridengine-exec | grep -x "/usr/lib/gridengine/$bin") || die "gridengine-exec has no /usr/lib/gridengine/$bin"
    copy_with_libs "$f"
    ln -sfn "../lib/gridengine/$bin" "$tree/usr/sbin/$bin"
  done

  # --- the cell: a given common/ directory, or the package's bootstrap ----------
  mkdir -p "$tree/etc/vonode/sge-cell"
  if [ -n "$sge_cell_dir" ]; then
    cp -rL "$sge_cell_dir/." "$tree/etc/vonode/sge-cell/"
  else
    [ -f /usr/share/gridengine/default-bootstrap ] || die "no /usr/share/gridengine/default-bootstrap (gridengine-common)"
    cp /usr/share/gridengine/default-bootstrap "$tree/etc/vonode/sge-cell/bootstrap"
  fi
  admin=$(awk '$1 == "admin_user" {print $2}' "$tree/etc/vonode/sge-cell/bootstrap")
  [[ $admin =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || die "bootstrap names no usable admin_user"
  [ "$admin" != root ] || die "admin_user root: the appliance runs sge_execd as an unprivileged admin user"
  [ "$admin" != "$job_user" ] || die "--job-user must differ from the SGE admin user"
  admin_uid=$(id -u "$admin" 2>/dev/null || echo 999); admin_gid=$(id -g "$admin" 2>/dev/null || echo 999)

  # --- users: jobs never run as root ----------------------------------------------
  cat > "$tree/etc/passwd" <<PASSWD
root:x:0:0:root:/root:/bin/sh
$admin:x:$admin_uid:$admin_gid:Grid Engine admin:/var/spool/gridengine:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
$job_user:x:1000:1000:$vo job user:/home/$job_user:/bin/sh
PASSWD
  cat > "$tree/etc/group" <<GROUP
root:x:0:
$admin:x:$admin_gid:
nogroup:x:65534:
$job_user:x:1000:
GROUP
  mkdir -p "$tree/home/$job_user" "$tree/root"
  chown 1000:1000 "$tree/home/$job_user"
  chown "$admin_uid:$admin_gid" "$tree/var/spool/gridengine/execd"
  printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n' > "$tree/etc/nsswitch.conf"
  printf 'sge-qmaster\t6444/tcp\tsge_qmaster\nsge-execd\t6445/tcp\tsge_execd\n' > "$tree/etc/services"

  # --- the boot steps -----------------------------------------------------------------
  # vo-prepare.sh: everything that needs no identity, run by /init before the
  # template point (so a restored guest has it done already); vo-init.sh: the
  # rest, after the DHCP lease. Both fork as little as they can: under TCG
  # every fork and exec costs tens of ms, more after a restore.
  cat > "$tree/etc/vonode/vo-prepare.sh" <<'VOPREPARE'
#!/bin/sh
# VO appliance preparation, run by /init before the template point: show the
# VO marker and tool, read the SGE settings from the kernel command line
# (vonode.sge_master= vonode.sge_master_ip= vonode.sge_cell= vonode.sge_root=,
# optional vonode.hostname= vonode.sge_spool=) into /run/vonode-sge.env, and
# lay out the SGE cell.
. /etc/vonode/vo.env
read -r marker < /etc/vonode-vo
echo "VONODE-VO-MARKER $marker" > /dev/console
echo "VONODE-VO-TOOL $(/usr/local/bin/"$VONODE_VO"-tool)" > /dev/console
read -r cmdline < /proc/cmdline
master=; master_ip=; cell=default; root=/opt/sge; spool=; name=
for w in $cmdline; do
  case $w in
    vonode.sge_master=*) master=${w#*=} ;;
    vonode.sge_master_ip=*) master_ip=${w#*=} ;;
    vonode.sge_cell=*) cell=${w#*=} ;;
    vonode.sge_root=*) root=${w#*=} ;;
    vonode.sge_spool=*) spool=${w#*=} ;;
    vonode.hostname=*) name=${w#*=} ;;
  esac
done
admin=
while read -r k v; do [ "$k" = admin_user ] && admin=$v; done < /etc/vonode/sge-cell/bootstrap
printf 'master=%s\nmaster_ip=%s\ncell=%s\nroot=%s\nspool=%s\nname=%s\nadmin=%s\n' "$master" "$master_ip" "$cell" "$root" "$spool" "$name" "$admin" > /run/vonode-sge.env
[ -n "$master" ] || exit 0
mkdir -p "$root/$cell" "$root/bin"
rm -rf "$root/$cell/common"; cp -r /etc/vonode/sge-cell "$root/$cell/common"
echo "$master" > "$root/$cell/common/act_qmaster"
ln -sfn /usr/lib/gridengine "$root/bin/lx-amd64"
chown -R "$admin" "$root/$cell"
[ -n "$spool" ] && mkdir -p "$spool" && chown "$admin" "$spool"
exit 0
VOPREPARE
  chmod 755 "$tree/etc/vonode/vo-prepare.sh"
  cat > "$tree/etc/vonode/vo-init.sh" <<'VOINIT'
#!/bin/sh
# VO appliance boot step, run by /init after the DHCP lease: name the host,
# write /etc/hosts and start sge_execd (settings from vo-prepare.sh).
. /run/vonode-sge.env
# A guest restored from a snapshot template got its name over the identity port.
[ -s /run/vonode-hostname ] && read -r name < /run/vonode-hostname
ip=; [ -s /run/ip ] && read -r ip < /run/ip
[ -n "$name" ] && echo "$name" > /proc/sys/kernel/hostname
read -r h < /proc/sys/kernel/hostname
case $h in ''|'(none)'|localhost) h=vwn-$(echo "${ip:-0.0.0.0}" | tr . -); echo "$h" > /proc/sys/kernel/hostname ;; esac
{ echo "127.0.0.1 localhost"
  [ -n "$ip" ] && echo "$ip $h"
  [ -n "$master" ] && [ -n "$master_ip" ] && echo "$master_ip $master"; } > /etc/hosts
if [ -z "$master" ]; then
  echo "VONODE-SGE-EXECD-SKIPPED reason=no-vonode.sge_master" > /dev/console
  exit 0
fi
lease_up=; [ -s /run/lease-uptime ] && read -r lease_up < /run/lease-uptime
read -r up _ < /proc/uptime
echo "VONODE-SGE-EXECD-START master=$master master_ip=${master_ip:-none} cell=$cell root=$root host=$h ip=${ip:-none} lease_uptime=$lease_up uptime=$up" > /dev/console
# sge_execd runs in the foreground (SGE_ND=1) in a background subshell:
# daemonising costs a fixed sleep(2) in sge_daemonize_finalize() before the
# execd even fetches its configuration (docs/registration-latency.md: 2.19 s
# → 0.17 s from exec to taking jobs). It may wait for the qmaster first.
# Its messages go to the console; VONODE-SGE-EXECD-EXIT means it ended.
( cd /
  SGE_ND=1 SGE_ROOT=$root SGE_CELL=$cell SGE_ARCH=lx-amd64 SGE_QMASTER_PORT=6444 SGE_EXECD_PORT=6445 \
    /usr/sbin/sge_execd < /dev/null > /dev/console 2>&1
  echo "VONODE-SGE-EXECD-EXIT rc=$?" > /dev/console ) &
# When the execd has its configuration from the qmaster it writes its PID file:
# the guest's side of SR, for the console log (polled every 0.25 s: a tighter
# loop of sleep forks would take the vCPU from the execd it watches).
[ -n "$spool" ] && ( i=0
  while [ $i -lt 240 ]; do
    if [ -s "$spool/$h/execd.pid" ]; then read -r up _ < /proc/uptime; echo "VONODE-SGE-EXECD-UP uptime=$up" > /dev/console; exit 0; fi
    sleep 0.25; i=$((i+1))
  done ) &
exit 0
VOINIT
  chmod 755 "$tree/etc/vonode/vo-init.sh"
  # At power-off: stop sge_execd so the qmaster sees its connection close.
  # Otherwise the qmaster keeps the dead VM's connection open and refuses the
  # next VM given the same pool name ("endpoint is not unique"), whose execd
  # then retries only a minute later.
  cat > "$tree/etc/vonode/shutdown.d/50-sge-execd" <<'EXECDSTOP'
#!/bin/sh
pids=$(pidof sge_execd) || exit 0
kill $pids
i=0
while [ $i -lt 30 ] && pidof sge_execd >/dev/null; do sleep 0.1; i=$((i+1)); done
echo "VONODE-SGE-EXECD-STOPPED after $((i * 100)) ms" > /dev/console
EXECDSTOP
  chmod 755 "$tree/etc/vonode/shutdown.d/50-sge-execd"
  # /init prepares before its template point and runs the step just before its readiness line.
  grep -q '^echo "VONODE-GUEST-READY' "$tree/init" || die "/init has no readiness line to hook into"
  grep -q '^if grep -qw vonode.template=1' "$tree/init" || die "/init has no template point to hook into"
  sed -i 's|^if grep -qw vonode.template=1|[ -x /etc/vonode/vo-prepare.sh ] \&\& /etc/vonode/vo-prepare.sh\n&|' "$tree/init"
  sed -i 's|^echo "VONODE-GUEST-READY|[ -x /etc/vonode/vo-init.sh ] \&\& /etc/vonode/vo-init.sh\n&|' "$tree/init"
}
