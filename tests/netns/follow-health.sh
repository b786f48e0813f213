#!/usr/bin/env bash
# Routing that follows health (issue 26) in the seed's site: a client on the "internet" side, two ISP firewalls
# (lines unicom and cnc), a LAN bridge, the server with routing.apply, and a LAN gateway with its clients.
#   1. the server applies its routing at start (addresses, tables, rules, the multipath default);
#   2. 50 new outbound TCP connections from the server, not bound to an address, to 5 addresses on the internet
#      side, all succeed with both lines up; the gateway's emitted rules spread the LAN's clients over both lines;
#   3. line one's far side is cut: from fall x interval + 1 s on the main default has no route via line one,
#      routing --check agrees, 50 new connections all succeed (by line two), DNS through line two answers, and the
#      server (routing.gateway-command) has moved line one's gateway group to line two;
#   4. line one comes back: its route is back within rise x interval + 1 s, and every client's group is where it was;
#   5. both lines cut: the last route stays and the server says so (log, status, metrics); a drain moves the route
#      too, and auto puts it back; netlink never saw the main default deleted;
#   6. routing.apply switched off by a reload: a cut line takes the server's unbound connections with it (0 of 10),
#      the problem this solves.
# Usage: follow-health.sh UPLINKDNS_BINARY. Exit 0 = pass, 77 = skipped (no namespaces here), else fail.
# Addresses only from the documentation and benchmarking ranges; every namespace is removed on exit.
set -euo pipefail
BIN=$(readlink -f "$1")
P="uplf$$"
WORK=$(mktemp -d)
NSS="c f1 f2 b s g l"
. "$(dirname "$(readlink -f "$0")")/lib.sh"
fail() { echo "FAIL: $*"; [ -n "${DEBUG:-}" ] && { ns g nft list table ip uplinkdns_gateway; ns g ip rule; ns g conntrack -L 2>/dev/null | head; }; echo "--- server log"; tail -40 "$WORK/server.log" 2>/dev/null; exit 1; }

# The seed's site (lib.sh; the server's NIC has no address yet: routing.apply adds them), the lines' firewalls
# routing out by their client side, and the LAN gateway's uplink on the bridge. On the internet side,
# 203.0.113.1-5 are "servers out there".
site
for i in 1 2 3 4 5; do ns c ip addr add "203.0.113.$i/32" dev lo; done
ns f1 ip route add default via 192.0.2.1
ns f2 ip route add default via 198.51.100.1
bridged g pg
# The LAN gateway (198.18.168.3 on the bridge) and its clients 198.18.10.11-26 behind it.
ns g ip addr add 198.18.168.3/24 dev eth0
ns g ip link set eth0 up
ip link add lan0 netns "$P-g" type veth peer name lan0 netns "$P-l"
ns g ip addr add 198.18.10.1/24 dev lan0
ns g ip link set lan0 up
CLIENTS=$(seq 11 26)
for i in $CLIENTS; do ns l ip addr add "198.18.10.$i/24" dev lan0; done
ns l ip link set lan0 up
ns l ip route add default via 198.18.10.1

cat > "$WORK/example.com.zone" <<'ZONE'
$ORIGIN example.com.
$TTL 300
@ IN SOA ns1 hostmaster 1 3600 900 1209600 300
@ IN NS ns1
ns1 IN A 192.0.2.10
ZONE
cat > "$WORK/uplinkdns.yaml" <<CONF
server:
  listen: ["198.18.168.1:53", "198.18.168.2:53"]
  udp-workers: 1
  control: 127.0.0.1:5380
zones:
  - {origin: example.com., file: example.com.zone}
links:
  - name: unicom
    public: [192.0.2.10]
    inside: 198.18.168.1/24
    gateway: 198.18.168.11
    interface: eth0
    table: 1
    interval: 0.5
    timeout: 0.2
    rise: 2
    fall: 2
    checks:
      - tcp: 192.0.2.1:8080
  - name: cnc
    public: [198.51.100.10]
    inside: 198.18.168.2/24
    gateway: 198.18.168.12
    interface: eth0
    table: 2
    interval: 0.5
    timeout: 0.2
    rise: 2
    fall: 2
    checks:
      - tcp: 198.51.100.1:8080
