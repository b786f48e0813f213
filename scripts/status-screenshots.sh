#!/usr/bin/env bash
# Takes the status page's pictures in docs/ with headless Chromium: the example site (two lines, the weighted pool,
# example.com) with cnc's probe failing (docs/status-page-failed*.png), then with a reload refused as well
# (docs/status-page-reload-failed*.png), each at 1280 and 390 px. Run from the repository after `swift build`:
#   bash scripts/status-screenshots.sh [BINARY]
# The server runs from a temporary directory on free loopback ports and is stopped by its PID.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$root/.build/debug/uplinkdns}"
# A fixed place, so the pictures show a path that reads as one (a failed reload names its file).
dir="${TMPDIR:-/tmp}/uplinkdns-example"
rm -rf "$dir"
mkdir -p "$dir"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
dns=$(port)
control=$(port)
cp "$root/zones/example.com.zone" "$dir/example.com.zone"
write_config() {
    cat >"$dir/uplinkdns.yaml" <<EOF
server:
  listen: ["127.0.0.1:$dns"]
  control: 127.0.0.1:$control
  control-token: screenshots
zones:
  - {origin: example.com., file: example.com.zone}
links:
  - name: unicom
    public: [192.0.2.10]
    bandwidth: 2mbit
  - name: cnc
    public: [198.51.100.10]
    bandwidth: 512kbit
    interval: 1
    fall: $1
    checks:
      - tcp: 127.0.0.1:1       # nothing listens there: the probe fails (connection refused)
pools:
  - {name: www.example.com., links: [unicom, cnc], policy: weighted}
health:
  state-dir: state
EOF
}
write_config 2
"$bin" serve --config "$dir/uplinkdns.yaml" >"$dir/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT
# Until cnc is down, then some probes and queries so the page has history and shares to show.
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$control/v1/links/cnc" | grep -q '"state" : "down"' && break
    sleep 0.2
done
for _ in $(seq 1 40); do dig @127.0.0.1 -p "$dns" +short www.example.com >/dev/null; done
sleep 6
shoot() {
    # A short virtual-time budget: the page draws at once from the status it embeds, and its clock (the "ago"
    # times) must not run ahead of the server's (uptime).
    chromium --headless --no-sandbox --hide-scrollbars --window-size="$2" --virtual-time-budget=500 \
        --screenshot="$root/docs/$1" "http://127.0.0.1:$control/" 2>/dev/null
}
shoot status-page-failed.png 1280,900
shoot status-page-failed-390.png 390,1500
# A reload that is refused: `fall: -2` (the mistake issue 25 made); the previous config keeps serving.
write_config -2
"$bin" reload --config "$dir/uplinkdns.yaml" >/dev/null 2>&1 && { echo "the reload should have failed" >&2; exit 1; }
shoot status-page-reload-failed.png 1280,900
shoot status-page-reload-failed-390.png 390,1500
echo "written: docs/status-page-failed{,-390}.png docs/status-page-reload-failed{,-390}.png"
