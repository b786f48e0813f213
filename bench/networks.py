#!/usr/bin/env python3
"""Client networks side by side (issue 23, docs/performance.md): the seed's www pool answering by the client's
network, with 10,000 and 1,000,000 prefixes, against the same pool without networks, and gdnsd's geoip plugin
loading the same networks as a `nets` file.

- CPU per query: dnsperf sends the same 200,000 www A queries, each with its own EDNS Client Subnet (90 % IPv4 /24,
  10 % IPv6 /56; half inside a network's prefix, half anywhere), to each server over UDP; the servers run side by
  side, idle but for the one measured, and the runs alternate between them so that the VM's drift hits all alike.
  Server CPU per answered query as bench.py measures it (/proc/PID/stat). Target: ≤ 1.05× the pool without networks.
- Load time and memory: each server started alone, from start until it answers an ECS query (polled every 5 ms),
  and PSS once it answers; with the networks and without, so the difference is what the networks cost. Targets:
  load at most gdnsd's; a million prefixes in under 1 s and under 64 MiB.

Writes bench/results/networks.md. Usage: bench/networks.py [--seconds 4] [--repeats 3] [--sizes 10000,1000000]
[--servers uplinkdns,gdnsd] [--skip-load] [--before OLD] [--perf]. `--before OLD` also runs an earlier build (OLD: its
binary) with the networks, in the same alternation ("uplinkdns-before"); `--perf` records each UplinkDNS server
with networks for one more run (`perf record -e cpu-clock`) and reports the share of the samples in the client
network lookup. Loopback only; the release build; dnsperf and gdnsd from Debian (bench/install-deps.sh)."""

import argparse
import ipaddress
import os
import random
import re
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import ROOT, ZONE_HEAD, Server, sh, write  # noqa: E402

# Four networks over the seed's two lines; two lists, each shared by two networks.
NETWORKS = [("unicom-clients", ["unicom", "cnc"]), ("cnc-clients", ["cnc", "unicom"]),
            ("unicom-mobile", ["unicom", "cnc"]), ("cernet", ["cnc", "unicom"])]
ADDRESS = {"unicom": "192.0.2.10", "cnc": "198.51.100.10"}
# Prefix lengths as in a full routing table: mostly /24, then /22, /23, /20, /21, a few short ones.
V4_LENGTHS = [24] * 55 + [23] * 10 + [22] * 12 + [21] * 6 + [20] * 5 + [19] * 4 + [18] * 2 + [17] + [16] * 3 + [
    15, 14, 13]
V6_LENGTHS = [48] * 40 + [32] * 20 + [44] * 10 + [40] * 10 + [36] * 5 + [29] * 10 + [28] * 5


def generate(count, seed):
    """`count` distinct prefixes (90 % IPv4), each in one of NETWORKS: (network index, ip_network)."""
    rng = random.Random(seed)
    seen = set()
    out = []
    while len(out) < count:
        if rng.random() < 0.9:
            length = rng.choice(V4_LENGTHS)
            a = rng.randrange(0x0100_0000, 0xE000_0000) & ~((1 << (32 - length)) - 1) & 0xFFFFFFFF
            key = (4, a, length)
        else:
            length = rng.choice(V6_LENGTHS)
            a = (rng.randrange(0x2400 << 112, 0x2C00 << 112) >> (128 - length)) << (128 - length)
            key = (6, a, length)
        if key in seen:
            continue
        seen.add(key)
        out.append((rng.randrange(len(NETWORKS)), key))
    return out


def text(key):
    family, a, length = key
    return f"{ipaddress.IPv4Address(a) if family == 4 else ipaddress.IPv6Address(a)}/{length}"


def ecs_query(family, address, source, qid=0):
    """www.example.com A with an OPT record carrying ECS `address`/`source` (host bits already zero)."""
    q = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 1) + b"\3www\7example\3com\0" + struct.pack(">HH", 1, 1)
    octets = (source + 7) // 8
    width = 32 if family == 4 else 128
    addr = (address >> (width - 8 * octets)).to_bytes(octets, "big") if octets else b""
    option = struct.pack(">HHHBB", 8, 4 + octets, 1 if family == 4 else 2, source, 0) + addr
    return q + b"\0" + struct.pack(">HHIH", 41, 1232, 0, len(option)) + option


