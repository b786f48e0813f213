// ZoneError: a zone-file problem with the file and line it comes from.

/// One problem found while loading or validating a zone file. Every error names its file and, where a record is
/// at fault, its line, so an operator can go straight to it.
public struct ZoneError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The zone file.
    public var file: String
    /// The 1-based line, or nil when the problem is the file as a whole (e.g. no SOA at all).
    public var line: Int?
    /// What is wrong, and where useful how to fix it.
    public var message: String

    /// Makes an error.
    public init(file: String, line: Int?, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    /// `file:line: message`, the form compilers use, so editors can jump to it.
    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }

    /// `file:line: warning: message`, for what loads but deserves a look.
    public var warning: String {
        if let line { return "\(file):\(line): warning: \(message)" }
        return "\(file): warning: \(message)"
    }
}

/// Every problem found in a zone that did not load.
public struct ZoneLoadFailure: Error, Sendable, CustomStringConvertible {
    /// The problems, in file order.
    public var errors: [ZoneError]
    /// What the same zone would have been warned about had it loaded, in file order: `check` prints these with
    /// the errors, so fixing the errors brings no surprise.
    public var warnings: [ZoneError]
    /// Makes a failure from its errors (and the warnings found beside them).
    public init(errors: [ZoneError], warnings: [ZoneError] = []) {
        self.errors = errors
        self.warnings = warnings
    }
    /// One error per line.
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
