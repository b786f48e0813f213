#!/bin/sh
# Checks the Prometheus rules and the Grafana dashboard in contrib/ (contrib/README.md):
#   1. promtool check rules   contrib/prometheus/uplinkdns-alerts.yml
#   2. promtool test rules    contrib/prometheus/uplinkdns-alerts.test.yml
#   3. the dashboard is JSON, its panels, variables and data sources are consistent, and every PromQL expression
#      in it parses (handed to promtool check rules as recording rules, Grafana variables substituted)
#   4. every metric name in the dashboard, the rules and their tests is in contrib/metrics.txt (Prometheus's `up`
#      aside); every rule selects the same job; every alert has a test where it fires and one where it does not
# Needs promtool (Debian: prometheus; or PROMTOOL=/path/to/promtool), python3 and PyYAML (python3-yaml).
# Exit status 0 when everything passes, 1 otherwise. Run from anywhere.
set -u

here=$(cd "$(dirname "$0")" && pwd)
PROMTOOL=${PROMTOOL:-promtool}
rules="$here/prometheus/uplinkdns-alerts.yml"
tests="$here/prometheus/uplinkdns-alerts.test.yml"
dashboard="$here/grafana/uplinkdns-dashboard.json"
metrics="$here/metrics.txt"
failed=0

if ! command -v "$PROMTOOL" >/dev/null 2>&1; then
    echo "check.sh: promtool not found (apt-get install prometheus, or set PROMTOOL)" >&2
    exit 1
fi
# The first python3 with PyYAML: the one on PATH, else Debian's (python3-yaml installs for /usr/bin/python3).
python=""
for candidate in python3 /usr/bin/python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import yaml' 2>/dev/null; then
        python="$candidate"
        break
    fi
done
if [ -z "$python" ]; then
    echo "check.sh: python3 with PyYAML is needed (apt-get install python3-yaml)" >&2
    exit 1
fi
echo "== $("$PROMTOOL" --version 2>&1 | head -n 1)"

echo "== promtool check rules $rules"
"$PROMTOOL" check rules "$rules" || failed=1

echo "== promtool test rules $tests"
"$PROMTOOL" test rules "$tests" || failed=1

echo "== dashboard, metric names, job selector, alert test coverage"
PROMTOOL="$PROMTOOL" "$python" - "$rules" "$tests" "$dashboard" "$metrics" <<'PYTHON' || failed=1
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

rules_path, tests_path, dashboard_path, metrics_path = sys.argv[1:5]
promtool = os.environ.get("PROMTOOL", "promtool")
errors = []


def error(msg):
    errors.append(msg)
    print("  FAIL: " + msg)


# Series Prometheus makes itself, not the server: allowed in expressions, not listed in metrics.txt.
SYNTHETIC = {"up"}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2",
            # aggregation operators, also when written `sum by (x) (...)`
            "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
            "quantile", "limitk", "limit_ratio"}
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
IDENT_START = re.compile(r"[A-Za-z_:]")
IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def skip_string(s, i):
    """s[i] opens a string literal; returns the index after it."""
    quote = s[i]
    i += 1
    while i < len(s):
        if s[i] == "\\" and quote != "`":
            i += 2
            continue
        if s[i] == quote:
            return i + 1
        i += 1
    return i


