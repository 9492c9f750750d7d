#!/bin/sh
# Builds the .deb with cpack into a scratch directory and checks what `apt install`
# would get: the name, the files, the conffile, the maintainer scripts and runtime
# dependencies computed by dpkg-shlibdeps for the package's architecture.
# Usage: check_deb.sh CPackConfig.cmake VERSION ARCH. Exit 77 (skipped) without dpkg.
set -eu
config=$1 version=$2 arch=$3

if [ -z "$arch" ] || ! command -v dpkg-deb >/dev/null 2>&1 || ! command -v dpkg-shlibdeps >/dev/null 2>&1; then
    echo "skipped: dpkg-deb and dpkg-shlibdeps needed (Debian packages dpkg, dpkg-dev)"
    exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cpack --config "$config" -G DEB -B "$work" > "$work/cpack.log" 2>&1 || { cat "$work/cpack.log"; fail "cpack -G DEB"; }
deb="$work/birdsong-agent_${version}_${arch}.deb"
[ -f "$deb" ] || { ls "$work"; fail "no $(basename "$deb")"; }

field() { dpkg-deb --field "$deb" "$1"; }
[ "$(field Package)" = birdsong-agent ] || fail "Package: $(field Package)"
[ "$(field Architecture)" = "$arch" ] || fail "Architecture: $(field Architecture), expected $arch"
depends=$(field Depends)
echo "Depends: $depends"
for lib in libc6 libstdc++6 libportaudio2 libsndfile1 libcurl4 libsqlite3-0 libsystemd0 libtomlplusplus3; do
    printf '%s\n' "$depends" | tr ',' '\n' | grep -q "^ *$lib\( \|$\)" || fail "Depends lacks $lib"
done

contents=$(dpkg-deb --contents "$deb")
for path in ./usr/bin/birdsong-agent ./etc/birdsong-agent/agent.toml ./etc/birdsong-agent/credentials/ \
            ./lib/systemd/system/birdsong-agent.service ./usr/share/doc/birdsong-agent/README.md \
            ./usr/share/doc/birdsong-agent/copyright; do
    printf '%s\n' "$contents" | grep -q " $path\$" || { printf '%s\n' "$contents"; fail "$path missing"; }
done
printf '%s\n' "$contents" | grep -q '^drwx------ root/root .* ./etc/birdsong-agent/credentials/$' \
    || fail "credentials/ is not drwx------ root/root"

dpkg-deb --control "$deb" "$work/control"
[ "$(cat "$work/control/conffiles")" = /etc/birdsong-agent/agent.toml ] || fail "conffiles: $(cat "$work/control/conffiles")"
for script in postinst prerm postrm; do
    [ -x "$work/control/$script" ] || fail "no executable $script"
    sh -n "$work/control/$script" || fail "$script: syntax"
done
# Installing must not start the agent: the user enables it.
! grep -v '^ *#' "$work/control/postinst" | grep -Eq 'systemctl +(start|enable|restart)' || fail "postinst starts the service"
# The binary is the target's, and stripped.
case "$arch" in
    amd64) machine='x86-64' ;;
    arm64) machine='aarch64' ;;
    armhf) machine='ARM, EABI5' ;;
    *) machine='' ;;
esac
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/birdsong-agent > "$work/birdsong-agent"
file -b "$work/birdsong-agent" | grep -q "$machine.*, stripped" || fail "binary: $(file -b "$work/birdsong-agent")"
echo "$(basename "$deb"): $(du -k "$deb" | cut -f1) KiB, Depends checked"
