#!/usr/bin/env bash
# Independent validators against the example zone signed by UplinkDNS (issue 22, item 4; docs/dnssec.md,
# "Independent validators"). For NSEC and for NSEC3:
#   1. UplinkDNS serves zones/example.com.zone with config/uplinkdns.yaml, signed with the key it makes itself; its
#      DS and its signed export (the control API's, as a secondary transfers it) are taken.
#   2. A fake root (198.18.0.1) and a fake com. (198.18.0.2), signed by ldns-signzone and served by knotd, delegate
#      example.com. to ns1 (192.0.2.10) and ns2 (198.51.100.10), the zone's own name servers, with that DS.
#   3. Beside the UplinkDNS world, the same world with Knot serving UplinkDNS's signed export (the reference), and
#      the same zone unsigned from UplinkDNS with no DS (the baseline).
#   4. zonemaster-cli (every test case, root hints = the fake root) and dnsviz probe/grok (our KSK the trust anchor,
#      and the fake root's) run against each world; a validating unbound (root hints and trust anchor = the fake
#      root) resolves through UplinkDNS's: the pool before and after drains (its last line too), AAAA, NXDOMAIN,
#      wildcards, NODATA, CNAMEs, each with AD, and below the zone's insecure delegation.
# It fails on any zonemaster message above NOTICE that UplinkDNS gets and Knot or the unsigned zone does not, on any
# dnsviz error or warning, and on any answer unbound does not validate (tests/validators/verdict.py).
#
# Every world is its own network and PID namespace (`unshare --net --pid`): loopback only, the servers' addresses
# (from 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 and 198.18.0.0/15) added to lo, and every daemon ended by the
# kernel with it. zonemaster, dnsviz and unbound know the real root servers; in here there is no route to them, or
# to anything but these addresses.
#
# Usage: run.sh [UPLINKDNS_BINARY]   (default .build/debug/uplinkdns). Exit 0 = PASS; 77 = cannot run here (not
# root, or no network namespace); anything else = FAIL, with what failed. VALIDATORS_KEEP=1 keeps the work folder;
# run.sh --exec WORK BINARY VARIANT SERVER COMMAND... brings a world of it up again and runs COMMAND in it.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

ROOT_NS=198.18.0.1   # a.root.test.: the fake root
COM_NS=198.18.0.2    # a.com.test.: the fake com.
NS1=192.0.2.10       # ns1.example.com., as the zone says
NS2=198.51.100.10    # ns2.example.com.
BRANCH_NS=203.0.113.53  # ns.branch.example.com.: the zone's insecure delegation, served unsigned by knotd
ADDRESSES=("$ROOT_NS" "$COM_NS" "$NS1" "$NS2" "$BRANCH_NS")
CONTROL=127.0.0.1:5380

# The namespace's lo, up, with the servers' addresses; nothing else exists in it.
namespace_up() {
    ip link set lo up
    for a in "${ADDRESSES[@]}"; do ip addr add "$a/32" dev lo; done
}

pids=()
stop_all() {
    local p
    for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
    pids=()
}

# Waits until `dig @ADDR NAME SOA` answers with AA (up to 60 s: a debug build starting on a loaded machine).
wait_for() {
    local addr=$1 name=$2 i
    for i in $(seq 1 600); do
        if dig +norec +time=1 +tries=1 @"$addr" "$name" SOA 2>/dev/null | grep -q "flags: qr aa"; then return 0; fi
        sleep 0.1
    done
    echo "no answer from $addr for $name SOA" >&2
    return 1
}

