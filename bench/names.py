#!/usr/bin/env python3
"""Many names on the same lines (issue 27, docs/performance.md): a dual-line host's zone, side by side with NSD
loading the same zone (the pools as plain A records).

Cases:
- N pools over the same two lines (10,000 and 100,000), written as one pool entry with a `names-file` (how a host
  writes them) and, for `check`, also as N pool blocks;
- 100,000 CNAMEs to one pool;
- 1,000,000 CNAMEs to one pool (load only);
- 100,000 names with an MX to one pool (`mx`), 100,000 SRV records to one pool (`srv`): the pool's addresses are
  their additional data;
- 100,000 PTR records (`ptr`) and 100,000 delegations to name servers out of the zone (`ns`): load only, no pool.

For each: start until a name in the middle answers (polled every 5 ms), the memory once it answers (RSS and PSS),
then `cnc` drained and restored through the control API (12 switches, 1 s apart) while a name in the middle is
asked in a loop: the time from the call to the first answer without (or again with) cnc; and the IXFR that follows
one flap (records and octets). NSD loads the same zone in the same run. `uplinkdns check` of the config is timed too.

Targets (issue 27): 100,000 pools answering within 2 s of start, RSS at most 150 MiB, a drain in the answers within
20 ms, `check` within 1 s; 100,000 CNAMEs to one pool loading within 1.5x NSD, a drain within 20 ms and the alias
carrying the pool's addresses; 1,000,000 CNAMEs loading within 1.5x NSD; MX-, SRV-, PTR- and NS-heavy zones loading
at A-record speed (about NSD's), a drain reaching an MX's or SRV's additional data within 20 ms.

Writes bench/results/names.md. Usage: bench/names.py [--cases pools-10000,pools-100000,cnames-100000,cnames-1000000,
mx-100000,srv-100000,ptr-100000,ns-100000] [--repeats 3]
Loopback only; the release build; NSD from Debian (bench/install-deps.sh)."""

import argparse
import os
import re
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import ROOT, api, write  # noqa: E402

HEAD = """$ORIGIN example.com.
$TTL 3600
@ IN SOA ns1 hostmaster 1 3600 900 1209600 300
@ IN NS ns1
ns1 IN A 192.0.2.1
"""
BOTH = {"192.0.2.10", "198.51.100.10"}


# Per kind: the one pool's name (but for `pools`), the zone's records for customer i, the probe's owner and type.
KINDS = {
    "pools": (None, lambda i: "", lambda n: f"c{n // 2}.example.com", 1),
    "cnames": ("www", lambda i: f"c{i} IN CNAME www\n", lambda n: f"c{n // 2}.example.com", 1),
    "mx": ("mail", lambda i: f"c{i} IN MX 10 mail\n", lambda n: f"c{n // 2}.example.com", 15),
    "srv": ("sip", lambda i: f"_sip._tcp.c{i} IN SRV 0 5 5060 sip\n", lambda n: f"_sip._tcp.c{n // 2}.example.com",
            33),
    "ptr": ("www", lambda i: f"c{i} IN PTR host{i}.example.net.\n", lambda n: f"c{n // 2}.example.com", 12),
    "ns": ("www", lambda i: f"c{i} IN NS ns1.hoster.example.net.\nc{i} IN NS ns2.hoster.example.net.\n",
           lambda n: f"c{n // 2}.example.com", 1),
}


def zone_text(kind, n, static):
    """The zone: N customer names that are pools (static: as A records, for NSD), or N names (aliases, MX, SRV, PTR,
    delegations) beside one pool (static: its A records)."""
    if kind == "pools":
        body = "".join(f"c{i} 60 IN A 192.0.2.10\nc{i} 60 IN A 198.51.100.10\n" for i in range(n)) if static else ""
    else:
        pool, record = KINDS[kind][0], KINDS[kind][1]
        body = "".join(record(i) for i in range(n))
        if static:
            body += f"{pool} 60 IN A 192.0.2.10\n{pool} 60 IN A 198.51.100.10\n"
    return HEAD + body


def uplinkdns_config(d, kind, n, port, blocks=False):
    write(f"{d}/example.com.zone", zone_text(kind, n, static=False))
    if kind == "pools" and blocks:
        pools = "".join(f"  - {{name: c{i}.example.com., links: [unicom, cnc], policy: weighted, ttl: 60}}\n"
                        for i in range(n))
    elif kind == "pools":
        write(f"{d}/names.txt", "".join(f"c{i}.example.com.\n" for i in range(n)))
        pools = "  - {names-file: names.txt, links: [unicom, cnc], policy: weighted, ttl: 60}\n"
    else:
        pools = f"  - {{name: {KINDS[kind][0]}.example.com., links: [unicom, cnc], policy: weighted, ttl: 60}}\n"
    name = "blocks.yaml" if blocks else "uplinkdns.yaml"
    write(f"{d}/{name}", f"""server:
  listen: ["127.0.0.1:{port}"]
  udp-workers: 1
  control: 127.0.0.1:{port + 1000}
  control-token: bench
zones:
  - {{origin: example.com., file: example.com.zone, transfer: [127.0.0.1]}}
links:
  - {{name: unicom, public: [192.0.2.10], bandwidth: 2mbit}}
  - {{name: cnc, public: [198.51.100.10], bandwidth: 512kbit}}
pools:
{pools}health:
  state-dir: state
""")
    return f"{d}/{name}"


