#!/usr/bin/env python3
"""The journal's target at full size (issue 16, docs/transfer.md): a 1,000,000-record zone served by UplinkDNS (the
release build) with a real Knot secondary. After the secondary's initial AXFR, 20 drain/auto switches must each
reach it by IXFR of at most 2 KiB and change its answers within 1 s; a secondary stopped through 9 switches
catches up with one condensed IXFR; after a restart of UplinkDNS the next switch still goes by IXFR.

Writes bench/results/ixfr-large.md. Usage: bench/ixfr.py [--records 1000000]. Needs knotd, knotc (Debian knot).
Loopback only."""

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import ROOT, ZONE_HEAD, a_records, api, dns_query, write  # noqa: E402

SECRET = "c2VjcmV0LXNoYXJlZC1ieS1wcmltYXJ5LWFuZC1zZWNvbmRhcnk="


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def ask(port, qname, qtype=1):
    q = dns_query(qname, 4242)
    if qtype != 1:
        q = q[:-4] + qtype.to_bytes(2, "big") + b"\0\1"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    try:
        s.sendto(q, ("127.0.0.1", port))
        return s.recv(4096)
    except OSError:
        return b""
    finally:
        s.close()


def soa_serial(r):
    """The serial of the SOA in a response's answer section (the first record), or None."""
    if len(r) < 12 or int.from_bytes(r[6:8], "big") == 0:
        return None
    i = 12
    while r[i] != 0:
        i += r[i] + 1
    i += 5 + 2 + 10  # question end, compressed owner, type/class/ttl/rdlength
    for _ in range(2):  # MNAME and RNAME, possibly compressed
        while True:
            if r[i] == 0:
                i += 1
                break
            if r[i] & 0xC0 == 0xC0:
                i += 2
                break
            i += r[i] + 1
    return int.from_bytes(r[i:i + 4], "big")


class Process:
    def __init__(self, cmd, log):
        self.log = log
        self.proc = subprocess.Popen(cmd, stdout=open(log, "a"), stderr=subprocess.STDOUT)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None

    def text(self):
        with open(self.log) as f:
            return f.read()


