#!/bin/sh
# Checks systemd/birdsong-agent.service the way systemd will judge it:
#   - `systemd-analyze verify` accepts it without a single warning;
#   - the offline security review (`systemd-analyze security --offline=true`) gives an
#     overall exposure level of at most MAX (0 = fully locked down, 10 = unprotected).
# Usage: check_systemd_unit.sh UNIT BINARY MAX
# verify insists that ExecStart= exists, so the unit is checked with BINARY (the one
# just built) in place of /usr/bin/birdsong-agent. Exit 77 (skipped) without systemd.
set -eu
unit=$1 binary=$2 max=$3

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "skipped: systemd-analyze not found (Debian package systemd)"
    exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
checked="$work/birdsong-agent.service"
sed "s|/usr/bin/birdsong-agent|$binary|g" "$unit" > "$checked"

if ! out=$(systemd-analyze verify "$checked" 2>&1) || [ -n "$out" ]; then
    printf '%s\n' "$out"
    echo "FAIL: systemd-analyze verify $unit is not clean"
    exit 1
fi

report=$(systemd-analyze security --offline=true "$checked" 2>&1) || {
    printf '%s\n' "$report"
    echo "FAIL: systemd-analyze security --offline=true $unit failed"
    exit 1
}
# "→ Overall exposure level for birdsong-agent.service: 1.3 OK 🙂"
level=$(printf '%s\n' "$report" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
if [ -z "$level" ]; then
    printf '%s\n' "$report"
    echo "FAIL: no overall exposure level in the report"
    exit 1
fi
if awk -v level="$level" -v max="$max" 'BEGIN { exit !(level > max) }'; then
    printf '%s\n' "$report" | grep '✗' || true
    echo "FAIL: exposure level $level is above $max"
    exit 1
fi
echo "systemd-analyze verify: clean; security exposure level $level (at most $max)"