pools:
  - {name: www.example.com., links: [unicom, cnc], policy: round-robin, ttl: 5}
health:
  state-dir: state
routing:
  apply: true
  # The site's LAN gateway: the server pipes its groups, for the lines in answers, into it (here: its namespace).
  gateway-command: ip netns exec $P-g bash
CONF
"$BIN" check --config "$WORK/uplinkdns.yaml" >/dev/null

# Each firewall: the emitted DNAT/SNAT and a stateful firewall's own rules (lib.sh).
firewalls

# Out there: a TCP service on port 8080 that tells each connection the address it came from (the line's public
# address, after the firewalls' masquerading); the lines' probes connect to it too.
cat > "$WORK/echo.py" <<'PY'
import socketserver
class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall((self.client_address[0] + "\n").encode())
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer(("0.0.0.0", 8080), Handler).serve_forever()
PY
# N new connections to 203.0.113.1-5:8080 (from SOURCE when given): "OK-COUNT ADDRESS=COUNT...".
cat > "$WORK/connect.py" <<'PY'
import socket, sys
n = int(sys.argv[1]); source = sys.argv[2] if len(sys.argv) > 2 else None
ok, seen = 0, {}
for i in range(n):
    try:
        s = socket.create_connection(("203.0.113.%d" % (i % 5 + 1), 8080), timeout=1,
                                     source_address=(source, 0) if source else None)
        peer = s.recv(64).decode().strip(); s.close()
        ok += 1; seen[peer] = seen.get(peer, 0) + 1
    except OSError:
        pass
print(ok, " ".join("%s=%d" % kv for kv in sorted(seen.items())))
PY
ip netns exec "$P-c" python3 "$WORK/echo.py" >/dev/null 2>&1 < /dev/null &

step "1. the server applies its routing at start"
(cd "$WORK" && exec ip netns exec "$P-s" "$BIN" serve --config uplinkdns.yaml) > "$WORK/server.log" 2>&1 < /dev/null &
for _ in $(seq 1 100); do grep -q "listening on tcp 198.18.168.2:53" "$WORK/server.log" && break; sleep 0.1; done
grep -q "listening on tcp 198.18.168.2:53" "$WORK/server.log" || fail "uplinkdns did not start"
grep -q "routing: applied the routing of 2 line(s) at start" "$WORK/server.log" || fail "no log of the routing applied at start"
default() { ns s ip route show default; }
via1() { grep -q "via 198.18.168.11" <<< "$(default)"; }
no_via1() { ! via1; }
multipath() { local d; d=$(default); grep -q "nexthop via 198.18.168.11" <<< "$d" && grep -q "nexthop via 198.18.168.12" <<< "$d"; }
multipath || fail "the main default is not the multipath route over both lines: $(default)"
grep -q "from 198.18.168.2 lookup 2" <<< "$(ns s ip rule)" || fail "no rule for cnc's inside address: $(ns s ip rule)"
out=$(ns s "$BIN" routing --config "$WORK/uplinkdns.yaml" --check) || fail "routing --check reports drift at start: $out"
grep -q "outbound default route: multipath over unicom, cnc" <<< "$out" || fail "unexpected routing --check: $out"

