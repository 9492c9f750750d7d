# 64-bit Raspberry Pi OS / Debian arm64: Pi 3, 4, 5 and Zero 2 W on a 64-bit OS.
# Uses Debian's cross compiler (g++-aarch64-linux-gnu) and multiarch :arm64 -dev packages.
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cross/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(BIRDSONG_TRIPLET aarch64-linux-gnu)
include(${CMAKE_CURRENT_LIST_DIR}/debian-multiarch.cmake)
