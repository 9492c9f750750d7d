#!/usr/bin/env bash
# Cross-builds birdsong-agent for a Raspberry Pi on a Debian 12 PC, runs the unit tests
# under qemu-user and makes the .deb:
#
#   cross/build.sh arm64    64-bit Raspberry Pi OS / Debian: Pi 3, 4, 5, Zero 2 W
#   cross/build.sh armhf    32-bit Raspberry Pi OS: Pi 2, 3, Zero 2 W
#
# Steps: install what is missing (Debian's cross compiler, qemu-user-static and the
# target's -dev packages through multiarch), configure with cross/<triplet>.cmake,
# build, `ctest -L unit` (each test binary runs through qemu, the toolchain file's
# CMAKE_CROSSCOMPILING_EMULATOR), `ctest -L packaging`, and `cpack -G DEB`.
# Prints the path of the .deb last, on stdout; everything else goes to stderr.
#
# Options: --no-deps (install nothing), --no-tests, --no-package.
# Environment: BUILD_DIR (default ./build-ARCH), JOBS (default: number of cores),
#              BUILD_TYPE (default RelWithDebInfo).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf 'cross: %s\n' "$*" >&2; }
usage() { sed -n '2,17p' "$0" >&2; exit 2; }

arch="${1:-}"
shift || true
case "$arch" in
  arm64) triplet=aarch64-linux-gnu qemu_arch=aarch64 ;;
  armhf) triplet=arm-linux-gnueabihf qemu_arch=arm ;;
  *) usage ;;
esac
deps=1 tests=1 package=1
for option in "$@"; do
  case "$option" in
    --no-deps) deps=0 ;;
    --no-tests) tests=0 ;;
    --no-package) package=0 ;;
    *) usage ;;
  esac
done
build_dir="${BUILD_DIR:-$here/build-$arch}"
jobs="${JOBS:-$(nproc)}"

# Tools of the build machine; header-only libraries are Multi-Arch: foreign, so the
# native package serves every architecture.
native_packages=(
  cmake make pkg-config file dpkg-dev qemu-user-static "crossbuild-essential-$arch"
  nlohmann-json3-dev libcli11-dev doctest-dev
)
# Libraries of the target (Multi-Arch: same): keep in step with find_package and
# pkg_check_modules in CMakeLists.txt, and with setup.sh.
target_packages=(
  libkissfft-dev portaudio19-dev libsndfile1-dev libcurl4-openssl-dev libpaho-mqttpp-dev
  libpaho-mqtt-dev libsqlite3-dev zlib1g-dev libsystemd-dev libtomlplusplus-dev libcpp-httplib-dev
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing_packages() {
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || printf '%s\n' "$p"
  done
}

install_deps() {
  if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
    log "adding the $arch architecture to dpkg (multiarch)"
    as_root dpkg --add-architecture "$arch"
  fi
  local wanted=("${native_packages[@]}")
  for p in "${target_packages[@]}"; do wanted+=("$p:$arch"); done
  local missing
  mapfile -t missing < <(missing_packages "${wanted[@]}")
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  # Only this machine's and the target's indexes: a half-synced mirror of a third
  # architecture would otherwise fail the whole update.
  as_root apt-get update -qq -o APT::Architectures="$(dpkg --print-architecture),$arch" >&2
  # A multiarch :$arch library must have exactly the version of its native twin, so apt
  # may upgrade native packages to match; it must never remove one to make room.
  # --no-remove turns any such plan into an error that names the packages.
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends --no-remove \
    -o DPkg::Lock::Timeout=600 "${missing[@]}" >&2 || {
    log "apt-get could not install the $arch packages without removing native ones."
    log "Usually the mirror's $arch and $(dpkg --print-architecture) indexes are out of step"
    log "(see 'apt-get update' above); 'apt-get upgrade' first, or retry once the mirror has synced."
    exit 1
  }
}

step() {  # step NAME COMMAND...: runs it and says how long it took
  local name=$1 start=$SECONDS
  shift
  log "$name..."
  "$@"
  log "$name: $((SECONDS - start)) s"
}

[ "$deps" -eq 1 ] && step "dependencies" install_deps

step "configure" cmake -S "$here" -B "$build_dir" \
  -DCMAKE_TOOLCHAIN_FILE="$here/cross/$triplet.cmake" \
  -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" -DBIRDSONG_WERROR=ON \
  -DBIRDSONG_BUILD_TESTS="$([ "$tests" -eq 1 ] && echo ON || echo OFF)" \
  -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON >&2
# Only what runs here: the program (the package) and the test programs of the unit label.
# The integration, fault and benchmark programs need servers and timing that qemu-user
# cannot give, so building them for the Pi would only cost time.
targets=(birdsong-agent)
[ "$tests" -eq 1 ] && targets+=(birdsong_unit_tests birdsong_capture_tests)
step "build" cmake --build "$build_dir" -j "$jobs" --target "${targets[@]}" >&2
if [ "$tests" -eq 1 ]; then
  # Some tests start the birdsong-agent program itself: binfmt_misc runs it through qemu.
  as_root bash -c ". '$here/cross/binfmt.sh' && enable_binfmt $qemu_arch" ||
    log "binfmt_misc not available: the tests that start the program will fail"
  step "unit tests under qemu" ctest --test-dir "$build_dir" -L unit --output-on-failure -j "$jobs" --timeout 600 >&2
  step "packaging tests" ctest --test-dir "$build_dir" -L packaging --output-on-failure --timeout 600 >&2
fi
if [ "$package" -eq 1 ]; then
  (cd "$build_dir" && step "package" cpack -G DEB >&2)
  version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build_dir/CPackConfig.cmake")
  deb="$build_dir/birdsong-agent_${version}_${arch}.deb"
  log "Depends: $(dpkg-deb --field "$deb" Depends)"
  printf '%s\n' "$deb"
fi