def skip_to(s, i, close):
    """s[i] opens a bracket; returns the index after its matching close, strings skipped."""
    opening = s[i]
    depth = 0
    while i < len(s):
        c = s[i]
        if c in "\"'`":
            i = skip_string(s, i)
            continue
        if c == opening:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def selectors(expr):
    """(metric name or None, matcher text or None) for each vector selector in a PromQL expression."""
    out = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c in "\"'`":
            i = skip_string(expr, i)
        elif c == "$":  # a Grafana variable outside a string: $name or ${name}
            if i + 1 < n and expr[i + 1] == "{":
                i = skip_to(expr, i + 1, "}")
            else:
                m = IDENT.match(expr, i + 1)
                i = m.end() if m else i + 1
        elif c == "[":
            i = skip_to(expr, i, "]")
        elif c == "{":
            j = skip_to(expr, i, "}")
            out.append((None, expr[i + 1:j - 1]))
            i = j
        elif c.isdigit() or (c == "." and i + 1 < n and expr[i + 1].isdigit()):
            while i < n and (expr[i].isalnum() or expr[i] in "._"):
                i += 1  # a number or a duration
        elif IDENT_START.match(c):
            m = IDENT.match(expr, i)
            word, i = m.group(0), m.end()
            j = i
            while j < n and expr[j].isspace():
                j += 1
            nxt = expr[j] if j < n else ""
            if word in GROUPING:
                if nxt == "(":
                    i = skip_to(expr, j, ")")
            elif nxt == "(" or word.lower() in KEYWORDS:
                pass  # a function or an operator
            elif nxt == "{":
                k = skip_to(expr, j, "}")
                out.append((word, expr[j + 1:k - 1]))
                i = k
            else:
                out.append((word, None))
        else:
            i += 1
    result = []
    for name, matchers in out:
        if name is None and matchers is not None:
            m = re.search(r'__name__\s*=\s*"([^"]*)"', matchers)
            if m:
                name = m.group(1)
        result.append((name, matchers))
    return result


with open(metrics_path) as f:
    known = [line.strip() for line in f if line.strip()]
known_set = set(known)
for name in known:
    if not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", name):
        error(f"{metrics_path}: not a metric name: {name!r}")
if len(known_set) != len(known):
    error(f"{metrics_path}: duplicate names")


def family(name):
    """The metrics.txt name a series name belongs to (a histogram's _bucket/_sum/_count to its base), or None."""
    if name in known_set or name in SYNTHETIC:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in known_set:
            return name[: -len(suffix)]
    return None


def name_ok(name):
    return family(name) is not None


used = set()


def check_names(where, expr):
    for name, _ in selectors(expr):
        if name is None:
            error(f"{where}: a selector without a metric name in {expr!r}")
            continue
        used.add(family(name) or name)
        if not name_ok(name):
            error(f"{where}: unknown metric {name} (not in metrics.txt)")


MENTION = re.compile(r"\b(?:uplinkdns|process)_[a-z0-9_]+")


def check_mentions(where, text):
    """Metric names written in prose (descriptions, annotation templates) must exist too."""
    for name in set(MENTION.findall(text)):
        if not name_ok(name):
            error(f"{where}: mentions unknown metric {name}")


# ---- alert rules ------------------------------------------------------------------------------------------------
with open(rules_path) as f:
    rules_doc = yaml.safe_load(f)
alerts = []
n_rules = 0
jobs = set()
for group in rules_doc.get("groups", []):
    for rule in group.get("rules", []):
        n_rules += 1
        rname = rule.get("alert") or rule.get("record")
        where = f"rules {rname}"
        if rule.get("alert"):
            alerts.append(rule["alert"])
            sev = rule.get("labels", {}).get("severity")
            if sev not in ("critical", "warning", "info"):
                error(f"{where}: severity label is {sev!r}")
            for key in ("summary", "description"):
                if not rule.get("annotations", {}).get(key):
                    error(f"{where}: no {key} annotation")
        check_names(where, rule["expr"])
        for name, matchers in selectors(rule["expr"]):
            m = re.search(r'\bjob\s*=\s*"([^"]*)"', matchers or "")
            if not m:
                error(f"{where}: selector {name} has no job=\"...\" matcher")
            else:
                jobs.add(m.group(1))
        for key, value in rule.get("annotations", {}).items():
            check_mentions(f"{where} annotation {key}", value)
if len(jobs) > 1:
    error(f"rules select different jobs: {sorted(jobs)}")
print(f"  rules: {n_rules} rules, {len(alerts)} alerts, job selector {sorted(jobs)}")

# ---- rule tests -------------------------------------------------------------------------------------------------
with open(tests_path) as f:
    tests_doc = yaml.safe_load(f)
