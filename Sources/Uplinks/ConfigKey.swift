// ConfigKey: one configuration key declared once — its value's kind and range, default, reload class and doc line.

import Yams

/// A key of the configuration file, declared once next to the type it builds (as Knot's `schema.c` declares its
/// items). The parser reads every value through its key (`YAMLReader.section`, `YAMLReader.int(_:_:)`…), so the
/// range it enforces, the default it applies, the known keys of a mapping and the error messages all come from here;
/// `check` is the parser; the reload's "needs restart" list, `docs/config.md` and the tests come from the schema.
package struct ConfigKey: Sendable {
    /// What a key's value is. Only `list` is indirect: an all-indirect enum keeps its case in the spare bits of the
    /// box pointer, which LeakSanitizer (the fuzzers) cannot follow and reports every schema as leaked.
    package enum Kind: Sendable {
        /// A whole number in a range.
        case int(ClosedRange<Int>)
        /// A number (seconds, usually) in a range.
        case number(ClosedRange<Double>)
        /// `true`/`false` (also yes/no, on/off).
        case bool
        /// Free text.
        case text
        /// A file or directory, relative to the config file.
        case path
        /// One of these words.
        case choice([String])
        /// A duration of `min` to `max` seconds: a number of seconds or with a unit (`14d`, `36h`, `1.5d`, `90m`).
        case duration(min: Int, max: Int)
        /// An IPv4 or IPv6 address.
        case address
        /// A numeric `HOST:PORT` or `[IPv6]:PORT`.
        case hostPort
        /// An address or a prefix (`192.0.2.0/24`).
        case prefix
        /// A rate (`2mbit`, `512kbit`).
        case rate
        /// Text of a described form (the doc line says which); the parser checks it.
        case form(String)
        /// A list of values of one kind (a lone value counts as a one-element list).
        indirect case list(Kind)
        /// A mapping whose keys are names the file defines elsewhere (`by-network: {unicom-clients: [...]}`), each
        /// to a value of one kind.
        indirect case map(Kind)
        /// A mapping of these keys.
        case section([ConfigKey])
        /// A list of mappings of these keys.
        case entries([ConfigKey])
        /// Any of these kinds (`dnssec: true` or a mapping).
        case either([Kind])

        /// How the kind is written in `docs/config.md`.
        package var summary: String {
            switch self {
            case .int(let r): "integer \(r.lowerBound)–\(r.upperBound)"
            case .number(let r): "number \(ConfigKey.format(r.lowerBound))–\(ConfigKey.format(r.upperBound))"
            case .bool: "boolean"
            case .text: "text"
            case .path: "path"
            case .choice(let words): words.joined(separator: " | ")
            case .duration(let min, let max):
                "duration \(ConfigKey.formatDuration(min))–\(ConfigKey.formatDuration(max))"
            case .address: "address"
            case .hostPort: "HOST:PORT"
            case .prefix: "address or prefix"
            case .rate: "rate"
            case .form(let f): f
            case .list(let k): "list of \(k.summary)"
            case .map(let k): "mapping of names to \(k.summary)"
            case .section: "mapping"
            case .entries: "list of mappings"
            case .either(let kinds): kinds.map(\.summary).joined(separator: ", or ")
            }
        }

        /// The keys below this one (a mapping's, a list of mappings', or those of a mapping it may be).
        package var children: [ConfigKey] {
            switch self {
            case .section(let keys), .entries(let keys): keys
            case .either(let kinds): kinds.flatMap(\.children)
            case .list(let k), .map(let k): k.children
            default: []
            }
        }
    }

    /// What a reload does with a changed value.
    package enum Reload: String, Sendable {
        /// The running server applies it.
        case applies
        /// The running server keeps its value until it restarts, and the reload says so.
        case restart
    }

    /// The key as written in the file.
    package let name: String
    /// Its value's kind.
    package let kind: Kind
    /// The default, as YAML text read as if it were written; nil: none, or one the doc line describes.
    package let defaultValue: String?
    /// What a reload does with it.
    package let reload: Reload
    /// One line of documentation.
    package let doc: String

    /// Declares a key.
    package init(_ name: String, _ kind: Kind, default: String? = nil, reload: Reload = .applies, doc: String) {
        self.name = name
        self.kind = kind
        self.defaultValue = `default`
        self.reload = reload
        self.doc = doc
    }

    /// Every key at and below `keys`, with its path (`server.tcp.idle-timeout`, `links[].checks[].tcp`), in order.
    package static func flatten(_ keys: [ConfigKey], prefix: String = "") -> [(path: String, key: ConfigKey)] {
        var out: [(String, ConfigKey)] = []
        for key in keys {
            let path = prefix.isEmpty ? key.name : "\(prefix).\(key.name)"
            out.append((path, key))
            let below: String
            switch key.kind {
            case .entries: below = path + "[]"
            case .list(.entries): below = path + "[]"
            case .either(let kinds) where kinds.contains(where: { if case .entries = $0 { true } else { false } }):
                below = path + "[]"
            default: below = path
            }
            out += flatten(key.kind.children, prefix: below)
        }
        return out
    }

    /// `0.1`, `3600`: a bound as written.
    static func format(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v)
    }

    /// `1h`, `14d`, `90s`, `0`.
    package static func formatDuration(_ s: Int) -> String {
        if s == 0 { return "0" }
        if s % 86400 == 0 { return "\(s / 86400)d" }
        if s % 3600 == 0 { return "\(s / 3600)h" }
        if s % 60 == 0 { return "\(s / 60)m" }
        return "\(s)s"
    }

    /// The seconds in `14d`, `1.5d`, `36h`, `90m`, `30s` or `86400`; nil when it is none of these or beyond a year.
    /// The one reader of durations, for the config and the control API's `for` alike: no duration here is longer (an
    /// override is a drill or a maintenance window), and neither date arithmetic nor signature times may wrap
    /// (RFC 4034 §3.1.5); an unbounded number (`infh`, `1e300s`) never gets that far.
    package static func seconds(_ text: String) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        var value: Double?
        if let last = text.last, let unit = units[last] {
            value = Double(text.dropLast()).map { $0 * unit }
        } else {
            value = Double(text)
        }
        guard let v = value, v.isFinite, v >= 0, v <= 366 * 86400 else { return nil }
        return v
    }
}

