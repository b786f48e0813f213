// Completion: what the shell completes beyond subcommands and flags — line names and zones read from the config,
// states and formats (the options' own choices), and files.

import ArgumentParser
import Foundation
import Server

/// The shell completions of values (swift-argument-parser's `CompletionKind`). The choices of an enum option (a
/// line's state, `--format`, `--addresses`, `querylog on|off`, `--log-level`) come with the script as lists; names
/// that depend on the config (lines, zones) are asked of `uplinkdns` when TAB is pressed (`---completion`, run by
/// the script), from the config the command line names (`--config`, `-c`), else `$UPLINKDNS_CONFIG`, else the
/// default. A config with a mistake still gives what can be read of it; nothing asks the running server.
enum Completion {
    /// `--config`: YAML files (and directories to descend into).
    static let configFile = CompletionKind.file(extensions: ["yaml", "yml"])

    /// A line of the config (`status LINK`, `link NAME`).
    static let lines = CompletionKind.custom { words, _, prefix in
        matching(config(words).uplinks.links.map(\.name), prefix)
    }

    /// A zone of the config (`export ZONE`).
    static let zones = CompletionKind.custom { words, _, prefix in
        matching(config(words).zones.map(\.origin.description), prefix)
    }

    /// A signed zone of the config (`keys ZONE`).
    static let signedZones = CompletionKind.custom { words, _, prefix in
        matching(config(words).zones.filter { $0.dnssec != nil }.map(\.origin.description), prefix)
    }

    /// `routing --for`: `server`, or `firewall:LINE` for each line.
    static let routingTargets = CompletionKind.custom { words, _, prefix in
        let c = config(words)
        let director = c.director.services.isEmpty ? [] : ["director"]
        let realServers = Set(c.director.services.flatMap(\.realServers).map(\.address)).sorted()
        return matching(
            ["server", "gateway"] + c.uplinks.links.map { "firewall:\($0.name)" } + director
                + realServers.map { "real-server:\($0)" }, prefix)
    }

    /// The arguments of a custom completion request (`---completion SUBCOMMAND… -- ARGUMENT INDEX CURSOR WORD…`,
    /// which the scripts send) with the cursor put in where the shell could not give it: fish 3 (Debian 12's) has
    /// no `commandline -tC`, so the fish script swift-argument-parser writes sends no cursor and the parser refuses
    /// the request. The cursor is then at the end of the word being completed. Other arguments are left alone.
    static func withCursor(_ arguments: [String]) -> [String] {
        guard arguments.first == "---completion", let dashes = arguments.firstIndex(of: "--") else { return arguments }
        let index = dashes + 2  // ARGUMENT, then INDEX
        guard index + 1 < arguments.count, let word = Int(arguments[index]), Int(arguments[index + 1]) == nil else {
            return arguments
        }
        let words = Array(arguments[(index + 1)...])
        let cursor = word >= 0 && word < words.count ? words[word].count : 0
        return Array(arguments[...index]) + ["\(cursor)"] + words
    }

    /// The candidates that start with what is typed (the shell matches too; a quoted word is compared unquoted).
    static func matching(_ candidates: [String], _ prefix: String) -> [String] {
        let typed = unquoted(prefix)
        return candidates.filter { $0.hasPrefix(typed) }
    }

    /// The config the command line names: `--config FILE`, `--config=FILE` or `-c FILE`, else `$UPLINKDNS_CONFIG`,
    /// else the default; read leniently (an edit in progress still completes what it has).
    static func config(_ words: [String]) -> Config {
        Config.controlSettings(path: configPath(words))
    }

    /// The config file named in `words` (the shell's words, as typed), or the one the command would use.
    static func configPath(_ words: [String]) -> String {
        var named: String?
        for (i, w) in words.enumerated() {
            if (w == "--config" || w == "-c"), i + 1 < words.count {
                // bash splits `--config=FILE` at the `=` (COMP_WORDBREAKS).
                named = words[i + 1] == "=" && i + 2 < words.count ? words[i + 2] : words[i + 1]
            } else if w.hasPrefix("--config=") {
                named = String(w.dropFirst("--config=".count))
            }
        }
        if let named, !named.isEmpty {
            return (unquoted(named) as NSString).expandingTildeInPath
        }
        return ConfigOptions.path(nil)
    }

    /// A shell word without its quotes and backslash escapes (`'line one'`, `line\ one` → `line one`).
    static func unquoted(_ word: String) -> String {
        var out = ""
        var quote: Character?
        var escaped = false
        for c in word {
            if escaped {
                out.append(c)
                escaped = false
            } else if let q = quote {
                if c == q { quote = nil } else if c == "\\" && q == "\"" { escaped = true } else { out.append(c) }
            } else if c == "'" || c == "\"" {
                quote = c
            } else if c == "\\" {
                escaped = true
            } else {
                out.append(c)
            }
        }
        return out
    }
}
