#!/usr/bin/env python3
"""UplinkDNS benchmark: the same zone and two-line www from UplinkDNS, gdnsd, Knot and NSD, plus the socket floor.

Each server runs pinned to CPU 0 with one worker; dnsperf runs pinned to CPU 1. For each server, query file
(hot: only www A; mix: 60 % www A, 10 % CNAME, 10 % MX, 10 % NXDOMAIN, 5 % wildcard, 5 % NODATA) and transport, it
measures peak throughput and the server's CPU time per answered query (from /proc/PID/stat before and after),
repeats each measurement, and reports medians, spreads and ratios against the best peer and the socket floor
(bench/reflector.c). It checks the answers too: a run with lost queries or unexpected rcodes is marked. Then it
loads a zone of 1 000 000 records into each server and reports the load time and memory (PSS of the process tree).
Writes bench/results/latest.md. Usage: bench.py [--seconds 4] [--repeats 3] [--skip-large]; with
UPLINKDNS_BEFORE=/path/to/an/earlier/uplinkdns, that build is measured too, right after this one ("uplinkdns-before"),
so that a change's before and after are compared in one run.
"""
import argparse
import json
import os
import socket
import struct
import threading
import urllib.request
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HZ = os.sysconf("SC_CLK_TCK")
SERVER_CPU, CLIENT_CPU = "0", "1"
PEERS = ["gdnsd", "knot", "nsd"]

ZONE_HEAD = """$ORIGIN example.com.
$TTL 3600
@ IN SOA ns1 hostmaster 1 3600 900 1209600 300
@ IN NS ns1
@ IN MX 10 mail
ns1 IN A 192.0.2.1
mail IN A 192.0.2.25
ftp IN CNAME www
*.wild IN A 192.0.2.77
"""
WWW_STATIC = "www 60 IN A 192.0.2.10\nwww 60 IN A 198.51.100.10\n"


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def query_files(d):
    hot = os.path.join(d, "hot.txt")
    write(hot, "www.example.com A\n")
    lines = (["www.example.com A"] * 60 + ["ftp.example.com A"] * 10 + ["example.com MX"] * 10
             + [f"nx{i}.example.com A" for i in range(10)] + [f"h{i}.wild.example.com A" for i in range(5)]
             + ["ns1.example.com MX"] * 5)
    mix = os.path.join(d, "mix.txt")
    write(mix, "\n".join(lines) + "\n")
    return {"hot": hot, "mix": mix}