def nsd_config(d, kind, n, port):
    write(f"{d}/example.com.zone", zone_text(kind, n, static=True))
    write(f"{d}/nsd.conf", f"""server:
  ip-address: 127.0.0.1@{port}
  server-count: 1
  zonesdir: {d}
  database: ""
  pidfile: {d}/nsd.pid
  xfrdfile: {d}/xfrd.state
  zonelistfile: {d}/zone.list
  username: ""
  chroot: ""
  verbosity: 0
  rrl-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: example.com
  zonefile: example.com.zone
""")
    return ["nsd", "-d", "-c", f"{d}/nsd.conf"]


def query(probe, qid):
    """A query for `probe` (owner, type)."""
    qname, qtype = probe
    q = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0)
    for label in qname.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", qtype, 1)


def addresses(r):
    """The A addresses in any section of a response (answer for a pool or an alias, additional for MX and SRV), and
    whether it holds anything (an answer, or a referral's NS)."""
    if len(r) < 12:
        return set(), False
    counts = struct.unpack(">HHH", r[6:12])
    i = 12
    while r[i] != 0:
        i += r[i] + 1
    i += 5
    out = set()
    for _ in range(sum(counts)):
        while r[i] != 0 and r[i] & 0xC0 != 0xC0:
            i += r[i] + 1
        i += 2 if r[i] & 0xC0 == 0xC0 else 1
        rtype, _, _, rdlen = struct.unpack(">HHIH", r[i:i + 10])
        i += 10
        if rtype == 1 and rdlen == 4:
            out.add(".".join(str(b) for b in r[i:i + 4]))
        i += rdlen
    return out, counts[0] + counts[1] > 0


def start(cmd, port, probe, log, with_addresses=True, timeout=600):
    """Starts `cmd` pinned to CPU 0; the process and the seconds until `probe` is answered, with addresses where the
    kind has them (polled every 5 ms)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.005)
    t0 = time.monotonic()
    proc = subprocess.Popen(["taskset", "-c", "0"] + cmd, stdout=log, stderr=subprocess.STDOUT)
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd[0]} exited: see {log.name}")
        s.sendto(query(probe, 1), ("127.0.0.1", port))
        try:
            got, answered = addresses(s.recv(4096))
            if got or (answered and not with_addresses):
                return proc, time.monotonic() - t0
        except OSError:
            pass
    raise RuntimeError(f"{cmd[0]} did not answer within {timeout} s")


def memory(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = int(re.search(r"^VmRSS:\s+(\d+)", f.read(), re.M).group(1)) / 1024
    with open(f"/proc/{pid}/smaps_rollup") as f:
        pss = int(re.search(r"^Pss:\s+(\d+)", f.read(), re.M).group(1)) / 1024
    return rss, pss


def stop(proc):
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def soa_serial(port):
    r = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+short", "example.com", "SOA"],
                       capture_output=True, text=True).stdout.split()
    return int(r[2]) if len(r) > 2 else None


def drains(port, probe, switches=12):
    """cnc drained and restored through the API; per switch the seconds until `probe` answers accordingly, and the
    alias's answer carries the pool's addresses throughout. Also the IXFR of the first flap."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.connect(("127.0.0.1", port))
    times, wrong = [], 0
    before = soa_serial(port)
    ixfr = None
    for k in range(switches):
        state = "drain" if k % 2 == 0 else "auto"
        want = {"192.0.2.10"} if state == "drain" else BOTH
        result = {}
        t0 = time.monotonic()
        caller = threading.Thread(target=lambda: result.update(r=api(port + 1000, "/v1/links/cnc", {"state": state})))
        caller.start()
        seen = None
        while time.monotonic() - t0 < 60:
            s.send(query(probe, k))
            try:
                got, _ = addresses(s.recv(4096))
            except OSError:
                continue
            if not got:
                wrong += 1
            if got == want:
                seen = time.monotonic() - t0
                break
        caller.join()
        times.append(seen if seen is not None else float("inf"))
        if k == 1 and before is not None:
            # The flap's journal: an IXFR from the serial before it (drained, then restored: two versions).
            time.sleep(1)
            r = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+tcp", "example.com", f"IXFR={before}",
                                "+nostats", "+nocmd", "+noall", "+answer"], capture_output=True, text=True)
            lines = [x for x in r.stdout.splitlines() if x and not x.startswith(";")]
            ixfr = (len(lines), sum(len(x) for x in lines))
        time.sleep(1)
    return times, wrong, ixfr


