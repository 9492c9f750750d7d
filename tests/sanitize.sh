#!/usr/bin/env bash
# The test suite under sanitizers (BIRDSONG_SANITIZE, see CMakeLists.txt):
#   tests/sanitize.sh asan   AddressSanitizer + UndefinedBehaviorSanitizer: the program and
#                            every test program built instrumented; the whole suite (ctest
#                            -L unit, integration, golden, faults) but the packaging checks,
#                            which package a release build. Any UB aborts
#                            (-fno-sanitize-recover=undefined).
#   tests/sanitize.sh tsan   ThreadSanitizer: the unit tests of the threaded parts (ring
#                            buffer, outbox, sink runner, Loki delivery, metrics server).
#   tests/sanitize.sh quick  ASan + UBSan on the threaded parts' tests and on the agent
#                            program through the fault suite (ctest -L "threaded|faults"):
#                            a shorter build than asan, for a busy CI machine.
#   tests/sanitize.sh all    asan and tsan (the default).
# Environment: ASAN_BUILD_DIR (default ./build-asan), TSAN_BUILD_DIR (./build-tsan),
# JOBS (default 2), LABELS (asan: default "unit|integration|golden|faults").
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jobs="${JOBS:-2}"
what="${1:-all}"
log() { printf 'sanitize: %s\n' "$*" >&2; }

"$here/setup.sh" deps

# Debug keeps assert() on; -O1 -g1 (line tables, enough for the reports' stack traces)
# compiles about twice as fast as -O2 -g and runs the DSP tests fast enough.
configure() {  # build dir, sanitizers
  cmake -S "$here" -B "$1" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" \
        -DBIRDSONG_BUILD_TESTS=ON -DBIRDSONG_SANITIZE="$2" >&2
}

# halt_on_error: the first report fails the test; suppressions only for what is not ours.
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
export LSAN_OPTIONS="suppressions=$here/tests/sanitize/sanitize.supp"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$here/tests/sanitize/sanitize.supp"

run_asan() {
  local dir="${ASAN_BUILD_DIR:-$here/build-asan}"
  log "AddressSanitizer + UndefinedBehaviorSanitizer in $dir"
  configure "$dir" "address,undefined"
  # Everything: a test program left out would leave its tests out without a word
  # (doctest_discover_tests lists them after the build).
  cmake --build "$dir" -j "$jobs" >&2
  (cd "$dir" && ctest --output-on-failure -j "$jobs" --timeout 900 -L "${LABELS:-unit|integration|golden|faults}" -LE capture)
  # The capture tests go through ALSA, which loads its plugins (the file PCM, the rate
  # converter) with dlopen and unloads them before exit: what they keep for the process's
  # life then shows as a leak in an "<unknown module>" that no suppression can name. Memory
  # errors are still caught there; only leak checking is off for these six tests.
  (cd "$dir" && ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" ctest --output-on-failure --timeout 900 -L capture)
}

run_quick() {
  local dir="${ASAN_BUILD_DIR:-$here/build-asan}"
  log "AddressSanitizer + UndefinedBehaviorSanitizer (quick) in $dir"
  configure "$dir" "address,undefined"
  cmake --build "$dir" -j "$jobs" --target birdsong-agent birdsong_fault_tests birdsong_threaded_tests >&2
  (cd "$dir" && ctest --output-on-failure --timeout 900 -L "threaded|faults")
}

# The threaded parts (capture ring, outbox, sink runner, Loki delivery, metrics server):
# their unit tests as one program, tests/sanitize/CMakeLists.txt, label `threaded`.
run_tsan() {
  local dir="${TSAN_BUILD_DIR:-$here/build-tsan}"
  log "ThreadSanitizer in $dir"
  configure "$dir" "thread"
  cmake --build "$dir" -j "$jobs" --target birdsong_threaded_tests >&2
  (cd "$dir" && ctest --output-on-failure -j "$jobs" --timeout 900 -L threaded)
}

start=$(date +%s)
case "$what" in
  asan) run_asan ;;
  tsan) run_tsan ;;
  quick) run_quick ;;
  all) run_asan; run_tsan ;;
  *) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac
log "done in $(( $(date +%s) - start )) s"