fires, quiet = set(), set()
n_series = 0
for test in tests_doc.get("tests", []):
    tname = test.get("name", "?")
    for series in test.get("input_series", []):
        n_series += 1
        check_names(f"test {tname!r} input series", series["series"])
    for case in test.get("alert_rule_test", []):
        name = case["alertname"]
        if name not in alerts:
            error(f"test {tname!r}: no alert {name} in the rules")
        (fires if case.get("exp_alerts") else quiet).add(name)
    for case in test.get("promql_expr_test", []):
        check_names(f"test {tname!r} promql_expr_test", case["expr"])
for name in alerts:
    if name not in fires:
        error(f"alert {name}: no test where it fires")
    if name not in quiet:
        error(f"alert {name}: no test where it does not fire")
print(f"  tests: {len(tests_doc.get('tests', []))} tests, {n_series} input series; "
      f"every alert tested firing: {set(alerts) <= fires}, not firing: {set(alerts) <= quiet}")

# ---- dashboard --------------------------------------------------------------------------------------------------
with open(dashboard_path) as f:
    text = f.read()
try:
    dash = json.loads(text)
except json.JSONDecodeError as e:
    error(f"{dashboard_path}: not JSON: {e}")
    dash = None

BUILTIN_VARS = {"__interval", "__interval_ms", "__rate_interval", "__rate_interval_ms", "__range", "__range_s",
                "__range_ms", "__from", "__to", "__dashboard", "__org", "__user", "__name", "timeFilter"}
DURATION_VARS = {"__interval": "1m", "__rate_interval": "5m", "__range": "6h"}
VAR_REF = re.compile(r"\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\$([A-Za-z0-9_]+)|\[\[([A-Za-z0-9_]+)(?::[^\]]*)?\]\]")

