# Shared part of the toolchain files: Debian's cross compilers and multiarch libraries.
# Libraries and pkg-config files of the target live in /usr/lib/${BIRDSONG_TRIPLET};
# headers are shared in /usr/include. Tests run through qemu-user when it is installed.
set(CMAKE_C_COMPILER ${BIRDSONG_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${BIRDSONG_TRIPLET}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${BIRDSONG_TRIPLET})

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(CMAKE_FIND_ROOT_PATH /usr/lib/${BIRDSONG_TRIPLET} /usr)

# pkg-config must read the target's .pc files, not the build machine's.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${BIRDSONG_TRIPLET}/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")

find_program(BIRDSONG_QEMU NAMES qemu-${CMAKE_SYSTEM_PROCESSOR}-static qemu-${CMAKE_SYSTEM_PROCESSOR})
# No -L /usr/${BIRDSONG_TRIPLET}: the target's -dev packages bring the multiarch libc6 and
# libstdc++6 of the target into /lib/${BIRDSONG_TRIPLET}, where qemu finds them as a Pi
# would. The older copy of glibc that the cross compiler links against
# (libc6-*-cross) must not be mixed with them at run time: with that loader every
# new thread hangs under qemu (seen with qemu 7.2 and glibc 2.36-8cross1 / 2.36-9+deb12u14).
if(BIRDSONG_QEMU)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${BIRDSONG_QEMU})
elseif(NOT BIRDSONG_QEMU_WARNED)
  # doctest_discover_tests runs the test binary at build time: without an emulator,
  # build with -DBIRDSONG_BUILD_TESTS=OFF.
  message(WARNING "qemu-${CMAKE_SYSTEM_PROCESSOR}-static not found (Debian qemu-user-static): "
                  "the ${BIRDSONG_TRIPLET} tests cannot run here")
  set(BIRDSONG_QEMU_WARNED ON CACHE INTERNAL "")
endif()
