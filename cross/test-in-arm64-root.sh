#!/usr/bin/env bash
# The arm64 package on a real (emulated) Debian 12 arm64 system:
#   1. builds a minimal bookworm arm64 root with mmdebstrap from Debian's archive (the
#      mirrors this machine's apt already uses), its arm64 programs running through
#      qemu-user-static and binfmt_misc;
#   2. installs the .deb there with `apt install ./birdsong-agent_*_arm64.deb`, which
#      fetches the Depends from the same archive;
#   3. runs the installed /usr/bin/birdsong-agent on tests/fixtures/garden-demo.flac and
#      checks that events come out, and that the files a user relies on are in place.
#
#   cross/test-in-arm64-root.sh [DEB]      (default: build-arm64/birdsong-agent_*_arm64.deb)
#
# Needs root (chroot, mounts); installs the Debian packages mmdebstrap, arch-test and
# qemu-user-static when they are missing.
# Environment: ROOT_CACHE (default /var/tmp/birdsong-bookworm-arm64.tar): the bare root is
# kept there and reused while it is younger than a day (ROOT_CACHE= to always rebuild);
# WORK_DIR (default: a fresh directory under /var/tmp, removed at the end).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf 'arm64-root: %s\n' "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

deb="${1:-$(ls -t "$here"/build-arm64/birdsong-agent_*_arm64.deb 2>/dev/null | head -n 1)}"
[ -n "$deb" ] && [ -f "$deb" ] || fail "no arm64 .deb (run cross/build.sh arm64 first, or name it)"
deb="$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")"
recording="$here/tests/fixtures/garden-demo.flac"
cache="${ROOT_CACHE-/var/tmp/birdsong-bookworm-arm64.tar}"
[ "$(id -u)" -eq 0 ] || fail "run as root (chroot and mounts)"
# mmdebstrap needs arch-test to check that the foreign architecture can run here.
missing=()
for p in mmdebstrap arch-test qemu-user-static; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 \
    "${missing[@]}" >&2
fi
[ -e /usr/lib/binfmt.d/qemu-aarch64.conf ] || fail "qemu-user-static is not installed"

# arm64 programs in the root run through qemu: the kernel hands them to it once the
# qemu-aarch64 binfmt_misc entry exists (cross/binfmt.sh).
# shellcheck source=cross/binfmt.sh
. "$here/cross/binfmt.sh"

# One "deb URI SUITE COMPONENTS" line per Debian entry of this machine's apt sources
# (deb822 .sources and one-line .list): the same archive, and nothing but Debian's.
debian_sources() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    awk 'function flush() { if (types ~ /(^| )deb( |$)/ && uris ~ /debian/) {
                              n = split(suites, s, " "); for (i = 1; i <= n; i++) print "deb " uris " " s[i] " " comps }
                            types = uris = suites = comps = "" }
         /^[ \t]*$/ { flush(); next }
         /^Types:/ { sub(/^Types:[ \t]*/, ""); types = $0 }
         /^URIs:/ { sub(/^URIs:[ \t]*/, ""); uris = $0 }
         /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
         /^Components:/ { sub(/^Components:[ \t]*/, ""); comps = $0 }
         END { flush() }' "$f"
  done
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk '$1 == "deb" && $2 !~ /^\[/ && $2 ~ /debian/ { print } $1 == "deb" && $2 ~ /^\[/ && $3 ~ /debian/ { $2 = ""; print }'
}

make_root() {  # make_root TARBALL
  local sources=()
  mapfile -t sources < <(debian_sources | grep -E ' bookworm(-updates|-security)? ' | sort -u)
  [ ${#sources[@]} -gt 0 ] || sources=("deb http://deb.debian.org/debian bookworm main")
  log "mmdebstrap bookworm arm64 from: ${sources[*]}"
  mmdebstrap --mode=root --variant=apt --architectures=arm64 \
    bookworm "$1" "${sources[@]}" >&2
}

enable_binfmt aarch64 || fail "could not register qemu-aarch64 with binfmt_misc"
start=$SECONDS
if [ -n "$cache" ] && [ -f "$cache" ] && [ -n "$(find "$cache" -mmin -1440)" ]; then
  log "reusing $cache"
  tarball="$cache"
else
  tarball="${cache:-/var/tmp/birdsong-bookworm-arm64.$$.tar}"
  make_root "$tarball"
fi
log "root ready: $((SECONDS - start)) s"

root="${WORK_DIR:-$(mktemp -d /var/tmp/birdsong-arm64-root.XXXXXX)}"
mounted=()
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
  [ -z "${WORK_DIR:-}" ] && rm -rf --one-file-system "$root"
  [ -z "$cache" ] && rm -f "$tarball"
  return 0
}
trap cleanup EXIT
tar -C "$root" -xf "$tarball"
for fs in proc sys dev; do
  mount --rbind "/$fs" "$root/$fs"
  mount --make-rslave "$root/$fs"
  mounted+=("$root/$fs")
done
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "$deb" "$root/tmp/"
cp "$recording" "$root/tmp/"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

[ "$(in_root dpkg --print-architecture)" = arm64 ] || fail "the root is not arm64"
step=$SECONDS
in_root apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive in_root apt-get install -y -q --no-install-recommends "/tmp/$(basename "$deb")" >&2
log "apt install ./$(basename "$deb"): $((SECONDS - step)) s"

# What the package promised.
for path in /usr/bin/birdsong-agent /etc/birdsong-agent/agent.toml /lib/systemd/system/birdsong-agent.service \
            /usr/share/doc/birdsong-agent/copyright; do
  [ -f "$root$path" ] || fail "$path is not installed"
done
[ "$(stat -c '%a %U' "$root/etc/birdsong-agent/credentials")" = "700 root" ] || fail "credentials/ is not 700 root"
in_root dpkg-query -W -f='${Conffiles}\n' birdsong-agent | grep -q '/etc/birdsong-agent/agent.toml' \
  || fail "agent.toml is not a conffile"
in_root birdsong-agent check-config /etc/birdsong-agent/agent.toml >&2 || fail "the installed agent.toml does not check"

step=$SECONDS
events="$(in_root birdsong-agent analyze "/tmp/$(basename "$recording")")" || fail "birdsong-agent analyze failed"
log "analyze (arm64 under qemu): $((SECONDS - step)) s"
count=$(printf '%s\n' "$events" | grep -c '"schema":1' || true)
printf '%s\n' "$events" | head -n 3 >&2
[ "$count" -ge 3 ] || fail "$count events from garden-demo.flac (eleven bird clips), expected at least 3"
log "OK: the installed arm64 birdsong-agent found $count sounds in garden-demo.flac; total $((SECONDS - start)) s"
