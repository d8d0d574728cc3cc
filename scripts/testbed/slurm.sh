#!/usr/bin/env bash
# Slurm testbed: a real munged + slurmctld (Debian slurm-wlm 22.05) and real
# dynamic-node slurmds (`slurmd -Z`), each virtual node a network namespace of
# its own, for the integration tests of the Slurm adapter
# (coordinator/lrms/slurm/). Adapted from the tested recipe in
# ../shared/recipes/slurm.
#
#   slurm.sh install                  Debian packages, non-interactively (root)
#   slurm.sh start DIR                private munged, slurm.conf, slurmctld in the
#                                     controller namespace; prints key=value lines
#   slurm.sh add-host DIR NAME        virtual node NAME on the cluster LAN (no
#                                     Slurm object: registering is the adapter's job)
#   slurm.sh start-slurmd DIR NAME [FEATURE]
#                                     start `slurmd -Z -N NAME` on NAME (with
#                                     --conf Feature=FEATURE if given); prints its PID
#   slurm.sh kill-slurmd DIR NAME     kill -9 NAME's slurmd (a node that vanished)
#   slurm.sh stop-slurmd DIR NAME     stop NAME's slurmd (TERM, then KILL)
#   slurm.sh exec DIR CMD...          run CMD on the controller with SLURM_CONF set
#                                     (scontrol, sbatch, squeue, sinfo ...)
#   slurm.sh stop DIR                 stop every daemon by PID, end what is left in
#                                     our namespaces, delete the namespaces
#   slurm.sh print-partitions VO...   print the partitions.conf `start` would write
#
# Partitions: DIR/partitions.conf is included by slurm.conf. If it does not
# exist when `start` runs, it is written for the VOs in SLURM_TESTBED_VOS
# (default "bio fusion"): per VO a NodeSet selecting nodes by Feature=<vo> and
# a partition <vo> over it (the same lines as slurmConfForVos() in
# coordinator/lrms/slurm/slurm-conf.ts; a test may write the file first).
#
# Everything lives under DIR: slurm.conf, the munge key and socket (AuthInfo),
# slurmctld state, slurmd spools, logs, PID files, the hosts file every node
# sees as /etc/hosts, job output (DIR/jobs). Outside DIR: the Debian packages,
# and the network namespaces /run/netns/<tag>-<name> (deleted by stop). The
# system's /etc/slurm, /etc/munge and /run/munge are not used or changed.
#
# Why namespaces this way (recipe): slurmd is started through nsenter --net +
# unshare --mount --uts, not `ip netns exec`, which remounts /sys and makes
# slurmd 22.05 die with "Unable to initialize cgroup plugin". The cluster LAN
# bridge lives inside the controller's namespace: nothing touches the root
# namespace's network.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/install-deps.sh"   # vonode_apt_install
. "$(dirname "${BASH_SOURCE[0]}")/lib/vhosts.sh"   # need_root, netns_of, hosts_set, lan_*, ...

LAN_PREFIX=${SLURM_TESTBED_LAN:-10.124.0}   # exists only inside our namespaces
BRIDGE=slurmbr0                            # lives INSIDE the controller's namespace
CTL=slurm-ctl                              # the controller's host name
SLURMCTLD=/usr/sbin/slurmctld
SLURMD=/usr/sbin/slurmd
MUNGED=/usr/sbin/munged

die() { echo "slurm.sh: $*" >&2; exit 1; }

# ------------------------------------------------------------------ install
cmd_install() {
  need_root
  vonode_apt_install slurm-wlm slurm-client munge
}

