#!/usr/bin/env bash
# Regenerates shared/gen/ from proto/ with ts-proto. The only way shared/gen/
# changes; CI runs it with --check to prove the checked-in code is current.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "codegen: protoc missing; install Debian's protobuf-compiler (apt-get install protobuf-compiler)" >&2; exit 2; }
out=shared/gen
check=0; [ "${1:-}" = "--check" ] && check=1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
protoc \
  --plugin=protoc-gen-ts_proto=node_modules/.bin/protoc-gen-ts_proto \
  --ts_proto_out="$tmp" \
  --ts_proto_opt=outputServices=grpc-js,esModuleInterop=true,importSuffix=.js,env=node,forceLong=number,useOptionals=none,oneof=unions-value,useDate=false,unrecognizedEnum=false \
  -I proto $(find proto -name '*.proto' | sort)
if [ $check = 1 ]; then
  if ! diff -r "$tmp" "$out" >/dev/null; then
    echo "codegen: shared/gen is stale; run 'npm run codegen' and commit the result" >&2
    diff -r "$tmp" "$out" | head -20 >&2; exit 1
  fi
  echo "codegen: shared/gen is current"; exit 0
fi
rm -rf "$out"; mkdir -p "$out"; cp -r "$tmp"/. "$out"/
echo "codegen: wrote $(find "$out" -name '*.ts' | wc -l) files to $out"
