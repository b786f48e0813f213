#!/usr/bin/env bash
# UplinkDNS: the firewall of line unicom, as iptables commands (seed 000 steps 1 and 2). Its own chains,
# flushed and refilled, so running it again changes nothing.
set -euo pipefail
iptables -t nat -N UPLINKDNS_PRE_UNICOM 2>/dev/null || iptables -t nat -F UPLINKDNS_PRE_UNICOM
iptables -t nat -N UPLINKDNS_POST_UNICOM 2>/dev/null || iptables -t nat -F UPLINKDNS_POST_UNICOM
iptables -t nat -C PREROUTING -j UPLINKDNS_PRE_UNICOM 2>/dev/null || iptables -t nat -A PREROUTING -j UPLINKDNS_PRE_UNICOM
iptables -t nat -C POSTROUTING -j UPLINKDNS_POST_UNICOM 2>/dev/null || iptables -t nat -A POSTROUTING -j UPLINKDNS_POST_UNICOM
iptables -t nat -A UPLINKDNS_PRE_UNICOM -p tcp -d 192.0.2.10/32 --dport 53 -j DNAT --to-destination 192.168.168.1
iptables -t nat -A UPLINKDNS_POST_UNICOM -p tcp -s 192.168.168.1/32 --sport 53 -j SNAT --to-source 192.0.2.10
iptables -t nat -A UPLINKDNS_PRE_UNICOM -p tcp -d 192.0.2.10/32 --dport 80 -j DNAT --to-destination 192.168.168.1
iptables -t nat -A UPLINKDNS_POST_UNICOM -p tcp -s 192.168.168.1/32 --sport 80 -j SNAT --to-source 192.0.2.10
iptables -t nat -A UPLINKDNS_PRE_UNICOM -p tcp -d 192.0.2.10/32 --dport 443 -j DNAT --to-destination 192.168.168.1
iptables -t nat -A UPLINKDNS_POST_UNICOM -p tcp -s 192.168.168.1/32 --sport 443 -j SNAT --to-source 192.0.2.10
iptables -t nat -A UPLINKDNS_PRE_UNICOM -p udp -d 192.0.2.10/32 --dport 53 -j DNAT --to-destination 192.168.168.1
iptables -t nat -A UPLINKDNS_POST_UNICOM -p udp -s 192.168.168.1/32 --sport 53 -j SNAT --to-source 192.0.2.10
