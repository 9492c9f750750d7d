#!/usr/bin/env bash
# One entry point for a fresh Debian 12 / Raspberry Pi OS bookworm machine:
#   ./setup.sh demo   install what is missing, build, replay the bundled recording (events on stdout)
#   ./setup.sh test   install what is missing, build, run every test (unit, integration, golden ...)
#   ./setup.sh deps   only install the Debian packages
#   ./setup.sh cross [arm64|armhf]   cross-build for the Pi, unit tests under qemu, the .deb (cross/build.sh)
# Environment: BUILD_DIR (default ./build), JOBS (default: number of cores).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build_dir="${BUILD_DIR:-$here/build}"
jobs="${JOBS:-$(nproc)}"

# Build and runtime libraries, then the real servers and tools the tests start.
packages=(
  cmake g++ make pkg-config
  libkissfft-dev portaudio19-dev libsndfile1-dev libcurl4-openssl-dev nlohmann-json3-dev
  libpaho-mqttpp-dev libpaho-mqtt-dev libsqlite3-dev libtomlplusplus-dev libcli11-dev
  libcpp-httplib-dev zlib1g-dev doctest-dev libsystemd-dev
)
test_packages=(
  mosquitto prometheus alsa-utils libasound2-plugins openssl
  libfaketime             # fault suite: the wall clock stepped under a running agent
  systemd dpkg-dev file   # packaging tests: systemd-analyze, dpkg-shlibdeps (cpack -G DEB)
)

log() { printf 'setup: %s\n' "$*" >&2; }

install_missing() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  log "installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=600 "${missing[@]}" >&2
}

build() {
  log "building in $build_dir"
  cmake -S "$here" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >&2
  cmake --build "$build_dir" -j "$jobs" >&2
}

case "${1:-}" in
  deps)
    install_missing "${packages[@]}" "${test_packages[@]}"
    ;;
  demo)
    install_missing "${packages[@]}"
    build -DBIRDSONG_BUILD_TESTS=OFF
    # The example configuration plus the demo species pack (profiles/README.md).
    config="$(mktemp --suffix=.toml)"
    trap 'rm -f "$config"' EXIT
    sed "s|^profiles = \"\"|profiles = \"$here/profiles/demo.pack\"|" "$here/agent/agent.example.toml" > "$config"
    log "replaying tests/fixtures/garden-demo.flac in real time (33 s) with the demo species pack;" \
        "each detection is one JSON line"
    "$build_dir/agent/birdsong-agent" run --config "$config" \
      --replay "$here/tests/fixtures/garden-demo.flac" --speed "${SPEED:-1}"
    ;;
  test)
    install_missing "${packages[@]}" "${test_packages[@]}"
    build -DBIRDSONG_BUILD_TESTS=ON -DBIRDSONG_WERROR=ON
    log "running all tests"
    cd "$build_dir"
    ctest --output-on-failure -j "$jobs" --timeout 600
    ;;
  cross)
    exec "$here/cross/build.sh" "${2:-arm64}"
    ;;
  *)
    sed -n '2,8p' "$0" >&2
    exit 2
    ;;
esac
