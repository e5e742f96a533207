#!/bin/bash
# Builds the libFuzzer harnesses (build-fuzz, as `make fuzz` does) and runs
# each one over its committed seed corpus (fuzz/corpus-<name>/) and then for
# FUZZ_SECONDS more of fuzzing (default 15), one at a time. Any crash, leak,
# sanitizer report or timeout fails the run; its input is kept under
# build-fuzz/fuzz-crashes/. The committed corpora are only read.
#   scripts/fuzz-smoke.sh [HARNESS...]          (default: every fuzz_* built)
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
SECS=${FUZZ_SECONDS:-15}
BUILD=build-fuzz
[[ -f $BUILD/build.ninja ]] || CC=clang meson setup "$BUILD" -Dfuzz=true -Dtests=false -Db_lundef=false >/dev/null || exit 1
ninja -C "$BUILD" >/dev/null || { echo "fuzz: build failed"; exit 1; }

if [[ $# -gt 0 ]]; then
  harnesses=("$@")
else
  harnesses=(); for f in "$BUILD"/fuzz/fuzz_*; do [[ -x $f && -f $f ]] && harnesses+=("${f##*/fuzz_}"); done
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$BUILD/fuzz-crashes"
failed=0
for h in "${harnesses[@]}"; do
  seeds=fuzz/corpus-$h
  if [[ ! -d $seeds ]]; then
    echo "fuzz: $h has no seed corpus ($seeds); starting from nothing"
    seeds=
  fi
  mkdir -p "$WORK/$h"
  # Inputs it finds go to $WORK/$h (first corpus directory); the seeds stay as committed.
  "$BUILD/fuzz/fuzz_$h" "$WORK/$h" ${seeds:+"$seeds"} -max_total_time="$SECS" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$BUILD/fuzz-crashes/$h-" \
    >"$WORK/$h.log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/$h.log")
  cov=$(grep -o 'cov: [0-9]*' "$WORK/$h.log" | tail -1)
  if [[ $rc == 0 ]]; then
    echo "fuzz: $h ok: ${runs:-?} runs, ${cov:-cov: ?} edges"
  else
    failed=$((failed + 1))
    echo "fuzz: $h FAILED (exit $rc); input kept under $BUILD/fuzz-crashes/:"
    grep -E "ERROR|SUMMARY|Test unit written|==[0-9]+==" "$WORK/$h.log" | head -20
  fi
done
echo "fuzz: ${#harnesses[@]} harnesses, $failed failed"
[[ $failed == 0 ]]
