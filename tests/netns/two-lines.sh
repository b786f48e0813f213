#!/usr/bin/env bash
# The seed's site (000) in network namespaces: a client, two ISP firewalls (lines unicom and cnc), a LAN bridge and
# the server. Proves with real ip and nft that the emitted config makes replies leave by the line they came in on.
#   1. without the server's rules, a request through the second line gets no reply (the problem is real);
#   2. with them, HTTP and DNS over UDP and TCP work through both lines;
#   3. `uplinkdns routing --check` is clean, and reports the drift after a rule is deleted;
#   4. failover: cutting the second line makes its health probe fail, and dig through the first line stops
#      returning its address, and gets it back when the line is restored;
#   5. the server started (with server.freebind) before its inside addresses existed, as at boot before the
#      routing script; and a server listening on the wildcard address (0.0.0.0:53, [::]:53) answers UDP and TCP
#      through both lines, each reply from the address its query was sent to (IP_PKTINFO); IPv6 likewise on two
#      addresses of the server's own.
# Usage: two-lines.sh UPLINKDNS_BINARY. Exit 0 = pass, 77 = skipped (no namespaces here), else fail.
# Addresses only from the documentation and benchmarking ranges; every namespace is removed on exit.
set -euo pipefail
BIN=$(readlink -f "$1")
P="uplk$$"
WORK=$(mktemp -d)
NSS="c f1 f2 b s"
. "$(dirname "$(readlink -f "$0")")/lib.sh"
fail() { echo "FAIL: $*"; echo "--- server log"; cat "$WORK/server.log" 2>/dev/null | tail -30; exit 1; }

# The seed's site: the client, the two lines' firewalls, the LAN bridge and the server's NIC (lib.sh).
site

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
  freebind: true
  udp-workers: 1
  control: "off"
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
    rise: 2
    fall: 2
    checks:
      - tcp: 198.51.100.1:8080
pools:
  - {name: www.example.com., links: [unicom, cnc], policy: round-robin, ttl: 5}
health:
  state-dir: state
CONF
"$BIN" check --config "$WORK/uplinkdns.yaml" >/dev/null

# Each firewall: the emitted DNAT/SNAT and a stateful firewall's own rules (lib.sh).
firewalls

# The client side: an HTTP listener the lines' probes reach (one per line's address).
ip netns exec "$P-c" python3 -m http.server 8080 --bind 0.0.0.0 >/dev/null 2>&1 < /dev/null & pids+=($!)
# The server: uplinkdns first, before its inside addresses exist (server.freebind: as at boot, before the routing
# script), then both inside addresses, its default route through the first line only (as a plain server has),
# and an HTTP responder.
(cd "$WORK" && exec ip netns exec "$P-s" "$BIN" serve --config uplinkdns.yaml) > "$WORK/server.log" 2>&1 < /dev/null & pids+=($!)
SERVER=$!
for _ in $(seq 1 100); do grep -q "listening on tcp 198.18.168.2:53" "$WORK/server.log" && break; sleep 0.1; done
grep -q "listening on tcp 198.18.168.2:53" "$WORK/server.log" || fail "uplinkdns did not start before its addresses existed (freebind)"
ns s ip addr add 198.18.168.1/24 dev eth0
ns s ip addr add 198.18.168.2/24 dev eth0
ns s ip route add default via 198.18.168.11
ip netns exec "$P-s" python3 -m http.server 80 --bind 0.0.0.0 >/dev/null 2>&1 < /dev/null & pids+=($!)

# The addresses dig got (dig +short also prints ";; connection timed out" on stdout: keep only addresses).
q() { ns c dig "@$1" -p 53 +norec +time=1 +tries=1 +short "${@:2}" www.example.com 2>/dev/null | grep -E '^[0-9.]+$' || true; }
http() { ns c python3 -c "import urllib.request,sys; urllib.request.urlopen('http://$1/', timeout=2); print('ok')" 2>/dev/null || true; }

step "1. without the server's rules, the second line gets no reply"
[ -z "$(q 198.51.100.10)" ] || fail "a DNS reply came back through cnc without source routing"
[ -z "$(http 198.51.100.10)" ] || fail "an HTTP reply came back through cnc without source routing"
[ -n "$(q 192.0.2.10)" ] || fail "no DNS reply through unicom (the line the default route uses)"

