#!/usr/bin/env bash
# UplinkDNS source routing for the server, generated from the config's links.
# A reply must leave by the line its request came in on, or that line's stateful firewall drops it (seed
# 000). Each line gets a routing table whose default route is its own firewall, and a rule sending traffic
# from the line's inside address to that table. Idempotent: running it again changes nothing.
set -euo pipefail

# Loose reverse-path filtering (2): with several lines, packets legitimately arrive on one path and their
# replies or probes leave by another; strict mode (1) would drop them.
sysctl -qw net.ipv4.conf.all.rp_filter=2
sysctl -qw net.ipv4.conf.default.rp_filter=2
sysctl -qw net.ipv4.conf.eth0.rp_filter=2

# Line unicom: public 192.0.2.10, DNATed by its firewall 192.168.168.11 to 192.168.168.1 on eth0.
ip addr replace 192.168.168.1/24 dev eth0
# Table 1: the line's subnet, and its firewall as the default route.
ip route replace 192.168.168.0/24 dev eth0 src 192.168.168.1 table 1
ip route replace default via 192.168.168.11 dev eth0 table 1
# Traffic from 192.168.168.1 (replies to requests that came in on this line, and its health probes) uses table 1.
while ip rule del from 192.168.168.1 table 1 priority 1001 2>/dev/null; do :; done
ip rule add from 192.168.168.1 table 1 priority 1001

# Line cnc: public 198.51.100.10, DNATed by its firewall 192.168.168.12 to 192.168.168.2 on eth0.
ip addr replace 192.168.168.2/24 dev eth0
# Table 2: the line's subnet, and its firewall as the default route.
ip route replace 192.168.168.0/24 dev eth0 src 192.168.168.2 table 2
ip route replace default via 192.168.168.12 dev eth0 table 2
# Traffic from 192.168.168.2 (replies to requests that came in on this line, and its health probes) uses table 2.
while ip rule del from 192.168.168.2 table 2 priority 1002 2>/dev/null; do :; done
ip rule add from 192.168.168.2 table 2 priority 1002

# REPLACES THE MAIN TABLE'S DEFAULT ROUTE: out of answers now: unicom.
# The server's own outbound traffic leaves by cnc, from its inside address (docs/routing.md).
ip route replace default via 192.168.168.12 dev eth0 src 192.168.168.2
ip route flush cache 2>/dev/null || true
