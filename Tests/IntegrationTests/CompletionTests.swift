// CompletionTests: the shell completion scripts `uplinkdns --generate-completion-script` writes, driven in the real
// shells: bash through its completion function, fish through `complete -C`, zsh through the script's own functions
// (compsys itself needs a terminal). Line names and zones come from the config the command line names; states and
// formats from the options' choices; `--config` from the files.

import Foundation
import Testing

/// A config with a line whose name has a space, a signed zone, and a directory with files to complete.
private struct CompletionSite {
    let dir: URL
    let config: String
    /// A directory whose `uplinkdns` is the binary under test (fish and zsh run the command by the name typed).
    let bin: URL

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("completion-\(UUID().uuidString)")
        bin = dir.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            at: bin.appendingPathComponent("uplinkdns"), withDestinationURL: URL(fileURLWithPath: binaryPath))
        try FileManager.default.createDirectory(
            at: dir.appendingPathComponent("conf.d"), withIntermediateDirectories: true)
        try "not a config\n".write(to: dir.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        config = dir.appendingPathComponent("site.yaml").path
        try """
        server:
          control: off
        zones:
          - {origin: example.com., file: example.com.zone}
          - {origin: signed.test., file: example.com.zone, dnssec: true}
        links:
          - {name: unicom, public: [192.0.2.10]}
          - {name: line two, public: [198.51.100.10]}
        pools:
          - {name: www.example.com., links: [unicom, line two]}
        """.write(toFile: config, atomically: true, encoding: .utf8)
    }

    func script(_ shell: String) throws -> String {
        let path = dir.appendingPathComponent("uplinkdns.\(shell)").path
        let r = try run(binaryPath, ["--generate-completion-script", shell])
        try r.out.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Runs `shell -c program` in the site's directory with the binary first on PATH; its output lines.
    func shell(_ shell: String, _ arguments: [String], environment: [String: String] = [:]) throws -> [String] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try tool(shell))
        p.arguments = arguments
        p.currentDirectoryURL = dir
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = bin.path + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        env["UPLINKDNS_CONFIG"] = nil
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            .map(String.init).filter { !$0.isEmpty }
    }

    func remove() { try? FileManager.default.removeItem(at: dir) }
}

