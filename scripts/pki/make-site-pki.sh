#!/usr/bin/env bash
# Makes a site CA and certificates for vonode's mutual TLS with openssl.
# Usage: scripts/pki/make-site-pki.sh DIR NAME[:SAN,...] [NAME[:SAN,...] ...]
#   e.g. make-site-pki.sh /etc/vonode/pki coordinator:DNS:localhost,IP:127.0.0.1 agent-phys01 cli-admin
# Writes DIR/ca.pem, DIR/ca-key.pem (once; reused after) and DIR/NAME.pem, DIR/NAME-key.pem.
# Each certificate is usable as both server and client (daemons are both).
set -euo pipefail
dir=${1:?usage: make-site-pki.sh DIR NAME[:SAN,...] ...}; shift
[ $# -ge 1 ] || { echo "name at least one certificate" >&2; exit 2; }
command -v openssl >/dev/null || { echo "openssl is missing: apt-get install openssl" >&2; exit 2; }
mkdir -p "$dir"; chmod 700 "$dir"
if [ ! -f "$dir/ca.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=vonode site CA" -keyout "$dir/ca-key.pem" -out "$dir/ca.pem" 2>/dev/null
fi
for spec in "$@"; do
  name=${spec%%:*}; san=${spec#*:}; [ "$san" = "$spec" ] && san="DNS:$name"
  [[ $name =~ ^[A-Za-z0-9._-]+$ ]] || { echo "bad certificate name: $name" >&2; exit 2; }
  ext=$(mktemp); trap 'rm -f "$ext"' EXIT
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n' "$san" > "$ext"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
    -keyout "$dir/$name-key.pem" -out "$dir/$name.csr" 2>/dev/null
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" -CAcreateserial \
    -days 825 -extfile "$ext" -out "$dir/$name.pem" 2>/dev/null
  rm -f "$dir/$name.csr"
  chmod 600 "$dir/$name-key.pem"
  echo "wrote $dir/$name.pem ($san)"
done