# ------------------------------------------------------------ state helpers
# DIR must be absolute; the tag names our network namespaces apart from any
# other testbed's.
load_dir() {
  DIR=${1:?DIR}
  case "$DIR" in /*) ;; *) die "DIR must be an absolute path: $DIR" ;; esac
  DIR=${DIR%/}
  [[ "$DIR" =~ ^[A-Za-z0-9._/+@-]+$ ]] || die "DIR has characters outside [A-Za-z0-9._/+@-]: $DIR"
  if [ -s "$DIR/tag" ]; then TAG=$(cat "$DIR/tag"); else TAG=slurmv-$(printf %s "$DIR" | md5sum | cut -c1-8); fi
  CONF=$DIR/slurm.conf
  HOSTS=$DIR/hosts
  MUNGE_SOCKET=$DIR/munge/munge.socket
}
valid_feature() { [[ "$1" =~ ^[a-z][a-z0-9_-]{0,31}$ ]] || die "not a feature (VO) name: $1"; }

# on NAME CMD...: run CMD in virtual host NAME's network namespace, in a fresh
# mount + UTS namespace with DIR/hosts as /etc/hosts and NAME as host name.
on() {
  local h=$1; shift
  nsenter --net="/run/netns/$(netns_of "$h")" unshare --mount --uts -- \
    sh -c 'mount --bind "$1" /etc/hosts && hostname "$2" && shift 2 && exec "$@"' sh "$HOSTS" "$h" \
    env SLURM_CONF="$CONF" "$@"
}

# the PID in FILE if that process is still the daemon COMM
live_pid() {   # FILE COMM
  local p; p=$(cat "$1" 2>/dev/null || true)
  [ -n "$p" ] && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$2" ] && echo "$p"
  return 0
}
has_live_pid() { [ -n "$(live_pid "$1" "$2")" ]; }   # FILE COMM
# TERM, wait up to 10 s, then KILL
stop_pid() {   # PID COMM
  local p=$1 i
  kill "$p" 2>/dev/null || return 0
  for i in $(seq 1 50); do [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$2" ] || return 0; sleep 0.2; done
  kill -9 "$p" 2>/dev/null || true
}
wait_for() {   # TENTHS CMD...: poll every 0.1 s
  local n=$1 i; shift
  for i in $(seq 1 "$n"); do "$@" && return 0; sleep 0.1; done
  return 1
}

# the partitions.conf for the VOs (keep in step with slurmConfForVos)
partitions_conf() {
  local vo
  echo "# VO partitions: a dynamic node joins the partition of its Feature"
  for vo in "$@"; do
    valid_feature "$vo"
    echo "NodeSet=ns_$vo Feature=$vo"
    echo "PartitionName=$vo Nodes=ns_$vo MaxTime=INFINITE State=UP"
  done
}

write_conf() {
  cat <<EOF
# generated by vonode scripts/testbed/slurm.sh -- one controller, dynamic nodes only
ClusterName=vonode
SlurmctldHost=$CTL($LAN_PREFIX.1)
SlurmUser=slurm
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/d/%n
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd-%n.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups: works without a systemd-managed cgroup tree
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# dynamic nodes (slurmd -Z, scontrol create/delete)
MaxNodeCount=64
TreeWidth=65533
ReturnToService=2
# a dead slurmd is DOWN after 5-10 s (recipe); read only when slurmctld starts
SlurmdTimeout=5
MessageTimeout=2
SlurmctldTimeout=30
# default batch_sched_delay=3 makes every sbatch wait for a 3 s scheduling tick
SchedulerParameters=batch_sched_delay=0
InactiveLimit=0
KillWait=5
MinJobAge=30
Waittime=0
Include $DIR/partitions.conf
EOF
}

# ------------------------------------------------------------------- start
cmd_start() {
  need_root
  load_dir "$1"
  for b in "$MUNGED" mungekey "$SLURMCTLD" "$SLURMD" scontrol nsenter unshare ip; do
    command -v "$b" >/dev/null || die "missing $b (run: slurm.sh install)"
  done
  mkdir -p "$DIR"/{ctld,log,run,d,munge,jobs}
  # the slurm and munge users must reach their files under DIR; jobs write to DIR/jobs
  chmod 755 "$DIR"; chmod 1777 "$DIR/jobs"
  echo "$TAG" > "$DIR/tag"
  [ -s "$HOSTS" ] || printf '127.0.0.1 localhost\n' > "$HOSTS"
  [ -s "$DIR/next_ip" ] || echo 11 > "$DIR/next_ip"
  hosts_set "$CTL" "$LAN_PREFIX.1"

  # 1. a private munged: own key and socket under DIR (AuthInfo=socket=...)
  chown munge:munge "$DIR/munge"; chmod 700 "$DIR/munge"
  if [ ! -s "$DIR/munge/munge.key" ]; then
    mungekey --create --keyfile="$DIR/munge/munge.key"
    chown munge:munge "$DIR/munge/munge.key"; chmod 400 "$DIR/munge/munge.key"
  fi
  chmod 711 "$DIR/munge"   # clients (slurm user, root) reach the socket, not the key
  if [ -z "$(live_pid "$DIR/munge/munged.pid" munged)" ]; then
    runuser -u munge -- "$MUNGED" --socket="$MUNGE_SOCKET" --key-file="$DIR/munge/munge.key" \
      --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed"
    wait_for 100 sh -c 'munge -S "$1" -n | unmunge -S "$1" >/dev/null 2>&1' sh "$MUNGE_SOCKET" ||
      die "munged did not come up (see $DIR/munge/munged.log)"
  fi

  # 2. slurm.conf and the VO partitions
  [ -e "$DIR/partitions.conf" ] || partitions_conf ${SLURM_TESTBED_VOS:-bio fusion} > "$DIR/partitions.conf"
  write_conf > "$CONF"
  chown slurm:slurm "$DIR/ctld" "$DIR/log" "$DIR/run"

  # 3. the controller's namespace and the cluster LAN bridge inside it
  local ns; ns=$(netns_of "$CTL")
  netns_up "$ns"
  lan_bridge "$ns"

  # 4. slurmctld (starts as root, drops to SlurmUser, daemonises, writes its PID file)
  if [ -z "$(live_pid "$DIR/run/slurmctld.pid" slurmctld)" ]; then
    on "$CTL" "$SLURMCTLD"
    wait_for 200 sh -c 'nsenter --net="$1" env SLURM_CONF="$2" scontrol ping 2>/dev/null | grep -q "is UP"' \
      sh "/run/netns/$ns" "$CONF" || { tail -20 "$DIR/log/slurmctld.log" >&2 || true; die "slurmctld did not come up"; }
  fi
  echo "slurm_conf=$CONF"
  echo "netns=/run/netns/$ns"
  echo "slurmctld_pid=$(live_pid "$DIR/run/slurmctld.pid" slurmctld)"
  echo "munged_pid=$(live_pid "$DIR/munge/munged.pid" munged)"
}

# ---------------------------------------------------------------- add-host
cmd_add_host() {
  need_root
  load_dir "$1"; local name=${2:?NAME}; valid_name "$name"
  [ -s "$CONF" ] || die "no testbed in $DIR (run: slurm.sh start $DIR)"
  [ "$name" != "$CTL" ] || die "$CTL is the controller"
  lan_address "$name"; local ip=$LAN_IP
  netns_up "$(netns_of "$name")"
  lan_plug "$CTL" "$name" "$ip"
  mkdir -p "$DIR/d/$name"
  echo "host=$name ip=$ip"
}

# ------------------------------------------------------------------ slurmds
cmd_start_slurmd() {
  need_root
  load_dir "$1"; local name=${2:?NAME} feature=${3:-}; valid_name "$name"
  [ -n "$feature" ] && valid_feature "$feature"
  [ -e "/run/netns/$(netns_of "$name")" ] || die "no virtual host $name (run: slurm.sh add-host $DIR $name)"
  local pidf=$DIR/run/slurmd-$name.pid p
  p=$(live_pid "$pidf" slurmd)
  if [ -z "$p" ]; then
    rm -f "$pidf"
    # slurmd daemonises and writes SlurmdPidFile once it is up
    if [ -n "$feature" ]; then on "$name" "$SLURMD" -Z -N "$name" --conf "Feature=$feature"
    else on "$name" "$SLURMD" -Z -N "$name"; fi
    wait_for 100 has_live_pid "$pidf" slurmd || true
    p=$(live_pid "$pidf" slurmd)
    [ -n "$p" ] || { tail -5 "$DIR/log/slurmd-$name.log" >&2 || true; die "slurmd on $name wrote no PID file ($pidf)"; }
  fi
  echo "$p"
}

cmd_kill_slurmd() {
  need_root
  load_dir "$1"; local name=${2:?NAME}; valid_name "$name"
  local p; p=$(live_pid "$DIR/run/slurmd-$name.pid" slurmd)
  [ -n "$p" ] || die "no slurmd running for $name"
  kill -9 "$p"; echo "$p"
}

cmd_stop_slurmd() {
  need_root
  load_dir "$1"; local name=${2:?NAME}; valid_name "$name"
  local p; p=$(live_pid "$DIR/run/slurmd-$name.pid" slurmd)
  [ -n "$p" ] && stop_pid "$p" slurmd
  rm -f "$DIR/run/slurmd-$name.pid"
}

cmd_exec() {
  load_dir "$1"; shift
  [ $# -gt 0 ] || die "exec: no command"
  nsenter --net="/run/netns/$(netns_of "$CTL")" env SLURM_CONF="$CONF" "$@"
}

# -------------------------------------------------------------------- stop
cmd_stop() {
  need_root
  load_dir "$1"
  [ -d "$DIR" ] || return 0
  local f p ns
  for f in "$DIR"/run/slurmd-*.pid; do
    [ -e "$f" ] || continue
    p=$(live_pid "$f" slurmd); [ -n "$p" ] && stop_pid "$p" slurmd
  done
  p=$(live_pid "$DIR/run/slurmctld.pid" slurmctld); [ -n "$p" ] && stop_pid "$p" slurmctld
  p=$(live_pid "$DIR/munge/munged.pid" munged); [ -n "$p" ] && stop_pid "$p" munged
  # slurmstepds and jobs of killed slurmds were started in our namespaces
  for f in /run/netns/"$TAG"-*; do
    [ -e "$f" ] || continue
    ns=$(basename "$f")
    netns_kill_all "$ns"
    ip netns del "$ns"
  done
  echo "stopped testbed in $DIR"
}

main() {
  local cmd=${1:-}; shift || true
  case "$cmd" in
    install) cmd_install ;;
    start) cmd_start "$@" ;;
    add-host) cmd_add_host "$@" ;;
    start-slurmd) cmd_start_slurmd "$@" ;;
    kill-slurmd) cmd_kill_slurmd "$@" ;;
    stop-slurmd) cmd_stop_slurmd "$@" ;;
    exec) cmd_exec "$@" ;;
    stop) cmd_stop "$@" ;;
    print-partitions) partitions_conf "$@" ;;
    *) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0" >&2; exit 2 ;;
  esac
}
main "$@"
