#!/usr/bin/env bash
# The director (issue 24) in seed 002's NAT topology: a client network, the director with the VIPs in 203.0.113.0/24
# and the DIP 198.18.1.1 on the real servers' LAN, and two real servers 198.18.1.12 (r1) and .13 (r2) whose default
# route is the director, each running small servers that name themselves (python3 http.server on 80 and 443, a line
# echo on 7000). `uplinkdns serve` runs on the director with director.apply: nft (no IPVS in this kernel):
#   1. at start it loads the table; routing --check agrees; 500 connections to the rr service split 250/250 (±5 %),
#      500 to the wrr 2/3 service 200/300 (±5 %);
#   2. persistence: one client keeps one real server over 100 connections, 20 clients spread over both;
#   3. fwmark 6 over 80 and 443 (with persistence): each client's 80 and 443 go to the same real server;
#   4. an open connection stays with its real server when that server is taken out (its file check says down), and
#      new connections go to the other;
#   5. r2's http server killed: from fall x interval + 1 s on, no new connection reaches it and none fails; status,
#      metrics and the on-change hook say so; started again, it gets its share back after rise x interval;
#   6. a map flushed by hand is drift for routing --check, and the server writes the table again within 5 s.
# Usage: director.sh UPLINKDNS_BINARY. Exit 0 = pass, 77 = skipped (no namespaces or nft here), else fail.
# Addresses only from the documentation and benchmarking ranges; every namespace is removed on exit, and every process
# it started is stopped by its PID (those left in its namespaces by `ip netns pids`).
set -euo pipefail
BIN=$(readlink -f "$1")
P="upld$$"
WORK=$(mktemp -d)
NSS="c d r1 r2"
HERE=$(dirname "$(readlink -f "$0")")
. "$HERE/lib.sh"
. "$HERE/director-lib.sh"

# The client side: 20 client addresses, the director's VIPs on the same network.
ip link add eth0 netns "$P-c" type veth peer name eth0 netns "$P-d"
for i in $(seq 10 29); do ns c ip addr add "203.0.113.$i/24" dev eth0; done
for v in 80 81 82 83 84; do ns d ip addr add "203.0.113.$v/24" dev eth0; done
ns c ip link set eth0 up
ns d ip link set eth0 up
# The real servers' LAN: a bridge on the director holding the DIP; each real server routes by the director (seed 002).
ns d ip link add br0 type bridge
ns d ip addr add 198.18.1.1/24 dev br0
ns d ip link set br0 up
i=0
for r in r1 r2; do
    i=$((i + 1))
    ip link add eth0 netns "$P-$r" type veth peer name "v$r" netns "$P-d"
    ns d ip link set "v$r" master br0
    ns d ip link set "v$r" up
    ns "$r" ip addr add "198.18.1.1$((i + 1))/24" dev eth0
    ns "$r" ip link set eth0 up
    ns "$r" ip route add default via 198.18.1.1
    mkdir -p "$WORK/$r"
    echo "$r" > "$WORK/$r/index.html"
    echo up > "$WORK/$r.state"
done

# The servers on each real server: HTTP on 80 and 443 answering its name, a line echo on 7000 answering its name.
cat > "$WORK/echo.py" <<'PY'
import socketserver, sys
class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        for _ in self.rfile:
            self.wfile.write((sys.argv[1] + "\n").encode())
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer(("0.0.0.0", 7000), Handler).serve_forever()
PY
start_http() {  # start_http r1|r2 PORT: starts it and records its PID
    (cd "$WORK/$1" && exec ip netns exec "$P-$1" "$PY" -m http.server "$2" --bind 0.0.0.0) \
        > "$WORK/$1-$2.log" 2>&1 < /dev/null &
    echo $! > "$WORK/$1-$2.pid"
}
for r in r1 r2; do
    start_http "$r" 80
    start_http "$r" 443
    (exec ip netns exec "$P-$r" "$PY" "$WORK/echo.py" "$r") > "$WORK/$r-echo.log" 2>&1 < /dev/null &
done

