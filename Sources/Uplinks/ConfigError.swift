// ConfigError: a configuration problem with its file and line.

/// One problem in the configuration file, or in a zone file it names.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file at fault.
    public var file: String
    /// The 1-based line, when known.
    public var line: Int?
    /// What is wrong and how to fix it.
    public var message: String

    /// Makes an error.
    public init(file: String, line: Int?, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    /// `file:line: message`.
    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }

    /// `file:line: warning: message`, for what loads but deserves a look.
    public var warning: String { labelled("warning") }

    /// `file:line: LABEL: message` (`warning`, `note`).
    public func labelled(_ label: String) -> String {
        if let line { return "\(file):\(line): \(label): \(message)" }
        return "\(file): \(label): \(message)"
    }
}

/// Every problem found while loading a configuration and its zones.
public struct ConfigFailure: Error, Sendable, CustomStringConvertible {
    /// The problems, config first, then zones.
    public var errors: [ConfigError]
    /// What the zones would also have been warned about (`check` prints them with the errors).
    public var warnings: [ConfigError]
    /// Makes a failure.
    public init(errors: [ConfigError], warnings: [ConfigError] = []) {
        self.errors = errors
        self.warnings = warnings
    }
    /// One error per line.
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