@Suite struct CompletionTests {
    /// bash: the real completion function, with COMP_WORDS as bash sets them when TAB is pressed after them.
    @Test func bashCompletesLinesZonesStatesFormatsAndFiles() throws {
        let site = try CompletionSite()
        defer { site.remove() }
        let script = try site.script("bash")
        func complete(_ words: String..., environment: [String: String] = [:]) throws -> [String] {
            let program = """
                source "$0"
                COMP_WORDS=("${@}")
                COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
                COMP_LINE="${COMP_WORDS[*]}"
                COMP_POINT=${#COMP_LINE}
                _uplinkdns "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
                printf '%s\\n' "${COMPREPLY[@]}"
                """
            return try site.shell("bash", ["-c", program, script, "uplinkdns"] + words, environment: environment)
        }
        let cfg = site.config
        #expect(try complete("link", "--config", cfg, "") == ["unicom", "line two"])
        #expect(try complete("link", "-c", cfg, "li") == ["line two"])
        #expect(try complete("status", "", environment: ["UPLINKDNS_CONFIG": cfg]) == ["unicom", "line two"])
        #expect(try complete("link", "--config", cfg, "unicom", "") == ["drain", "force-up", "force-down", "auto"])
        #expect(
            try complete("routing", "--config", cfg, "--for", "")
                == ["server", "gateway", "firewall:unicom", "firewall:line two"])
        #expect(try complete("routing", "--format", "") == ["iproute2", "nft", "iptables", "ipvsadm", "keepalived"])
        #expect(try complete("export", "--config", cfg, "") == ["example.com.", "signed.test."])
        #expect(try complete("export", "--format", "") == ["zone", "registrar"])
        #expect(try complete("export", "--addresses", "") == ["current", "all"])
        #expect(try complete("keys", "--config", cfg, "") == ["signed.test."])
        #expect(try complete("querylog", "") == ["on", "off"])
        #expect(try complete("serve", "--log-level", "w") == ["warning"])
        // --config: YAML files and directories, not other files.
        #expect(Set(try complete("status", "--config", "")) == ["site.yaml", "conf.d", "bin"])
        // A config that does not load (a wrong address) completes what can be read of it.
        let broken = try String(contentsOfFile: cfg, encoding: .utf8).replacingOccurrences(
            of: "pools:", with: "  - {name: third, public: [192.0.2.300]}\npools:")
        try broken.write(toFile: cfg, atomically: true, encoding: .utf8)
        #expect(try complete("link", "--config", cfg, "") == ["unicom", "line two", "third"])
    }

    /// fish: `complete -C` asks the completions fish would show. Debian 12's fish 3.6 has no `commandline -tC`, so
    /// the script sends no cursor: `uplinkdns` puts it at the end of the word (`Completion.withCursor`).
    @Test(.enabled(if: installed("fish"), "fish is not installed: make test installs it"))
    func fishCompletesLinesStatesAndFormats() throws {
        let site = try CompletionSite()
        defer { site.remove() }
        let script = try site.script("fish")
        func complete(_ line: String) throws -> [String] {
            try site.shell("fish", ["--no-config", "-c", "source $argv[1]; complete -C $argv[2]", script, line])
                .map { String($0.split(separator: "\t").first ?? "") }
        }
        let cfg = site.config
        #expect(try complete("uplinkdns link --config \(cfg) ") == ["unicom", "line two"])
        #expect(try complete("uplinkdns link --config \(cfg) unicom ") == ["drain", "force-up", "force-down", "auto"])
        #expect(
            try complete("uplinkdns routing --config \(cfg) --for ")
                == ["server", "gateway", "firewall:unicom", "firewall:line two"])
        #expect(
            try complete("uplinkdns routing --format ") == ["iproute2", "nft", "iptables", "ipvsadm", "keepalived"])
        #expect(try complete("uplinkdns keys --config \(cfg) ") == ["signed.test."])
        #expect(Set(try complete("uplinkdns status --config ")) == ["site.yaml", "conf.d/", "bin/"])
    }

    /// zsh: compsys needs a terminal, so the script's functions are driven directly in a real zsh: the specs each
    /// command gives `_arguments`, and the custom completion as `_arguments` would run it (`_describe` records).
    @Test(.enabled(if: installed("zsh"), "zsh is not installed: make test installs it"))
    func zshCompletesLinesStatesAndFormats() throws {
        let site = try CompletionSite()
        defer { site.remove() }
        let script = try site.script("zsh")
        let program = """
            _describe() { local a; for a in "$@"; do [[ $a == -* || -z $a ]] && continue; (( ${(P)+a} )) && print -rl -- "${(@P)a}"; done }
            _arguments() { print -rl -- "$@" }
            compdef() { : }
            source "$1"
            export SAP_SHELL=zsh
            command_name=uplinkdns
            command_line=(uplinkdns link --config "$2" "")
            print -- "-- lines"
            __uplinkdns_custom_complete ---completion link -- positional@0 4 0
            command_line=(uplinkdns routing --config "$2" --for f)
            print -- "-- targets"
            __uplinkdns_custom_complete ---completion routing -- --for 5 1
            print -- "-- specs"
            _uplinkdns_link; _uplinkdns_routing; _uplinkdns_export
            """
        let out = try site.shell("zsh", ["-f", "-c", program, "zsh", script, site.config])
        func section(_ name: String) -> [String] {
            Array(out.drop { $0 != "-- \(name)" }.dropFirst().prefix { !$0.hasPrefix("-- ") })
        }
        #expect(section("lines") == ["unicom", "line two"], "\(out)")
        #expect(section("targets") == ["firewall:unicom", "firewall:line two"], "\(out)")
        let specs = section("specs")
        #expect(
            specs.contains { $0.hasPrefix(":name:{__uplinkdns_custom_complete ---completion link -- positional@0") })
        #expect(specs.contains(":state:{__uplinkdns_complete \"${_state[@]}\"}"), "\(specs)")
        #expect(specs.contains { $0.hasPrefix("--for[") && $0.contains("---completion routing -- --for") })
        #expect(specs.contains { $0.contains("--config[") && $0.hasSuffix(":file:_files -g '*.yaml *.yml'") })
        #expect(
            specs.contains {
                $0.hasPrefix("--format[") && $0.hasSuffix(":format:{__uplinkdns_complete \"${___format[@]}\"}")
            })
        // The choices behind _state and _format are in the script.
        let text = try String(contentsOfFile: script, encoding: .utf8)
        #expect(text.contains("local -ar _state=('drain' 'force-up' 'force-down' 'auto')"))
        #expect(text.contains("local -ar ___format=('iproute2' 'nft' 'iptables' 'ipvsadm' 'keepalived')"))
        #expect(text.contains("local -ar ___format=('zone' 'registrar')"))
    }

    /// The request the scripts send (`---completion`), answered as the parser asks, and with fish 3's missing
    /// cursor put in.
    @Test func theCustomCompletionAnswersTheScriptsRequest() throws {
        let site = try CompletionSite()
        defer { site.remove() }
        let cfg = site.config
        let asked = try run(
            binaryPath, ["---completion", "link", "--", "positional@0", "4", "2", "uplinkdns", "link", "-c", cfg, "un"])
        #expect(asked.status == 0 && asked.out.split(separator: "\n") == ["unicom"], "\(asked)")
        let noCursor = try run(
            binaryPath, ["---completion", "link", "--", "positional@0", "4", "uplinkdns", "link", "-c", cfg, "''"])
        #expect(noCursor.status == 0 && noCursor.out.split(separator: "\n") == ["unicom", "line two"], "\(noCursor)")
        // bash splits --config=FILE at the '=' into three words.
        let split = try run(
            binaryPath,
            ["---completion", "link", "--", "positional@0", "6", "0", "uplinkdns", "link", "--config", "=", cfg, ""])
        #expect(split.status == 0 && split.out.split(separator: "\n") == ["unicom", "line two"], "\(split)")
    }
}
