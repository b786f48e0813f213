#!/usr/bin/env bash
# Checks the systemd units in contrib/systemd (HardeningTests.theSystemdUnitsVerifyAndStayHardened runs it):
#   1. `systemd-analyze verify` on both, as shipped, in a scratch root: the units name /usr/bin/uplinkdns, which
#      need not exist on the machine running the tests, so the scratch root gets an executable stub there (verify
#      checks that an Exec*= program exists and is executable; it never runs it) and a copy of the host's unit
#      directory (verify loads the targets they are ordered against). --root keeps the unit files byte for byte
#      as shipped: rewriting the paths in a copy, as the old test did, would check something else.
#      Documentation=man:uplinkdns(1) is looked up with man(1) when MAN_DIR names a directory with uplinkdns.1
#      (`make man`), and not checked otherwise (check-deb.sh checks the packaged page).
#      Any message naming one of the units fails, warnings too (an unknown key is only a warning to systemd).
#   2. `systemd-analyze security --offline=true` on both, failing above the exposure recorded below: a change that
#      weakens the sandbox fails until the threshold is raised on purpose, next to the reason.
#   3. The options the issue asks for are there (Type=notify, ExecStartPre check, ExecReload reload, the user...).
# Usage: tests/packaging/check-units.sh   (MAN_DIR=.build/man to check the man page reference too)
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
units_dir="$root/contrib/systemd"
units=(uplinkdns.service uplinkdns-routing.service)
# Exposure × 10 (systemd-analyze's --threshold scale). uplinkdns.service 1.7: what is left is the network it
# serves (AF_INET/AF_INET6, no IP allow list, no private network), CAP_NET_BIND_SERVICE as an ambient capability,
# and allowing @privileged/@resources (icmp checks run ping, which drops privileges with them).
# uplinkdns-routing.service 1.3: CAP_NET_ADMIN is its job, and it needs the host's network to change it.
declare -A threshold=([uplinkdns.service]=17 [uplinkdns-routing.service]=13)

fail() {
    echo "check-units.sh: FAIL: $*" >&2
    exit 1
}

command -v systemd-analyze >/dev/null || fail "systemd-analyze is missing (Debian package systemd)"
host_units=""
for d in /lib/systemd/system /usr/lib/systemd/system; do
    if [ -f "$d/sysinit.target" ]; then host_units="$d"; break; fi
done
[ -n "$host_units" ] || fail "no systemd unit directory with sysinit.target on this machine"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/usr/bin" "$scratch/etc/systemd/system" "$scratch/lib/systemd"
cp -a "$host_units" "$scratch/lib/systemd/system"
printf '#!/bin/sh\nexit 0\n' >"$scratch/usr/bin/uplinkdns"
chmod 0755 "$scratch/usr/bin/uplinkdns"
for u in "${units[@]}"; do
    [ -f "$units_dir/$u" ] || fail "$units_dir/$u is missing"
    cp "$units_dir/$u" "$scratch/etc/systemd/system/$u"
done

# 1. verify
man_flag=(--man=no)
man_note="not checked (set MAN_DIR to a directory holding uplinkdns.1)"
if [ -n "${MAN_DIR:-}" ]; then
    [ -f "$MAN_DIR/uplinkdns.1" ] || fail "MAN_DIR=$MAN_DIR has no uplinkdns.1"
    mkdir -p "$scratch/man/man1"
    cp "$MAN_DIR"/*.1 "$scratch/man/man1/"
    export MANPATH="$scratch/man"
    man_flag=(--man=yes)
    man_note="found by man(1) in $MAN_DIR"
fi
set +e
out="$(cd "$scratch" && systemd-analyze verify "${man_flag[@]}" --root="$scratch" "${units[@]}" 2>&1)"
rc=$?
set -e
mentions="$(grep -F "${units[@]/#/-e}" <<<"$out" || true)"
if [ $rc -ne 0 ] || [ -n "$mentions" ]; then
    echo "$out" >&2
    fail "systemd-analyze verify on ${units[*]}: exit $rc, messages above"
fi
echo "ok: systemd-analyze verify: ${units[*]} (Documentation= $man_note)"

# 2. security
for u in "${units[@]}"; do
    set +e
    out="$(cd "$scratch" && systemd-analyze security --offline=true --root="$scratch" --no-pager \
        --threshold="${threshold[$u]}" "$u" 2>&1)"
    rc=$?
    set -e
    level="$(sed -n "s/.*Overall exposure level for $u: \([0-9.]*\).*/\1/p" <<<"$out")"
    [ -n "$level" ] || { echo "$out" >&2; fail "systemd-analyze security printed no exposure level for $u"; }
    limit="$(awk -v t="${threshold[$u]}" 'BEGIN { printf "%.1f", t / 10 }')"
    if [ $rc -ne 0 ]; then
        grep '✗' <<<"$out" >&2 || true
        fail "$u: exposure $level is above $limit (a hardening option was lost; the ✗ lines say which)"
    fi
    echo "ok: systemd-analyze security: $u exposure $level (limit $limit)"
done

# 3. what the units must say
need() {
    local unit="$1"
    shift
    for line in "$@"; do
        grep -qxF -- "$line" "$units_dir/$unit" || fail "$unit lacks the line '$line'"
    done
}
need uplinkdns.service Type=notify "ExecStartPre=/usr/bin/uplinkdns check" "ExecStart=/usr/bin/uplinkdns serve" \
    "ExecReload=/usr/bin/uplinkdns reload" Environment=UPLINKDNS_CONFIG=/etc/uplinkdns/uplinkdns.yaml \
    User=uplinkdns Group=uplinkdns StateDirectory=uplinkdns ConfigurationDirectory=uplinkdns \
    AmbientCapabilities=CAP_NET_BIND_SERVICE CapabilityBoundingSet=CAP_NET_BIND_SERVICE NoNewPrivileges=yes \
    ProtectSystem=strict After=network-online.target\ uplinkdns-routing.service WantedBy=multi-user.target
need uplinkdns-routing.service Type=oneshot RemainAfterExit=yes "ExecStart=/usr/bin/uplinkdns routing --apply" \
    Environment=UPLINKDNS_CONFIG=/etc/uplinkdns/uplinkdns.yaml Before=uplinkdns.service \
    After=network-online.target Wants=network-online.target CapabilityBoundingSet=CAP_NET_ADMIN \
    NoNewPrivileges=yes ProtectSystem=strict
# Wants= would make the server's start pull in the routing: it must not (a host without routed lines).
if grep -qE '^(Wants|Requires|BindsTo)=.*uplinkdns-routing' "$units_dir/uplinkdns.service"; then
    fail "uplinkdns.service must not pull in uplinkdns-routing.service (ordering only)"
fi
echo "ok: the units have Type=notify, ExecStartPre check, ExecReload reload, User=uplinkdns, StateDirectory," \
    "the routing oneshot before the server"
