#!/usr/bin/env bash
# The hardened service under a real systemd: boots a minimal Debian 12 (this machine's
# architecture) in systemd-nspawn, installs the .deb with apt, and starts
# birdsong-agent.service exactly as shipped except for a drop-in that replays
# tests/fixtures/garden-demo.flac at real speed instead of capturing (the container has
# no sound card; PrivateDevices= and BindPaths=/dev/snd still apply, to an empty /dev/snd).
# Checks: Type=notify readiness, the watchdog (the 33 s replay outlives WatchdogSec=30 only
# if the pings arrive), DynamicUser in the audio group without capabilities, the seccomp
# filter, StateDirectory (the outbox), a secret passed by LoadCredential= from
# /etc/birdsong-agent/credentials/, the network (an MQTT connection attempt to 127.0.0.1),
# and the events the replay produced.
#
#   sudo systemd/test-in-container.sh [DEB]    (default: build/birdsong-agent_*_<arch>.deb)
#
# Needs root and the Debian packages systemd-container and mmdebstrap. The bare root is
# cached in ROOT_CACHE (default /var/tmp/birdsong-bookworm-systemd.tar) for a day.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf 'container: %s\n' "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

arch="$(dpkg --print-architecture)"
deb="${1:-$(ls -t "$here"/build/birdsong-agent_*_"$arch".deb 2>/dev/null | head -n 1)}"
[ -n "$deb" ] && [ -f "$deb" ] || fail "no $arch .deb (cd build && cpack -G DEB), or name it"
[ "$(id -u)" -eq 0 ] || fail "run as root"
for tool in systemd-nspawn mmdebstrap nsenter; do
  command -v "$tool" >/dev/null || fail "$tool not found (apt-get install systemd-container mmdebstrap)"
done
cache="${ROOT_CACHE:-/var/tmp/birdsong-bookworm-systemd.tar}"
start=$SECONDS

if [ ! -f "$cache" ] || [ -z "$(find "$cache" -mmin -1440)" ]; then
  # The Debian mirrors this machine's apt uses (cross/test-in-arm64-root.sh reads them the same way).
  mapfile -t sources < <(source <(sed -n '/^debian_sources()/,/^}/p' "$here/cross/test-in-arm64-root.sh") &&
                         debian_sources | grep -E ' bookworm(-updates|-security)? ' | sort -u)
  [ ${#sources[@]} -gt 0 ] || sources=("deb http://deb.debian.org/debian bookworm main")
  log "mmdebstrap bookworm with systemd"
  mmdebstrap --mode=root --variant=apt --include=systemd,systemd-sysv,dbus bookworm "$cache" "${sources[@]}" >&2
fi

root="$(mktemp -d /var/tmp/birdsong-container.XXXXXX)"
nspawn_pid=""
cleanup() {
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    kill "$nspawn_pid" 2>/dev/null || true
    wait "$nspawn_pid" 2>/dev/null || true
  fi
  rm -rf --one-file-system "$root"
}
trap cleanup EXIT
tar -C "$root" -xf "$cache"

cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "$deb" "$root/tmp/"
chroot "$root" apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -qq --no-install-recommends "/tmp/$(basename "$deb")" >&2

# The service as shipped, plus: a recording instead of the microphone, an MQTT sink with a
# password in the credentials directory (no broker listens: the agent must still run).
mkdir -p "$root/usr/local/share" "$root/etc/systemd/system/birdsong-agent.service.d"
cp "$here/tests/fixtures/garden-demo.flac" "$root/usr/local/share/"
cat > "$root/etc/systemd/system/birdsong-agent.service.d/replay.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=/usr/bin/birdsong-agent run --config /etc/birdsong-agent/agent.toml --quiet --replay /usr/local/share/garden-demo.flac --speed 1
EOF
printf 'not-a-real-password\n' > "$root/etc/birdsong-agent/credentials/mqtt-password"
chmod 600 "$root/etc/birdsong-agent/credentials/mqtt-password"
cat >> "$root/etc/birdsong-agent/agent.toml" <<'EOF'

[mqtt]
url = "mqtt://127.0.0.1:1883"
username = "birdsong"
password_file = "credentials/mqtt-password"
EOF
chroot "$root" systemctl enable birdsong-agent.service >&2

log "booting the container"
systemd-nspawn -D "$root" --boot --register=no --keep-unit --tmpfs=/dev/snd --console=passive \
  --machine="birdsong-test-$$" > "$root.log" 2>&1 &
nspawn_pid=$!
leader=""
for _ in $(seq 60); do
  leader="$(pgrep -P "$nspawn_pid" | head -n 1 || true)"
  [ -n "$leader" ] && nsenter -t "$leader" -a systemctl is-system-running >/dev/null 2>&1 && break
  sleep 1
done
[ -n "$leader" ] || { cat "$root.log" >&2; fail "the container did not boot"; }
inside() { nsenter -t "$leader" -a "$@"; }
rm -f "$root.log"

prop() { inside systemctl show birdsong-agent -p "$1" --value; }
[ "$(prop ActiveState)/$(prop SubState)" = active/running ] || {
  inside journalctl -u birdsong-agent --no-pager >&2; fail "birdsong-agent.service is $(prop ActiveState)/$(prop SubState)"; }
log "running (READY=1 received); status: $(prop StatusText)"
main_pid="$(prop MainPID)"
status="$(inside cat "/proc/$main_pid/status")"
audio_gid="$(inside getent group audio | cut -d: -f3)"
printf '%s\n' "$status" | grep -Eq "^Groups:.*\\b$audio_gid\\b" || fail "not in the audio group"
printf '%s\n' "$status" | grep -q '^CapBnd:.0000000000000000$' || fail "has capabilities"
printf '%s\n' "$status" | grep -q '^NoNewPrivs:.1$' || fail "NoNewPrivs is off"
printf '%s\n' "$status" | grep -q '^Seccomp:.2$' || fail "no seccomp filter"
[ "$(printf '%s\n' "$status" | sed -n 's/^Uid:\t\([0-9]*\).*/\1/p')" -ne 0 ] || fail "runs as root"
inside test -s /run/credentials/birdsong-agent.service/credentials_mqtt-password || fail "credential not passed"
inside test -f /var/lib/private/birdsong-agent/outbox.db || fail "no outbox in the state directory"

log "waiting for the end of the 33 s replay (WatchdogSec=30 must not fire)"
for _ in $(seq 90); do
  [ "$(prop ActiveState)" = active ] || break
  sleep 1
done
journal="$(inside journalctl -u birdsong-agent --no-pager -o cat)"
printf '%s\n' "$journal" | sed 's/^/  /' >&2
! printf '%s\n' "$journal" | grep -qi 'watchdog' || fail "the watchdog fired"
! printf '%s\n' "$journal" | grep -q 'password_file' || fail "the password was not read"
printf '%s\n' "$journal" | grep -q 'mqtt: delivery failed (connect to tcp://127.0.0.1:1883' || fail "no MQTT connection attempt"
events="$(printf '%s\n' "$journal" | sed -n 's/^run: end of input after .* s of audio, \([0-9]*\) events.*/\1/p')"
[ -n "$events" ] && [ "$events" -ge 3 ] || fail "the replay did not end with events (${events:-none})"
[ "$(prop NRestarts)" = 0 ] || fail "the service was restarted"
inside systemctl poweroff >/dev/null 2>&1 || true
wait "$nspawn_pid" 2>/dev/null || true
nspawn_pid=""
log "OK: $events events from the hardened service; $((SECONDS - start)) s"
