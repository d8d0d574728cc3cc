#!/usr/bin/env bash
# Grid Engine testbed: a real sge_qmaster and sge_execds (Debian gridengine
# 8.1.9), each "host" a network namespace + UTS namespace of its own, for the
# integration tests of the SGE adapter (coordinator/lrms/sge/). Adapted from
# the tested recipe in ../shared/recipes/sge.
#
#   sge.sh install                   Debian packages, non-interactively (root)
#   sge.sh start DIR [MASTER]        new cell under DIR, start the qmaster on
#                                    virtual host MASTER (default sge-master)
#   sge.sh add-host DIR NAME         virtual host NAME on the cluster LAN (no SGE
#                                    object: registering is the adapter's job)
#   sge.sh start-execd DIR NAME      start sge_execd on NAME; prints its PID
#   sge.sh kill-execd DIR NAME       kill -9 NAME's execd (a host that vanished)
#   sge.sh exec DIR HOST CMD...      run CMD on virtual host HOST with
#                                    SGE_ROOT/SGE_CELL set (qconf, qsub, ...)
#   sge.sh stop DIR                  stop every daemon by PID, end what is left
#                                    in our namespaces, delete the namespaces
#
# Everything lives under DIR: the cell (SGE_ROOT=DIR/root, SGE_CELL=default),
# berkeleydb and qmaster/execd spools, the hosts file every virtual host sees
# as /etc/hosts, the persistent UTS namespaces, job output (DIR/jobs). Outside
# DIR: the Debian packages and their own files, and the network namespaces
# (/run/netns/<tag>-<host>, deleted by stop). The system cell the packages
# know (/var/lib/gridengine/default) is not used.
#
# Pitfalls (see the recipe): SGE never runs a job as root and wants uid/gid
# >= 1000, so submit as `nobody` (sge.sh exec DIR MASTER runuser -u nobody --
# qsub -wd DIR/jobs ...; no user is created). An execd started before its host
# is an exec host is refused by the qmaster and exits. A name keeps its IP and
# an IP is never reused for another name (the qmaster caches IP->name).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/install-deps.sh"   # vonode_apt_install
. "$(dirname "${BASH_SOURCE[0]}")/lib/vhosts.sh"   # need_root, netns_of, hosts_set, lan_*, ...

SGE_CELL_NAME=default
LAN_PREFIX=${SGE_TESTBED_LAN:-10.123.0}   # exists only inside our namespaces
BRIDGE=sgebr0                             # lives INSIDE the master's namespace
PKG_ROOT=/var/lib/gridengine              # the packages' SGE_ROOT (binaries, util)

die() { echo "sge.sh: $*" >&2; exit 1; }

# ------------------------------------------------------------------ install
cmd_install() {
  need_root
  vonode_apt_install gridengine-master gridengine-exec gridengine-client
}