if dash is not None:
    for key in ("title", "uid", "panels", "templating", "schemaVersion"):
        if key not in dash:
            error(f"dashboard: no {key}")
    if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 36:
        error(f"dashboard: schemaVersion {dash.get('schemaVersion')!r} (want 36 or later)")
    variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
    ds_vars = {name for name, v in variables.items() if v.get("type") == "datasource"}
    if not ds_vars:
        error("dashboard: no datasource template variable")

    def ds_ok(where, ds):
        if ds is None:
            return
        uid = ds.get("uid") if isinstance(ds, dict) else ds
        if isinstance(ds, dict) and ds.get("type") == "grafana":
            return
        m = re.fullmatch(r"\$\{?([A-Za-z0-9_]+)\}?", uid or "")
        if not m or m.group(1) not in ds_vars:
            error(f"{where}: data source {ds!r} is not the datasource variable")

    exprs = []  # (where, expr, check the instance filter)

    def add_expr(where, expr, filtered=True):
        exprs.append((where, expr, filtered))
        for m in VAR_REF.finditer(expr):
            var = m.group(1) or m.group(2) or m.group(3)
            if var not in variables and var not in BUILTIN_VARS:
                error(f"{where}: undefined variable ${var}")

    def walk(panels, seen_ids, boxes):
        for p in panels:
            where = f"panel {p.get('id')} {p.get('title', '')!r}"
            if p.get("id") in seen_ids:
                error(f"{where}: duplicate id")
            seen_ids.add(p.get("id"))
            if not p.get("type"):
                error(f"{where}: no type")
            g = p.get("gridPos")
            if not g or any(k not in g for k in ("x", "y", "w", "h")):
                error(f"{where}: no gridPos")
            else:
                if g["x"] < 0 or g["w"] < 1 or g["x"] + g["w"] > 24:
                    error(f"{where}: gridPos beyond 24 columns")
                for other, og in boxes:
                    if (g["x"] < og["x"] + og["w"] and og["x"] < g["x"] + g["w"]
                            and g["y"] < og["y"] + og["h"] and og["y"] < g["y"] + g["h"]):
                        error(f"{where}: overlaps {other}")
                boxes.append((where, g))
            ds_ok(where, p.get("datasource"))
            refs = set()
            for t in p.get("targets", []):
                ds_ok(where, t.get("datasource"))
                if t.get("refId") in refs:
                    error(f"{where}: duplicate refId {t.get('refId')}")
                refs.add(t.get("refId"))
                if not t.get("expr"):
                    error(f"{where}: target {t.get('refId')} has no expr")
                else:
                    add_expr(f"{where} target {t.get('refId')}", t["expr"])
            if p.get("repeat") and p["repeat"] not in variables:
                error(f"{where}: repeats over undefined variable {p['repeat']}")
            walk(p.get("panels", []), seen_ids, [])  # a collapsed row's panels

    n_panels = sum(1 + len(p.get("panels", [])) for p in dash.get("panels", []))
    walk(dash.get("panels", []), set(), [])
    for a in dash.get("annotations", {}).get("list", []):
        ds_ok(f"annotation {a.get('name')!r}", a.get("datasource"))
        if a.get("expr"):
            add_expr(f"annotation {a.get('name')!r}", a["expr"])
    for name, v in variables.items():
        if v.get("type") != "query":
            continue
        ds_ok(f"variable {name}", v.get("datasource"))
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else (q or "")
        m = re.fullmatch(r"\s*label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", q, re.S)
        if m:
            add_expr(f"variable {name}", m.group(1), filtered=False)
        elif re.fullmatch(r"\s*(label_names|metrics)\(.*\)\s*", q):
            pass
        else:
            add_expr(f"variable {name}", re.sub(r"^\s*query_result\((.*)\)\s*$", r"\1", q, flags=re.S),
                     filtered=False)

    for where, expr, filtered in exprs:
        check_names(where, expr)
        if filtered:
            for name, matchers in selectors(expr):
                if "$instance" not in (matchers or "") or "$job" not in (matchers or ""):
                    error(f"{where}: selector {name} does not filter on $job and $instance")
    check_mentions("dashboard", text)

    # Every expression must parse: promtool check rules on them as recording rules, variables substituted.
    def substitute(expr):
        def repl(m):
            var = m.group(1) or m.group(2) or m.group(3)
            return DURATION_VARS.get(var, "x")
        return VAR_REF.sub(repl, expr)

    records = [{"record": f"dashboard:expr_{i}", "expr": substitute(e)} for i, (_, e, _) in enumerate(exprs)]
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as tmp:
        json.dump({"groups": [{"name": "dashboard", "rules": records}]}, tmp)
    try:
        run = subprocess.run([promtool, "check", "rules", tmp.name], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, universal_newlines=True)
    finally:
        os.unlink(tmp.name)
    if run.returncode != 0:
        for line in run.stdout.splitlines():
            m = re.search(r"dashboard:expr_(\d+)", line)
            if m:
                line += f"  <- {exprs[int(m.group(1))][0]}: {exprs[int(m.group(1))][1]}"
            print("    " + line)
        error("dashboard: some expressions do not parse (promtool check rules)")
    print(f"  dashboard: {dash.get('title')!r} uid {dash.get('uid')!r} schemaVersion {dash.get('schemaVersion')}, "
          f"{n_panels} panels, {len(variables)} variables, {len(exprs)} expressions "
          f"({'all parse' if run.returncode == 0 else 'some do not parse'})")

synthetic = sorted(used & SYNTHETIC)
print(f"  metric names: {len(used - SYNTHETIC)} of the {len(known)} in {os.path.basename(metrics_path)} used"
      + (f", plus Prometheus's {', '.join(synthetic)}" if synthetic else "")
      + ("; none unknown" if not any("unknown metric" in e for e in errors) else "; some unknown"))
unused = sorted(n for n in known if n not in used)
if unused:
    print("  note: listed but not used by the dashboard or rules: " + ", ".join(unused))
if errors:
    print(f"  {len(errors)} problem(s)")
    sys.exit(1)
PYTHON

if [ "$failed" -ne 0 ]; then
    echo "== contrib/check.sh: FAILED"
    exit 1
fi
echo "== contrib/check.sh: OK"
