#!/bin/bash
# Parse-and-answer cost per query, hand-written (src/dns/wire.c) vs ldns.
#   bench/dns-parse.sh [BUILD_DIR] [ROUNDS]     (each round = 1,000 queries)
# Needs libldns-dev (scripts/install-deps.sh build).
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
ROUNDS=${2:-1000}
ninja -C "$BUILD" src/dns/libovl-dns.a src/util/libovl-util.a >/dev/null
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
cc -O2 -D_GNU_SOURCE -I"$TOP/src" -o "$OUT" "$TOP/bench/dns-parse.c" \
  "$BUILD/src/dns/libovl-dns.a" "$BUILD/src/util/libovl-util.a" $(pkg-config --libs ldns libcrypto) -lpthread
"$OUT" "$ROUNDS"
