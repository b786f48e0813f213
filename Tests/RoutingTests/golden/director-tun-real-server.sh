#!/usr/bin/env bash
# UplinkDNS: real server 192.168.1.13 of the director's services. Idempotent: running it again changes nothing.
set -euo pipefail
# DR and TUN: this host holds the VIP itself and replies to the client directly, so it must never answer
# ARP for the VIP (only the director may): reply only for addresses on the asking interface, and
# announce only addresses of the outgoing interface's network.
sysctl -qw net.ipv4.conf.lo.arp_ignore=1
sysctl -qw net.ipv4.conf.all.arp_ignore=1
sysctl -qw net.ipv4.conf.lo.arp_announce=2
sysctl -qw net.ipv4.conf.all.arp_announce=2
# TUN: the director's packets arrive inside IP-in-IP on tunl0; they leave by the host's own route, so
# reverse-path filtering must not drop them (the kernel uses the larger of all and tunl0).
modprobe ipip 2>/dev/null || true
ip link set tunl0 up
sysctl -qw net.ipv4.conf.tunl0.rp_filter=0
sysctl -qw net.ipv4.conf.all.rp_filter=0
# service web: tcp 172.16.5.11 port 80, tun
ip addr replace 172.16.5.11/32 dev tunl0
