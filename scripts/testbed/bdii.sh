#!/usr/bin/env bash
# BDII testbed: a real resource BDII (Debian bdii 6.0.0 + slapd 2.5) on a
# loopback port, private to one test run, for the information-system tests
# (coordinator/infosys). Adapted from the tested recipe in ../shared/recipes/bdii.
#
#   bdii.sh install                Debian packages bdii slapd ldap-utils glue-schema,
#                                  non-interactively, starting no daemon (root)
#   bdii.sh start DIR [options]    new BDII under DIR: slapd on ldap://127.0.0.1:PORT
#                                  and the updater (bdii-update, as user openldap,
#                                  with no environment, as the init script runs it);
#                                  waits for the first update cycle and prints
#                                  uri=… slapd_pid=… updater_pid=… (one per line)
#       --port N                   (env BDII_PORT, default 2170)
#       --breathe S                seconds the updater sleeps between cycles
#                                  (env BDII_BREATHE_TIME, default 5)
#       --provider 'CMD'           the information provider BDII runs every cycle:
#                                  written verbatim after `exec` into a /bin/sh
#                                  script in DIR/gip/provider (quote for sh)
#       --log-level L              updater log level (env BDII_LOG_LEVEL, default WARNING)
#   bdii.sh stop DIR               stop the updater (and a provider it is running)
#                                  and slapd, by the PIDs in DIR/run
#
# Everything lives under DIR: slapd.conf (the package's, with our paths and a
# random root password), the databases, bdii.conf, the patched updater, the
# provider dir, logs (DIR/log/bdii-update.log) and PID files. The package's
# own instance (/etc/init.d/bdii, /var/lib/bdii, port 2170 on 0.0.0.0) is not used.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/install-deps.sh"   # vonode_apt_install

BDII_USER=openldap
PACKAGES=(bdii slapd ldap-utils glue-schema)

die() { echo "bdii.sh: $*" >&2; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "must run as root (slapd and the updater run as $BDII_USER)"; }

# ------------------------------------------------------------------ install
cmd_install() {
  need_root
  vonode_apt_install "${PACKAGES[@]}"
}

