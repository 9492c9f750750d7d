# Install layout and the Debian package.
#
#   cmake --build build && (cd build && cpack -G DEB)
#     -> build/birdsong-agent_<version>_<arch>.deb, for the architecture compiled for:
#        amd64 natively, arm64/armhf with a toolchain file from cross/ (cross/build.sh).
#
# The package is the whole install on Debian 12 / Raspberry Pi OS bookworm:
#   /usr/bin/birdsong-agent
#   /etc/birdsong-agent/agent.toml            the example configuration, a conffile
#   /etc/birdsong-agent/credentials/          root-only, empty: secrets for LoadCredential=
#   /lib/systemd/system/birdsong-agent.service
#   /usr/share/doc/birdsong-agent/            README.md, copyright
# Runtime dependencies come from dpkg-shlibdeps (with the target's multiarch libraries
# when cross-compiling). The maintainer scripts reload systemd but start nothing:
# `systemctl enable --now birdsong-agent` is the user's decision.

# System locations are absolute, as in any Debian package: a service unit and its
# configuration do not move with the prefix. The binary follows CMAKE_INSTALL_PREFIX
# (bin/), which the package sets to /usr.
set(BIRDSONG_CONFIG_DIR "/etc/birdsong-agent" CACHE PATH "Where the installed configuration lives")
set(BIRDSONG_SYSTEMD_UNIT_DIR "/lib/systemd/system" CACHE PATH "Where the systemd unit is installed")

install(FILES ${PROJECT_SOURCE_DIR}/agent/agent.example.toml
        DESTINATION ${BIRDSONG_CONFIG_DIR} RENAME agent.toml
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
# Created empty: an existing directory never stops the unit from starting, whereas a
# LoadCredential= of a missing file does (systemd 252).
install(DIRECTORY DESTINATION ${BIRDSONG_CONFIG_DIR}/credentials
        DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)
install(FILES ${PROJECT_SOURCE_DIR}/systemd/birdsong-agent.service DESTINATION ${BIRDSONG_SYSTEMD_UNIT_DIR})
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/cmake/deb/copyright
        DESTINATION share/doc/birdsong-agent)
# The project's own licence text, once the repository has one.
foreach(doc LICENSE NOTICE)
  if(EXISTS ${PROJECT_SOURCE_DIR}/${doc})
    install(FILES ${PROJECT_SOURCE_DIR}/${doc} DESTINATION share/doc/birdsong-agent)
  endif()
endforeach()

# The Debian architecture of the binaries: the toolchain's triplet when cross-compiling
# (aarch64-linux-gnu -> arm64, arm-linux-gnueabihf -> armhf), else this machine's.
if(CMAKE_CROSSCOMPILING)
  execute_process(COMMAND dpkg-architecture --host-type ${CMAKE_LIBRARY_ARCHITECTURE} --query DEB_HOST_ARCH
                  OUTPUT_VARIABLE BIRDSONG_DEB_ARCH OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET
                  RESULT_VARIABLE arch_result)
else()
  execute_process(COMMAND dpkg --print-architecture
                  OUTPUT_VARIABLE BIRDSONG_DEB_ARCH OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET
                  RESULT_VARIABLE arch_result)
endif()
if(NOT arch_result EQUAL 0 OR BIRDSONG_DEB_ARCH STREQUAL "")
  set(BIRDSONG_DEB_ARCH "")
  message(STATUS "Packaging: dpkg not found, `cpack -G DEB` is unavailable")
endif()

set(BIRDSONG_DEB_MAINTAINER "birdsong-agent developers <birdsong-agent@users.noreply.github.com>"
    CACHE STRING "Maintainer field of the .deb")

set(CPACK_PACKAGE_NAME birdsong-agent)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_CONTACT "${BIRDSONG_DEB_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)  # the debug info is ten times the code; SD cards are small
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # birdsong-agent_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${BIRDSONG_DEB_ARCH})
set(CPACK_DEBIAN_PACKAGE_SECTION sound)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "${PROJECT_HOMEPAGE_URL}")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "${PROJECT_DESCRIPTION}\nListens to a microphone (or analyses recordings), detects bird sounds with an\nFFT-based detector and reports each one as a JSON event to MQTT (with Home\nAssistant discovery), Grafana Loki and Prometheus. Runs as a hardened systemd\nservice: systemctl enable --now birdsong-agent")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "alsa-utils")  # arecord -l, alsamixer: setting up the microphone
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/cmake/deb/conffiles
    ${PROJECT_SOURCE_DIR}/cmake/deb/postinst
    ${PROJECT_SOURCE_DIR}/cmake/deb/prerm
    ${PROJECT_SOURCE_DIR}/cmake/deb/postrm)

# Read by cpack itself: dpkg-shlibdeps must resolve the target's libraries (multiarch
# /usr/lib/<triplet>, found through their :arm64 / :armhf packages) and read the binary
# with the target's objdump; both follow DEB_HOST_ARCH.
set(CPACK_PROJECT_CONFIG_FILE ${CMAKE_CURRENT_BINARY_DIR}/CPackProjectConfig.cmake)
file(CONFIGURE OUTPUT ${CPACK_PROJECT_CONFIG_FILE} CONTENT [[
set(ENV{DEB_HOST_ARCH} "@BIRDSONG_DEB_ARCH@")
]] @ONLY)

include(CPack)
