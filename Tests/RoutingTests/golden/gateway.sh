#!/usr/bin/env bash
# UplinkDNS outbound groups for the site's LAN gateway (seed 001's dispatcher), generated from the config's
# links. Each client is put in a group by a hash of its source address, each group leaves by one line
# (its mark, rule and table) and is masqueraded there; the groups follow the lines' weights. A line out of
# answers has its groups dealt to the lines in answers; the others' groups stay where they are.
# Idempotent: running it again changes nothing; the nft table is replaced in one transaction.
set -euo pipefail

sysctl -qw net.ipv4.ip_forward=1
# Loose reverse-path filtering: a client's replies come back by the line its group leaves by.
sysctl -qw net.ipv4.conf.all.rp_filter=2
sysctl -qw net.ipv4.conf.default.rp_filter=2
sysctl -qw net.ipv4.conf.all.src_valid_mark=1
# Marked traffic still reaches the LAN and the gateway's own networks: the main table first, without its
# default route.
while ip rule del lookup main suppress_prefixlength 0 priority 1999 2>/dev/null; do :; done
ip rule add lookup main suppress_prefixlength 0 priority 1999
# Line unicom: mark 1, table 1, out by 192.168.168.11 on eth0.
ip route replace default via 192.168.168.11 dev eth0 table 1
while ip rule del fwmark 1 table 1 priority 2001 2>/dev/null; do :; done
ip rule add fwmark 1 table 1 priority 2001
# Line cnc: mark 2, table 2, out by 192.168.168.12 on eth0.
ip route replace default via 192.168.168.12 dev eth0 table 2
while ip rule del fwmark 2 table 2 priority 2002 2>/dev/null; do :; done
ip rule add fwmark 2 table 2 priority 2002
# Groups of 256 by line: unicom 205, cnc 51.
nft -f - <<'NFT'
table ip uplinkdns_gateway
delete table ip uplinkdns_gateway
table ip uplinkdns_gateway {
    chain prerouting {
        type filter hook prerouting priority mangle; policy accept;
        # A connection keeps the line it started on, its replies included (the reverse-path check
        # finds their source through that line's table: src_valid_mark).
        ct mark != 0 meta mark set ct mark return
        # Not a client's: what comes in from the lines, and what is for the gateway itself.
        iifname { "eth0" } return
        fib daddr type local return
        meta mark set jhash ip saddr mod 256 seed 0x75706c6b map { 0-204 : 1, 205-255 : 2 }
        ct mark set meta mark
    }
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        meta mark 1 oifname "eth0" masquerade
        meta mark 2 oifname "eth0" masquerade
    }
}
NFT
ip route flush cache 2>/dev/null || true
