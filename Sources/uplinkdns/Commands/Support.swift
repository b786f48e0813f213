// Support: what the commands share — the config option, the control API client, errors and exit codes.

import ArgumentParser
import Foundation
import Server
import Uplinks

/// Options every subcommand that reads the configuration shares.
struct ConfigOptions: ParsableArguments {
    @Option(
        name: .shortAndLong,
        help: ArgumentHelp(
            "The configuration file (default: $UPLINKDNS_CONFIG, else /etc/uplinkdns/uplinkdns.yaml).",
            valueName: "file"), completion: Completion.configFile)
    var config: String?

    /// The default configuration file, as Debian's package installs it.
    static let defaultPath = "/etc/uplinkdns/uplinkdns.yaml"

    /// The file: `--config`, else `$UPLINKDNS_CONFIG`, else `defaultPath`.
    var path: String { Self.path(config) }

    /// The file for a `--config` of `config` (nil: not given).
    static func path(_ config: String?) -> String {
        if let config { return config }
        if let env = ProcessInfo.processInfo.environment["UPLINKDNS_CONFIG"], !env.isEmpty { return env }
        return defaultPath
    }

    /// The config for a command that asks the running server: the file if it loads; else (an edit in progress,
    /// a typo) its errors as warnings and what can be read of it (control address, token, state directory), so
    /// the operator can still see and steer the server that runs the last good config.
    func loadForServer() -> Config {
        do {
            return try Config.load(path: path)
        } catch {
            for e in error.errors {
                FileHandle.standardError.write(Data("warning: \(e) (asking the running server anyway)\n".utf8))
            }
            return Config.controlSettings(path: path)
        }
    }

    /// Loads the config, printing every error with file and line, exiting 1 on error.
    func load() throws -> Config {
        do {
            return try Config.load(path: path)
        } catch {
            printErrors(error)
            throw ExitCode(1)
        }
    }
}

/// Prints every error (`error: file:line: message`), then the warnings found with them
/// (`file:line: warning: message`): a zone that fails to load still shows what else deserves a look.
func printErrors(_ failure: ConfigFailure) {
    for e in failure.errors { FileHandle.standardError.write(Data("error: \(e)\n".utf8)) }
    printWarnings(failure.warnings)
}

/// `file:line: warning: message`, one a line, on standard error.
func printWarnings(_ warnings: [ConfigError]) {
    for w in warnings { FileHandle.standardError.write(Data((w.warning + "\n").utf8)) }
}

/// The control API client for `config`.
func client(_ config: Config) throws -> ControlClient {
    guard let c = ControlClient(config: config) else {
        throw failure("server.control is off in \(config.path): the control API is not there to ask")
    }
    return c
}

/// Prints `message` as an error and gives the exit code of a command that failed (1; usage errors are 2).
func failure(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    return ExitCode(1)
}

/// Asks the running server's control API; a server that cannot be reached, a refused token or a failed call
/// become one clear error line and exit 1. Returns the body of a 2xx answer.
func api(_ config: Config, _ method: String, _ path: String) throws -> Data {
    let c = try client(config)
    return try answer(c) { try c.request(method, path) }
}

/// `api` with a JSON body (a `ControlAPI` request).
func api(_ config: Config, _ method: String, _ path: String, json: some Encodable) throws -> Data {
    let c = try client(config)
    return try answer(c) { try c.request(method, path, json: json) }
}

/// A reply decoded as the API's `type`, or exit 1 saying the answer was not one.
func decoded<T: Decodable>(_ type: T.Type, _ data: Data, _ what: String) throws -> T {
    guard let value = ControlAPI.decode(type, from: data) else {
        // Not the body itself: it is not for people (JSON of another version, or another server's page).
        throw failure(
            "the control API's answer is not \(what) (\(data.count) octets): is the server another version of "
                + "uplinkdns, or is something else listening there?")
    }
    return value
}

/// A failed call in one sentence: the server's own message (`ControlAPI.Problem`), or the status when the body is
/// not one — never the raw body.
func problem(_ status: Int, _ data: Data, from c: ControlClient) -> String {
    if status == 401 {
        return "the control API at \(c.address) refused the token (401): set server.control-token or "
            + "control-token-file to the server's, or run where the state directory's control.token is readable"
    }
    return ControlAPI.decode(ControlAPI.Problem.self, from: data)?.message
        ?? "the control API at \(c.address) answered \(status) without saying why"
}

/// The body of a 2xx answer from `exchange`; anything else becomes one clear error line and exit 1.
func answer(_ c: ControlClient, _ exchange: () throws -> (Int, Data)) throws -> Data {
    let status: Int
    let data: Data
    do {
        (status, data) = try exchange()
    } catch {
        throw failure("\(error)")
    }
    guard (200..<300).contains(status) else { throw failure(problem(status, data, from: c)) }
    return data
}

/// The error a background task ended with, for the thread that waited for it.
final class Outcome: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Error?
    func set(_ e: Error) { lock.withLock { stored = e } }
    var error: Error? { lock.withLock { stored } }
}