def query_file(path, sets, count, seed):
    """dnsperf's binary input (-B): each query with a two-octet length. Clients: half inside a random prefix of one
    of `sets` (each set as often), half anywhere; IPv4 as /24, IPv6 as /56."""
    rng = random.Random(seed)
    v4 = [[p for _, p in prefixes if p[0] == 4] for prefixes in sets]
    v6 = [[p for _, p in prefixes if p[0] == 6] for prefixes in sets]
    with open(path, "wb") as f:
        for _ in range(count):
            family = 4 if rng.random() < 0.9 else 6
            width, source = (32, 24) if family == 4 else (128, 56)
            if rng.random() < 0.5:
                _, a, length = rng.choice(rng.choice(v4 if family == 4 else v6))
                a += rng.randrange(1 << (width - length))
            else:
                a = rng.randrange(1 << width)
            a &= ~((1 << (width - source)) - 1)
            m = ecs_query(family, a, source)
            f.write(struct.pack(">H", len(m)) + m)


def write_networks(d, prefixes):
    """One prefix list per network (UplinkDNS) and one nets file (gdnsd)."""
    for n, (name, _) in enumerate(NETWORKS):
        write(f"{d}/{name}.txt", "".join(text(p) + "\n" for k, p in prefixes if k == n))
    write(f"{d}/clients.nets", "".join(f"{text(p)} => [ {', '.join(NETWORKS[k][1])} ]\n" for k, p in prefixes))