# ------------------------------------------------------------ state helpers
# DIR must be absolute; the tag names our network namespaces apart from any
# other testbed's.
load_dir() {
  DIR=${1:?DIR}
  case "$DIR" in /*) ;; *) die "DIR must be an absolute path: $DIR" ;; esac
  DIR=${DIR%/}
  SGE_ROOT_DIR=$DIR/root
  HOSTS=$DIR/hosts
  if [ -s "$DIR/tag" ]; then TAG=$(cat "$DIR/tag"); else TAG=sgev-$(printf %s "$DIR" | md5sum | cut -c1-8); fi
  MASTER=$(cat "$DIR/master" 2>/dev/null || echo sge-master)
}

# on HOST CMD...: run CMD on virtual host HOST: its network namespace, its
# UTS namespace (hostname), DIR/hosts as /etc/hosts (bind mount inside the
# private mount namespace `ip netns exec` makes), the cell's environment.
on() {
  local h=$1; shift
  ip netns exec "$(netns_of "$h")" nsenter --uts="$DIR/uts/$h" -- \
    sh -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' sh "$HOSTS" \
    env SGE_ROOT="$SGE_ROOT_DIR" SGE_CELL="$SGE_CELL_NAME" "$@"
}

# namespaces of virtual host NAME (idempotent)
make_host() {
  local h=$1 ns; ns=$(netns_of "$1")
  mkdir -p "$DIR/uts"
  netns_up "$ns"
  if ! mountpoint -q "$DIR/uts/$h"; then
    touch "$DIR/uts/$h"
    unshare --uts="$DIR/uts/$h" hostname "$h"
  fi
}
drop_host() {
  local h=$1 ns; ns=$(netns_of "$1")
  if [ -e "/run/netns/$ns" ]; then ip netns del "$ns"; fi
  if mountpoint -q "$DIR/uts/$h" 2>/dev/null; then umount "$DIR/uts/$h"; fi
  rm -f "$DIR/uts/$h"
}

# true while PID runs as COMM; a zombie does not count (the daemons are
# reparented to PID 1, which here need not reap them)
alive() {   # PID COMM
  [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] &&
    [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}
# the PID in FILE if that process is still the daemon COMM
live_pid() {   # FILE COMM
  local p; p=$(cat "$1" 2>/dev/null || true)
  if [ -n "$p" ] && alive "$p" "$2"; then echo "$p"; fi
  return 0
}
# TERM every PID:COMM given, wait up to 20 s for all (an idle sge_qmaster
# takes ~11 s for its controlled shutdown), then KILL the ones left
stop_pids() {   # PID:COMM...
  local pc i left
  for pc in "$@"; do kill "${pc%%:*}" 2>/dev/null || true; done
  for i in $(seq 1 100); do
    left=()
    for pc in "$@"; do if alive "${pc%%:*}" "${pc#*:}"; then left+=("$pc"); fi; done
    [ ${#left[@]} -eq 0 ] && return 0
    sleep 0.2
  done
  for pc in "${left[@]}"; do kill -9 "${pc%%:*}" 2>/dev/null || true; done
}

# ------------------------------------------------------------------- start
cmd_start() {
  need_root
  load_dir "$1"; MASTER=${2:-sge-master}; valid_name "$MASTER"
  [ -x /usr/lib/gridengine/sge_qmaster ] || die "gridengine is not installed (run: sge.sh install)"
  mkdir -p "$DIR"
  # the admin user (sgeadmin) must reach the spools; jobs write to DIR/jobs
  chmod 755 "$DIR"
  echo "$TAG" > "$DIR/tag"; echo "$MASTER" > "$DIR/master"
  [ -s "$HOSTS" ] || printf '127.0.0.1 localhost\n' > "$HOSTS"
  [ -s "$DIR/next_ip" ] || echo 11 > "$DIR/next_ip"
  mkdir -p "$DIR/jobs"; chmod 1777 "$DIR/jobs"

  # 1. the cell: SGE_ROOT with the package's binaries, a bootstrap pointing at
  #    our spools, then the package's init_cluster steps with our global config
  local cell=$SGE_ROOT_DIR/$SGE_CELL_NAME/common d
  if [ ! -e "$DIR/spool/db/sge" ]; then
    mkdir -p "$cell" "$DIR/spool/db" "$DIR/spool/qmaster/job_scripts" "$DIR/spool/execd"
    for d in bin lib util utilbin; do ln -sfn "$PKG_ROOT/$d" "$SGE_ROOT_DIR/$d"; done
    sed -e "s|^spooling_params .*|spooling_params         $DIR/spool/db|" \
        -e "s|^qmaster_spool_dir .*|qmaster_spool_dir       $DIR/spool/qmaster|" \
        /usr/share/gridengine/default-bootstrap > "$cell/bootstrap"
    # Short report/unheard times: a vanished execd shows as 'u' after 9-15 s
    # here (the qmaster checks on its own timer; package defaults 40 s / 5 min
    # take minutes; the recipe's 5 s / 20 s took ~30 s). Accounting (qacct)
    # written at once instead of every 15 s. Execds spool under DIR.
    sed -e "s|^execd_spool_dir .*|execd_spool_dir        $DIR/spool/execd|" \
        -e 's|^load_report_time .*|load_report_time       00:00:01|' \
        -e 's|^max_unheard .*|max_unheard            00:00:05|' \
        -e 's|^reporting_params .*|reporting_params       accounting=true reporting=false flush_time=00:00:15 accounting_flush_time=00:00:00 joblog=false sharelog=00:00:00|' \
        /usr/share/gridengine/default-configuration > "$DIR/spool/global.conf"
    chown -R sgeadmin:sgeadmin "$SGE_ROOT_DIR/$SGE_CELL_NAME" "$DIR/spool"
    # init_cluster's steps (it hard-codes the package's configuration file)
    su -s /bin/sh sgeadmin -c "
      set -e; export SGE_ROOT='$SGE_ROOT_DIR' SGE_CELL='$SGE_CELL_NAME'
      /usr/lib/gridengine/spoolinit berkeleydb libspoolb '$DIR/spool/db' init
      /usr/lib/gridengine/spooldefaults configuration '$DIR/spool/global.conf'
      /usr/lib/gridengine/spooldefaults complexes /usr/share/gridengine/util/resources/centry
      /usr/lib/gridengine/spooldefaults usersets /usr/share/gridengine/util/resources/usersets
      /usr/lib/gridengine/spooldefaults managers sgeadmin" > "$DIR/init-cluster.log" 2>&1 ||
      { cat "$DIR/init-cluster.log" >&2; die "cell initialisation failed"; }
  fi
  echo "$MASTER" > "$cell/act_qmaster"; chown sgeadmin:sgeadmin "$cell/act_qmaster"

  # 2. the master host and the cluster LAN bridge inside it
  hosts_set "$MASTER" "$LAN_PREFIX.1"
  make_host "$MASTER"
  lan_bridge "$(netns_of "$MASTER")"

  # 3. the qmaster (starts as root, drops to sgeadmin, daemonises)
  local pidf=$DIR/spool/qmaster/qmaster.pid i
  [ -n "$(live_pid "$pidf" sge_qmaster)" ] || on "$MASTER" /usr/sbin/sge_qmaster
  for i in $(seq 1 150); do
    on "$MASTER" qconf -sh >/dev/null 2>&1 && break
    [ "$i" = 150 ] && { tail -20 "$DIR/spool/qmaster/messages" >&2 || true; die "qmaster did not come up"; }
    sleep 0.2
  done
  on "$MASTER" qconf -ss 2>/dev/null | grep -qx "$MASTER" || on "$MASTER" qconf -as "$MASTER" >/dev/null 2>&1

  # 4. scheduler: run every second, and on each submit/finish
  local tmp; tmp=$(mktemp -d)
  on "$MASTER" qconf -ssconf | sed \
    -e 's/^schedule_interval .*/schedule_interval 0:0:1/' \
    -e 's/^flush_submit_sec .*/flush_submit_sec 1/' \
    -e 's/^flush_finish_sec .*/flush_finish_sec 1/' > "$tmp/sconf"
  on "$MASTER" qconf -Msconf "$tmp/sconf" >/dev/null 2>&1; rm -rf "$tmp"
  echo "master=$MASTER qmaster_pid=$(live_pid "$pidf" sge_qmaster) sge_root=$SGE_ROOT_DIR sge_cell=$SGE_CELL_NAME"
}