# The config: the zone the server also serves, and the director.
director_config
cat >> "$WORK/uplinkdns.yaml" <<CONF
director:
  apply: nft
  services:
    - name: rr
      address: 203.0.113.80
      port: 80
      scheduler: rr
      real-servers:
        - {address: 198.18.1.12, checks: [{http: "http://198.18.1.12/"}]}
        - {address: 198.18.1.13, checks: [{http: "http://198.18.1.13/"}]}
      interval: 1
      rise: 2
      fall: 2
    - name: wrr
      address: 203.0.113.81
      port: 80
      scheduler: wrr
      real-servers:
        - {address: 198.18.1.12, weight: 2}
        - {address: 198.18.1.13, weight: 3}
    - name: sticky
      address: 203.0.113.82
      port: 80
      scheduler: rr
      persistence: 300
      real-servers: [{address: 198.18.1.12}, {address: 198.18.1.13}]
    - name: both
      address: 203.0.113.83
      fwmark: 6
      ports: [80, 443]
      scheduler: rr
      persistence: 300
      real-servers: [{address: 198.18.1.12}, {address: 198.18.1.13}]
    - name: hold
      address: 203.0.113.84
      port: 7000
      scheduler: rr
      real-servers:
        - {address: 198.18.1.12, checks: [{file: r1.state}]}
        - {address: 198.18.1.13, checks: [{file: r2.state}]}
      interval: 1
      rise: 1
      fall: 1
CONF
"$BIN" check --config "$WORK/uplinkdns.yaml" >/dev/null || fail "check refused the config"
for r in r1 r2; do
    wait_for 10 ns "$r" "$PY" -c 'import socket; socket.create_connection(("127.0.0.1", 80), 1); socket.create_connection(("127.0.0.1", 443), 1); socket.create_connection(("127.0.0.1", 7000), 1)' 2>/dev/null \
        || fail "the servers on $r did not start"
done

step "1. the table at start; rr and wrr over 500 connections"
(cd "$WORK" && exec ip netns exec "$P-d" "$BIN" serve --config uplinkdns.yaml) > "$WORK/server.log" 2>&1 < /dev/null &
echo $! > "$WORK/server.pid"
wait_for 20 grep -q "control API on" "$WORK/server.log" || fail "uplinkdns did not start"
grep -q "director: loading the director's nft table at start" "$WORK/server.log" || fail "no log of the table loaded at start"
out=$(ns d "$BIN" routing --config "$WORK/uplinkdns.yaml" --check 2>&1) || fail "routing --check reports drift at start: $out"
rr=$(client count 203.0.113.80 80 500)
echo "   rr over 500: $rr"
r1=$(share "$rr" r1); r2=$(share "$rr" r2)
[ $((r1 + r2)) -eq 500 ] || fail "rr: connections failed: $rr"
[ "$r1" -ge 225 ] && [ "$r1" -le 275 ] || fail "rr: r1 got $r1 of 500, not 250 ± 25"
wrr=$(client count 203.0.113.81 80 500)
echo "   wrr 2/3 over 500: $wrr"
r1=$(share "$wrr" r1); r2=$(share "$wrr" r2)
[ $((r1 + r2)) -eq 500 ] || fail "wrr: connections failed: $wrr"
[ "$r1" -ge 175 ] && [ "$r1" -le 225 ] || fail "wrr: r1 got $r1 of 500, not 200 ± 25 (2/5)"

step "2. persistence: one client keeps its real server, clients spread"
one=$(client count 203.0.113.82 80 100 203.0.113.10)
echo "   client 203.0.113.10 over 100: $one"
[ "$(share "$one" r1)" -eq 100 ] || [ "$(share "$one" r2)" -eq 100 ] || fail "persistence: one client got $one"
seen=""
for i in $(seq 10 29); do
    name=$(client count 203.0.113.82 80 3 "203.0.113.$i")
    [ "$(share "$name" r1)" -eq 3 ] || [ "$(share "$name" r2)" -eq 3 ] || fail "persistence: 203.0.113.$i got $name"
    seen="$seen $name"
done
echo "$seen" | grep -q '"r1"' && echo "$seen" | grep -q '"r2"' || fail "persistence: 20 clients all went to one server: $seen"
echo "   20 clients: $(echo "$seen" | grep -o '"r1"' | wc -l) on r1, $(echo "$seen" | grep -o '"r2"' | wc -l) on r2"

step "3. fwmark 6: a client's 80 and 443 go to the same real server"
pairs=""
for i in $(seq 10 19); do
    pair=$(client pair 203.0.113.83 "203.0.113.$i")
    set -- $pair
    [ "$1" = "$2" ] && [ "$1" != FAIL ] || fail "fwmark: 203.0.113.$i got $1 on 80 and $2 on 443"
    pairs="$pairs $1"
done
echo "   10 clients, 80 and 443 each:$pairs"
echo "$pairs" | grep -q r1 && echo "$pairs" | grep -q r2 || fail "fwmark: every client went to one server"

