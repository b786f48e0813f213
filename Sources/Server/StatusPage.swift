// StatusPage: the operator's page at the control API's `/` — one self-contained HTML document (no external assets),
// rendered from the same JSON as `/v1/status`, refreshed every 2 s.

import Crypto
import Foundation

/// The page. The server embeds the current status as JSON in it, so the page shows the state on first paint (and
/// a browser without scripts still gets the data); the script then polls `/v1/status`. Reading needs no token; the
/// drain/force/auto buttons send the token typed into the page (kept in the tab's sessionStorage only) as a bearer
/// token, as the CLI does. Layout: cards that stack on a phone, a table per line's probes that scrolls sideways.
enum StatusPage {
    /// The document with `status` (JSON text) embedded.
    static func html(status: String) -> String {
        // Inside a script element `</script` or `<!--` would end or derail it (free text: line names, probe
        // details); JSON strings may spell `<` as `\u003c`, so no `<` is left in the data at all.
        let embedded = status.replacingOccurrences(of: "<", with: "\\u003c")
        return head + "<script id=\"initial\" type=\"application/json\">" + embedded + "</script>\n<script>"
            + script + "</script>\n</body>\n</html>\n"
    }

    /// The Content-Security-Policy: the page's own script alone (by its hash, so an injected one would not run),
    /// inline style, and requests to this server only.
    static let contentSecurityPolicy: String = {
        let hash = Data(SHA256.hash(data: Data(script.utf8))).base64EncodedString()
        return "default-src 'none'; script-src 'sha256-\(hash)'; style-src 'unsafe-inline'; connect-src 'self'; "
            + "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    }()

    private static let head = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>UplinkDNS status</title>
        <style>
        :root { --bg:#f6f7f9; --card:#fff; --text:#1b1f24; --muted:#5b6673; --line:#e2e6ea;
          --up:#1a7f37; --down:#cf222e; --warn:#9a6700; --accent:#0969da; }
        @media (prefers-color-scheme: dark) { :root { --bg:#0d1117; --card:#161b22; --text:#e6edf3;
          --muted:#8d96a0; --line:#30363d; --up:#3fb950; --down:#f85149; --warn:#d29922; --accent:#58a6ff; } }
        * { box-sizing: border-box; }
        body { margin:0; font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; background:var(--bg);
          color:var(--text); }
        header { display:flex; flex-wrap:wrap; gap:.5rem 1rem; align-items:baseline; padding:.8rem 1rem;
          border-bottom:1px solid var(--line); background:var(--card); position:sticky; top:0; z-index:1; }
        header h1 { font-size:1.15rem; margin:0; }
        header .meta { color:var(--muted); font-size:.85rem; }
        #overall { font-weight:600; }
        #overall .badge { border-radius:.6rem; padding:.15rem .6rem; margin:.1rem 0; }
        main { max-width:1800px; margin:0 auto; padding:1rem; display:grid; gap:1rem; }
        section h2 { font-size:1rem; margin:.2rem 0 .6rem; color:var(--muted); text-transform:uppercase;
          letter-spacing:.04em; }
        .cards { display:grid; gap:.8rem; grid-template-columns:repeat(auto-fit,minmax(320px,1fr)); }
        .card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:.8rem 1rem; }
        .card h3 { margin:0 0 .3rem; font-size:1.05rem; display:flex; gap:.5rem; align-items:center;
          flex-wrap:wrap; }
        .badge { display:inline-block; padding:.05rem .5rem; border-radius:999px; font-size:.8rem; font-weight:600;
          color:#fff; }
        .up { background:var(--up); } .down { background:var(--down); } .warn { background:var(--warn); }
        .op { background:var(--accent); }
        .muted { color:var(--muted); font-size:.85rem; }
        .ok { color:var(--up); } .bad { color:var(--down); }
        table { border-collapse:collapse; width:100%; font-size:.85rem; }
        th, td { text-align:left; padding:.2rem .4rem; border-bottom:1px solid var(--line); vertical-align:top; }
        .scroll { overflow-x:auto; }
        .dots { display:flex; gap:2px; flex-wrap:wrap; margin:.2rem 0; }
        .dot { width:10px; height:10px; border-radius:2px; }
        .bar { height:8px; background:var(--line); border-radius:4px; position:relative; overflow:hidden; }
        .bar > span { position:absolute; left:0; top:0; bottom:0; background:var(--accent); }
        .expected { position:absolute; top:-2px; bottom:-2px; width:2px; background:var(--text); }
        .actions { display:flex; gap:.4rem; flex-wrap:wrap; margin-top:.5rem; }
        button { font:inherit; font-size:.85rem; padding:.35rem .7rem; border-radius:6px;
          border:1px solid var(--line); background:var(--bg); color:var(--text); cursor:pointer; min-height:2.2rem; }
        button:hover { border-color:var(--accent); }
        input { font:inherit; padding:.35rem .5rem; border-radius:6px; border:1px solid var(--line);
          background:var(--bg); color:var(--text); min-width:12rem; }
        #message { min-height:1.2rem; font-size:.9rem; }
        code { font-size:.85em; }
        </style>
        </head>
        <body>
        <header><h1>UplinkDNS</h1><span id="overall">…</span><span class="meta" id="meta"></span></header>
        <main>
        <noscript><p>This page renders with JavaScript; the same data is at <a href="/v1/status">/v1/status</a>.
        </p></noscript>
        <section><h2>Lines</h2><div class="cards" id="links"></div></section>
        <section><h2>Pools</h2><div class="cards" id="pools"></div></section>
        <section id="director-section" hidden><h2>Real servers</h2><p id="director"></p>
        <div class="cards" id="real-servers"></div></section>
        <section><h2>Zones</h2><div class="cards" id="zones"></div></section>
        <section><h2>Server</h2><div class="cards"><div class="card" id="server"></div>
        <div class="card"><h3>Operator token</h3>
        <p class="muted">Drain, force and auto need the control token: <code>server.control-token</code>, or the file
        <code>control.token</code> in the server's state directory (mode 0600). It stays in this tab only.</p>
        <input id="token" type="password" autocomplete="off" placeholder="control token">
        <div id="message" role="status"></div></div></div></section>
        </main>

        """

    /// The page's script (its hash is in the CSP: any change to it changes the hash, computed at start).
    static let script = """
        "use strict";
        const $ = (id) => document.getElementById(id);
        const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
        const ago = (iso) => { if (!iso) return "never"; const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
          if (s < 90) return Math.round(s) + " s ago"; if (s < 5400) return Math.round(s / 60) + " min ago";
          if (s < 172800) return Math.round(s / 3600) + " h ago"; return Math.round(s / 86400) + " d ago"; };
        const when = (iso) => iso ? '<span title="' + esc(iso) + '">' + ago(iso) + "</span>" : "never";
        const dur = (s) => s < 90 ? s + " s" : s < 5400 ? Math.round(s / 60) + " min" :
          s < 172800 ? Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min" : Math.round(s / 86400) + " d";
        const pct = (x) => (100 * x).toFixed(x > 0 && x < 0.1 ? 1 : 0) + " %";
        // A name as one path segment, as ControlAPI.segment encodes it (RFC 3986 unreserved characters kept).
        const segment = (name) => encodeURIComponent(name).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
        const label = (l) => ({ "drain": "drained", "force-up": "forced up", "force-down": "forced down" }[l.override] || l.state);
        $("token").value = sessionStorage.getItem("uplinkdns-token") || "";
        $("token").addEventListener("change", () => sessionStorage.setItem("uplinkdns-token", $("token").value));

        function render(s) {
          const down = s.links.filter((l) => l.state !== "up");
          const dead = s.pools.filter((p) => p.lines_up === 0);
          const overridden = s.links.filter((l) => l.override !== "auto");
          // A pool with no line up says what it answers instead (failing open, NODATA, SERVFAIL), as `status` does.
          const overall = dead.length ? ["down", dead.map((p) => "pool " + p.name + ": " + p.summary).join(" · ")]
            : down.length ? ["warn", "out of answers: " + down.map((l) => l.name + " (" + (l.override !== "auto" ?
              label(l) + " by an operator" : l.reason) + ")").join(", ")]
            : overridden.length ? ["warn", "all lines in answers; overridden: " + overridden.map((l) => l.name + " " + label(l)).join(", ")]
            : ["up", "all lines in answers"];
          // A failed reload stays in the banner until a reload succeeds: the server serves the previous config.
          const failedReload = s.reload.last_successful ? "" : '<span class="badge down" id="reload-failed">' +
            esc("reload failed " + ago(s.reload.last_attempt) + ", serving the previous config: " +
            (s.reload.errors[0] || "")) + "</span> ";
          $("overall").innerHTML = failedReload + '<span class="badge ' + overall[0] + '">' + esc(overall[1]) + "</span>";
          $("meta").textContent = "v" + s.version + " · generation " + s.generation + " · updated " +
            new Date(s.now).toLocaleTimeString([], { timeZoneName: "short" });
          $("links").innerHTML = s.links.map((l) => card(l, true)).join("");
          // The director's real servers (docs/director.md), each as a line is shown; no override buttons.
          const rs = s.real_servers || [];
          $("director-section").hidden = rs.length === 0;
          $("real-servers").innerHTML = rs.map((l) => card(l, false)).join("");
          const d = s.director;
          $("director").innerHTML = d ? "Table: " + (d.apply === "none" ? "not kept (director.apply: none)" :
            esc(d.apply) + " · real servers out: " + (d.out.length ? '<span class="bad">' + esc(d.out.join(", ")) +
            "</span>" : "none") + (d.since ? " · last written " + when(d.since) : "") +
            (d.error ? ' <span class="bad">' + esc(d.error) + "</span>" : "")) : "";
          $("pools").innerHTML = s.pools.map((p) => {
            const rows = p.members.map((m) => "<tr><td>" + esc(m.link) + (m.in_answers ? "" : ' <span class="bad">(out)</span>') +
              "</td><td>" + m.weight + "</td><td>" + pct(m.configured_share) + (m.expected_share !== m.configured_share ?
              ' <span class="muted">(now ' + pct(m.expected_share) + ")</span>" : "") + "</td><td>" + (p.window_seconds > 0 ?
              pct(m.share) + ' <span class="muted">(' + m.first_places + ")</span>" : "…") +
              '<div class="bar"><span style="width:' + (100 * m.share) + '%"></span><i class="expected" style="left:' +
              (100 * m.expected_share) + '%"></i></div></td></tr>').join("");
            return '<div class="card" data-pool="' + esc(p.name) + '"><h3>' + esc(p.name) + ' <span class="badge ' +
              (p.lines_up === 0 ? "down" : p.lines_up < p.lines ? "warn" : "up") + '">' + p.lines_up + "/" + p.lines +
              " lines</span></h3>" + '<div class="muted">' + esc(p.policy) + " · answers now: " +
              esc(p.servfail ? "SERVFAIL" : p.addresses.join(", ") || "none") +
              "</div>" + (p.lines_up < p.lines || p.answering.length < p.lines ? '<div class="summary muted' +
              (p.lines_up === 0 ? " bad" : "") + '">' + esc(p.summary) + "</div>" : "") +
              '<div class="scroll"><table><tr><th>Line</th><th>Weight</th><th>Configured</th><th>First, last ' +
              Math.round(p.window_seconds) + " s</th></tr>" + rows + "</table></div>" +
              ((p.networks || []).length ? '<div class="scroll"><table class="networks"><tr><th>Clients of</th>' +
                "<th>Lines</th><th>Served by</th><th>Answers</th></tr>" + p.networks.map((n) => "<tr><td>" +
                esc(n.network) + "</td><td>" + esc(n.lines.join(" → ")) + "</td><td>" + (n.serving ? esc(n.serving) :
                '<span class="bad">pool policy (none of theirs up)</span>') + "</td><td>" + n.answers +
                "</td></tr>").join("") + "</table></div>" : "") + "</div>";
          }).join("") || '<p class="muted">no pools</p>';
          $("zones").innerHTML = s.zones.map((z) => {
            const rows = z.secondaries.map((x) => "<tr><td>" + esc(x.secondary) + "</td><td>" +
              (x.serial !== undefined ? x.serial + (x.serial === z.serial ? ' <span class="ok">✓</span>' :
              ' <span class="bad">behind</span>') : "–") + "</td><td>" + (x.last_transfer ? esc(x.last_kind) + " " +
              when(x.last_transfer) : "–") + "</td><td>" + (x.notify_target ? esc(x.notify_result) +
              (x.last_notify ? " " + when(x.last_notify) : "") + ' <span class="muted">(to ' + esc(x.notify_target) +
              ")</span>" : "–") + "</td></tr>").join("");
            return '<div class="card" data-zone="' + esc(z.zone) + '"><h3>' + esc(z.zone) + "</h3>" +
              '<div class="muted">serial ' + z.serial + (z.signed ? " · DNSSEC signed" : "") + "</div>" +
              (rows ? '<div class="scroll"><table><tr><th>Secondary</th><th>Serial</th><th>Transfer</th><th>NOTIFY</th></tr>' +
              rows + "</table></div>" : '<p class="muted">no secondary seen yet</p>') + "</div>";
          }).join("");
          const q = Object.entries(s.queries).map(([k, v]) => esc(k) + " " + v).join(" · ") || "none yet";
          $("server").innerHTML = "<h3>Server</h3>" + '<div class="muted">up ' + dur(s.uptime_seconds) +
            " · TCP connections open " + s.tcp_open + "</div><p>Queries: " + q + "</p>" +
            "<p>Reloads: " + (s.reload.ok + s.reload.failed === 0 ? "no reload yet" : s.reload.ok + " ok, " +
            s.reload.failed + " failed · last " + (s.reload.last_successful ? '<span class="ok">succeeded</span>' :
            '<span class="bad">failed</span>: ' + esc(s.reload.errors.join("; ")))) + "</p><p>Query log: " + (s.querylog.enabled ? '<span class="ok">on</span> (' +
            esc(s.querylog.format) + " to <code>" + esc(s.querylog.path) + "</code>" + (s.querylog.until ? ", until " +
            new Date(s.querylog.until).toLocaleTimeString() : "") + ")" : "off") +
            (s.querylog.error ? ' <span class="bad">' + esc(s.querylog.error) + "</span>" : "") + "</p>" +
            routingText(s.routing);
        }

        // A line's card (or a real server's, without the override buttons): state, why, since, checks, transitions.
        function card(l, buttons) {
          const checks = l.checks.map((c) => {
            const last = c.results[0];
            const dots = c.results.slice().reverse().map((r) => '<span class="dot ' + (r.ok ? "up" : "down") +
              '" title="' + esc(r.at + " " + r.detail + " (" + r.ms + " ms)") + '"></span>').join("");
            return "<tr><td><code>" + esc(c.check) + '</code> <span class="muted">(last ' + c.results.length +
              ")</span><div class=\\"dots\\">" + dots + "</div></td><td>" +
              (last ? '<span class="' + (last.ok ? "ok" : "bad") + '">' + esc(last.detail) + "</span><br>" +
              '<span class="muted">' + last.ms + " ms · " + when(last.at) + "</span>" : "no probe yet") + "</td></tr>";
          }).join("");
          const transitions = l.transitions.slice(0, 5).map((t) => "<tr><td>" + when(t.at) + '</td><td class="' +
            (t.to === "up" ? "ok" : "bad") + '">' + esc(t.to) + "</td><td>" + esc(t.reason) + "</td></tr>").join("");
          return '<div class="card" data-link="' + esc(l.name) + '"><h3>' + esc(l.name) + ' <span class="badge ' +
            (l.override !== "auto" ? "op" : l.state === "up" ? "up" : "down") + '">' + esc(label(l)) + "</span></h3>" +
            '<div class="muted">since ' + when(l.since) + " · " + esc(l.reason) + (l.override_until ? " · until " +
            '<span title="' + esc(l.override_until) + '">' + new Date(l.override_until).toLocaleTimeString() + "</span>" : "") +
            "</div>" +
            '<div class="muted">' + esc(l.addresses.join(", ")) + " · weight " + l.weight + " · probes say " +
            esc(l.probed) + "</div>" +
            (checks ? '<div class="scroll"><table><tr><th>Check</th><th>Last result</th></tr>' + checks +
            "</table></div>" : '<p class="muted">no checks</p>') +
            (transitions ? '<div class="scroll"><table><tr><th colspan="3">Recent transitions</th></tr>' + transitions +
            "</table></div>" : '<p class="muted">no transitions since start</p>') +
            (buttons ? '<div class="actions">' + ["drain", "force-up", "force-down", "auto"].map((st) =>
              '<button data-link="' + esc(l.name) + '" data-state="' + st + '">' + st + "</button>").join("") +
            "</div>" : "") + "</div>";
        }

        // The outbound default route (routing.apply): what it leaves by, since when, and a failure or a hold in red.
        function routingText(r) {
          if (!r) return "";
          const gw = r.gateway_command ? "<br>LAN gateway's groups (<code>" + esc(r.gateway_command) + "</code>): " +
            (r.gateway_lines ? "dealt for " + esc(r.gateway_lines.join(", ") || "no line") : "not yet dealt") : "";
          if (!r.apply) return '<p id="routing">Outbound route: not kept by the server (routing.apply off)' + gw + "</p>";
          const held = r.outbound === "held" ? ' <span class="bad">no line in answers: the last route is kept</span>' : "";
          return '<p id="routing">Outbound route: ' + esc(r.description) + (r.since ? " (set " + ago(r.since) + ")" : "") +
            held + (r.error ? ' <span class="bad">' + esc(r.error) + "</span>" : "") +
            (r.applied ? '<br><code>ip route replace ' + esc(r.applied) + "</code>" : "") + gw + "</p>";
        }

        async function refresh() {
          try {
            const r = await fetch("/v1/status", { cache: "no-store" });
            if (r.ok) render(await r.json());
            else throw new Error("HTTP " + r.status);
          } catch (e) {
            // What is shown is no longer the server's state: say so where the eye goes first.
            $("overall").innerHTML = '<span class="badge down">cannot reach the server: the page is stale</span>';
            $("meta").textContent = String(e);
          }
        }

        document.addEventListener("click", async (ev) => {
          const b = ev.target.closest("button[data-state]");
          if (!b) return;
          const token = $("token").value.trim();
          if (!token) { $("message").textContent = "Enter the control token first."; $("token").focus(); return; }
          $("message").textContent = b.dataset.link + ": " + b.dataset.state + "…";
          const send = (force) => fetch("/v1/links/" + segment(b.dataset.link), { method: "POST",
            headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
            body: JSON.stringify({ state: b.dataset.state, force: force }) });
          let r = await send(false);
          let answer = await r.json().catch(() => ({}));
          // The last line in answers of a pool: only on a second, explicit yes.
          if (r.status === 409 && confirm(answer.error + "\\n\\nDo it anyway?")) {
            r = await send(true);
            answer = await r.json().catch(() => ({}));
          }
          $("message").textContent = r.ok ? b.dataset.link + " is " + b.dataset.state + " (the answers show it now)" :
            "refused: " + (answer.error || r.status);
          refresh();
        });

        render(JSON.parse($("initial").textContent));
        setInterval(refresh, 2000);

        """
}