def wait(seconds, cond, step=0.01):
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        if cond():
            return time.monotonic() - t0
        time.sleep(step)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="uplinkdns-ixfr-")
    port, cport, kport = free_port(), free_port(), free_port()
    ours_log, knot_log = os.path.join(work, "uplinkdns.log"), os.path.join(work, "knot.log")
    zone = ZONE_HEAD + "".join(f"h{i} IN A 198.18.{(i >> 8) & 255}.{i & 255}\n" for i in range(a.records))
    write(f"{work}/example.com.zone", zone)
    write(f"{work}/uplinkdns.yaml", f"""server:
  listen: ["127.0.0.1:{port}"]
  control: 127.0.0.1:{cport}
  control-token: bench
keys:
  - {{name: transfer.example., secret: {SECRET}}}
zones:
  - {{origin: example.com., file: example.com.zone, transfer: [127.0.0.1], key: transfer.example.,
     notify: ["127.0.0.1:{kport}"]}}
links:
  - {{name: unicom, public: [192.0.2.10], bandwidth: 2mbit}}
  - {{name: cnc, public: [198.51.100.10], bandwidth: 512kbit}}
pools:
  - {{name: www.example.com., links: [unicom, cnc], policy: weighted, ttl: 60}}
health: {{state-dir: state}}
""")
    knot_dir = os.path.join(work, "knot")
    write(f"{knot_dir}/knot.conf", f"""server:
    rundir: "{knot_dir}"
    listen: 127.0.0.1@{kport}
    background-workers: 2
log:
  - target: stderr
    any: info
database:
    storage: "{knot_dir}"
key:
  - id: transfer.example.
    algorithm: hmac-sha256
    secret: {SECRET}
remote:
  - id: primary
    address: 127.0.0.1@{port}
    key: transfer.example.
acl:
  - id: notify_from_primary
    address: 127.0.0.1
    key: transfer.example.
    action: notify
zone:
  - domain: example.com.
    storage: "{knot_dir}"
    master: primary
    acl: notify_from_primary
    semantic-checks: off
""")
    serve = [f"{ROOT}/.build/release/uplinkdns", "serve", "--config", f"{work}/uplinkdns.yaml"]
    knotd = ["knotd", "-c", f"{knot_dir}/knot.conf"]
    lines = []
    ok = True
    try:
        t0 = time.monotonic()
        ours = Process(serve, ours_log)
        if wait(600, lambda: ask(port, f"h{a.records - 1}.example.com") != b"", 0.2) is None:
            raise SystemExit("uplinkdns did not start:\n" + ours.text()[-2000:])
        lines.append(f"- UplinkDNS loaded {a.records:,} records in {time.monotonic() - t0:.1f} s.")
        serial = lambda p: soa_serial(ask(p, "example.com", 6))
        knot = Process(knotd, knot_log)
        t0 = time.monotonic()
        first = serial(port)
        time.sleep(1)
        if knot.proc.poll() is not None:
            raise SystemExit("knotd did not start:\n" + knot.text()[-2000:])
        took = wait(900, lambda: serial(kport) == first, 0.2)
        if took is None:
            raise SystemExit("Knot did not transfer the zone:\n" + knot.text()[-3000:])
        axfr = re.findall(r"AXFR example\.com\. serial \d+ to 127\.0\.0\.1.*?: axfr (\d+) records, (\d+) octets",
                          ours.text())
        axfr_octets = int(axfr[-1][1]) if axfr else 0
        lines.append(f"- Knot bootstrapped by AXFR in {took:.1f} s: {axfr_octets / 1048576:.1f} MiB "
                     f"({int(axfr[-1][0]):,} records)." if axfr else f"- Knot bootstrapped in {took:.1f} s.")

        def knot_has_cnc():
            return "198.51.100.10" in a_records(ask(kport, "www.example.com"))

        def switch(state):
            api(cport, "/v1/links/cnc", {"state": state})
            want = state == "auto"
            return wait(5, lambda: knot_has_cnc() == want)

        follow = []
        for i in range(20):
            t = switch("drain" if i % 2 == 0 else "auto")
            if t is None:
                ok = False
                lines.append(f"- switch {i}: Knot did not follow within 5 s")
                break
            follow.append(t)
        ixfrs = [int(x) for x in re.findall(r": ixfr from \d+: .*?, (\d+) octets", ours.text())]
        knot_ixfr = len(re.findall(r"IXFR, incoming, remote .*? finished", knot.text()))
        applied = [float(x) for x in re.findall(r"refresh, remote .*?, zone updated, ([\d.]+) seconds, serial \d+ ->",
                                                   knot.text())]
        lines.append(f"- 20 switches: Knot followed each in median {statistics.median(follow) * 1000:.0f} ms, "
                     f"max {max(follow) * 1000:.0f} ms (target ≤ 1 s); "
                     f"{len(ixfrs)} IXFR answers of {min(ixfrs)}–{max(ixfrs)} octets (target ≤ 2 KiB); "
                     f"Knot logged {knot_ixfr} incoming IXFR, and took a median "
                     f"{statistics.median(applied) if applied else float('nan'):.2f} s to apply each to its "
                     f"copy of the zone (its log's 'zone updated, … seconds'); serving the IXFR took us milliseconds.")
        ok = ok and len(ixfrs) >= 20 and max(ixfrs) <= 2048 and max(follow) <= 1.0

        knot.stop()
        behind = serial(port)
        for i in range(9):  # an odd number: the condensed difference is not empty
            api(cport, "/v1/links/cnc", {"state": "drain" if i % 2 == 0 else "auto"})
        target = serial(port)
        knot = Process(knotd, knot_log)
        time.sleep(1)
        subprocess.run(["knotc", "-c", f"{knot_dir}/knot.conf", "zone-refresh", "example.com."],
                       capture_output=True)
        took = wait(30, lambda: serial(kport) == target, 0.05)
        catch = re.findall(rf": ixfr from {behind}: (\d+) removed, (\d+) added, (\d+) octets", ours.text())
        lines.append(f"- Knot stopped through 9 switches caught up from {behind} to {target} in "
                     f"{took if took is None else round(took, 2)} s with "
                     + (f"one condensed IXFR ({catch[-1][0]} removed, {catch[-1][1]} added, {catch[-1][2]} octets)."
                        if catch else "no IXFR (✗)."))
        ok = ok and took is not None and bool(catch)

        ours.stop()
        t0 = time.monotonic()
        ours = Process(serve, ours_log)
        wait(600, lambda: ask(port, f"h{a.records - 1}.example.com") != b"", 0.2)
        restarted = time.monotonic() - t0
        before = serial(port)
        t = switch("auto")  # cnc was left drained by the 9 switches
        after_restart = re.findall(rf": ixfr from {before}: .*?, (\d+) octets", ours.text())
        lines.append(f"- After a restart of UplinkDNS ({restarted:.1f} s) the next switch reached Knot in "
                     f"{t if t is None else round(t * 1000)} ms by "
                     + (f"IXFR ({after_restart[-1]} octets) from the persisted journal." if after_restart
                        else "AXFR (✗: the journal did not survive)."))
        ok = ok and t is not None and bool(after_restart)
        knot.stop()
        ours.stop()
    finally:
        for p in [x for x in locals().values() if isinstance(x, Process)]:
            p.stop()
        out = os.path.join(ROOT, "bench", "results", "ixfr-large.md")
        with open(out, "w") as f:
            f.write(f"# IXFR at {a.records:,} records with a Knot secondary\n\n"
                    f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; `bench/ixfr.py`; "
                    f"{'every target met' if ok else 'a target missed (✗)'}.\n\n" + "\n".join(lines) + "\n")
        print("\n".join(lines))
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
