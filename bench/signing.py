#!/usr/bin/env python3
"""Signing at scale (issue 22 item 5): UplinkDNS signing a zone of 1,000,000 A records itself (`dnssec: true`,
ECDSA P-256 with NSEC), against Knot signing the same zone with automatic signing (`dnssec-signing: on`, a policy
with ECDSAP256SHA256 and NSEC, 2 background workers and 2 signing threads), in the same run.

For each server: a fresh key (each generates its own on the first start), started unpinned (both cores: signing
is what runs in parallel); time from start until the LAST name of the zone answers with an RRSIG (kdig +dnssec,
polled every 0.1 s); peak memory = the kernel's high-water mark of the resident set (VmHWM), the same measure for
both; also PSS once the signed answer came, and the CPU time spent until then (user + system).

Writes bench/results/signing.md. Usage: bench/signing.py [--records 1000000] [--servers uplinkdns,knot]
[--repeats 1]. Loopback only; the release build; knotd and kdig from Debian (bench/install-deps.sh). With
UPLINKDNS_BEFORE=/path/to/an/earlier/uplinkdns, that build is measured too ("uplinkdns-before")."""

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import HZ, ROOT, WWW_STATIC, ZONE_HEAD, sh, write  # noqa: E402


def zone_text(records):
    return ZONE_HEAD + "".join(f"h{i} IN A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}\n" for i in range(records))


def uplinkdns_setup(d, port, binary):
    write(f"{d}/uplinkdns.yaml", f"""server:
  listen: ["127.0.0.1:{port}"]
  udp-workers: 1
  control: 127.0.0.1:{port + 1000}
  control-token: bench
zones:
  - {{origin: example.com., file: example.com.zone, dnssec: true}}
links:
  - {{name: unicom, public: [192.0.2.10], bandwidth: 2mbit}}
  - {{name: cnc, public: [198.51.100.10], bandwidth: 512kbit}}
pools:
  - {{name: www.example.com., links: [unicom, cnc], policy: weighted, ttl: 60}}
health: {{state-dir: state}}
""")
    return [binary, "serve", "--config", f"{d}/uplinkdns.yaml", "--log-level", "warning"]


def knot_setup(d, port):
    os.makedirs(f"{d}/db", exist_ok=True)
    write(f"{d}/knot.conf", f"""server:
  listen: 127.0.0.1@{port}
  rundir: {d}
  udp-workers: 1
  tcp-workers: 1
  background-workers: 2
database:
  storage: {d}/db
policy:
  - id: bench
    algorithm: ecdsap256sha256
    nsec3: off
    signing-threads: 2
template:
  - id: default
    storage: {d}
    semantic-checks: off
    journal-content: none
    zonefile-sync: -1
zone:
  - domain: example.com
    file: example.com.zone
    dnssec-signing: on
    dnssec-policy: bench
""")
    return ["knotd", "-c", f"{d}/knot.conf"]


def status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            m = re.search(rf"^{field}:\s+(\d+)", f.read(), re.M)
            return int(m.group(1)) if m else 0
    except OSError:
        return 0


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return int(re.search(r"^Pss:\s+(\d+)", f.read(), re.M).group(1))
    except (OSError, AttributeError):
        return 0


def cpu_s(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / HZ
    except OSError:
        return 0.0


def measure(name, cmd, d, port, last, timeout):
    log = open(f"{d}/server.log", "w")
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=d)
    try:
        peak_pss = 0
        while True:
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"{name}: no signed answer for {last} within {timeout} s")
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited: see {d}/server.log")
            r = sh(["kdig", "@127.0.0.1", "-p", str(port), "+dnssec", "+norec", "+time=1", "+retry=0", last, "A"])
            if "RRSIG" in r.stdout and "NOERROR" in r.stdout:
                elapsed = time.monotonic() - t0
                break
            peak_pss = max(peak_pss, pss_kib(proc.pid))
            time.sleep(0.1)
        cpu = cpu_s(proc.pid)
        pss = pss_kib(proc.pid)
        hwm = status_kib(proc.pid, "VmHWM")
        return {"time": elapsed, "hwm": hwm / 1024, "pss": pss / 1024, "peak_pss": max(peak_pss, pss) / 1024,
                "cpu": cpu}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--servers", default="uplinkdns,knot")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "signing.md"))
    a = ap.parse_args()
    servers = a.servers.split(",")
    if os.environ.get("UPLINKDNS_BEFORE") and "uplinkdns-before" not in servers:
        servers.insert(1, "uplinkdns-before")
    work = tempfile.mkdtemp(prefix="uplinkdns-signing-")
    os.chmod(work, 0o755)
    text = zone_text(a.records)
    last = f"h{a.records - 1}.example.com"
    results = {}
    port = 15700
    try:
        for rep in range(a.repeats):
            for name in servers:
                port += 2
                d = os.path.join(work, f"{name}-{rep}")
                os.makedirs(d)
                os.chmod(d, 0o755)
                if name == "knot":
                    write(f"{d}/example.com.zone", text + WWW_STATIC)
                    cmd = knot_setup(d, port)
                else:
                    write(f"{d}/example.com.zone", text)
                    binary = (os.environ["UPLINKDNS_BEFORE"] if name == "uplinkdns-before"
                              else f"{ROOT}/.build/release/uplinkdns")
                    cmd = uplinkdns_setup(d, port, binary)
                r = measure(name, cmd, d, port, last, a.timeout)
                results.setdefault(name, []).append(r)
                print(f"{name}: {last} signed after {r['time']:.1f} s; peak RSS {r['hwm']:.0f} MiB, PSS then "
                      f"{r['pss']:.0f} MiB (peak sampled {r['peak_pss']:.0f}); CPU {r['cpu']:.1f} s", flush=True)
                shutil.rmtree(d, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in results.items()}
    ref = med.get("knot")
    rows = ["| server | start → signed answer for the last name | ×Knot | peak RSS | ×Knot | PSS then | CPU |",
            "|---|---|---|---|---|---|---|"]
    for n, m in med.items():
        rt = f"{m['time'] / ref['time']:.2f}" if ref else ""
        rm = f"{m['hwm'] / ref['hwm']:.2f}" if ref else ""
        rows.append(f"| {n} | {m['time']:.1f} s | {rt} | {m['hwm']:.0f} MiB | {rm} | {m['pss']:.0f} MiB | "
                    f"{m['cpu']:.1f} s |")
    head = (f"# Signing at scale: {a.records:,} A records, ECDSA P-256, NSEC\n\n"
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; `bench/signing.py`; unpinned (2 cores); "
            f"{a.repeats} run(s), median. Time: start until `kdig +dnssec {last} A` answers with an RRSIG. "
            f"Peak RSS: VmHWM of the process. Knot: `dnssec-signing: on`, ECDSAP256SHA256, NSEC, "
            f"2 background workers, 2 signing threads, no journal, no zone-file flush.\n\n")
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(head + "\n".join(rows) + "\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