step "2. with the emitted server rules, both lines answer HTTP and DNS over UDP and TCP"
"$BIN" routing --config "$WORK/uplinkdns.yaml" --for server > "$WORK/server.sh"
# As the boot unit (uplinkdns-routing.service) does: apply, then check the live system.
applied=$(ns s "$BIN" routing --config "$WORK/uplinkdns.yaml" --apply) || fail "routing --apply failed: $applied"
grep -q "^ok: applied the routing of 2 line(s)" <<< "$applied" || fail "unexpected routing --apply output: $applied"
ns s bash "$WORK/server.sh"   # idempotent: the script run again must work too
for addr in 192.0.2.10 198.51.100.10; do
    [ -n "$(q $addr +notcp)" ] || fail "no DNS reply over UDP through $addr"
    [ -n "$(q $addr +tcp)" ] || fail "no DNS reply over TCP through $addr"
    [ "$(http $addr)" = ok ] || fail "no HTTP reply through $addr"
done

step "3. routing --check is clean, and reports drift"
ns s "$BIN" routing --config "$WORK/uplinkdns.yaml" --check >/dev/null || fail "routing --check reports drift after the script"
ns s ip rule del from 198.18.168.2 table 2
if out=$(ns s "$BIN" routing --config "$WORK/uplinkdns.yaml" --check); then fail "routing --check missed a deleted rule"; fi
grep -q "no rule 'from 198.18.168.2 lookup 2'" <<< "$out" || fail "unexpected drift report: $out"
ns s "$BIN" routing --config "$WORK/uplinkdns.yaml" --apply >/dev/null || fail "routing --apply did not repair the drift"

step "4. failover: cutting the second line takes its address out of the answers, restoring it puts it back"
has_cnc() { q 192.0.2.10 | grep -q 198.51.100.10; }
no_cnc() { ! has_cnc; }
wait_for 5 has_cnc || fail "cnc's address is not served before the cut"
ns f2 ip link set out down
wait_for 3 no_cnc || fail "cnc's address still served 3 s after the line was cut (fall 2 x 0.5 s + 1 s)"
grep -q "link cnc down" "$WORK/server.log" || fail "no log line for cnc going down"
ns f2 ip link set out up
wait_for 4 has_cnc || fail "cnc's address not back 4 s after the line was restored"
step "5. a server on the wildcard address answers through both lines, each reply from the address asked"
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
sed -i 's|listen: \["198.18.168.1:53", "198.18.168.2:53"\]|listen: ["0.0.0.0:53", "[::]:53"]|; /freebind/d' "$WORK/uplinkdns.yaml"
: > "$WORK/server.log"
(cd "$WORK" && exec ip netns exec "$P-s" "$BIN" serve --config uplinkdns.yaml) > "$WORK/server.log" 2>&1 < /dev/null & pids+=($!)
for _ in $(seq 1 100); do grep -q "listening on tcp \[::\]:53" "$WORK/server.log" && break; sleep 0.1; done
grep -q "listening on tcp \[::\]:53" "$WORK/server.log" || fail "uplinkdns did not start on the wildcard addresses"
wait_for 5 has_cnc || fail "no answer through unicom from the wildcard server"
for addr in 192.0.2.10 198.51.100.10; do
    [ -n "$(q $addr +notcp)" ] || fail "no DNS reply over UDP through $addr from the wildcard server"
    [ -n "$(q $addr +tcp)" ] || fail "no DNS reply over TCP through $addr from the wildcard server"
done
# IPv6: two addresses of the server's own; asked at the second from the first, the reply must come from the
# second (without IPV6_PKTINFO the kernel would pick the first, the client's own address, as the source).
ns s ip -6 addr add 2001:db8:5::1/128 dev lo nodad
ns s ip -6 addr add 2001:db8:5::2/128 dev lo nodad
for t in +notcp +tcp; do
    out=$(ns s dig @2001:db8:5::2 -b 2001:db8:5::1 -p 53 +norec +time=1 +tries=1 "$t" www.example.com 2>&1 || true)
    grep -q "status: NOERROR" <<< "$out" || fail "no IPv6 $t answer from the wildcard server: $out"
    if grep -q "unexpected source" <<< "$out"; then fail "IPv6 $t reply from the wrong source: $out"; fi
done
echo "PASS: both lines answer through their own firewall; drift is caught; failover follows the line; wildcard and freebind listening work"
