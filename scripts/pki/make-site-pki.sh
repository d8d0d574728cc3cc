#!/usr/bin/env bash
# Makes a site CA, role certificates and the CRL for vonode's mutual TLS, with openssl.
#
# Usage: scripts/pki/make-site-pki.sh DIR --role ROLE NAME[:SAN,...] [NAME...] [--role ROLE2 NAME...]
#        scripts/pki/make-site-pki.sh DIR --revoke NAME [NAME...]
#   e.g. make-site-pki.sh /etc/vonode/pki --role coordinator coordinator:DNS:coord.site \
#          --role agent phys-01 phys-02 --role admin cli-admin --role reader monitoring
#
# Roles (docs/access.md has the table of RPCs each may call):
#   admin        everything, including policy apply
#   operator     deploy, drain, remove and every read; no policy change
#   reader       status, hosts, nodes, timings, policy show, events
#   agent        register and heartbeat, only as the host named by the certificate's CN
#   gridway      GridWay's IM MAD: reads and ReportVisibility
#   infosys      the BDII provider: reads
#   coordinator  the coordinator itself: the only caller agents obey (Deploy, Remove, images)
#
# The role travels in the certificate as the URI subjectAltName urn:vonode:role:ROLE (a
# namespaced name no other use of the site's CA can collide with). The CN is the party's name;
# for an agent it must be the host name the agent registers as. Without an explicit SAN list a
# certificate gets DNS:NAME.
#
# Writes DIR/ca.pem, DIR/ca-key.pem (once; reused after), DIR/NAME.pem, DIR/NAME-key.pem, and
# DIR/crl.pem (the revocation list daemons read with tls.crl; re-signed on every run, so it never
# expires while the script is used). --revoke adds certificates to the CRL; the daemons reload
# crl.pem when it changes. Each certificate is usable as both server and client.
set -euo pipefail
usage='usage: make-site-pki.sh DIR --role ROLE NAME[:SAN,...]... | make-site-pki.sh DIR --revoke NAME...'
dir=${1:?$usage}; shift
[ $# -ge 1 ] || { echo "$usage" >&2; exit 2; }
command -v openssl >/dev/null || { echo "openssl is missing: apt-get install openssl" >&2; exit 2; }
ROLES='admin operator reader agent gridway infosys coordinator'

mkdir -p "$dir/ca-db"; chmod 700 "$dir"
if [ ! -f "$dir/ca.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=vonode site CA" -keyout "$dir/ca-key.pem" -out "$dir/ca.pem" 2>/dev/null
fi
# openssl ca keeps the revocation database; it needs a config naming its files.
[ -f "$dir/ca-db/index.txt" ] || : > "$dir/ca-db/index.txt"
[ -f "$dir/ca-db/crlnumber" ] || echo 1000 > "$dir/ca-db/crlnumber"
cat > "$dir/ca-db/openssl.cnf" <<EOF
[ ca ]
default_ca = site
[ site ]
database = $dir/ca-db/index.txt
crlnumber = $dir/ca-db/crlnumber
certificate = $dir/ca.pem
private_key = $dir/ca-key.pem
default_md = sha256
default_crl_days = 365
EOF

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

issue() { # issue ROLE NAME[:SAN,...]
  local role=$1 spec=$2 name san
  name=${spec%%:*}; san=${spec#*:}; [ "$san" = "$spec" ] && san="DNS:$name"
  [[ $name =~ ^[A-Za-z0-9._-]+$ ]] || { echo "bad certificate name: $name (letters, digits, . _ -)" >&2; exit 2; }
  [[ $san =~ ^[A-Za-z0-9.:,*_-]+$ ]] || { echo "bad subjectAltName list for $name: $san (e.g. DNS:host,IP:10.0.0.1)" >&2; exit 2; }
  # One openssl call per certificate (key, signature and extensions): ~10 ms, so a fleet of
  # thousands of agent certificates takes seconds. The serial is random (OpenSSL 3 default).
  openssl req -x509 -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" -days 825 \
    -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
    -addext "subjectAltName=$san,URI:urn:vonode:role:$role" -addext 'extendedKeyUsage=serverAuth,clientAuth' \
    -addext 'keyUsage=digitalSignature,keyEncipherment' -addext 'basicConstraints=critical,CA:FALSE' \
    -keyout "$dir/$name-key.pem" -out "$dir/$name.pem" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
  chmod 600 "$dir/$name-key.pem"
  echo "wrote $dir/$name.pem (role $role; $san)"
}

revoke() { # revoke NAME
  local name=$1
  [[ $name =~ ^[A-Za-z0-9._-]+$ ]] || { echo "bad certificate name: $name" >&2; exit 2; }
  [ -f "$dir/$name.pem" ] || { echo "no certificate $dir/$name.pem to revoke" >&2; exit 2; }
  if openssl ca -config "$dir/ca-db/openssl.cnf" -revoke "$dir/$name.pem" 2>"$tmp/err"; then
    echo "revoked $name (serial $(openssl x509 -in "$dir/$name.pem" -noout -serial | cut -d= -f2))"
  elif grep -qi 'already revoked' "$tmp/err"; then
    echo "$name was already revoked"
  else
    cat "$tmp/err" >&2; exit 1
  fi
}

mode='' role=''
for arg in "$@"; do
  case $arg in
    --role) mode=role-next ;;
    --revoke) mode=revoke ;;
    -*) echo "unknown option $arg; $usage" >&2; exit 2 ;;
    *)
      case $mode in
        role-next)
          [[ " $ROLES " == *" $arg "* ]] || { echo "unknown role $arg (one of: $ROLES)" >&2; exit 2; }
          role=$arg; mode=role ;;
        role) issue "$role" "$arg" ;;
        revoke) revoke "$arg" ;;
        *) echo "say the role of $arg first: --role ROLE $arg (roles: $ROLES)" >&2; exit 2 ;;
      esac ;;
  esac
done
[ "$mode" != role-next ] || { echo "--role needs a role and names; $usage" >&2; exit 2; }

# Written to a temporary name and renamed: a daemon watching crl.pem never reads half a file.
openssl ca -config "$dir/ca-db/openssl.cnf" -gencrl -out "$dir/.crl.pem.new" 2>/dev/null
mv -f "$dir/.crl.pem.new" "$dir/crl.pem"
