# Helpers sge.sh and slurm.sh share (sourced, not run): virtual hosts, each
# a network namespace $TAG-<host>, on a cluster LAN that is a bridge inside
# one hub host's namespace (the qmaster's, the controller's), named in the
# hosts file DIR/hosts. The sourcing script defines die and sets DIR, TAG,
# HOSTS, LAN_PREFIX and BRIDGE before it calls them.
#
# The daemon helpers (live_pid, stopping by PID) are not here on purpose:
# the two scripts' differ (sge.sh's do not count a zombie as alive and stop
# the daemons together, waiting up to 20 s).

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (namespaces, daemons)"; }

netns_of() { echo "$TAG-$1"; }
valid_name() { [[ "$1" =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]] || die "not a host name: $1"; }

# Hosts-file edits keep the inode: running namespaces see it through a bind mount.
hosts_set() {   # NAME IP
  local tmp; tmp=$(mktemp)
  awk -v n="$1" '$2!=n' "$HOSTS" > "$tmp"; echo "$2 $1" >> "$tmp"; cat "$tmp" > "$HOSTS"; rm -f "$tmp"
}
ip_of() { awk -v n="$1" '$2==n{print $1}' "$HOSTS"; }

# network namespace NS, its loopback up (idempotent)
netns_up() {   # NS
  [ -e "/run/netns/$1" ] || ip netns add "$1"
  ip -n "$1" link set lo up
}

# the cluster LAN bridge, address LAN_PREFIX.1, inside namespace NS (idempotent)
lan_bridge() {   # NS
  if ! ip -n "$1" link show "$BRIDGE" >/dev/null 2>&1; then
    ip -n "$1" link add "$BRIDGE" type bridge forward_delay 0 stp_state 0
    ip -n "$1" addr add "$LAN_PREFIX.1/24" dev "$BRIDGE"
    ip -n "$1" link set "$BRIDGE" up
  fi
}

# Sets LAN_IP to NAME's LAN address: the one DIR/hosts has for it, else the
# next never-used one of LAN_PREFIX.11-254 (counter DIR/next_ip), recorded in
# DIR/hosts. Under a lock on DIR/.alloc.lock (fd 9): add-hosts run in parallel.
lan_address() {   # NAME
  exec 9>"$DIR/.alloc.lock"; flock 9
  LAN_IP=$(ip_of "$1")
  if [ -z "$LAN_IP" ]; then
    local n; n=$(cat "$DIR/next_ip")
    [ "$n" -le 254 ] || die "address pool $LAN_PREFIX.11-254 used up"
    LAN_IP=$LAN_PREFIX.$n; echo $((n + 1)) > "$DIR/next_ip"
    hosts_set "$1" "$LAN_IP"
  fi
  flock -u 9
}

# plug virtual host NAME (its namespace made) into the bridge in HUB's
# namespace: a veth pair, eth0 with address IP on NAME's side (idempotent)
lan_plug() {   # HUB NAME IP
  local hub hns veth; hub=$(netns_of "$1"); hns=$(netns_of "$2")
  veth=v${3##*.}   # unique within the hub's namespace, < 16 characters
  if ! ip -n "$hub" link show "$veth" >/dev/null 2>&1; then
    ip -n "$hub" link add "$veth" type veth peer name eth0 netns "$hns"
    ip -n "$hub" link set "$veth" master "$BRIDGE" up
    ip -n "$hns" addr add "$3/24" dev eth0
    ip -n "$hns" link set eth0 up
  fi
}

# TERM, then KILL, every process still in network namespace NS
netns_kill_all() {   # NS
  local sig pids
  for sig in TERM KILL; do
    pids=$(ip netns pids "$1" 2>/dev/null | tr '\n' ' ')
    [ -z "${pids// /}" ] && break
    # shellcheck disable=SC2086
    kill -"$sig" $pids 2>/dev/null || true; sleep 0.5
  done
}
