// Reload: `uplinkdns reload` — reload the running server, waiting as long as the reload takes.

import ArgumentParser
import Foundation
import Server
import Uplinks

extension UplinkDNS {
    struct Reload: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Reload the running server's config and zones (control API; with it off, SIGHUP to server.pid-file).")

        @OptionGroup var options: ConfigOptions

        func run() throws {
            let config = options.loadForServer()
            if config.control != nil {
                let c = try client(config)
                // As long as the reload takes (a large signed zone takes long): a second at a time, checking that
                // the server still answers; on a terminal, the seconds so far.
                let terminal = isatty(STDERR_FILENO) == 1
                var shown = false
                let data = try answer(c) {
                    defer { if shown { FileHandle.standardError.write(Data("\n".utf8)) } }
                    return try c.request("POST", "/v1/reload") { seconds in
                        guard terminal else { return }
                        shown = true
                        FileHandle.standardError.write(Data("\rreloading: \(seconds) s".utf8))
                    }
                }
                let reply = try decoded(ControlAPI.ReloadReply.self, data, "a reload's outcome")
                print("reloaded: generation \(reply.generation.map(String.init) ?? "?") serves the new config")
                if let lines = reply.lines {
                    for (names, what) in [
                        (lines.added, "lines added"), (lines.removed, "lines removed"),
                        (lines.reprobed, "lines changed (probed anew)"),
                    ] where !names.isEmpty {
                        print("  \(what): \(names.joined(separator: ", "))")
                    }
                }
                if let later = reply.needsRestart, !later.isEmpty {
                    print("  not applied until the server restarts: \(later.joined(separator: ", "))")
                }
                return
            }
            guard let pidFile = config.pidFile else {
                throw failure("server.control is off and server.pid-file is not set: send SIGHUP to the server")
            }
            guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
                let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
            else {
                throw failure("cannot read a PID from \(pidFile): is the server running?")
            }
            guard kill(pid, SIGHUP) == 0 else {
                throw failure("cannot signal PID \(pid): \(String(cString: strerror(errno)))")
            }
            // Without the control API the outcome cannot be known here: the server logs it (and tells systemd).
            print(
                "sent SIGHUP to \(pid); the outcome is in the server's log (with server.control on, reload waits for it)"
            )
        }
    }
}