# ---------------------------------------------------------------- add-host
cmd_add_host() {
  need_root
  load_dir "$1"; local name=${2:?NAME}; valid_name "$name"
  [ -s "$DIR/master" ] || die "no testbed in $DIR (run: sge.sh start $DIR)"
  # A name keeps its address; a new name gets a never-used one: the qmaster
  # caches IP->name and rejects an IP seen under another name for minutes.
  lan_address "$name"; local ip=$LAN_IP
  make_host "$name"
  lan_plug "$MASTER" "$name" "$ip"
  echo "host=$name ip=$ip"
}

# ------------------------------------------------------------------ execds
cmd_start_execd() {
  need_root
  load_dir "$1"; local name=${2:?NAME}; valid_name "$name"
  [ -e "$DIR/uts/$name" ] || die "no virtual host $name (run: sge.sh add-host $DIR $name)"
  local pidf=$DIR/spool/execd/$name/execd.pid i p
  p=$(live_pid "$pidf" sge_execd)
  if [ -z "$p" ]; then
    rm -f "$pidf"
    on "$name" /usr/sbin/sge_execd   # starts as root, daemonises
    for i in $(seq 1 100); do p=$(live_pid "$pidf" sge_execd); [ -n "$p" ] && break; sleep 0.1; done
    [ -n "$p" ] || die "sge_execd on $name wrote no PID file ($pidf)"
  fi
  echo "$p"
}

cmd_kill_execd() {
  need_root
  load_dir "$1"; local name=${2:?NAME}; valid_name "$name"
  local p; p=$(live_pid "$DIR/spool/execd/$name/execd.pid" sge_execd)
  [ -n "$p" ] || die "no sge_execd running for $name"
  kill -9 "$p"; echo "$p"
}

cmd_exec() {
  load_dir "$1"; local h=${2:?HOST}; shift 2
  valid_name "$h"; [ $# -gt 0 ] || die "exec: no command"
  on "$h" "$@"
}

# -------------------------------------------------------------------- stop
cmd_stop() {
  need_root
  load_dir "$1"
  [ -d "$DIR" ] || return 0
  local f p h ns daemons=()
  for f in "$DIR"/spool/execd/*/execd.pid; do
    [ -e "$f" ] || continue
    p=$(live_pid "$f" sge_execd); [ -n "$p" ] && daemons+=("$p:sge_execd")
  done
  p=$(live_pid "$DIR/spool/qmaster/qmaster.pid" sge_qmaster); [ -n "$p" ] && daemons+=("$p:sge_qmaster")
  [ ${#daemons[@]} -eq 0 ] || stop_pids "${daemons[@]}"
  # shepherds and jobs of killed execds were started through our namespaces
  for f in "$DIR"/uts/*; do
    [ -e "$f" ] || continue
    h=$(basename "$f"); ns=$(netns_of "$h")
    if [ -e "/run/netns/$ns" ]; then netns_kill_all "$ns"; fi
    drop_host "$h"
  done
  echo "stopped testbed in $DIR"
}

main() {
  local cmd=${1:-}; shift || true
  case "$cmd" in
    install) cmd_install ;;
    start) cmd_start "$@" ;;
    add-host) cmd_add_host "$@" ;;
    start-execd) cmd_start_execd "$@" ;;
    kill-execd) cmd_kill_execd "$@" ;;
    exec) cmd_exec "$@" ;;
    stop) cmd_stop "$@" ;;
    *) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2 ;;
  esac
}
main "$@"
