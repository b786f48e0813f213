# lib.sh: what the namespace tests share — run a command in one of the test's namespaces, remove them all on exit
# (stopping the processes left in them by PID, and those in `pids`), wait for a condition, build the seed's site and
# set up its two firewalls. Source it after setting P (the namespaces' prefix), WORK (a scratch directory, removed too) and NSS (the
# namespaces' short names).
ns() { local n=$1; shift; ip netns exec "$P-$n" "$@"; }
pids=()
cleanup() {
    for n in $NSS; do
        for p in $(ip netns pids "$P-$n" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
    done
    for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    sleep 0.3
    for n in $NSS; do
        for p in $(ip netns pids "$P-$n" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
        ip netns del "$P-$n" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
step() { echo "== $*"; }
wait_for() {  # wait_for SECONDS CONDITION-COMMAND...: polls every 0.1 s
    local end; end=$(($(date +%s%N) + ${1%.*} * 1000000000)); shift
    while [ "$(date +%s%N)" -le "$end" ]; do "$@" && return 0; sleep 0.1; done
    return 1
}
# firewalls: each line's firewall (namespace f1: line unicom, f2: cnc) gets the DNAT/SNAT UplinkDNS emits for it
# from $WORK/uplinkdns.yaml ($BIN), plus what a stateful firewall does anyway: drop packets conntrack calls INVALID (a
# reply it never saw the request of), and masquerade the LAN's outbound traffic (the server's probes).
firewalls() {
    local pair
    for pair in "f1 unicom" "f2 cnc"; do
        set -- $pair
        "$BIN" routing --config "$WORK/uplinkdns.yaml" --for "firewall:$2" --format nft > "$WORK/$2.nft"
        ns "$1" nft -f "$WORK/$2.nft"
        ns "$1" nft -f - <<'NFT'
table inet stateful {
    chain forward { type filter hook forward priority 0; policy accept; ct state invalid drop; }
}
table ip outbound {
    chain postrouting { type nat hook postrouting priority 110; policy accept;
        oifname "out" ip saddr 198.18.168.0/24 masquerade; }
}
NFT
    done
}
# site: the seed's site (000) in namespaces, every one in NSS made (exit 77, skipped, where namespaces or nft are
# missing): a client on the internet side of each line (c: 192.0.2.1 and 198.51.100.1), two ISP firewalls (f1: line
# unicom, 192.0.2.10 outside; f2: cnc, 198.51.100.10; inside 198.18.168.11 and .12, forwarding), a LAN bridge (b) and
# the server's one NIC on it (s: eth0, up, no address). `bridged NS PORT` plugs another namespace's eth0 into the LAN.
site() {
    if ! ip netns add "$P-c" 2>/dev/null; then
        echo "SKIP: cannot create network namespaces here (needs root and ip netns)"
        exit 77
    fi
    command -v nft >/dev/null || { echo "SKIP: nft is not installed (Debian package nftables)"; exit 77; }
    local n f
    for n in $NSS; do [ "$n" = c ] || ip netns add "$P-$n"; done
    for n in $NSS; do ns "$n" ip link set lo up; done
    ip link add c1 netns "$P-c" type veth peer name out netns "$P-f1"
    ip link add c2 netns "$P-c" type veth peer name out netns "$P-f2"
    ns c ip addr add 192.0.2.1/24 dev c1
    ns c ip addr add 198.51.100.1/24 dev c2
    ns f1 ip addr add 192.0.2.10/24 dev out
    ns f2 ip addr add 198.51.100.10/24 dev out
    ns b ip link add br0 type bridge
    ns b ip link set br0 up
    ip link add in netns "$P-f1" type veth peer name p1 netns "$P-b"
    ip link add in netns "$P-f2" type veth peer name p2 netns "$P-b"
    for n in p1 p2; do ns b ip link set "$n" master br0; ns b ip link set "$n" up; done
    bridged s ps
    ns f1 ip addr add 198.18.168.11/24 dev in
    ns f2 ip addr add 198.18.168.12/24 dev in
    for n in c1 c2; do ns c ip link set "$n" up; done
    for f in f1 f2; do
        ns "$f" ip link set out up
        ns "$f" ip link set in up
        ns "$f" sysctl -qw net.ipv4.ip_forward=1
    done
    ns s ip link set eth0 up
}
bridged() {  # bridged NS PORT: NS's eth0 on the LAN bridge, through PORT
    ip link add eth0 netns "$P-$1" type veth peer name "$2" netns "$P-b"
    ns b ip link set "$2" master br0
    ns b ip link set "$2" up
}