class Server:
    """One server under test: writes its config, starts pinned, answers on `port`."""

    def __init__(self, name, work, port, zone_text, big=False):
        self.name, self.port, self.proc = name, port, None
        self.dir = os.path.join(work, name + ("-big" if big else ""))
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.cmd = getattr(self, "setup_" + name.replace("-", "_"))(zone_text)

    def setup_reflector(self, _):
        return [os.path.join(self.dir, "..", "bin", "reflector"), str(self.port)]

    def setup_uplinkdns_before(self, zone):
        """An earlier build of UplinkDNS (`UPLINKDNS_BEFORE=/path/to/uplinkdns`), measured in the same run as this one:
        a change's before and after side by side."""
        return self.setup_uplinkdns(zone, binary=os.environ["UPLINKDNS_BEFORE"])

    def setup_uplinkdns(self, zone, binary=None):
        write(f"{self.dir}/example.com.zone", zone)
        write(f"{self.dir}/uplinkdns.yaml", f"""server:
  listen: ["127.0.0.1:{self.port}"]
  udp-workers: 1
  tcp: {{max-connections: 1024}}
  control: 127.0.0.1:{self.port + 1000}
  control-token: bench
zones:
  - {{origin: example.com., file: example.com.zone}}
links:
  - {{name: unicom, public: [192.0.2.10], bandwidth: 2mbit}}
  - {{name: cnc, public: [198.51.100.10], bandwidth: 512kbit}}
pools:
  - {{name: www.example.com., links: [unicom, cnc], policy: weighted, ttl: 60}}
""")
        return [binary or f"{ROOT}/.build/release/uplinkdns", "serve", "--config", f"{self.dir}/uplinkdns.yaml",
                "--log-level", "warning"]

    def setup_gdnsd(self, zone):
        write(f"{self.dir}/zones/example.com", zone.replace("$ORIGIN example.com.\n", "") + "www 60 DYNA weighted!www\n")
        write(f"{self.dir}/config", f"""options => {{
  listen => [ 127.0.0.1 ]
  dns_port => {self.port}
  udp_threads => 1
  tcp_threads => 1
  tcp_clients_per_thread => 1024
}}
plugins => {{ weighted => {{ multi => true, www => {{ unicom = [ 192.0.2.10, 4 ], cnc = [ 198.51.100.10, 1 ] }} }} }}
""")
        sh(["chmod", "-R", "a+rX", self.dir])
        return ["gdnsd", "-c", self.dir, "start"]

    def setup_knot(self, zone):
        write(f"{self.dir}/example.com.zone", zone + WWW_STATIC)
        write(f"{self.dir}/knot.conf", f"""server:
  listen: 127.0.0.1@{self.port}
  rundir: {self.dir}
  udp-workers: 1
  tcp-workers: 1
  background-workers: 1
database:
  storage: {self.dir}/db
template:
  - id: default
    storage: {self.dir}
    semantic-checks: off
zone:
  - domain: example.com
    file: example.com.zone
""")
        return ["knotd", "-c", f"{self.dir}/knot.conf"]

    def setup_nsd(self, zone):
        write(f"{self.dir}/example.com.zone", zone + WWW_STATIC)
        write(f"{self.dir}/nsd.conf", f"""server:
  ip-address: 127.0.0.1@{self.port}
  server-count: 1
  zonesdir: {self.dir}
  database: ""
  pidfile: {self.dir}/nsd.pid
  xfrdfile: {self.dir}/xfrd.state
  zonelistfile: {self.dir}/zone.list
  username: ""
  chroot: ""
  verbosity: 0
  rrl-ratelimit: 0   # Debian builds NSD with response rate limiting on (200 qps per /24); off for the benchmark
remote-control:
  control-enable: no
zone:
  name: example.com
  zonefile: example.com.zone
""")
        return ["nsd", "-d", "-c", f"{self.dir}/nsd.conf"]

    def start(self, probe="www.example.com", timeout=300):
        self.log = open(f"{self.dir}/server.log", "w")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU] + self.cmd, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: see {self.dir}/server.log")
            r = sh(["dig", "@127.0.0.1", "-p", str(self.port), "+norec", "+time=1", "+tries=1", probe])
            if "status: NOERROR" in r.stdout or (self.name == "reflector" and "Got answer" in r.stdout):
                return time.monotonic() - t0
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer within {timeout} s")

    def pids(self):
        """This server's process tree (NSD forks its workers)."""
        tree, frontier = {self.proc.pid}, [self.proc.pid]
        while frontier:
            parent = frontier.pop()
            for p in os.listdir("/proc"):
                if not p.isdigit():
                    continue
                try:
                    with open(f"/proc/{p}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                except OSError:
                    continue
                if ppid == parent and int(p) not in tree:
                    tree.add(int(p))
                    frontier.append(int(p))
        return tree

    def cpu(self):
        """CPU seconds (user + system) of the process tree."""
        total = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
            except OSError:
                pass
        return total / HZ

    def memory_mib(self):
        """Proportional set size of the process tree (shared pages counted once), MiB."""
        kib = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/smaps_rollup") as f:
                    kib += int(re.search(r"^Pss:\s+(\d+)", f.read(), re.M).group(1))
            except (OSError, AttributeError):
                pass
        return kib / 1024

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()


def dnsperf(port, qfile, seconds, transport):
    args = ["taskset", "-c", CLIENT_CPU, "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", qfile,
            "-l", str(seconds), "-T", "1", "-m", transport]
    # UDP: 4 sockets, 100 outstanding (more overflows a default-sized receive buffer and loses queries);
    # TCP: 8 connections, several queries on each.
    args += ["-c", "4", "-q", "100"] if transport == "udp" else ["-c", "8", "-q", "100"]
    out = sh(args).stdout
    num = lambda pat: float(re.search(pat, out).group(1)) if re.search(pat, out) else 0.0
    rcodes = dict((k, int(v)) for k, v in re.findall(r"(\w+) (\d+) \(\d+\.\d+%\)", out.split("Response codes:")[1]
                                                             .splitlines()[0])) if "Response codes:" in out else {}
    return {"completed": num(r"Queries completed:\s+(\d+)"), "lost": num(r"Queries lost:\s+(\d+)"),
            "qps": num(r"Queries per second:\s+([\d.]+)"), "rcodes": rcodes}


def check(name, qname, r):
    """A fast wrong server does not count: no losses, the rcodes the query file implies."""
    done = r["completed"]
    if done == 0:
        return "no answers"
    if r["lost"] > 0:
        return f"{int(r['lost'])} lost"
    if name == "reflector":
        return ""
    nx = r["rcodes"].get("NXDOMAIN", 0) / done
    want = 0.10 if qname == "mix" else 0.0
    if abs(nx - want) > 0.02 or r["rcodes"].get("NOERROR", 0) + r["rcodes"].get("NXDOMAIN", 0) != done:
        return f"rcodes {r['rcodes']}"
    return ""


def dns_query(qname, qid):
    q = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0)
    for label in qname.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0\0\1\0\1"