/// A mapping being read: its nodes by key, checked against the keys declared for it.
package struct ConfigSection {
    /// The schema path of the mapping (`server.tcp`, `links[]`), which keys are recorded under.
    package let path: String
    /// How messages name it (`server.tcp`, `links[unicom]`): made when a message needs it (a config of 100,000
    /// pools names each one, and says nothing when all is well).
    package var label: String { makeLabel() }
    private let makeLabel: () -> String
    /// The mapping's node (for errors about the whole mapping).
    package let node: Node?
    /// The values present, by key.
    package let values: [String: Node]
    /// The keys declared for it.
    package let keys: [ConfigKey]

    /// Whether `name` was written.
    package func has(_ name: String) -> Bool { values[name] != nil }

    /// The declared key `name` (a programming error if it is not declared: the schema tests catch it).
    package func key(_ name: String) -> ConfigKey {
        guard let k = keys.first(where: { $0.name == name }) else {
            preconditionFailure("config key \(path).\(name) is read but not declared")
        }
        return k
    }

    package init(
        path: String, label: @autoclosure @escaping () -> String, node: Node?, values: [String: Node],
        keys: [ConfigKey]
    ) {
        self.path = path
        self.makeLabel = label
        self.node = node
        self.values = values
        self.keys = keys
    }

    /// The same mapping, named `label` in messages (once its entry's name is known).
    package func labeled(_ label: @autoclosure @escaping () -> String) -> ConfigSection {
        ConfigSection(path: path, label: label(), node: node, values: values, keys: keys)
    }

    /// `label.name`, as messages name a key.
    package func what(_ name: String) -> String { "\(label).\(name)" }
}
