#!/usr/bin/env bash
# The director (issue 24) in seed 002's DR topology, forwarded by nftables' netdev fwd (this kernel has no IPVS): one
# LAN (a bridge) holds the clients 203.0.113.10-29, the director (203.0.113.2, the VIP 203.0.113.80, the DIP
# 198.18.1.1) and two real servers 198.18.1.12 (r1) and .13 (r2) that hold the VIP on lo and answer the clients
# themselves. Each real server is set up by the script `routing --for real-server:RIP` prints; the director runs
# `uplinkdns serve` with director.apply: nft and a dr service on its eth0:
#   1. 200 connections from 20 clients all answered, by both real servers; the director sent back almost nothing
#      (the replies went straight from the real servers: direct routing);
#   2. r2's http server killed: from fall x interval + 1 s on, every new connection is answered, by r1; started
#      again, r2 gets connections again.
# Usage: director-dr.sh UPLINKDNS_BINARY. Exit 0 = pass, 77 = skipped (no namespaces or nft here), else fail.
# Addresses only from the documentation and benchmarking ranges; every namespace is removed on exit, and every process
# it started is stopped by its PID (those left in its namespaces by `ip netns pids`).
set -euo pipefail
BIN=$(readlink -f "$1")
HERE=$(dirname "$(readlink -f "$0")")
P="updr$$"
WORK=$(mktemp -d)
NSS="b c d r1 r2"
. "$HERE/lib.sh"
. "$HERE/director-lib.sh"
ns b ip link add br0 type bridge
ns b ip link set br0 up
for n in c d r1 r2; do
    ip link add eth0 netns "$P-$n" type veth peer name "p$n" netns "$P-b"
    ns b ip link set "p$n" master br0
    ns b ip link set "p$n" up
    ns "$n" ip link set eth0 up
done
for i in $(seq 10 29); do ns c ip addr add "203.0.113.$i/24" dev eth0; done
ns d ip addr add 203.0.113.2/24 dev eth0
ns d ip addr add 203.0.113.80/32 dev eth0
ns d ip addr add 198.18.1.1/24 dev eth0
i=11
for r in r1 r2; do
    i=$((i + 1))
    ns "$r" ip addr add "198.18.1.$i/24" dev eth0
    ns "$r" ip route add 203.0.113.0/24 dev eth0   # the clients, on the same LAN (the seed's router's job)
    mkdir -p "$WORK/$r"
    echo "$r" > "$WORK/$r/index.html"
done

director_config
cat >> "$WORK/uplinkdns.yaml" <<CONF
director:
  apply: nft
  services:
    - name: web
      address: 203.0.113.80
      port: 80
      mode: dr
      interface: eth0
      scheduler: rr
      real-servers:
        - {address: 198.18.1.12, checks: [{http: "http://198.18.1.12/"}]}
        - {address: 198.18.1.13, checks: [{http: "http://198.18.1.13/"}]}
      interval: 1
      rise: 2
      fall: 2
CONF
"$BIN" check --config "$WORK/uplinkdns.yaml" >/dev/null || fail "check refused the config"

step "0. each real server set up by routing --for real-server"
for r in r1 r2; do
    rip=$([ "$r" = r1 ] && echo 198.18.1.12 || echo 198.18.1.13)
    "$BIN" routing --config "$WORK/uplinkdns.yaml" --for "real-server:$rip" > "$WORK/$r.sh"
    ns "$r" bash "$WORK/$r.sh" || fail "the real server script failed on $r"
    lo=$(ns "$r" ip -o addr show dev lo)
    echo "$lo" | grep -q "203.0.113.80/32" || fail "$r does not hold the VIP on lo: $lo"
    [ "$(ns "$r" sysctl -n net.ipv4.conf.all.arp_ignore)" = 1 ] || fail "$r: arp_ignore is not 1"
    (cd "$WORK/$r" && exec ip netns exec "$P-$r" "$PY" -m http.server 80 --bind 0.0.0.0) \
        > "$WORK/$r-80.log" 2>&1 < /dev/null &
    echo $! > "$WORK/$r-80.pid"
done
for r in r1 r2; do
    wait_for 10 ns "$r" "$PY" -c 'import socket; socket.create_connection(("127.0.0.1", 80), 1)' 2>/dev/null \
        || fail "the http server on $r did not start"
done
echo "   the VIP on lo, arp_ignore 1 and arp_announce 2 on both"


step "1. direct routing: every connection answered by a real server, not through the director"
(cd "$WORK" && exec ip netns exec "$P-d" "$BIN" serve --config uplinkdns.yaml) > "$WORK/server.log" 2>&1 < /dev/null &
echo $! > "$WORK/server.pid"
wait_for 20 grep -q "control API on" "$WORK/server.log" || fail "uplinkdns did not start"
out=$(ns d "$BIN" routing --config "$WORK/uplinkdns.yaml" --check 2>&1) || fail "routing --check reports drift: $out"
# On the client, count what comes from the VIP: from the director's MAC address, and in all.
dmac=$(ns d cat /sys/class/net/eth0/address)
ns c nft -f - <<NFT
table netdev replies {
    chain in {
        type filter hook ingress device "eth0" priority filter; policy accept;
        ip saddr 203.0.113.80 ether saddr $dmac counter name via_director
        ip saddr 203.0.113.80 counter name from_vip
    }
    counter via_director {}
    counter from_vip {}
}
NFT
total='{}'
for i in $(seq 10 29); do
    got=$(client count 203.0.113.80 80 10 "203.0.113.$i")
    total=$("$PY" -c 'import json, sys; a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2]); print(json.dumps({k: a.get(k, 0) + b.get(k, 0) for k in set(a) | set(b)}, sort_keys=True))' "$total" "$got")
done
packets() { ns c nft list counter netdev replies "$1" | awk '/packets/ {print $2}'; }
echo "   200 connections from 20 clients: $total; packets from the VIP: $(packets from_vip), by the director's MAC: $(packets via_director)"
[ "$(share "$total" FAIL)" -eq 0 ] || fail "connections failed: $total"
[ "$(share "$total" r1)" -gt 40 ] && [ "$(share "$total" r2)" -gt 40 ] || fail "not spread over both: $total"
# Each connection is several packets back to the client (SYN-ACK, data, FIN, ACKs), every one from a real server's MAC.
[ "$(packets from_vip)" -ge 600 ] && [ "$(packets via_director)" -eq 0 ] || fail "the replies did not come straight from the real servers"

step "2. r2's http server killed: out within fall x interval + 1 s, back after it returns"
kill_r2 203.0.113.80
(cd "$WORK/r2" && exec ip netns exec "$P-r2" "$PY" -m http.server 80 --bind 0.0.0.0) > "$WORK/r2-80.log" 2>&1 < /dev/null &
sleep 4
touch "$WORK/stop"
wait "$loop" || true
again='{}'
for i in $(seq 10 29); do
    got=$(client count 203.0.113.80 80 3 "203.0.113.$i")
    again=$("$PY" -c 'import json, sys; a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2]); print(json.dumps({k: a.get(k, 0) + b.get(k, 0) for k in set(a) | set(b)}, sort_keys=True))' "$again" "$got")
done
echo "   after r2 returned, 60 connections from 20 clients: $again"
[ "$(share "$again" FAIL)" -eq 0 ] && [ "$(share "$again" r2)" -gt 10 ] || fail "r2 did not get connections back: $again"

kill "$(cat "$WORK/server.pid")"
echo "PASS"