step "4. an open connection stays with its real server when it is taken out"
rm -f "$WORK/go"
client hold 203.0.113.84 7000 "$WORK/go" > "$WORK/hold.out" &
wait_for 5 grep -q "^first" "$WORK/hold.out" || fail "hold: no first answer"
held=$(awk '/^first/ {print $2}' "$WORK/hold.out")
other=$([ "$held" = r1 ] && echo r2 || echo r1)
echo down > "$WORK/$held.state"
wait_for 3 grep -qs "real-server hold/198.18.1.1[23] down" "$WORK/hook.log" || fail "hold: $held not taken out"
sleep 0.3
touch "$WORK/go"
wait_for 5 grep -q "^again" "$WORK/hold.out" || fail "hold: the open connection got no second answer"
again=$(awk '/^again/ {print $2}' "$WORK/hold.out")
[ "$again" = "$held" ] || fail "hold: the open connection to $held answered '$again' after $held was taken out"
for _ in $(seq 1 20); do
    name=$(ns c "$PY" -c 'import socket, sys; s = socket.create_connection((sys.argv[1], 7000), 2); s.sendall(b"x\n"); print(s.makefile().readline().strip())' 203.0.113.84)
    [ "$name" = "$other" ] || fail "hold: a new connection reached $name while $held is out"
done
echo "   open connection on $held answered again by $held; 20 new connections all on $other"
echo up > "$WORK/$held.state"

step "5. r2's http server killed: out within fall x interval + 1 s, no failure after, back after it returns"
kill_r2 203.0.113.80
failed=$(awk -v t="$killed" '$1 > t && $1 <= t + 3 && $2 == "FAIL"' "$WORK/loop.out" | wc -l)
echo "   failed in the first 3 s: $failed (while the probes had not yet taken r2 out)"
grep -q "real-server rr/198.18.1.13 down" "$WORK/hook.log" || fail "the on-change hook did not hear of rr/198.18.1.13"
status=$(ns d "$BIN" status --config "$WORK/uplinkdns.yaml" --json)
echo "$status" | "$PY" -c '
import json, sys
s = json.load(sys.stdin)
rs = {r["name"]: r["state"] for r in s["real_servers"]}
assert rs["rr/198.18.1.13"] == "down" and rs["rr/198.18.1.12"] == "up", rs
assert "rr/198.18.1.13" in s["director"]["out"], s["director"]
' || fail "status does not show rr/198.18.1.13 out: $status"
metrics=$(ns d "$PY" -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:5380/metrics").read().decode())')
echo "$metrics" | grep '^uplinkdns_real_server_up{' | grep 'service="rr"' | grep '198.18.1.13' | grep -Eq ' 0(\.0)?$' \
    || fail "metrics do not show r2 out of rr: $(echo "$metrics" | grep real_server)"
out=$(ns d "$BIN" routing --config "$WORK/uplinkdns.yaml" --check 2>&1) || fail "routing --check reports drift with r2 out: $out"
start_http r2 80
back=$(date +%s.%N)
sleep 4
touch "$WORK/stop"
wait "$loop" || true
# rise 2 x interval 1 + 1 s = 3 s: r2 has its share again.
late=$(awk -v t="$back" '$1 > t + 3 {print $2}' "$WORK/loop.out" | sort | uniq -c | tr '\n' ' ')
echo "   after return + 3 s: $late"
awk -v t="$back" '$1 > t + 3 && $2 == "FAIL"' "$WORK/loop.out" | grep -q . && fail "a connection failed after r2 returned"
again=$(client count 203.0.113.80 80 100)
echo "   100 more: $again"
r2=$(share "$again" r2)
[ "$r2" -ge 40 ] && [ "$r2" -le 60 ] || fail "r2 did not get its share back: $again"
grep -q "real-server rr/198.18.1.13 up" "$WORK/hook.log" || fail "the on-change hook did not hear rr/198.18.1.13 come back"

step "6. a map flushed by hand: routing --check says so, and the server writes the table again"
ns d nft flush map ip uplinkdns_director svc1_wrr
out=$(ns d "$BIN" routing --config "$WORK/uplinkdns.yaml" --check 2>&1) && fail "routing --check missed a flushed map: $out"
echo "$out" | grep -q "drift: director service wrr: map svc1_wrr" || fail "routing --check did not name the map: $out"
wait_for 8 ns d "$BIN" routing --config "$WORK/uplinkdns.yaml" --check >/dev/null || fail "the server did not write the table again"
grep -q "director: drift: director service wrr" "$WORK/server.log" || fail "no log of the drift"
wrr=$(client count 203.0.113.81 80 100)
[ "$(share "$wrr" FAIL)" -eq 0 ] || fail "wrr after the drift was undone: $wrr"
echo "   flushed map noticed by --check and written again; 100 connections: $wrr"

kill "$(cat "$WORK/server.pid")"
echo "PASS"