# ------------------------------------------------------------------ start
cmd_start() {
  need_root
  local dir=${1:?usage: bdii.sh start DIR [--port N] [--breathe S] [--provider CMD] [--log-level L]}; shift
  local port=${BDII_PORT:-2170} breathe=${BDII_BREATHE_TIME:-5} log_level=${BDII_LOG_LEVEL:-WARNING} provider=''
  while [ $# -gt 0 ]; do
    case $1 in
      --port) port=${2:?}; shift 2 ;;
      --breathe) breathe=${2:?}; shift 2 ;;
      --provider) provider=${2:?}; shift 2 ;;
      --log-level) log_level=${2:?}; shift 2 ;;
      *) die "unknown option $1" ;;
    esac
  done
  [[ $port =~ ^[0-9]+$ ]] || die "--port takes a port number, not $port"
  [[ $breathe =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--breathe takes seconds, not $breathe"
  cmd_install
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ -e "$dir/run/slapd.pid" ] && die "$dir already has a BDII (stop it first)"
  local uri=ldap://127.0.0.1:$port
  if ldapsearch -x -H "$uri" -s base -b '' >/dev/null 2>&1; then die "something already answers on $uri"; fi

  # The updater and the provider run as $BDII_USER: it must reach DIR.
  chmod 755 "$dir"
  mkdir -p "$dir"/{db/glue,db/grid,db/stats,var/archive,run,log,gip/ldif,gip/provider,gip/plugin}
  chown -R "$BDII_USER:$BDII_USER" "$dir"/{db,var,run,log}

  # slapd.conf: the package's (schemas, suffixes, indexes, the ARC relays) with
  # our paths and a fresh root password (rootpw without {SCHEME} is cleartext).
  local pw; pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  sed -e "s#/var/lib/bdii/db/#$dir/db/#g" \
      -e "s#/run/bdii/db/#$dir/run/#g" \
      -e "s#^rootpw .*#rootpw          $pw#" \
      /etc/bdii/bdii-slapd.conf > "$dir/slapd.conf"
  if grep -Eq '/var/lib/bdii|/run/bdii' "$dir/slapd.conf"; then die "could not relocate /etc/bdii/bdii-slapd.conf"; fi
  chown "root:$BDII_USER" "$dir/slapd.conf"; chmod 640 "$dir/slapd.conf"

  # bdii-update 6.0.0 calls ldapadd/ldapmodify/ldapdelete/ldapsearch with -h HOST
  # -p PORT, which OpenLDAP 2.5 removed ("unrecognized option"): the database
  # then stays empty while the log says FailedAdds: 0. Run a patched copy.
  sed -e 's#-h %s -p %s#-H ldap://%s:%s#g' \
      -e 's#ldapsearch -LLL -x -h %s -b %s#ldapsearch -LLL -x -H ldap://%s -b %s#' \
      -e 's#log\.warn(#log.warning(#g' \
      /usr/sbin/bdii-update > "$dir/bdii-update"
  if grep -q -- '-h %s' "$dir/bdii-update"; then die "could not patch /usr/sbin/bdii-update"; fi
  chmod 755 "$dir/bdii-update"

  cat > "$dir/bdii.conf" <<EOF
# written by bdii.sh start
BDII_LOG_FILE=$dir/log/bdii-update.log
BDII_PID_FILE=$dir/run/bdii-update.pid
BDII_RUN_DIR=$dir/run
BDII_LOG_LEVEL=$log_level
BDII_LDIF_DIR=$dir/gip/ldif
BDII_PROVIDER_DIR=$dir/gip/provider
BDII_PLUGIN_DIR=$dir/gip/plugin
BDII_HOSTNAME=127.0.0.1
BDII_PORT=$port
BDII_BREATHE_TIME=$breathe
BDII_READ_TIMEOUT=${BDII_READ_TIMEOUT:-300}
BDII_ARCHIVE_SIZE=0
BDII_DELETE_DELAY=0
BDII_USER=$BDII_USER
BDII_VAR_DIR=$dir/var
SLAPD_CONF=$dir/slapd.conf
EOF
  # The tree's roots (o=glue, GLUE2GroupID=resource, mds-vo-name=resource|local …).
  cp /usr/share/bdii/default.ldif "$dir/gip/ldif/default.ldif"
  if [ -n "$provider" ]; then
    printf '#!/bin/sh\n# written by bdii.sh start: BDII runs this every cycle, as %s, with no environment\nexec %s\n' \
      "$BDII_USER" "$provider" > "$dir/gip/provider/provider"
    chmod 755 "$dir/gip/provider/provider"
  fi

  /usr/sbin/slapd -f "$dir/slapd.conf" -h "$uri" -u "$BDII_USER" -g "$BDII_USER" \
    || die "slapd did not start: $(/usr/sbin/slapd -Tt -f "$dir/slapd.conf" 2>&1 | tail -3)"
  wait_for "slapd on $uri" 20 ldapsearch -x -H "$uri" -s base -b '' namingContexts
  local slapd_pid; slapd_pid=$(cat "$dir/run/slapd.pid")

  # As the init script does, but with an empty environment instead of a login shell's.
  runuser -u "$BDII_USER" -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    /usr/bin/python3 "$dir/bdii-update" -c "$dir/bdii.conf" -d
  wait_for "the updater's PID file" 20 test -s "$dir/run/bdii-update.pid"
  local updater_pid; updater_pid=$(cat "$dir/run/bdii-update.pid")
  # The updater sleeps 3 s before its first cycle; the cycle ends by writing its stats.
  wait_for "the first update cycle (see $dir/log/bdii-update.log)" "${BDII_START_TIMEOUT:-90}" \
    sh -c "ldapsearch -x -LLL -H '$uri' -b o=infosys '(objectClass=UpdateStats)' dn 2>/dev/null | grep -q '^dn:'"
  echo "uri=$uri"
  echo "slapd_pid=$slapd_pid"
  echo "updater_pid=$updater_pid"
}

# wait_for WHAT SECONDS CMD...: polls CMD every 0.1 s.
wait_for() {
  local what=$1 secs=$2; shift 2
  local tries=$((secs * 10))
  while ! "$@" >/dev/null 2>&1; do
    tries=$((tries - 1))
    [ $tries -gt 0 ] || die "timed out waiting for $what"
    sleep 0.1
  done
}

# ------------------------------------------------------------------ stop
# descendants PID: every process below PID (the updater's readers and the
# provider they run, each in a process group of its own).
descendants() {
  local kid
  for kid in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$kid"
    descendants "$kid"
  done
}

# stop_pid NAME PID: TERM, then KILL after 5 s.
stop_pid() {
  local name=$1 pid=$2 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  echo "bdii.sh: $name ($pid) ignored TERM; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
}

cmd_stop() {
  local dir=${1:?usage: bdii.sh stop DIR}
  local pid kids
  if [ -s "$dir/run/bdii-update.pid" ]; then
    pid=$(cat "$dir/run/bdii-update.pid")
    kids=$(descendants "$pid")
    stop_pid bdii-update "$pid"
    for k in $kids; do stop_pid "provider reader" "$k"; done
    rm -f "$dir/run/bdii-update.pid"
  fi
  if [ -s "$dir/run/slapd.pid" ]; then
    stop_pid slapd "$(cat "$dir/run/slapd.pid")"
    rm -f "$dir/run/slapd.pid"
  fi
}

case ${1:-} in
  install) shift; cmd_install "$@" ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  *) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