# knotd serving ZONE from FILE (pre-signed or plain: no signing by Knot) on ADDRESS, in DIR.
start_knot() {
    local dir=$1 address=$2
    shift 2
    mkdir -p "$dir"
    {
        echo "server:"
        echo "    rundir: \"$dir\""
        echo "    listen: [ ${address//,/@53, }@53 ]"
        echo "    udp-workers: 1"
        echo "    tcp-workers: 1"
        echo "    background-workers: 1"
        echo "log:"
        echo "  - target: stderr"
        echo "    any: warning"
        echo "database:"
        echo "    storage: \"$dir\""
        echo "template:"
        echo "  - id: default"
        echo "    storage: \"$dir\""
        echo "    zonefile-sync: -1"
        echo "    zonefile-load: whole"
        echo "    journal-content: none"
        echo "zone:"
        while [ $# -gt 0 ]; do
            echo "  - domain: \"$1\""
            echo "    file: \"$2\""
            shift 2
        done
    } >"$dir/knot.conf"
    knotd -c "$dir/knot.conf" >"$dir/knot.log" 2>&1 &
    pids+=($!)
}

# UplinkDNS with the example config, its listen addresses and state moved into DIR.
uplinkdns_config() {
    local dir=$1 dnssec=$2 listen=$3
    mkdir -p "$dir"
    cp "$ROOT/zones/example.com.zone" "$dir/example.com.zone"
    # The example config as shipped, but: listen where the zone's NS records say, the zone file beside it, a line
    # with an IPv6 address too (the pool's AAAA), and signing as asked.
    sed -e "s|^  listen: .*|  listen: [$listen]\n  control: $CONTROL\n  udp-workers: 1|" \
        -e "s|file: ../zones/example.com.zone|file: example.com.zone\n    dnssec: $dnssec|" \
        -e "s|public: \[192.0.2.10\] |public: [192.0.2.10, \"2001:db8::10\"]|" \
        "$ROOT/config/uplinkdns.yaml" >"$dir/uplinkdns.yaml"
    grep -q "dnssec: $dnssec" "$dir/uplinkdns.yaml" && grep -q "2001:db8::10" "$dir/uplinkdns.yaml" || {
        echo "config/uplinkdns.yaml changed shape: the test's edits did not apply" >&2
        return 1
    }
}

start_uplinkdns() {
    local dir=$1
    "$BIN" serve --config "$dir/uplinkdns.yaml" >"$dir/uplinkdns.log" 2>&1 &
    pids+=($!)
}

# ---------------------------------------------------------------------------------------------------------------
# Inside a namespace: one step of the run, named by $1.

# sign VARIANT: UplinkDNS signs the zone with its own key; its DS and its signed export are kept.
inside_sign() {
    local v=$1 dir="$WORK/$1/uplinkdns"
    namespace_up
    start_uplinkdns "$dir"
    wait_for "$NS1" example.com
    "$BIN" keys example.com --config "$dir/uplinkdns.yaml" | grep " IN DS " >"$WORK/$v/ds.txt"
    "$BIN" export example.com --config "$dir/uplinkdns.yaml" >"$WORK/$v/export.zone"
    # The trust anchor for dnsviz: our KSK (flags 257), from the zone as signed.
    awk '$4 == "DNSKEY" && $5 == 257' "$WORK/$v/export.zone" >"$WORK/$v/ksk.txt"
    stop_all
    [ -s "$WORK/$v/ds.txt" ] && [ -s "$WORK/$v/ksk.txt" ] || { echo "$v: no DS or no KSK" >&2; return 1; }
}

# The fake root and com. with the example zone of VARIANT served by SERVER (uplinkdns or knot).
world_up() {
    local v=$1 server=$2 out="$WORK/$1/$2"
    namespace_up
    start_knot "$out/root" "$ROOT_NS" . "$WORK/root.zone.signed"
    start_knot "$out/com" "$COM_NS" com. "$WORK/$v/com.zone.signed"
    start_knot "$out/branch" "$BRANCH_NS" branch.example.com. "$WORK/branch.zone"
    if [ "$server" = knot ]; then
        start_knot "$out/knot" "$NS1,$NS2" example.com. "$WORK/$v/export.zone"
    else
        start_uplinkdns "$out"
    fi
    wait_for "$ROOT_NS" .
    wait_for "$COM_NS" com
    wait_for "$NS1" example.com
    wait_for "$NS2" example.com
    wait_for "$BRANCH_NS" branch.example.com
}

# world VARIANT SERVER: that world, then zonemaster and dnsviz (and, for UplinkDNS signed, unbound).
inside_world() {
    local v=$1 server=$2 out="$WORK/$1/$2"
    world_up "$v" "$server"
    # zonemaster: every test case (the default profile's), from the fake root; every message, as JSON (the verdict
    # looks at those above NOTICE, and at which test cases started). IPv4 only: the zone's name servers have no IPv6.
    timeout 300 zonemaster-cli --hints "$WORK/root.hints" --no-ipv6 --no-progress --level DEBUG --json \
        --show-testcase example.com >"$out/zonemaster.json" 2>"$out/zonemaster.err" || true
    if [ "$v" != unsigned ]; then
        # dnsviz: the delegation from the fake root down, the apex and the names the unbound checks ask for, but
        # not the unsigned branch.example.com. (grok 0.9.4 fails with a KeyError on its negative answers, from
        # Knot as from us; unbound checks the insecure delegation instead).
        # -E: the EDNS diagnostics too (versions, options, flags, sizes), -n: NSID.
        timeout 300 dnsviz probe -4 -A -E -n -a . -x ".:a.root.test=$ROOT_NS" -o "$out/probe.json" \
            example.com www.example.com ftp.example.com x.pages.example.com anything.example.com \
            nx.www.example.com mail.example.com _http._tcp.example.com 2>"$out/probe.err" || true
        # grok with our KSK as the trust anchor, and again from the fake root's key (the whole chain).
        timeout 120 /usr/bin/python3 "$HERE/dnsviz-grok.py" -t "$WORK/$v/ksk.txt" -r "$out/probe.json" \
            -o "$out/grok.json" 2>"$out/grok.err" || true
        timeout 120 /usr/bin/python3 "$HERE/dnsviz-grok.py" -t "$WORK/root.dnskey" -r "$out/probe.json" \
            -o "$out/grok-root.json" 2>"$out/grok-root.err" || true
    fi
    if [ "$server" = uplinkdns ] && [ "$v" != unsigned ]; then
        resolve_with_unbound "$v" "$out"
    fi
    stop_all
}

# unbound, validating from the fake root's key, asked through the delegation: every answer of example.com. has AD
# (and the insecure delegation's has none, but is not SERVFAIL: the proof that it has no DS validates).
resolve_with_unbound() {
    local v=$1 out=$2 u="$2/unbound"
    mkdir -p "$u"
    cat >"$u/unbound.conf" <<EOF
server:
    interface: 127.0.0.1@53
    do-ip6: no
    chroot: ""
    username: ""
    directory: "$u"
    pidfile: "$u/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    val-log-level: 2
    root-hints: "$WORK/root.hints"
    trust-anchor-file: "$WORK/root.anchor"
    module-config: "validator iterator"
    access-control: 127.0.0.0/8 allow
    prefetch: no
remote-control:
    control-enable: yes
    control-interface: "$u/unbound.ctl"
    control-use-cert: no
EOF
    unbound -d -c "$u/unbound.conf" >"$u/unbound.log" 2>&1 &
    pids+=($!)
    local i
    for i in $(seq 1 100); do
        unbound-control -c "$u/unbound.conf" status >/dev/null 2>&1 && break
        sleep 0.1
    done
    : >"$u/answers.txt"
    # ask NAME TYPE STATUS AD|insecure MUST-CONTAIN MUST-NOT-CONTAIN: the last two are extended regexes matched
    # against dig's output, each of MUST-CONTAIN's ;-separated ones must match; empty = no condition.
    ask() {
        local name=$1 type=$2 status=$3 ad=$4 has=$5 hasnt=$6 a flags re verdict=ok
        a=$(dig +time=5 +tries=2 @127.0.0.1 "$name" "$type" +dnssec 2>&1 || true)
        flags=$(sed -n 's/^;; flags: \([a-z ]*\);.*/\1/p' <<<"$a")
        grep -q "status: $status," <<<"$a" || verdict="not $status"
        if [ "$ad" = AD ]; then
            [[ " $flags " == *" ad "* ]] || verdict="$verdict, no AD"
        else
            [[ " $flags " != *" ad "* ]] || verdict="$verdict, AD on an insecure answer"
        fi
        local IFS=';'
        for re in $has; do grep -Eq "$re" <<<"$a" || verdict="$verdict, no /$re/"; done
        if [ -n "$hasnt" ] && grep -Eq "$hasnt" <<<"$a"; then verdict="$verdict, has /$hasnt/"; fi
        echo "$verdict: $name $type (flags: $flags)" >>"$u/answers.txt"
        [ "$verdict" = ok ] || printf '%s\n' "$a" >>"$u/failed-answers.txt"
    }
    # Each `ask` line here, and each of the two drains, is a line of answers.txt: the verdict counts them.
    local both="IN	A	192\.0\.2\.10;IN	A	198\.51\.100\.10"
    ask www.example.com A NOERROR AD "$both" ""                                   # the pool, both lines
    ask www.example.com AAAA NOERROR AD "IN	AAAA	2001:db8::10" ""               # the pool's AAAA
    ask nx.www.example.com A NXDOMAIN AD "" ""                                     # NXDOMAIN
    ask anything.example.com TXT NOERROR AD "TXT	\"no such host" ""              # the apex wildcard
    ask anything.example.com A NOERROR AD "" "IN	A	"                            # its NODATA
    ask x.pages.example.com A NOERROR AD "CNAME	www\.example\.com\.;$both" ""  # a wildcard CNAME to the pool
    ask mail.example.com AAAA NOERROR AD "" "IN	AAAA	"                         # NODATA
    ask ftp.example.com A NOERROR AD "CNAME	www\.example\.com\." ""            # a CNAME to the pool
    ask example.com MX NOERROR AD "MX	10 mail\.example\.com\." ""               # a static RRset
    ask www.branch.example.com A NXDOMAIN insecure "" ""                          # below the insecure delegation
    # Drain cnc (the control API, as an operator does), flush unbound's cache, ask again: cnc's address is gone.
    if "$BIN" link cnc drain --config "$out/uplinkdns.yaml" >"$u/drain.txt" 2>&1; then
        echo "ok: drained cnc" >>"$u/answers.txt"
    else
        echo "drain failed: $(cat "$u/drain.txt")" >>"$u/answers.txt"
    fi
    unbound-control -c "$u/unbound.conf" flush_zone example.com >/dev/null
    ask www.example.com A NOERROR AD "IN	A	192\.0\.2\.10" "198\.51\.100\.10"
    ask www.example.com AAAA NOERROR AD "IN	AAAA	2001:db8::10" ""
    ask x.pages.example.com A NOERROR AD "IN	A	192\.0\.2\.10" "198\.51\.100\.10"
    # unicom out too (--force: the pool's last line): the pool has nothing to give. Its name stays, NODATA with its
    # own NSEC or NSEC3, never the apex wildcard's TXT (what NSEC3 answered with DO until this test found it).
    if "$BIN" link unicom drain --force --config "$out/uplinkdns.yaml" >"$u/drain.txt" 2>&1; then
        echo "ok: drained unicom" >>"$u/answers.txt"
    else
        echo "drain failed: $(cat "$u/drain.txt")" >>"$u/answers.txt"
    fi
    unbound-control -c "$u/unbound.conf" flush_zone example.com >/dev/null
    ask www.example.com A NOERROR AD "" "IN	A	"
    ask www.example.com TXT NOERROR AD "" "IN	TXT	"
    ask nx.www.example.com A NXDOMAIN AD "" ""
    # dnsviz on the pool's name in that state (there is no Knot reference for it: zero findings).
    timeout 120 dnsviz probe -4 -A -a . -x ".:a.root.test=$ROOT_NS" -o "$out/probe-empty-pool.json" \
        www.example.com nx.www.example.com 2>"$out/probe-empty-pool.err" || true
    timeout 120 /usr/bin/python3 "$HERE/dnsviz-grok.py" -t "$WORK/$v/ksk.txt" -r "$out/probe-empty-pool.json" \
        -o "$out/grok-empty-pool.json" 2>"$out/grok-empty-pool.err" || true
}

# exec VARIANT SERVER COMMAND...: that world, and COMMAND in it (for a person looking into a failure: keep the work
# folder with VALIDATORS_KEEP=1, then run.sh --exec WORK BINARY nsec uplinkdns bash).
inside_exec() {
    world_up "$1" "$2"
    shift 2
    "$@" || true
}

# ---------------------------------------------------------------------------------------------------------------
# Outside: the parents' zones, the namespaces, the verdict.

# A world: its own network namespace, and its own PID namespace, so that every daemon in it ends with it (killed by
# the kernel when the namespace's first process exits, or when unshare does: --kill-child).
UNSHARE=(unshare --net --pid --fork --kill-child --)
inside() { "${UNSHARE[@]}" bash "$HERE/run.sh" --inside "$@"; }

if [ "${1:-}" = --exec ]; then
    shift
    inside exec "$@"
    exit 0
fi
if [ "${1:-}" = --inside ]; then
    # Only ever in namespaces of our own (the steps add addresses to lo and listen on port 53): the first process of
    # a new PID namespace, in a network namespace that has nothing but lo.
    if [ $$ -ne 1 ] || ip -o link show | grep -qv ': lo:'; then
        echo "run.sh --inside runs only in namespaces of its own, as run.sh makes them (use --exec)" >&2
        exit 2
    fi
    trap stop_all EXIT
    shift
    step=$1 WORK=$2 BIN=$3
    shift 3
    "inside_$step" "$@"
    stop_all
    exit 0
fi

BIN=$(readlink -f "${1:-$ROOT/.build/debug/uplinkdns}")
[ -x "$BIN" ] || { echo "FAIL: $BIN is missing: build it first"; exit 1; }
if [ "$(id -u)" -ne 0 ] || ! unshare -n true 2>/dev/null; then
    echo "SKIP: cannot make a network namespace here (needs root and unshare -n)"
    exit 77
fi
for t in zonemaster-cli dnsviz unbound unbound-control knotd ldns-keygen ldns-signzone dig; do
    command -v "$t" >/dev/null || { echo "FAIL: $t is not installed (bash scripts/install-deps.sh)"; exit 1; }
done

WORK=$(mktemp -d /tmp/uplinkdns-validators.XXXXXX)
running=()        # the unshare of each world running, by PID
declare -A world_of # its world, VARIANT/SERVER
cleanup() {
    local p
    # Worlds still running (a timeout, Ctrl-C): their unshare, by PID, with SIGKILL (unshare --fork ignores TERM and
    # INT while it waits); --kill-child then ends the namespace's first process, and the kernel all the others.
    for p in "${running[@]:-}"; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true; done
    if [ "${VALIDATORS_KEEP:-}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 1' TERM INT

VARIANTS=(nsec nsec3)
uplinkdns_config "$WORK/nsec/uplinkdns" true "\"$NS1:53\", \"$NS2:53\""
uplinkdns_config "$WORK/nsec3/uplinkdns" "{nsec3: true}" "\"$NS1:53\", \"$NS2:53\""
uplinkdns_config "$WORK/unsigned/uplinkdns" false "\"$NS1:53\", \"$NS2:53\""

# 1. UplinkDNS signs, once per denial method (the signing world is a namespace too: it listens on the NS addresses).
for v in "${VARIANTS[@]}"; do
    inside sign "$WORK" "$BIN" "$v" || {
        echo "FAIL: UplinkDNS did not sign ($v); its log:"
        cat "$WORK/$v/uplinkdns/uplinkdns.log"
        exit 1
    }
done

# 2. The parents: a fake com. with the delegation (and the DS, when signed), a fake root over it; each signed by
#    ldns-signzone with a key of its own (one CSK, algorithm 13).
cd "$WORK"
ldns-keygen -a ECDSAP256SHA256 -k . >root.keyname
ldns-keygen -a ECDSAP256SHA256 -k com >com.keyname
SOA_TAIL="1 3600 900 1209600 300"
INCEPTION=$(($(date +%s) - 3600)) # an hour back, as UplinkDNS does: dnsviz warns of an inception within clock skew
{
    echo "\$TTL 86400"
    echo ".  IN SOA a.root.test. hostmaster.root.test. $SOA_TAIL"
    echo ".  IN NS a.root.test."
    echo "a.root.test. IN A $ROOT_NS"
    echo "com. 172800 IN NS a.com.test."
    echo "a.com.test. IN A $COM_NS"
    sed 's/^[^ \t]*[ \t]*IN[ \t]*DS/com. 86400 IN DS/' "$(cat com.keyname).ds"
} >root.zone
ldns-signzone -i "$INCEPTION" -f root.zone.signed root.zone "$(cat root.keyname)"
echo ". IN NS a.root.test." >root.hints
echo "a.root.test. IN A $ROOT_NS" >>root.hints
sed 's/^[^ \t]*[ \t]*IN[ \t]*DS/. IN DS/' "$(cat root.keyname).ds" >root.anchor
cp "$(cat root.keyname).key" root.dnskey
# The branch office's zone (unsigned), below the example zone's insecure delegation.
cat >branch.zone <<EOF
\$TTL 3600
branch.example.com. IN SOA ns.branch.example.com. hostmaster.example.com. $SOA_TAIL
branch.example.com. IN NS ns.branch.example.com.
ns.branch.example.com. IN A $BRANCH_NS
EOF
for v in "${VARIANTS[@]}" unsigned; do
    {
        echo "\$TTL 86400"
        echo "com. IN SOA a.com.test. hostmaster.com.test. $SOA_TAIL"
        echo "com. IN NS a.com.test."
        echo "example.com. 172800 IN NS ns1.example.com."
        echo "example.com. 172800 IN NS ns2.example.com."
        echo "ns1.example.com. 172800 IN A $NS1"
        echo "ns2.example.com. 172800 IN A $NS2"
        [ "$v" = unsigned ] || sed 's/^example\.com\. IN DS /example.com. 86400 IN DS /' "$v/ds.txt"
    } >"$v/com.zone"
    ldns-signzone -i "$INCEPTION" -f "$v/com.zone.signed" "$v/com.zone" "$(cat com.keyname)"
done
cd "$ROOT"

zonemaster-cli --list-tests | grep -oE '^ *dnssec[0-9]+' | tr -d ' ' >"$WORK/zonemaster-dnssec-cases.txt"
echo $(($(grep -c '^    ask ' "$HERE/run.sh") + 2)) >"$WORK/unbound-questions.txt"
grep -q dnssec02 "$WORK/zonemaster-dnssec-cases.txt" || {
    echo "FAIL: zonemaster-cli --list-tests lists no DNSSEC case"
    exit 1
}

# 3. The worlds, two at a time (two cores): UplinkDNS and Knot for each denial method, and the unsigned baseline.
#    Each world's log is WORLD.log, its exit status WORLD.rc (the verdict shows a failed world's log).
worlds=("nsec uplinkdns" "nsec knot" "nsec3 uplinkdns" "nsec3 knot" "unsigned uplinkdns")
reap_first() {
    local p=${running[0]} rc=0
    wait "$p" || rc=$?
    echo "$rc" >"$WORK/${world_of[$p]}.rc"
    running=("${running[@]:1}")
}
for w in "${worlds[@]}"; do
    read -r v s <<<"$w"
    mkdir -p "$WORK/$v/$s"
    "${UNSHARE[@]}" bash "$HERE/run.sh" --inside world "$WORK" "$BIN" "$v" "$s" >"$WORK/$v/$s.world.log" 2>&1 &
    running+=($!)
    world_of[$!]="$v/$s"
    if [ ${#running[@]} -ge 2 ]; then reap_first; fi
done
while [ ${#running[@]} -gt 0 ]; do reap_first; done

# 4. The verdict.
/usr/bin/python3 "$HERE/verdict.py" "$WORK"