q() { ns c dig "@$1" -p 53 +norec +time=1 +tries=1 +short www.example.com 2>/dev/null | grep -E '^[0-9.]+$' || true; }
step "2. both lines up: 50 unbound connections succeed; DNS through both lines; the gateway spreads its clients"
conns=$(ns s python3 "$WORK/connect.py" 50)
[ "${conns%% *}" = 50 ] || fail "with both lines up, only ${conns%% *} of 50 outbound connections succeeded ($conns)"
echo "   server, both up: $conns"
for addr in 192.0.2.10 198.51.100.10; do [ -n "$(q $addr)" ] || fail "no DNS answer through $addr"; done
# The gateway's rules: the server applied them after its first probe round (routing.gateway-command); the same as
# `routing --for gateway` prints from the running server's lines in answers.
gateway_dealt() { grep -q "routing: the gateway's groups dealt for the lines in answers: unicom, cnc" "$WORK/server.log"; }
wait_for 2 gateway_dealt || fail "the server did not apply the gateway's groups at start"
ns s "$BIN" routing --config "$WORK/uplinkdns.yaml" --for gateway > "$WORK/gateway.sh"
grep -q "map { 0-127 : 1, 128-255 : 2 }" "$WORK/gateway.sh" || fail "unexpected gateway script: $(cat "$WORK/gateway.sh")"
grep -q "128-255 : 0x00000002" <<< "$(ns g nft list table ip uplinkdns_gateway)" || fail "the gateway's table is not the emitted one"
groups() {  # each client's line, as "ADDRESS:PUBLIC-ADDRESS-SEEN" lines
    for i in $CLIENTS; do
        r=$(ns l python3 "$WORK/connect.py" 1 "198.18.10.$i")
        echo "198.18.10.$i:${r#* }"
    done
}
before=$(groups)
grep -q ":$" <<< "$before" && fail "a LAN client got no connection through the gateway: $before"
n1=$(grep -c ":192.0.2.10=1" <<< "$before" || true)
n2=$(grep -c ":198.51.100.10=1" <<< "$before" || true)
echo "   gateway groups, both up: unicom $n1, cnc $n2 of $(wc -w <<< "$CLIENTS") clients"
[ "$n1" -gt 0 ] && [ "$n2" -gt 0 ] || fail "the gateway did not spread its clients over both lines: $before"

