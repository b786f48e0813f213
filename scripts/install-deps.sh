#!/usr/bin/env bash
# Installs the Debian packages UplinkDNS builds and tests with, if any is missing (apt-get update first).
#   libldns-dev, pkg-config  record printing and parsing single records (the CLDNS system library)
#   libknot-dev              libzscanner, Knot's zone-file scanner (the CZScanner system library)
#   bind9-dnsutils           dig, for the integration tests and the conformance replay
#   knot-dnsutils            kdig, for the integration tests
#   knot                     knotd, the real secondary the zone-transfer test runs
#   gdnsd                    the geoip plugin the client-network differential test compares answers with
#   knot-dnssecutils         kzonecheck, which checks `uplinkdns export` output
#   bind9-utils              named-checkzone, which checks it too; dnssec-verify, dnssec-keygen, dnssec-dsfromkey
#   ldnsutils                ldns-verify-zone, which checks a signed zone (the DNSSEC tests)
#   python3                  the conformance replay (../shared/conformance)
#   iputils-ping             ping, which icmp health checks run (and their test)
#   iproute2, nftables       ip and nft for the network-namespace test of the routing emitter
#   systemd                  systemd-analyze, which checks contrib/systemd's units (tests/packaging/check-units.sh)
#   dpkg-dev, lintian        scripts/deb.sh (dpkg-shlibdeps) and tests/packaging/check-deb.sh (lintian)
#   chromium                 the headless browser that renders the status page (ConsoleTests)
#   prometheus, python3-yaml promtool, which checks /metrics and contrib's alert rules (contrib/check.sh)
#   fstrm-bin                fstrm_capture, the Frame Streams reader the query log's socket test writes to
#   groff-base               groff, which renders the man page without a warning (ManPageTests)
#   zonemaster-cli, dnsviz   the independent DNSSEC validators of tests/validators/run.sh (ValidatorTests): every
#   unbound                  zonemaster test case, dnsviz probe/grok, a validating resolver; all of them inside a
#                            loopback-only network namespace with a fake root (docs/dnssec.md, "Independent validators")
#   zsh, fish                the shells whose completion scripts CompletionTests drives (bash is there already)
#   gdnsd                    the reference for client networks (GdnsdNetworkTests, bench/networks.py)
#   keepalived               keepalived --config-test, which checks every emitted keepalived.conf (DirectorEmitterTests)
# Debian's knot, unbound, gdnsd and keepalived packages would start their daemons on install (port 53, IPVS): a
# temporary policy-rc.d stops that, so the only knotd, unbound or gdnsd that runs is one a test starts and stops by PID
# (keepalived is only asked to check files).
# Arguments replace the list (bench/install-deps.sh passes the benchmark's peers), with the same policy-rc.d guard.
set -euo pipefail
packages=(libldns-dev libknot-dev pkg-config bind9-dnsutils knot-dnsutils knot knot-dnssecutils bind9-utils ldnsutils
    python3 iputils-ping iproute2 nftables systemd dpkg-dev lintian chromium prometheus python3-yaml fstrm-bin
    groff-base zonemaster-cli dnsviz unbound zsh fish gdnsd keepalived)
if [ $# -gt 0 ]; then packages=("$@"); fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "installing: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi
policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    made_policy=1
fi
trap '[ -n "$made_policy" ] && $sudo rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
