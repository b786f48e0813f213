# director-lib.sh: what the director's namespace tests share (source it after lib.sh, with HERE set): the namespaces
# made (or the test skipped), fail, the client, the config's head, and the kill of a real server's http server with what
# must follow.
fail() {
    echo "FAIL: $*"
    ns d nft list ruleset 2>/dev/null | grep -v "^\s*[0-9]* :" | head -50 || true
    echo "--- server log"; tail -40 "$WORK/server.log" 2>/dev/null
    exit 1
}
# Makes every namespace of $NSS with its loopback up, or exits 77 (skipped) when this machine cannot.
if ! ip netns add "$P-${NSS%% *}" 2>/dev/null; then
    echo "SKIP: cannot create network namespaces here (needs root and ip netns)"
    exit 77
fi
command -v nft >/dev/null || { echo "SKIP: nft is not installed (Debian package nftables)"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 is not installed"; exit 77; }
PY=$(python3 -c 'import sys; print(sys.executable)')
for n in ${NSS#* }; do ip netns add "$P-$n"; done
for n in $NSS; do ns "$n" ip link set lo up; done
client() { ns c "$PY" "$HERE/director-client.py" "$@"; }
share() {  # share JSON NAME: NAME's count in a director-client.py count result
    "$PY" -c 'import json, sys; print(json.loads(sys.argv[1]).get(sys.argv[2], 0))' "$1" "$2"
}
# The zone the server also serves, and the config up to its director section (appended by the test).
director_config() {
    cat > "$WORK/example.com.zone" <<'ZONE'
$TTL 60
@    SOA ns1 hostmaster 1 3600 600 86400 60
@    NS  ns1
ns1  A   192.0.2.53
ZONE
    cat > "$WORK/uplinkdns.yaml" <<'CONF'
server:
  listen: ["127.0.0.1:5300"]
  control: 127.0.0.1:5380
zones:
  - origin: example.com.
    file: example.com.zone
health:
  state-dir: state
  on-change: ['echo "$KIND $LINK $STATE" >> hook.log']
CONF
}
# kill_r2 VIP: connections to VIP:80 in a loop (loop.out, "EPOCH NAME"), r2's http server killed after a second; from
# fall 2 x interval 1 + 1 s = 3 s after the kill every connection is answered, by r1. Leaves the loop running (its PID
# in $loop) and the kill's time in $killed.
kill_r2() {
    rm -f "$WORK/stop"
    client loop "$1" 80 "$WORK/stop" > "$WORK/loop.out" &
    loop=$!
    sleep 1
    killed=$(date +%s.%N)
    kill -KILL "$(cat "$WORK/r2-80.pid")"  # KILL: a test runner may leave SIGTERM ignored in its children
    sleep 5
    local after
    after=$(awk -v t="$killed" '$1 > t + 3 {print $2}' "$WORK/loop.out" | sort | uniq -c | tr '\n' ' ')
    echo "   after kill + 3 s: $after"
    [ -n "$after" ] || fail "no connection after kill + 3 s"
    if awk -v t="$killed" '$1 > t + 3' "$WORK/loop.out" | grep -qv " r1$"; then
        fail "after kill + 3 s a connection went elsewhere than r1 or failed: $after"
    fi
}
