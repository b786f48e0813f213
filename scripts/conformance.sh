#!/usr/bin/env bash
# Replays PowerDNS's authoritative regression tests (../shared/conformance) against uplinkdns and compares the
# failures with the documented list (tests/conformance/expected-failures.txt): a new failure fails the run,
# a test that starts passing is reported so the list can be trimmed. See docs/conformance.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
suite=${CONFORMANCE_DIR:-$root/../shared/conformance/pdns-regression}
bin=${UPLINKDNS_BIN:-$root/.build/debug/uplinkdns}
expected=$root/tests/conformance/expected-failures.txt
if [ ! -d "$suite" ]; then
    echo "conformance: SKIPPED: $suite not found (it lives in the shared folder beside the project)"
    exit 0
fi
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
{
    echo "server:"
    echo "  listen: [\"127.0.0.1:0\"]"
    echo "  udp-workers: 1"
    echo "zones:"
    while read -r origin file; do
        [ -z "$origin" ] && continue
        echo "  - origin: \"$origin.\""
        echo "    file: $suite/vendor/zones/$file"
    done < "$suite/zonelist.txt"
} > "$work/conformance.yaml"
"$bin" serve --config "$work/conformance.yaml" > "$work/server.log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 600); do
    port=$(grep -o 'listening on tcp 127.0.0.1:[0-9]*' "$work/server.log" | head -1 | cut -d: -f2 || true)
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$port" ]; then
    echo "conformance: the server did not start:"
    cat "$work/server.log"
    exit 1
fi
python3 "$suite/replay.py" "$suite/vendor/tests" "127.0.0.1:$port" -o "$work/replay.log" > "$work/summary.txt" || true
# Reworded so that it is not mistaken for this project's own test summary.
sed -E 's/^([0-9]+) passed, ([0-9]+) failed$/conformance replay: \1 of the PowerDNS tests answered alike, \2 differ/; s/^skipped ([0-9]+) tests; failed: /replay: \1 skipped; differing: /' "$work/summary.txt"
failed=$(sed -n 's/.*failed: //p' "$work/summary.txt" | tr ' ' '\n' | grep -v '^$' | sort || true)
known=$(grep -v '^#' "$expected" | awk '{print $1}' | grep -v '^$' | sort)
new=$(comm -23 <(echo "$failed") <(echo "$known") | grep -v '^$' || true)
fixed=$(comm -13 <(echo "$failed") <(echo "$known") | grep -v '^$' || true)
if [ -n "$fixed" ]; then
    echo "conformance: now passing (remove from $expected): $fixed"
fi
if [ -n "$new" ]; then
    echo "conformance: NEW FAILURES: $new"
    for t in $new; do sed -n "/^=== $t FAIL/,/^=== /p" "$work/replay.log"; done
    exit 1
fi
echo "conformance: ok (every failure is a documented difference)"
