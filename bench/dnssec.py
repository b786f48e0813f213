#!/usr/bin/env python3
"""DNSSEC answers side by side (issue 14, docs/dnssec.md): UplinkDNS signing the bench zone itself, against Knot and
NSD serving the same zone pre-signed (UplinkDNS's own signed export, so the records are identical), with queries
that set the DO bit (dnsperf -D), over UDP. Also UplinkDNS without DO on the same signed zone, for reference.

Writes bench/results/dnssec.md. Usage: bench/dnssec.py [--seconds 4] [--repeats 3]. Loopback only; the release
build; dnsperf, knotd and nsd from Debian (bench/install-deps.sh)."""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import ROOT, ZONE_HEAD, Server, sh, write  # noqa: E402

HOSTS = 1000


def dnsperf_do(port, qfile, seconds, dnssec):
    args = ["taskset", "-c", "1", "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", qfile, "-l", str(seconds),
            "-T", "1", "-c", "4", "-q", "100"] + (["-D"] if dnssec else [])
    out = sh(args).stdout

    def num(label):
        for line in out.splitlines():
            if label in line:
                return float(line.split(":")[1].split()[0])
        return 0.0
    return {"completed": num("Queries completed"), "lost": num("Queries lost"), "qps": num("Queries per second")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="uplinkdns-dnssec-")
    os.chmod(work, 0o755)
    zone = ZONE_HEAD + "".join(f"h{i} IN A 198.18.{i >> 8}.{i & 255}\n" for i in range(HOSTS))
    queries = (["www.example.com A"] * 40 + ["ftp.example.com A"] * 10 + ["example.com MX"] * 10
               + [f"h{i}.example.com A" for i in range(0, HOSTS, 50)]
               + [f"nx{i}.example.com A" for i in range(10)] + ["h1.example.com MX"] * 5
               + [f"x{i}.wild.example.com A" for i in range(5)])
    qfile = os.path.join(work, "dnssec.txt")
    write(qfile, "\n".join(queries) + "\n")
    # The worst case for a cache: every query a name never asked before (a random-subdomain flood), each an
    # NXDOMAIN with its two NSEC proofs.
    nxfile = os.path.join(work, "dnssec-nx.txt")
    write(nxfile, "".join(f"r{i}x.example.com A\n" for i in range(200_000)))
    files = {"mix": qfile, "unique-nx": nxfile}
    port = 15600
    results = {}
    try:
        # UplinkDNS, signing: its config with `dnssec: true` and a state directory for the keys.
        port += 1
        ours = Server("uplinkdns", work, port, zone)
        cfg = os.path.join(ours.dir, "uplinkdns.yaml")
        text = open(cfg).read().replace("  - {origin: example.com., file: example.com.zone}",
                                        "  - {origin: example.com., file: example.com.zone, dnssec: true}")
        write(cfg, text + "health: {state-dir: state}\n")
        ours.start()
        # The signed zone as UplinkDNS transfers it (every signature, the NSEC chain, the keys): what the peers serve.
        export = sh([f"{ROOT}/.build/release/uplinkdns", "export", "example.com", "--config", cfg])
        if export.returncode != 0 or "RRSIG" not in export.stdout:
            raise SystemExit("the signed export failed: " + export.stderr)
        signed = export.stdout
        runs = {}

        def measure(label, srv, port, dnssec):
            for fname, path in files.items():
                key = (label, fname)
                runs[key] = []
                for _ in range(a.repeats):
                    c0 = srv.cpu()
                    r = dnsperf_do(port, path, a.seconds, dnssec)
                    runs[key].append((r["qps"], (srv.cpu() - c0) / max(r["completed"], 1) * 1e6, r["lost"]))

        measure("uplinkdns", ours, port, True)
        measure("uplinkdns (no DO)", ours, port, False)
        ours.stop()
        for name in ("knot", "nsd"):
            port += 1
            srv = Server(name, work, port, "")
            zfile = os.path.join(srv.dir, "example.com.zone")
            write(zfile, signed)  # pre-signed: served as it is (WWW_STATIC is already in it, as the pool's records)
            srv.start()
            measure(name, srv, port, True)
            # The peer's answers carry the signatures too (not a fast wrong server).
            probe = sh(["dig", "@127.0.0.1", "-p", str(port), "+dnssec", "+norec", "www.example.com", "A"]).stdout
            if "RRSIG" not in probe:
                raise SystemExit(f"{name} answers without RRSIG: {probe}")
            srv.stop()
        results = runs
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = []
    for fname in files:
        best = min(statistics.median(x[1] for x in results[(n, fname)]) for n in ("knot", "nsd"))
        lines += [f"\n## {fname}\n", "| server | qps | µs CPU/query | ×best peer | lost |", "|---|---|---|---|---|"]
        for (name, f), rs in results.items():
            if f != fname:
                continue
            q = statistics.median(x[0] for x in rs)
            u = statistics.median(x[1] for x in rs)
            lost = sum(x[2] for x in rs)
            lines.append(f"| {name} | {q:,.0f} | {u:.2f} | {u / best:.2f} | {int(lost)} |")
    out = os.path.join(ROOT, "bench", "results", "dnssec.md")
    with open(out, "w") as f:
        f.write(f"# DNSSEC answers (DO=1), {HOSTS:,}-record zone\n\n"
                f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; `bench/dnssec.py`; UDP, each server on CPU 0 "
                f"with one worker, dnsperf -D on CPU 1; {a.repeats} runs of {a.seconds} s, median. mix: the "
                f"pool, a CNAME to it, MX, static names, NXDOMAIN and wildcard names (proofs), NODATA. unique-nx: "
                f"200,000 names never asked before, each an NXDOMAIN with its proofs.\n"
                + "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
