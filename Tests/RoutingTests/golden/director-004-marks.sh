#!/usr/bin/env bash
# UplinkDNS: the director's firewall marks (seed 004): ipvsadm -A -f MARK services schedule the marked
# packets. Each rule is added only when it is not there yet, so running this again changes nothing.
set -euo pipefail
# service web: ports 80 of 172.16.2.100
iptables -t mangle -C PREROUTING -d 172.16.2.100 -p tcp --dport 80 -j MARK --set-mark 6 2>/dev/null || iptables -t mangle -A PREROUTING -d 172.16.2.100 -p tcp --dport 80 -j MARK --set-mark 6
