# 32-bit Raspberry Pi OS / Debian armhf: Pi 2, 3 and Zero 2 W on a 32-bit OS.
# Uses Debian's cross compiler (g++-arm-linux-gnueabihf) and multiarch :armhf -dev packages.
#   cmake -S . -B build-armhf -DCMAKE_TOOLCHAIN_FILE=cross/arm-linux-gnueabihf.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(BIRDSONG_TRIPLET arm-linux-gnueabihf)
include(${CMAKE_CURRENT_LIST_DIR}/debian-multiarch.cmake)
