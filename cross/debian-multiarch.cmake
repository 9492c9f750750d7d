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
# -L: the cross toolchain's own libc and libstdc++ (libc6-*-cross), which the binaries
# were linked against; the other libraries come from the multiarch directories.
if(BIRDSONG_QEMU)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${BIRDSONG_QEMU} -L /usr/${BIRDSONG_TRIPLET})
elseif(NOT BIRDSONG_QEMU_WARNED)
  # doctest_discover_tests runs the test binary at build time: without an emulator,
  # build with -DBIRDSONG_BUILD_TESTS=OFF.
  message(WARNING "qemu-${CMAKE_SYSTEM_PROCESSOR}-static not found (Debian qemu-user-static): "
                  "the ${BIRDSONG_TRIPLET} tests cannot run here")
  set(BIRDSONG_QEMU_WARNED ON CACHE INTERNAL "")
endif()