def check_time(config):
    t0 = time.monotonic()
    r = subprocess.run([f"{ROOT}/.build/release/uplinkdns", "check", "--config", config], capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise RuntimeError(f"check failed: {r.stdout}{r.stderr}")
    return time.monotonic() - t0


def run_case(work, case, port, repeats):
    """One case: `repeats` rounds, each starting UplinkDNS (with a fresh state directory) and then NSD on the same zone;
    the first round also measures memory, the drains and the IXFR. Start times are the medians, the ratio the median
    of the rounds' ratios (this machine's speed varies by minutes; a round's two starts are seconds apart)."""
    kind, n = case.split("-")
    n = int(n)
    out = {"case": case}
    d = os.path.join(work, case)
    os.makedirs(d, exist_ok=True)
    probe = (KINDS[kind][2](n), KINDS[kind][3])
    # Names of PTR and NS records hold no pool's addresses: their start is their answer, and a drain changes nothing.
    pooled = kind not in ("ptr", "ns")
    config = uplinkdns_config(d, kind, n, port)
    out["check"] = check_time(config)
    if kind == "pools":
        out["check_blocks"] = check_time(uplinkdns_config(d, kind, n, port, blocks=True))
    nd = os.path.join(work, case + "-nsd")
    os.makedirs(nd, exist_ok=True)
    os.chmod(nd, 0o755)
    nsd = nsd_config(nd, kind, n, port + 1)
    ours, theirs = [], []
    for k in range(repeats):
        shutil.rmtree(f"{d}/state", ignore_errors=True)
        with open(f"{d}/uplinkdns.log", "w") as log:
            proc, t = start([f"{ROOT}/.build/release/uplinkdns", "serve", "--config", config, "--log-level",
                             "warning"], port, probe, log, pooled)
            ours.append(t)
            try:
                if k == 0:
                    time.sleep(1)
                    out["rss"], out["pss"] = memory(proc.pid)
                    if n <= 100_000 and pooled:
                        out["drains"], out["wrong"], out["ixfr"] = drains(port, probe)
                        out["rss_after"], _ = memory(proc.pid)
            finally:
                stop(proc)
        with open(f"{nd}/nsd.log", "w") as log:
            proc, t = start(nsd, port + 1, probe, log, pooled)
            theirs.append(t)
            try:
                if k == 0:
                    time.sleep(1)
                    out["nsd_rss"], out["nsd_pss"] = memory(proc.pid)
            finally:
                stop(proc)
    out["start"], out["nsd_start"] = statistics.median(ours), statistics.median(theirs)
    out["ratio"] = statistics.median(a / b for a, b in zip(ours, theirs))
    out["starts"], out["nsd_starts"] = ours, theirs
    return out


def report(results):
    cpu = open("/proc/cpuinfo").read()
    model = re.search(r"model name\s*:\s*(.*)", cpu).group(1) if "model name" in cpu else "unknown CPU"
    lines = ["# Many names on the same lines (bench/names.py)", "",
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {model}; {os.cpu_count()} cores; each server "
             "on CPU 0; start = until a name in the middle answers (polled every 5 ms), the median of "
             f"{results[0]['repeats'] if results else 0} rounds that start UplinkDNS and then NSD; × NSD = the median "
             "of the rounds' ratios.", "",
             "| case | start | NSD start | × NSD | RSS (PSS) | NSD RSS | drain → answers, median (max) | IXFR of one "
             "flap | check (pool blocks) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        drain = "–"
        if "drains" in r:
            finite = [x for x in r["drains"] if x != float("inf")]
            drain = (f"{statistics.median(r['drains']) * 1000:.1f} ms ({max(r['drains']) * 1000:.1f} ms)"
                     if len(finite) == len(r["drains"]) else "✗ not seen")
            if r["wrong"]:
                drain += f", ✗ {r['wrong']} answers without addresses"
        ixfr = f"{r['ixfr'][0]:,} records, {r['ixfr'][1] / 1024:.0f} KiB of text" if r.get("ixfr") else "–"
        check = f"{r['check']:.2f} s" + (f" ({r['check_blocks']:.2f} s)" if "check_blocks" in r else "")
        lines.append(
            f"| {r['case']} | {r['start']:.2f} s | {r['nsd_start']:.2f} s | {r['ratio']:.2f} | "
            f"{r['rss']:.0f} MiB ({r['pss']:.0f}) | {r['nsd_rss']:.0f} MiB | {drain} | {ixfr} | {check} |")
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "names.md"), "w") as f:
        f.write(text)
    print(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="pools-10000,pools-100000,cnames-100000,cnames-1000000,mx-100000,srv-100000,"
                    "ptr-100000,ns-100000")
    ap.add_argument("--repeats", type=int, default=3, help="rounds per case (start times are their medians)")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="uplinkdns-names-")
    os.chmod(work, 0o755)
    results = []
    try:
        port = 15700
        for case in a.cases.split(","):
            port += 2
            r = run_case(work, case, port, a.repeats)
            r["repeats"] = a.repeats
            print(r, flush=True)
            results.append(r)
        report(results)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
