#!/usr/bin/env bash
# Installs what `make bench` needs and is missing: the peers (nsd, knot, gdnsd), dnsperf, gcc and taskset.
# Debian's packages of the peers would start their daemons on install (port 53): scripts/install-deps.sh installs
# them under a temporary policy-rc.d, so the only servers running are the ones the benchmark starts and stops by PID.
set -euo pipefail
exec bash "$(dirname "$0")/../scripts/install-deps.sh" nsd knot gdnsd dnsperf gcc util-linux bind9-dnsutils python3
