#!/usr/bin/env bash
# libFuzzer over the agent's parsers of outside input (tests/fuzz/fuzz_*.cpp):
#   tests/fuzz/run.sh [SECONDS] [HARNESS...]   each harness for SECONDS (default 20)
# Harnesses: config annotations manifest profile_pack sound_file outbox, and open_meteo wikipedia
# when agent/enrichment is there (default: all).
# Builds with clang++-14 -fsanitize=fuzzer,address,undefined in $FUZZ_BUILD_DIR (default
# ./build-fuzz), starts from the seeds in tests/fuzz/corpus/<harness>/ (new inputs go to
# the build directory, never into the repository) and fails when a harness finds a crash,
# a leak, undefined behaviour or a timeout; the input is kept as
# $FUZZ_BUILD_DIR/artifacts/<harness>-crash-<sha1>. Reproduce with
#   build-fuzz/tests/fuzz/fuzz_<harness> <that file>
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
seconds="${1:-20}"
shift || true
harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
  harnesses=(config annotations manifest profile_pack sound_file outbox)
  [ -f "$here/agent/enrichment/weather.cpp" ] && harnesses+=(open_meteo wikipedia)
fi
build_dir="${FUZZ_BUILD_DIR:-$here/build-fuzz}"
jobs="${JOBS:-2}"
log() { printf 'fuzz: %s\n' "$*" >&2; }

# Debian bookworm: clang-14, and libclang-rt-14-dev for libFuzzer and the sanitizer runtimes.
"$here/setup.sh" deps
missing=()
for p in clang-14 libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  log "installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=600 "${missing[@]}" >&2
fi

CXX=clang++-14 cmake -S "$here" -B "$build_dir" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" \
  -DBIRDSONG_BUILD_TESTS=OFF -DBIRDSONG_FUZZ=ON -DBIRDSONG_SANITIZE=fuzzer-no-link,address,undefined >&2
cmake --build "$build_dir" -j "$jobs" --target "${harnesses[@]/#/fuzz_}" >&2

export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$here/tests/fuzz/lsan.supp"
mkdir -p "$build_dir/artifacts"
status=0
summary=()
for h in "${harnesses[@]}"; do
  work="$build_dir/corpus/$h"
  mkdir -p "$work"
  log "$h: ${seconds} s"
  set +e
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: 2 GB is a runaway allocation.
  "$build_dir/tests/fuzz/fuzz_$h" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$build_dir/artifacts/$h-" "$work" "$here/tests/fuzz/corpus/$h" \
    >"$build_dir/$h.log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$build_dir/$h.log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$build_dir/$h.log" | tail -1 | grep -o '[0-9]*' || echo "?")
  corpus=$(find "$work" -type f | wc -l)
  if [ "$rc" -ne 0 ]; then
    status=1
    summary+=("$h: FAILED (exit $rc) after $execs executions; see $build_dir/$h.log")
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$build_dir/$h.log" | head -5 >&2 || true
  else
    summary+=("$h: $execs executions, coverage $cov edges, corpus $corpus inputs, 0 crashes")
  fi
done
for line in "${summary[@]}"; do log "$line"; done
exit "$status"
