#!/usr/bin/env python3
"""UplinkDNS benchmark: the same zone and two-line www from UplinkDNS, gdnsd, Knot and NSD, plus the socket floor.

Each server runs pinned to CPU 0 with one worker; dnsperf runs pinned to CPU 1. For each server, query file
(hot: only www A; mix: 60 % www A, 10 % CNAME, 10 % MX, 10 % NXDOMAIN, 5 % wildcard, 5 % NODATA) and transport, it
measures peak throughput and the server's CPU time per answered query (from /proc/PID/stat before and after),
repeats each measurement, and reports medians, spreads and ratios against the best peer and the socket floor
(bench/reflector.c). It checks the answers too: a run with lost queries or unexpected rcodes is marked. Then it
loads a zone of 1 000 000 records into each server and reports the load time and memory (PSS of the process tree).
Writes bench/results/latest.md. Usage: bench.py [--seconds 4] [--repeats 3] [--skip-large]
"""
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
        self.cmd = getattr(self, "setup_" + name)(zone_text)

    def setup_reflector(self, _):
        return [os.path.join(self.dir, "..", "bin", "reflector"), str(self.port)]

    def setup_uplinkdns(self, zone):
        write(f"{self.dir}/example.com.zone", zone)
        write(f"{self.dir}/uplinkdns.yaml", f"""server:
  listen: ["127.0.0.1:{self.port}"]
  udp-workers: 1
  tcp: {{max-connections: 1024}}
zones:
  - {{origin: example.com., file: example.com.zone}}
links:
  - {{name: unicom, public: [192.0.2.10], bandwidth: 2mbit}}
  - {{name: cnc, public: [198.51.100.10], bandwidth: 512kbit}}
pools:
  - {{name: www.example.com., links: [unicom, cnc], policy: weighted, ttl: 60}}
""")
        return [f"{ROOT}/.build/release/uplinkdns", "serve", "--config", f"{self.dir}/uplinkdns.yaml",
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
    results = {}  # (server, qfile, transport) -> list of (qps, us_per_query, problem)
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
                finally:
                    srv.stop()
                    shutil.rmtree(srv.dir, ignore_errors=True)
        report(results, large, a)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(results, large, a):
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
            for s in ["reflector", "uplinkdns"] + PEERS:
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
    text = "\n".join(lines)
    print("\n" + text)
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    write(os.path.join(ROOT, "bench", "results", "latest.md"), text + "\n")


if __name__ == "__main__":
    sys.exit(main())
