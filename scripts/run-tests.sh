#!/bin/bash
# Builds into BUILD_DIR and runs every test: the cmocka unit tests (meson test)
# and the pytest suites (integration against a running daemon, and network
# namespace clusters). With SANITIZE=1 the build uses ASan + UBSan and any
# sanitizer report fails the run. Prints "tests: N passed, N failed" last.
#   scripts/run-tests.sh BUILD_DIR [pytest args...]
set -uo pipefail
BUILD=${1:?usage: $0 BUILD_DIR [pytest args...]}
shift
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
if [[ ${SANITIZE:-0} == 1 ]]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1:exitcode=86
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=86
  export LSAN_OPTIONS=suppressions=$TOP/tests/lsan.supp
  [[ -f $BUILD/build.ninja ]] || meson setup "$BUILD" -Db_sanitize=address,undefined -Db_lundef=false || exit 1
else
  [[ -f $BUILD/build.ninja ]] || meson setup "$BUILD" || exit 1
fi
ninja -C "$BUILD" || { echo "tests: 0 passed, 1 failed (build)"; exit 1; }

passed=0 failed=0
# Unit tests.
if meson test -C "$BUILD" --print-errorlogs --suite unit; then unit_rc=0; else unit_rc=1; fi
read -r up uf < <(/usr/bin/python3 - "$BUILD/meson-logs/testlog.json" <<'PY'
import json, sys
p = f = 0
for line in open(sys.argv[1]):
    r = json.loads(line).get("result")
    if r in ("OK", "EXPECTEDFAIL", "SKIP"): p += 1
    else: f += 1
print(p, f)
PY
)
passed=$((passed + ${up:-0})); failed=$((failed + ${uf:-0}))
[[ $unit_rc == 0 || ${uf:-0} -gt 0 ]] || failed=$((failed + 1))

# pytest suites (integration + namespace tests), against this build's binaries.
export OVERLAYD_BUILD=$TOP/$BUILD
[[ $BUILD == /* ]] && export OVERLAYD_BUILD=$BUILD
if compgen -G "tests/integration/test_*.py" >/dev/null || compgen -G "tests/netns/test_*.py" >/dev/null; then
  # Only the suites that exist yet (pytest fails on a missing path).
  suites=()
  for d in tests/integration tests/netns; do [[ -d $d ]] && suites+=("$d"); done
  /usr/bin/python3 -m pytest -q -p no:cacheprovider --junitxml="$BUILD/pytest.xml" "${suites[@]}" "$@"
  rc=$?
  if [[ $rc != 5 ]]; then
    read -r pp pf < <(/usr/bin/python3 - "$BUILD/pytest.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
t = ET.parse(sys.argv[1]).getroot()
suites = [t] if t.tag == "testsuite" else list(t)
tests = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
print(tests - bad, bad)
PY
)
    passed=$((passed + ${pp:-0})); failed=$((failed + ${pf:-0}))
    [[ $rc == 0 || ${pf:-0} -gt 0 ]] || failed=$((failed + 1))
  fi
fi
echo "tests: $passed passed, $failed failed"
[[ $failed == 0 ]]
