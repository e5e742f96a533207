#!/bin/bash
# Builds into BUILD_DIR and runs every test: the cmocka unit tests (meson test)
# and the pytest suites (integration against a running daemon, and network
# namespace clusters). With SANITIZE=1 the build uses ASan + UBSan and any
# sanitizer report fails the run. Prints "tests: N passed, N failed, N skipped" last
# (scripts/test-tally.py; with CI=true a skip is a failure).
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
ninja -C "$BUILD" || { echo "tests: 0 passed, 1 failed, 0 skipped"; exit 1; }

# Unit tests.
rm -f "$BUILD/meson-logs/testlog.json" "$BUILD/pytest.xml"
if meson test -C "$BUILD" --print-errorlogs --suite unit; then unit_rc=0; else unit_rc=1; fi

# pytest suites (integration + namespace tests), against this build's binaries.
export OVERLAYD_BUILD=$TOP/$BUILD
[[ $BUILD == /* ]] && export OVERLAYD_BUILD=$BUILD
py_rc=0
if compgen -G "tests/integration/test_*.py" >/dev/null || compgen -G "tests/netns/test_*.py" >/dev/null; then
  suites=(); for d in tests/integration tests/netns; do [[ -d $d ]] && suites+=("$d"); done
  /usr/bin/python3 -m pytest -q -p no:cacheprovider -rs --junitxml="$BUILD/pytest.xml" "${suites[@]}" "$@"
  py_rc=$?
  [[ $py_rc == 5 ]] && py_rc=0  # no tests collected (a -k that matched none)
fi

# Skips are counted apart from passes and listed by name; under CI (CI=true)
# a skip fails unless tests/allowed-skips names it.
tally=(--allowed tests/allowed-skips --meson "$BUILD/meson-logs/testlog.json" --junit "$BUILD/pytest.xml")
[[ ${CI:-} == true || ${CI:-} == 1 ]] && tally+=(--ci)
read -r passed failed skipped < <(/usr/bin/python3 scripts/test-tally.py "${tally[@]}")
passed=${passed:-0} failed=${failed:-1} skipped=${skipped:-0}
# A runner that failed with no failing test named (a crash, a collection
# error, a lost result file) is one failure more.
[[ $unit_rc == 0 && $py_rc == 0 ]] || [[ $failed -gt 0 ]] || failed=1
echo "tests: $passed passed, $failed failed, $skipped skipped"
[[ $failed == 0 ]]
