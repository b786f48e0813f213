#!/usr/bin/env python3
"""Adds to the man page swift-argument-parser generates what an operator looks for there and the generator cannot
write: the configuration reference (from docs/config.md, which a test keeps equal to the schema), FILES, SIGNALS,
and the EXIT STATUS the commands really have (the generator's `.Ex -std` says ">0 on error", which status --check's
0/1/2/3 contradicts). Usage: man-sections.py PAGE DOCS_CONFIG_MD (rewrites PAGE in place)."""
import re
import sys


def esc(text):
    """mdoc text: a leading dot or quote would start a request; backslashes are escapes; other than ASCII as
    groff's and mandoc's Unicode escapes."""
    text = text.replace("\\", "\\e")
    text = "".join(c if ord(c) < 128 else "\\[u%04X]" % ord(c) for c in text)
    return ("\\&" + text) if text[:1] in (".", "'") else text


def configuration(md):
    """The reference's tables as an mdoc list: each key with its value, default and reload class."""
    out = [".Sh CONFIGURATION",
           "YAML, in the file --config names. Every key, as docs/config.md lists it (made from the schema the",
           "parser reads through). A key left out takes its default; a wrong value of any key is refused by",
           ".Nm check",
           "and",
           ".Nm serve",
           "with the file and line. On reload, a key marked restart keeps its running value until the next start.",
           ".Bl -tag -width Ds"]
    for line in md.splitlines():
        m = re.match(r"^\| `([^`]+)` \| (.*?) \| (.*?) \| (applies|restart) \| (.*) \|$", line)
        if not m:
            continue
        path, value, default, reload, doc = m.groups()
        value = value.replace("\\|", "|")
        default = default.strip("`") if default else ""
        out.append(".It Cm " + path)
        detail = value + (", default " + default if default else "") + ("; needs a restart" if reload == "restart"
                                                                             else "")
        out.append(esc(detail.replace("`", "") + ". " + doc.replace("\\|", "|").replace("`", "")))
    out.append(".El")
    return "\n".join(out) + "\n"


SECTIONS = """.Sh FILES
.Bl -tag -width Ds
.It Pa /etc/uplinkdns/uplinkdns.yaml
the configuration (else $UPLINKDNS_CONFIG, or --config).
.It Pa <state-dir>/health.json
the lines' states and operator overrides (health.state-dir, default state beside the configuration).
.It Pa <state-dir>/serials.json , <state-dir>/journal/
the served SOA serials and each zone's IXFR history.
.It Pa <state-dir>/keys/
DNSSEC keys made at a signed zone's first start (BIND key files).
.It Pa <state-dir>/control.token
the control API's token when server.control-token is not set (mode 0600).
.It Pa <state-dir>/queries.dnstap
the query log, while it is on (server.query-log).
.El
.Sh SIGNALS
.Bl -tag -width Ds
.It Dv SIGHUP
reload the configuration and every zone, all or nothing (the old data keeps serving on any error).
.It Dv SIGTERM , SIGINT
stop: the control API, the listeners, the query log, NOTIFY, the health module, in that order.
.El
.Sh "EXIT STATUS"
0: done. 1: failed (the message says what). 2: a command line that does not parse.
.Nm status Fl -check :
0 every line in answers, 1 degraded or the last reload failed, 2 a pool with no line in answers, 3 no answer from
the server.
"""


def main():
    page_path, md_path = sys.argv[1], sys.argv[2]
    page = open(page_path, encoding="utf-8").read()
    md = open(md_path, encoding="utf-8").read()
    generated = '.Sh "EXIT STATUS"\n.Ex -std\n'
    if generated not in page:
        sys.exit(f"man-sections: {page_path} has no generated EXIT STATUS section to replace")
    page = page.replace(generated, configuration(md) + SECTIONS)
    open(page_path, "w", encoding="utf-8").write(page)


if __name__ == "__main__":
    main()