step "3. line one's far side cut: the main default leaves it within fall x interval + 1 s"
# Every change of the server's routes from here on, as netlink reports them: a replace is never a delete and an add.
ip netns exec "$P-s" ip monitor route > "$WORK/monitor.log" 2>&1 < /dev/null &
sleep 0.2
ns f1 ip link set out down
start=$(date +%s%N)
wait_for 2 no_via1 || fail "the main default still goes via unicom 2 s after the cut: $(default)"
echo "   no route via unicom after $(( ($(date +%s%N) - start) / 1000000 )) ms: $(default)"
grep -q "via 198.18.168.12 dev eth0 src 198.18.168.2" <<< "$(default)" || fail "the main default is not via cnc from its inside address: $(default)"
grep -q "routing: outbound default route via cnc only" "$WORK/server.log" || fail "no log line for the route moved"
grep -q "from 198.18.168.1 lookup 1" <<< "$(ns s ip rule)" || fail "unicom's own rule went away"
grep -q "default via 198.18.168.11" <<< "$(ns s ip route show table 1)" || fail "unicom's own table lost its default"
out=$(ns s "$BIN" routing --config "$WORK/uplinkdns.yaml" --check) || fail "routing --check reports drift after the move: $out"
grep -q "outbound default route: via cnc only (out: unicom)" <<< "$out" || fail "routing --check does not compare with now: $out"
status=$(ns s curl -s http://127.0.0.1:5380/v1/status)
grep -Eq '"outbound" ?: ?"single"' <<< "$status" || fail "/v1/status does not show the route moved: $status"
metrics=$(ns s curl -s http://127.0.0.1:5380/metrics)
grep -q 'uplinkdns_routing_default_link{link="unicom"} 0' <<< "$metrics" || fail "metrics: $(grep routing <<< "$metrics")"
grep -q 'uplinkdns_routing_default_link{link="cnc"} 1' <<< "$metrics" || fail "metrics: $(grep routing <<< "$metrics")"
conns=$(ns s python3 "$WORK/connect.py" 50)
[ "${conns%% *}" = 50 ] || fail "with unicom cut, only ${conns%% *} of 50 outbound connections succeeded ($conns)"
echo "   server, unicom cut: $conns"
[ -n "$(q 198.51.100.10)" ] || fail "no DNS answer through cnc with unicom cut"
all_cnc() { [ "$(groups | grep -c ":198.51.100.10=1")" = "$(wc -w <<< "$CLIENTS")" ]; }
wait_for 3 all_cnc || fail "the gateway's clients did not all move to cnc: $(groups)"
grep -q "routing: the gateway's groups dealt for the lines in answers: cnc; the groups of unicom go to cnc" \
    "$WORK/server.log" || fail "no log of the gateway's groups moved"
out=$(cd "$WORK" && ns s "$BIN" status --config uplinkdns.yaml)
grep -q "outbound route: via cnc only (out: unicom); gateway groups for: cnc" <<< "$out" || fail "uplinkdns status: $out"
echo "   gateway groups, unicom cut: all $(wc -w <<< "$CLIENTS") clients by cnc"

step "4. line one back: its route is back within rise x interval + 1 s; the groups go back"
ns f1 ip link set out up
ns f1 ip route replace default via 192.0.2.1   # the link going down took the firewall's own default route with it
start=$(date +%s%N)
wait_for 2 multipath || fail "unicom's route is not back 2 s after the line came back: $(default)"
echo "   multipath back after $(( ($(date +%s%N) - start) / 1000000 )) ms"
same_groups() { [ "$(groups)" = "$before" ]; }
wait_for 3 same_groups || fail "the gateway's groups did not go back: $(groups) (before: $before)"
conns=$(ns s python3 "$WORK/connect.py" 50)
[ "${conns%% *}" = 50 ] || fail "after the line came back, only ${conns%% *} of 50 connections succeeded ($conns)"

step "5. both lines cut: the last route stays, and the server says so; a drain moves the route too"
ns f1 ip link set out down
wait_for 2 no_via1 || fail "the main default still goes via unicom 2 s after the cut: $(default)"
ns f2 ip link set out down
held() { grep -q "routing: no line in answers (out: unicom, cnc): keeping the last default route" "$WORK/server.log"; }
wait_for 2 held || fail "no log of the route kept with every line out"
grep -q "via 198.18.168.12 dev eth0 src 198.18.168.2" <<< "$(default)" || fail "the last route was not kept: $(default)"
status=$(ns s curl -s http://127.0.0.1:5380/v1/status)
grep -Eq '"outbound" ?: ?"held"' <<< "$status" || fail "/v1/status does not say the route is held: $status"
grep -q 'uplinkdns_routing_default_held 1' <<< "$(ns s curl -s http://127.0.0.1:5380/metrics)" || fail "metrics: not held"
for f in f1 f2; do ns "$f" ip link set out up; done
ns f1 ip route replace default via 192.0.2.1
ns f2 ip route replace default via 198.51.100.1
wait_for 3 multipath || fail "the multipath route is not back after both lines came back: $(default)"
(cd "$WORK" && ns s "$BIN" link cnc drain --config uplinkdns.yaml >/dev/null) || fail "drain failed"
via1_only() { grep -q "^default via 198.18.168.11 dev eth0 src 198.18.168.1" <<< "$(default)"; }
wait_for 2 via1_only \
    || fail "the main default did not leave the drained line: $(default)"
(cd "$WORK" && ns s "$BIN" link cnc auto --config uplinkdns.yaml >/dev/null) || fail "auto failed"
wait_for 2 multipath || fail "the route did not come back after auto: $(default)"
grep -q "^Deleted default" "$WORK/monitor.log" && fail "a moment without a default route: $(cat "$WORK/monitor.log")"
[ "$(grep -c "^default" "$WORK/monitor.log")" -ge 4 ] || fail "the route changes were not seen: $(cat "$WORK/monitor.log")"

step "6. routing.apply switched off by a reload: the routes stay, unfollowed, and a cut line takes the server's outbound traffic with it"
sed -i 's/^  apply: true$/  apply: false/' "$WORK/uplinkdns.yaml"
(cd "$WORK" && ns s "$BIN" reload --config uplinkdns.yaml >/dev/null) || fail "the reload failed"
grep -q "routing: routing.apply is off" "$WORK/server.log" || fail "no log of routing.apply switched off"
downs=$(grep -c "link unicom down" "$WORK/server.log")
ns f1 ip link set out down
down_again() { [ "$(grep -c "link unicom down" "$WORK/server.log")" -gt "$downs" ]; }
wait_for 2 down_again || fail "unicom did not go down a second time"
sleep 0.5   # as long again as the follower took when it was on: nothing moves the route now
multipath || fail "with routing.apply off the route moved: $(default)"
conns=$(ns s python3 "$WORK/connect.py" 10)
echo "   server, unicom out of answers, routing.apply off: ${conns%% *} of 10 connections (the problem of issue 26)"
[ "${conns%% *}" = 0 ] || fail "with routing.apply off, $conns outbound connections got through a cut line"
echo "PASS: the server's outbound route and the gateway's groups follow the lines in answers"
