#!/usr/bin/env bash
# UplinkDNS: real server 192.168.1.12 of the director's services. Idempotent: running it again changes nothing.
set -euo pipefail
# DR and TUN: this host holds the VIP itself and replies to the client directly, so it must never answer
# ARP for the VIP (only the director may): reply only for addresses on the asking interface, and
# announce only addresses of the outgoing interface's network.
sysctl -qw net.ipv4.conf.lo.arp_ignore=1
sysctl -qw net.ipv4.conf.all.arp_ignore=1
sysctl -qw net.ipv4.conf.lo.arp_announce=2
sysctl -qw net.ipv4.conf.all.arp_announce=2
# service web: tcp 172.16.5.11 port 80, dr
ip addr replace 172.16.5.11/32 dev lo
