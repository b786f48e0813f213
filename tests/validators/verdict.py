#!/usr/bin/env python3
"""The verdict of tests/validators/run.sh over its work folder: PASS, or FAIL with every reason.

- zonemaster: every message above NOTICE (WARNING, ERROR, CRITICAL) that UplinkDNS's signed zone gets must also be
  got by Knot serving the same signed zone and by UplinkDNS's unsigned zone; every DNSSEC test case must have run.
- dnsviz: no error and no warning for UplinkDNS's zone (the fake parents too), with our KSK as the trust anchor,
  and every probed name below example.com. SECURE.
- unbound: every answer it was asked for validated (AD) and as expected.
Knot's own findings are printed for reference; they do not fail the run.
"""

import json
import os
import sys

ABOVE_NOTICE = ("WARNING", "ERROR", "CRITICAL")
WORK = sys.argv[1]
VARIANTS = ("nsec", "nsec3")
failures: list[str] = []


def load_json(path: str):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        failures.append(f"{os.path.relpath(path, WORK)}: unreadable ({e}); its stderr follows")
        err = os.path.splitext(path)[0] + ".err"
        if os.path.exists(err):
            failures.append(open(err).read()[-3000:])
        return None


def zonemaster(variant: str, server: str):
    """The messages above NOTICE, keyed by (level, test case, tag, name server), and the test cases that ran."""
    entries = load_json(f"{WORK}/{variant}/{server}/zonemaster.json") or []
    found: dict[tuple, list] = {}
    ran = set()
    for e in entries:
        args = e.get("args") or {}
        if e.get("tag") == "TEST_CASE_START":
            ran.add(str(args.get("testcase", "")).lower())
        if e.get("level") in ABOVE_NOTICE:
            ns = args.get("ns_ip") or args.get("ns") or args.get("nsname") or args.get("ns_list") or ""
            key = (e["level"], e.get("testcase") or e.get("module"), e["tag"], str(ns))
            found.setdefault(key, []).append(args)
    return found, ran


GROK_FILES = {"ksk": "grok", "root": "grok-root", "empty-pool": "grok-empty-pool"}


def dnsviz_findings(variant: str, server: str, anchor: str):
    """Every error and warning in grok's output, and what is not SECURE: with our KSK as the anchor ("ksk", and
    "empty-pool": the pool's name once every line is out), the names below example.com. (the DS is com.'s data:
    not below our anchor); from the fake root ("root"), all."""
    grok = load_json(f"{WORK}/{variant}/{server}/{GROK_FILES[anchor]}.json")
    if grok is None:
        return ["no grok output"], []
    findings: list[str] = []
    insecure: list[str] = []

    def walk(o, where: str):
        if isinstance(o, dict):
            for k, v in o.items():
                if k in ("errors", "warnings") and isinstance(v, list):
                    for e in v:
                        findings.append(f"{k[:-1]} {e.get('code')} at {where}: {e.get('description')}")
                else:
                    walk(v, f"{where}/{k}")
                    if k == "status" and v in ("BOGUS", "INSECURE", "INDETERMINATE", "NON_EXISTENT"):
                        if anchor == "root" or ("example.com." in where and "/IN/DS/" not in where):
                            insecure.append(f"{where}: {v}")
        elif isinstance(o, list):
            for x in o:
                walk(x, where)

    walk(grok, "")
    for zone in ("com.", "example.com.") if anchor == "root" else ("example.com.",) if anchor == "ksk" else ():
        if (grok.get(zone) or {}).get("delegation", {}).get("status") != "SECURE":
            insecure.append(f"the delegation to {zone} is not SECURE")
    return findings, insecure


def show(key: tuple, args: list) -> str:
    level, testcase, tag, _ = key
    return f"{level} {testcase} {tag} {json.dumps(args, sort_keys=True)}"


for world in ("nsec/uplinkdns", "nsec/knot", "nsec3/uplinkdns", "nsec3/knot", "unsigned/uplinkdns"):
    rc = open(f"{WORK}/{world}.rc").read().strip() if os.path.exists(f"{WORK}/{world}.rc") else "none"
    if rc != "0":
        log = open(f"{WORK}/{world}.world.log").read()[-3000:] if os.path.exists(f"{WORK}/{world}.world.log") else ""
        failures.append(f"{world}: the world failed (exit {rc}); its log ends:\n{log}")

baseline, _ = zonemaster("unsigned", "uplinkdns")
dnssec_cases = {line.strip() for line in open(f"{WORK}/zonemaster-dnssec-cases.txt") if line.strip()}
for v in VARIANTS:
    ours, ran = zonemaster(v, "uplinkdns")
    knot, _ = zonemaster(v, "knot")
    missing = sorted(dnssec_cases - ran)
    if missing:
        failures.append(f"{v}: zonemaster did not run {', '.join(missing)}")
    for key, args in sorted(ours.items()):
        if key not in knot:
            failures.append(f"{v}: zonemaster, not for Knot: {show(key, args)}")
        elif key not in baseline:
            failures.append(f"{v}: zonemaster, not for the zone unsigned: {show(key, args)}")
        else:
            print(f"{v}: zonemaster, also for Knot and unsigned: {show(key, args)}")
    for key, args in sorted(knot.items()):
        if key not in ours:
            print(f"{v}: zonemaster, Knot only: {show(key, args)}")

    for anchor in ("ksk", "root"):
        findings, insecure = dnsviz_findings(v, "uplinkdns", anchor)
        knot_findings, _ = dnsviz_findings(v, "knot", anchor)
        for f in findings:
            failures.append(f"{v}: dnsviz ({anchor}) {f}" + (" (Knot too)" if f in knot_findings else ""))
        for s in insecure:
            failures.append(f"{v}: dnsviz ({anchor}): {s}")
        for f in knot_findings:
            print(f"{v}: dnsviz ({anchor}), Knot: {f}")
        print(
            f"{v}: dnsviz, trust anchor {'our KSK' if anchor == 'ksk' else 'the fake root'}: {len(findings)} errors"
            f" and warnings, {len(insecure)} not secure; Knot: {len(knot_findings)} errors and warnings")
    findings, insecure = dnsviz_findings(v, "uplinkdns", "empty-pool")
    for f in findings + insecure:
        failures.append(f"{v}: dnsviz, the pool with every line out: {f}")
    print(f"{v}: dnsviz, the pool with every line out: {len(findings)} errors and warnings, {len(insecure)} not secure")

    answers_path = f"{WORK}/{v}/uplinkdns/unbound/answers.txt"
    answers = open(answers_path).read().splitlines() if os.path.exists(answers_path) else []
    expected = int(open(f"{WORK}/unbound-questions.txt").read())
    if len(answers) != expected:
        failures.append(f"{v}: unbound: {len(answers)} answers of {expected}: {answers}")
    for a in answers:
        if not a.startswith("ok: "):
            failures.append(f"{v}: unbound: {a}")
    print(f"{v}: unbound: {sum(a.startswith('ok: ') for a in answers)} of {expected} validated with AD")
    failed = f"{WORK}/{v}/uplinkdns/unbound/failed-answers.txt"
    if os.path.exists(failed):
        failures.append(open(failed).read()[-4000:])

if failures:
    print("FAIL")
    for f in failures:
        print("  " + f)
    sys.exit(1)
print("PASS")