def a_records(r):
    """The A addresses in the answer section of a response (owners are compressed pointers)."""
    if len(r) < 12:
        return set()
    i = 12
    while r[i] != 0:
        i += r[i] + 1
    i += 5
    out = set()
    for _ in range(struct.unpack(">H", r[6:8])[0]):
        i += 2
        rtype, _, _, rdlen = struct.unpack(">HHIH", r[i:i + 10])
        i += 10
        if rtype == 1 and rdlen == 4:
            out.add(".".join(str(b) for b in r[i:i + 4]))
        i += rdlen
    return out


class Loop(threading.Thread):
    """Queries www in a loop (UDP or one TCP connection), one at a time; records the longest wait and losses."""

    def __init__(self, port, transport):
        super().__init__(daemon=True)
        self.port, self.transport = port, transport
        self.running, self.sent, self.lost, self.wrong, self.longest = True, 0, 0, 0, 0.0

    def run(self):
        kind = socket.SOCK_DGRAM if self.transport == "udp" else socket.SOCK_STREAM
        s = socket.socket(socket.AF_INET, kind)
        s.settimeout(2)
        s.connect(("127.0.0.1", self.port))
        qid = 0
        while self.running:
            qid = (qid + 1) & 0xFFFF
            q = dns_query("www.example.com", qid)
            t0 = time.monotonic()
            try:
                if self.transport == "udp":
                    s.send(q)
                    r = s.recv(4096)
                else:
                    s.sendall(struct.pack(">H", len(q)) + q)
                    n = struct.unpack(">H", s.recv(2, socket.MSG_WAITALL))[0]
                    r = s.recv(n, socket.MSG_WAITALL)
            except OSError:
                self.lost += 1
                continue
            self.longest = max(self.longest, time.monotonic() - t0)
            self.sent += 1
            if r[3] & 0x0F != 0 or not a_records(r) <= {"192.0.2.10", "198.51.100.10"} or not a_records(r):
                self.wrong += 1


def api(cport, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{cport}{path}", data=body and json.dumps(body).encode(),
                                 headers={"Authorization": "Bearer bench"}, method="POST")
    t0 = time.monotonic()
    with urllib.request.urlopen(req, timeout=60) as r:
        r.read()
        return r.status, time.monotonic() - t0


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"^VmRSS:\s+(\d+)", f.read(), re.M).group(1)) / 1024


def changes(srv, switches=12, reloads=3):
    """Drains and restores a line through the control API, then reloads, while a UDP and a TCP loop query www.
    Switch time: from sending the API call to the first UDP answer that shows the change."""
    port, cport = srv.port, srv.port + 1000
    loops = [Loop(port, "udp"), Loop(port, "tcp")]
    for l in loops:
        l.start()
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.settimeout(2)
    probe.connect(("127.0.0.1", port))
    rss_first = rss_mib(srv.proc.pid)
    switch, calls = [], []
    for n in range(switches):
        state = "drain" if n % 2 == 0 else "auto"
        want = {"192.0.2.10"} if state == "drain" else {"192.0.2.10", "198.51.100.10"}
        result = {}
        t0 = time.monotonic()
        caller = threading.Thread(target=lambda: result.update(r=api(cport, "/v1/links/cnc", {"state": state})))
        caller.start()
        seen = None
        while time.monotonic() - t0 < 30:
            probe.send(dns_query("www.example.com", n))
            try:
                if a_records(probe.recv(4096)) == want:
                    seen = time.monotonic() - t0
                    break
            except OSError:
                pass
        caller.join()
        switch.append(seen if seen is not None else float("inf"))
        calls.append(result["r"][1])
        time.sleep(0.2)
    reload_calls = []
    for _ in range(reloads):
        reload_calls.append(api(cport, "/v1/reload")[1])
        time.sleep(1.5)  # the builder frees the old snapshot once every serving thread has moved past it
    rss_after = rss_mib(srv.proc.pid)
    for l in loops:
        l.running = False
    for l in loops:
        l.join()
    return {"switch_median": statistics.median(switch), "switch_max": max(switch), "api_max": max(calls),
            "reload_max": max(reload_calls), "udp_longest": loops[0].longest, "tcp_longest": loops[1].longest,
            "lost": loops[0].lost + loops[1].lost, "wrong": loops[0].wrong + loops[1].wrong,
            "queries": loops[0].sent + loops[1].sent, "rss_first": rss_first, "rss_after": rss_after}