class NetServer(Server):
    """A Server of bench.py whose www answers by client network: UplinkDNS's pool with `by-network` (or without,
    the baseline), gdnsd's geoip plugin with the nets file (or with no nets)."""

    def __init__(self, name, work, port, nets_dir, label, binary=None):
        self.nets_dir, self.binary = nets_dir, binary
        super().__init__(name, os.path.join(work, label), port, ZONE_HEAD)

    def setup_uplinkdns_before(self, zone):
        return self.setup_uplinkdns(zone)

    def setup_uplinkdns(self, zone, binary=None):
        cmd = super().setup_uplinkdns(zone, binary or self.binary)
        if self.nets_dir:
            cfg = f"{self.dir}/uplinkdns.yaml"
            pool = "  - {name: www.example.com., links: [unicom, cnc], policy: weighted, ttl: 60}\n"
            text_ = open(cfg).read()
            assert pool in text_
            text_ = text_.replace(pool, "  - name: www.example.com.\n    links: [unicom, cnc]\n    policy: weighted\n"
                                  "    ttl: 60\n    by-network:\n" + "".join(
                                      f"      {name}: [{', '.join(lines)}]\n" for name, lines in NETWORKS))
            text_ += "networks:\n" + "".join(
                f"  - name: {name}\n    file: {self.nets_dir}/{name}.txt\n" for name, _ in NETWORKS)
            write(cfg, text_)
        return cmd

    def setup_gdnsd(self, zone):
        cmd = super().setup_gdnsd(zone)
        write(f"{self.dir}/zones/example.com",
              zone.replace("$ORIGIN example.com.\n", "") + "www 60 DYNA geoip!www\n")
        nets = f"nets => {self.nets_dir}/clients.nets" if self.nets_dir else "nets => {}"
        cfg = open(f"{self.dir}/config").read().split("plugins =>")[0]
        write(f"{self.dir}/config", cfg.replace("}\n", f"  run_dir => {self.dir}/run\n  state_dir => {self.dir}/state\n}}\n", 1)
              + f"""plugins => {{ geoip => {{
  maps => {{ clients => {{ datacenters => [ unicom, cnc ], {nets} }} }}
  resources => {{ www => {{ map => clients, dcmap => {{ unicom => {ADDRESS['unicom']}, cnc => {ADDRESS['cnc']} }} }} }}
}} }}
""")
        return cmd

    def private_mib(self):
        """Memory of the process tree no other process shares (USS: private clean + dirty pages), MiB. PSS moves
        with whoever else maps the same libraries; this does not."""
        kib = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/smaps_rollup") as f:
                    t = f.read()
                kib += sum(int(x) for x in re.findall(r"^Private_(?:Clean|Dirty):\s+(\d+)", t, re.M))
            except OSError:
                pass
        return kib / 1024

    def peak_mib(self):
        """The server process's peak resident set (VmHWM), MiB: what loading needed at its height."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            return int(re.search(r"^VmHWM:\s+(\d+)", f.read(), re.M).group(1)) / 1024

    def start_timed(self, probe, timeout=300):
        """Starts pinned like bench.py's servers; the seconds until `probe` (an ECS query) is answered, polled every
        5 ms, and the answer."""
        self.log = open(f"{self.dir}/server.log", "w")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.005)
        t0 = time.monotonic()
        self.proc = subprocess.Popen(["taskset", "-c", "0"] + self.cmd, stdout=self.log, stderr=subprocess.STDOUT)
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: see {self.dir}/server.log")
            s.sendto(probe, ("127.0.0.1", self.port))
            try:
                r = s.recv(4096)
                return time.monotonic() - t0, r
            except OSError:
                pass
        raise RuntimeError(f"{self.name} did not answer within {timeout} s")


def answer(r):
    """The first A address and the ECS scope of a response (None when absent)."""
    qd, an, _, ar = struct.unpack(">HHHH", r[4:12])
    i = 12
    while r[i]:
        i += r[i] + 1
    i += 5
    addr, scope = None, None
    for n in range(an + ar):
        if r[i] & 0xC0 == 0xC0:
            i += 2
        else:
            while r[i]:
                i += r[i] + 1
            i += 1
        rtype, _, _, rdlen = struct.unpack(">HHIH", r[i:i + 10])
        i += 10
        if rtype == 1 and addr is None and n < an:
            addr = ".".join(str(b) for b in r[i:i + 4])
        if rtype == 41:
            j = i
            while j + 4 <= i + rdlen:
                code, olen = struct.unpack(">HH", r[j:j + 4])
                if code == 8:
                    scope = r[j + 7]
                j += 4 + olen
        i += rdlen
    return addr, scope


def dnsperf_bin(port, qfile, seconds):
    out = sh(["taskset", "-c", "1", "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-B", "-d", qfile,
              "-l", str(seconds), "-T", "1", "-c", "4", "-q", "100"]).stdout

    def num(label):
        for line in out.splitlines():
            if label in line:
                return float(line.split(":")[1].split()[0])
        return 0.0
    m = re.search(r"NOERROR (\d+)", out)
    noerror = float(m.group(1)) if m else 0.0
    return {"completed": num("Queries completed"), "lost": num("Queries lost"), "qps": num("Queries per second"),
            "noerror": noerror}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", default="10000,1000000")
    ap.add_argument("--servers", default="uplinkdns,gdnsd")
    ap.add_argument("--skip-load", action="store_true", help="only the CPU per query")
    ap.add_argument("--before", metavar="OLD", help="an earlier uplinkdns binary, measured with the networks too")
    ap.add_argument("--perf", action="store_true", help="profile each UplinkDNS server with networks for one run")
    ap.add_argument("--perf-dir", help="with --perf: keep the perf data there (perf annotate, perf script)")
    a = ap.parse_args()
    sizes = [int(x) for x in a.sizes.split(",")]
    names = a.servers.split(",")
    binaries = {"uplinkdns-before": os.path.abspath(a.before)} if a.before else {}
    work = tempfile.mkdtemp(prefix="uplinkdns-networks-")
    os.chmod(work, 0o755)
    port = 15700
    loads = {}  # (server, size or 0) -> [(seconds, PSS MiB)]
    cpu = {}  # (server, size or 0) -> [(qps, µs, problem)]
    profiles = {}  # (server, size) -> the lookup's share of the samples, and the top symbols
    try:
        nets = {}
        for size in sizes:
            t0 = time.monotonic()
            prefixes = generate(size, seed=23 + size)
            d = os.path.join(work, f"nets-{size}")
            os.makedirs(d)
            write_networks(d, prefixes)
            nets[size] = (d, prefixes)
            print(f"{size:,} prefixes written in {time.monotonic() - t0:.1f} s", flush=True)
        qfile = os.path.join(work, "ecs.bin")
        query_file(qfile, [nets[size][1] for size in sizes], 200_000, seed=7)
        # A client inside the first prefix of cnc-clients: its answer shows that the networks serve.
        k, p = next(x for x in nets[sizes[0]][1] if x[0] == 1 and x[1][0] == 4)
        probe = ecs_query(4, p[1], 32)

        # Load time and memory: each alone, with and without networks, `repeats` times.
        configs = [(name, size) for name in names for size in [0] + sizes]
        for _ in range(0 if a.skip_load else a.repeats):
            for name, size in configs:
                port += 1
                srv = NetServer(name, work, port, nets[size][0] if size else None, f"{name}-{size}")
                try:
                    t, r = srv.start_timed(probe)
                    time.sleep(0.5)  # settled: what stays resident
                    mem, private, peak = srv.memory_mib(), srv.private_mib(), srv.peak_mib()
                    addr, scope = answer(r)
                    loads.setdefault((name, size), []).append((t, mem, addr, scope, private, peak))
                    print(f"{name}, {size:,} prefixes: answered in {t:.3f} s, {mem:.1f} MiB PSS, {private:.1f} MiB "
                          f"private, peak RSS {peak:.1f} MiB; probe → {addr} scope {scope}", flush=True)
                finally:
                    srv.stop()
                    shutil.rmtree(srv.dir, ignore_errors=True)

        # CPU per query: every server up at once (idle but for the one measured), runs alternating.
        servers = {}
        extra = [("uplinkdns-before", size) for size in sizes] if a.before and "uplinkdns" in names else []
        for name, size in configs + extra:
            port += 1
            srv = NetServer(name, work, port, nets[size][0] if size else None, f"{name}-{size}", binaries.get(name))
            srv.start_timed(probe)
            servers[(name, size)] = srv
        for _ in range(a.repeats):
            for key, srv in servers.items():
                c0 = srv.cpu()
                r = dnsperf_bin(srv.port, qfile, a.seconds)
                us = (srv.cpu() - c0) / r["completed"] * 1e6 if r["completed"] else float("inf")
                problem = f"{int(r['lost'])} lost" if r["lost"] else (
                    "" if r["noerror"] == r["completed"] and r["completed"] else "rcodes")
                cpu.setdefault(key, []).append((r["qps"], us, problem))
                print(f"{key[0]}, {key[1]:,} prefixes: {r['qps']:,.0f} qps, {us:.2f} µs CPU/query {problem}",
                      flush=True)
        if a.perf:
            for key, srv in servers.items():
                if key[0].startswith("uplinkdns") and key[1]:
                    profiles[key] = profile(srv, qfile, a.seconds, a.perf_dir or work, f"{key[0]}-{key[1]}")
                    print(f"{key[0]}, {key[1]:,} prefixes: {profiles[key][0]:.1f} % of samples in the lookup",
                          flush=True)
        for srv in servers.values():
            srv.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(loads, cpu, profiles, sizes, names, a)


def profile(srv, qfile, seconds, work, label):
    """`perf record -e cpu-clock` of the server (kernel and user) during one more run: the share of the samples in
    the client network lookup (`ClientNetworkMap.lookup` and `.prefetch`, `LineTable`, `RangeTable`,
    `QueryProcessor.prefetchNetworks`), and the ten symbols with the most samples (demangled where `swift demangle`
    is at hand)."""
    os.makedirs(work, exist_ok=True)
    data = os.path.join(work, f"perf-{label}.data")
    rec = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "4999", "-p", str(srv.proc.pid), "-o",
                            data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    dnsperf_bin(srv.port, qfile, seconds)
    rec.send_signal(2)
    rec.wait(30)
    out = sh(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "sym", "--percent-limit", "0.05"]).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+\[.\]\s+(.*)", line)
        if m:
            rows.append((float(m.group(1)), m.group(2).strip()))
    lookup = sum(p for p, sym in rows if re.search(r"ClientNetworkMap|RangeTable|LineTable|prefetchNetworks", sym))
    top = rows[:10]
    if shutil.which("swift"):
        names = subprocess.run(["swift", "demangle", "--simplified"], input="\n".join(sym for _, sym in top),
                               capture_output=True, text=True).stdout.splitlines()
        if len(names) == len(top):
            top = [(p, name) for (p, _), name in zip(top, names)]
    return lookup, top


def report(loads, cpu, profiles, sizes, names, a):
    med = statistics.median
    lines = ["# Client networks", "",
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; `bench/networks.py`; each server on CPU 0 with one "
             f"worker, dnsperf on CPU 1; {a.repeats} runs, median [min–max]. Networks: four (two lists over the two "
             f"lines), 90 % IPv4; the same prefixes as UplinkDNS prefix files and as gdnsd's nets file.", "",
             f"## UDP CPU per query, 200,000 distinct ECS clients ({a.seconds} s runs)", "",
             "| server | prefixes | qps | µs CPU/query | × without networks | answers |", "|---|---|---|---|---|---|"]
    if a.before:
        lines[2] += f" `uplinkdns-before`: {a.before} (`--before`), with the networks, in the same rounds."
    rows = [(name, size) for name in names for size in [0] + sizes]
    if a.before and "uplinkdns" in names:
        rows[len(sizes) + 1:len(sizes) + 1] = [("uplinkdns-before", size) for size in sizes]
    per_run = []
    for name, size in rows:
        base = med(x[1] for x in cpu[(name.replace("-before", ""), 0)])
        rs = cpu[(name, size)]
        us = [x[1] for x in rs]
        bad = "; ".join(sorted({x[2] for x in rs if x[2]})) or "ok"
        lines.append(f"| {name} | {'none' if size == 0 else f'{size:,}'} | {med(x[0] for x in rs):,.0f} | "
                     f"{med(us):.2f} [{min(us):.2f}–{max(us):.2f}] | {med(us) / base:.3f} | {bad} |")
        if size:
            # Each run against the run of the same server without networks that came just before it.
            pairs = [x[1] / b[1] for x, b in zip(rs, cpu[(name.replace("-before", ""), 0)])]
            per_run.append(f"- {name}, {size:,}: " + ", ".join(f"{x:.3f}" for x in pairs)
                           + f" (median {med(pairs):.3f})")
    lines += ["", "Per run, × the same server's run without networks in the same round:", ""] + per_run
    if profiles:
        lines += ["", f"## Profile (`perf record -e cpu-clock`, one more {a.seconds} s run)", ""]
        for (name, size), (share, top) in profiles.items():
            lines.append(f"- {name}, {size:,} prefixes: {share:.1f} % of the samples in the client network lookup; "
                         "top: " + "; ".join(f"{sym} {p:.1f} %" for p, sym in top[:6]))
    if not loads:
        return finish(lines)
    lines += ["", "## Load time and memory", "",
              "Start until an ECS query is answered (polled every 5 ms); then PSS (as bench.py) and private memory "
              "(USS: pages no other process shares, which the other servers on the machine do not move). The "
              "networks' own cost is the difference from the same server without them; peak = the highest resident "
              "set while loading (VmHWM), also as the difference.", "",
              "| server | prefixes | load (s) | networks' load (s) | PSS (MiB) | private (MiB) | networks' private (MiB) "
              "| networks' peak (MiB) | probe answer |", "|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        t0 = med(x[0] for x in loads[(name, 0)])
        p0 = med(x[4] for x in loads[(name, 0)])
        h0 = med(x[5] for x in loads[(name, 0)])
        for size in [0] + sizes:
            rs = loads[(name, size)]
            t = [x[0] for x in rs]
            m = med(x[1] for x in rs)
            p = med(x[4] for x in rs)
            probe = f"{rs[0][2]} /{rs[0][3]}"
            lines.append(f"| {name} | {'none' if size == 0 else f'{size:,}'} | {med(t):.3f} [{min(t):.3f}–{max(t):.3f}] "
                         f"| {'' if size == 0 else f'{med(t) - t0:.3f}'} | {m:.1f} | {p:.1f} | "
                         f"{'' if size == 0 else f'{p - p0:.1f}'} | "
                         f"{'' if size == 0 else f'{med(x[5] for x in rs) - h0:.1f}'} | {probe} |")
    finish(lines)


def finish(lines):
    text_ = "\n".join(lines) + "\n"
    print("\n" + text_)
    write(os.path.join(ROOT, "bench", "results", "networks.md"), text_)


if __name__ == "__main__":
    main()
