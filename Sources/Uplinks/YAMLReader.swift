// YAMLReader: typed, line-aware reading of a YAML node tree, refusing unknown keys.

import Foundation
import Yams

/// Reads values out of a composed YAML tree and records every mistake with its line. Every mapping is checked
/// against the keys the caller knows, so a misspelt key is an error rather than silently ignored.
package struct YAMLReader {
    package let file: String
    package private(set) var errors: [ConfigError] = []
    /// The schema paths of the keys read so far (`server.tcp.idle-timeout`): the schema tests check that every
    /// declared key is read by the parser.
    package var read: Set<String> { Set(readKeys.map { $0.path.isEmpty ? $0.name : "\($0.path).\($0.name)" }) }
    /// The keys read, as (mapping path, key): no string is built per read (a config of 100,000 pools reads 700,000).
    private var readKeys: Set<KeyRef> = []
    private struct KeyRef: Hashable {
        var path: String
        var name: String
    }
    /// Declared defaults composed once per reader (a config of 100,000 pools reads the same few defaults each time).
    private var defaults: [String: Node] = [:]

    package init(file: String) { self.file = file }

    package mutating func fail(_ node: Node?, _ message: String) {
        errors.append(ConfigError(file: file, line: node?.mark?.line, message: message))
    }

    /// A mistake in another file the config names (a network's prefix list).
    package mutating func fail(file: String, line: Int?, _ message: String) {
        errors.append(ConfigError(file: file, line: line, message: message))
    }

    /// The pairs of a mapping, after checking its keys against `known` (unknown ones are errors).
    private mutating func mapping(_ node: Node, what: @autoclosure () -> String, known: [ConfigKey]) -> [String: Node] {
        guard case .mapping(let m) = node else {
            fail(node, "\(what()) must be a mapping of keys to values")
            return [:]
        }
        var out: [String: Node] = [:]
        for (k, v) in m {
            guard let key = k.string else {
                fail(k, "\(what()): keys must be strings")
                continue
            }
            guard known.contains(where: { $0.name == key }) else {
                fail(k, "unknown key '\(key)' in \(what()) (known: \(known.map(\.name).joined(separator: ", ")))")
                continue
            }
            out[key] = v
        }
        return out
    }

    /// The elements of a sequence (a lone scalar counts as a one-element list).
    package mutating func sequence(_ node: Node, what: @autoclosure () -> String) -> [Node] {
        switch node {
        case .sequence(let s): return Array(s)
        case .scalar: return [node]
        default:
            fail(node, "\(what()) must be a list")
            return []
        }
    }

    package mutating func string(_ node: Node?, what: @autoclosure () -> String) -> String? {
        guard let node else { return nil }
        guard case .scalar(let s) = node else {
            fail(node, "\(what()) must be a string")
            return nil
        }
        return s.string
    }

    /// A scalar's text. Numbers and booleans are read from it here, not by Yams's constructors: those follow YAML
    /// 1.1 (base-60 `1:30`, octal, `.inf`) and one of them traps on overflow — a fuzzer found
    /// `responses-per-second: 211100000000001067:78265` crashing the config loader.
    static func scalar(_ node: Node) -> String? {
        guard case .scalar(let s) = node else { return nil }
        let text = s.string
        // Trimmed only when it has to be (`trimmingCharacters` costs a config of 100,000 pools a tenth of a second):
        // when it begins or ends with a space of any kind (a pasted no-break space too) or a tab.
        guard let first = text.unicodeScalars.first, let last = text.unicodeScalars.last,
            first.properties.isWhitespace || last.properties.isWhitespace
        else { return text }
        return text.trimmingCharacters(in: .whitespaces)
    }

    /// The words YAML users write for booleans.
    static let booleans: [String: Bool] = [
        "true": true, "yes": true, "on": true, "false": false, "no": false, "off": false,
    ]

    package mutating func int(_ node: Node?, what: @autoclosure () -> String, range: ClosedRange<Int>) -> Int? {
        guard let node else { return nil }
        guard let v = YAMLReader.scalar(node).flatMap({ Int($0) }), range.contains(v) else {
            fail(node, "\(what()) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return v
    }

    package mutating func double(_ node: Node?, what: @autoclosure () -> String, range: ClosedRange<Double>) -> Double?
    {
        guard let node else { return nil }
        guard let v = YAMLReader.scalar(node).flatMap({ Double($0) }), v.isFinite, range.contains(v) else {
            fail(node, "\(what()) must be a number from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return v
    }

    package mutating func bool(_ node: Node?, what: @autoclosure () -> String) -> Bool? {
        guard let node else { return nil }
        guard let v = YAMLReader.scalar(node).flatMap({ YAMLReader.booleans[$0.lowercased()] }) else {
            fail(node, "\(what()) must be true or false")
            return nil
        }
        return v
    }

    // MARK: Reading through declared keys (ConfigKey)

    /// `node` as a mapping of the keys declared in `keys`; unknown keys are errors that list the known ones.
    /// `path` is the schema path (`links[]`), `label` how messages name it (`links[unicom]`; default the path).
    package mutating func section(_ node: Node?, path: String, label: String? = nil, keys: [ConfigKey])
        -> ConfigSection
    {
        let label = label ?? path
        guard let node else { return ConfigSection(path: path, label: label, node: nil, values: [:], keys: keys) }
        let values = mapping(node, what: label, known: keys)
        return ConfigSection(path: path, label: label, node: node, values: values, keys: keys)
    }

    /// The value of `name` in `s`: as written, else the declared default (read as if written), else nil. Records the
    /// key as read.
    package mutating func value(_ s: ConfigSection, _ name: String) -> Node? {
        let key = s.key(name)
        readKeys.insert(KeyRef(path: s.path, name: name))
        if let v = s.values[name] { return v }
        guard let text = key.defaultValue else { return nil }
        if let node = defaults[text] { return node }
        let node = (try? Yams.compose(yaml: text, .basic)).flatMap { $0 } ?? Node(text)
        defaults[text] = node
        return node
    }

    /// A whole number in the key's range.
    package mutating func int(_ s: ConfigSection, _ name: String) -> Int? {
        guard case .int(let range) = s.key(name).kind.scalarKind else { preconditionFailure("\(name) is not .int") }
        return int(value(s, name), what: s.what(name), range: range)
    }

    /// A number in the key's range.
    package mutating func double(_ s: ConfigSection, _ name: String) -> Double? {
        guard case .number(let range) = s.key(name).kind.scalarKind else {
            preconditionFailure("\(name) is not .number")
        }
        return double(value(s, name), what: s.what(name), range: range)
    }

    /// A boolean.
    package mutating func bool(_ s: ConfigSection, _ name: String) -> Bool? {
        bool(value(s, name), what: s.what(name))
    }

    /// Text.
    package mutating func string(_ s: ConfigSection, _ name: String) -> String? {
        string(value(s, name), what: s.what(name))
    }

    /// One of the key's words, as `T`.
    package mutating func choice<T: RawRepresentable>(_ s: ConfigSection, _ name: String, as: T.Type) -> T?
    where T.RawValue == String {
        guard let node = value(s, name), let text = string(node, what: s.what(name)) else { return nil }
        guard case .choice(let words) = s.key(name).kind.scalarKind, words.contains(text), let v = T(rawValue: text)
        else {
            let words = s.key(name).kind.scalarKind.choices
            fail(node, "\(s.what(name)) '\(text)' is not one of \(words.joined(separator: " | "))")
            return nil
        }
        return v
    }

    /// A duration in seconds, in the key's range.
    package mutating func duration(_ s: ConfigSection, _ name: String) -> Int? {
        guard case .duration(let min, let max) = s.key(name).kind.scalarKind else {
            preconditionFailure("\(name) is not .duration")
        }
        guard let node = value(s, name), let text = string(node, what: s.what(name)) else { return nil }
        guard let v = ConfigKey.seconds(text).map({ Int($0.rounded()) }), v >= min, v <= max else {
            fail(
                node,
                "\(s.what(name)) is a duration from \(ConfigKey.formatDuration(min)) to \(ConfigKey.formatDuration(max)): "
                    + "seconds, or with a unit (e.g. 14d, 36h, 1.5d, 90m)")
            return nil
        }
        return v
    }

    /// The elements of a list-valued key.
    package mutating func list(_ s: ConfigSection, _ name: String) -> [Node] {
        guard let node = value(s, name) else { return [] }
        return sequence(node, what: s.what(name))
    }
}

extension ConfigKey.Kind {
    /// The kind a scalar is read as: for `either`, its first scalar alternative.
    package var scalarKind: ConfigKey.Kind {
        if case .either(let kinds) = self {
            return kinds.first { if case .section = $0 { false } else { true } } ?? self
        }
        return self
    }

    /// A choice's words (empty for other kinds).
    package var choices: [String] {
        if case .choice(let w) = self { return w }
        return []
    }
}