def fmt(v, nd=1):
    return f"{v:.{nd}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-large", action="store_true", help="skip the 1 000 000-record load test")
    ap.add_argument("--servers", default="reflector,uplinkdns,gdnsd,knot,nsd")
    ap.add_argument("--large-only", action="store_true", help="only the 1 000 000-record load test")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="uplinkdns-bench-")
    os.chmod(work, 0o755)
    os.makedirs(os.path.join(work, "bin"))
    sh(["gcc", "-O2", "-o", os.path.join(work, "bin", "reflector"), os.path.join(ROOT, "bench", "reflector.c")],
       check=True)
    qfiles = query_files(work)
    names = a.servers.split(",")
    # An earlier build to compare with (UPLINKDNS_BEFORE=path): measured right after this one, in the same run.
    if os.environ.get("UPLINKDNS_BEFORE") and "uplinkdns-before" not in names and "uplinkdns" in names:
        names.insert(names.index("uplinkdns") + 1, "uplinkdns-before")
    results = {}  # (server, qfile, transport) -> list of (qps, us_per_query, problem)
    change = {}  # zone size -> what changes() measured
    port = 15400
    try:
        for name in [] if a.large_only else names:
            port += 1
            srv = Server(name, work, port, ZONE_HEAD)
            srv.start()
            print(f"{name}: answering on 127.0.0.1:{port}", flush=True)
            for transport in (["udp"] if name == "reflector" else ["udp", "tcp"]):
                for qname, qfile in qfiles.items():
                    runs = []
                    for _ in range(a.repeats):
                        c0 = srv.cpu()
                        r = dnsperf(port, qfile, a.seconds, transport)
                        c1 = srv.cpu()
                        us = (c1 - c0) / r["completed"] * 1e6 if r["completed"] else float("inf")
                        runs.append((r["qps"], us, check(name, qname, r)))
                    results[(name, qname, transport)] = runs
                    q = statistics.median(x[0] for x in runs)
                    u = statistics.median(x[1] for x in runs)
                    bad = "; ".join(sorted({x[2] for x in runs if x[2]}))
                    print(f"  {transport} {qname}: {q:,.0f} qps, {u:.2f} µs CPU/query {'✗ ' + bad if bad else ''}",
                          flush=True)
            if name.startswith("uplinkdns"):
                change[(name, 1_000)] = changes(srv)
                print(f"  changes: {change[(name, 1_000)]}", flush=True)
            srv.stop()
        large = {}
        if not a.skip_large:
            big = ZONE_HEAD + WWW_STATIC.replace("www", "static-www") + "".join(
                f"h{i} IN A 198.18.{(i >> 8) & 255}.{i & 255}\n" for i in range(1_000_000))
            for name in [n for n in names if n != "reflector"]:
                port += 1
                srv = Server(name, work, port, big, big=True)
                try:
                    t = srv.start(probe="h999999.example.com", timeout=600)
                    large[name] = (t, srv.memory_mib())
                    print(f"{name}: 1 000 000 records loaded in {t:.1f} s, {large[name][1]:.0f} MiB", flush=True)
                    if name.startswith("uplinkdns"):
                        change[(name, 1_000_000)] = changes(srv)
                        print(f"  changes: {change[(name, 1_000_000)]}", flush=True)
                finally:
                    srv.stop()
                    shutil.rmtree(srv.dir, ignore_errors=True)
        report(results, large, change, a)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(results, large, change, a):
    cpu = open("/proc/cpuinfo").read()
    model = re.search(r"model name\s*:\s*(.*)", cpu).group(1) if "model name" in cpu else "unknown CPU"
    lines = [f"# Benchmark results", "",
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {model}; {os.cpu_count()} cores; "
             f"each server on CPU {SERVER_CPU} with one worker, dnsperf on CPU {CLIENT_CPU}; "
             f"{a.repeats} runs of {a.seconds} s each, median [min–max].", ""]
    for transport in ["udp", "tcp"]:
        for qname in ["hot", "mix"]:
            rows = {s: r for (s, q, t), r in results.items() if q == qname and t == transport}
            if not rows:
                continue
            med = {s: (statistics.median(x[0] for x in r), statistics.median(x[1] for x in r)) for s, r in rows.items()}
            peers = [s for s in PEERS if s in med]
            best_qps = max((med[s][0] for s in peers), default=0)
            best_cpu = min((med[s][1] for s in peers), default=0)
            floor = med.get("reflector", (0, 0))[1]
            lines += [f"## {transport.upper()}, {qname}", "",
                      "| server | qps | ×best peer | µs CPU/query | ×best peer | ×socket floor | answers |",
                      "|---|---|---|---|---|---|---|"]
            for s in ["reflector", "uplinkdns", "uplinkdns-before"] + PEERS:
                if s not in rows:
                    continue
                q, u = med[s]
                qs = [x[0] for x in rows[s]]
                us = [x[1] for x in rows[s]]
                bad = "; ".join(sorted({x[2] for x in rows[s] if x[2]})) or "ok"
                lines.append(
                    f"| {s} | {q:,.0f} [{min(qs):,.0f}–{max(qs):,.0f}] | {q / best_qps:.2f} | "
                    f"{u:.2f} [{min(us):.2f}–{max(us):.2f}] | {u / best_cpu:.2f} | "
                    f"{(u / floor) if floor else float('nan'):.2f} | {bad} |" if best_qps and best_cpu else
                    f"| {s} | {q:,.0f} | – | {u:.2f} | – | – | {bad} |")
            lines.append("")
    if large:
        best_t = min((large[s][0] for s in PEERS if s in large), default=0)
        best_m = min((large[s][1] for s in PEERS if s in large), default=0)
        lines += ["## 1 000 000 records", "", "| server | load time (s) | ×best peer | memory, PSS (MiB) | ×best peer |",
                  "|---|---|---|---|---|"]
        for s, (t, m) in large.items():
            lines.append(f"| {s} | {t:.1f} | {t / best_t if best_t else float('nan'):.2f} | {m:.0f} | "
                         f"{m / best_m if best_m else float('nan'):.2f} |")
        lines.append("")
    if change:
        lines += ["## Changes under load (UplinkDNS)", "",
                  "Drain → answers changed and auto → answers back, from sending the API call to the first UDP answer "
                  "that shows the change; then 3 reloads. Meanwhile a UDP and a TCP loop query www one at a time "
                  "(Python clients: their own latency is in the figures). Targets: switch median ≤ 10 ms, max ≤ 25 ms; "
                  "no query waits > 50 ms; API ≤ 100 ms; RSS after 3 reloads ≤ 1.3× after the first load.", "",
                  "| server | records | switch median (ms) | switch max (ms) | API max (ms) | reload call max (s) "
                  "| longest UDP wait (ms) | longest TCP wait (ms) | lost / wrong of | RSS first → after reloads (MiB) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for (name, size), c in sorted(change.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            lines.append(
                f"| {name} | {size:,} | {c['switch_median'] * 1e3:.1f} | {c['switch_max'] * 1e3:.1f} | {c['api_max'] * 1e3:.1f} | "
                f"{c['reload_max']:.1f} | {c['udp_longest'] * 1e3:.1f} | {c['tcp_longest'] * 1e3:.1f} | "
                f"{c['lost']} / {c['wrong']} of {c['queries']:,} | {c['rss_first']:.0f} → {c['rss_after']:.0f} "
                f"({c['rss_after'] / c['rss_first']:.2f}×) |")
        lines.append("")
    text = "\n".join(lines)
    print("\n" + text)
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    write(os.path.join(ROOT, "bench", "results", "latest.md"), text + "\n")


if __name__ == "__main__":
    sys.exit(main())
