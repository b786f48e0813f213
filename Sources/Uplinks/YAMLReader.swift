// YAMLReader: typed, line-aware reading of a YAML node tree, refusing unknown keys.

import Foundation
import Yams

/// Reads values out of a composed YAML tree and records every mistake with its line. Every mapping is checked
/// against the keys the caller knows, so a misspelt key is an error rather than silently ignored.
package struct YAMLReader {
    package let file: String
    package private(set) var errors: [ConfigError] = []

    package init(file: String) { self.file = file }

    package mutating func fail(_ node: Node?, _ message: String) {
        errors.append(ConfigError(file: file, line: node?.mark?.line, message: message))
    }

    /// The pairs of a mapping, after checking its keys against `known` (unknown ones are errors).
    package mutating func mapping(_ node: Node, what: String, known: [String]) -> [String: Node] {
        guard case .mapping(let m) = node else {
            fail(node, "\(what) must be a mapping of keys to values")
            return [:]
        }
        var out: [String: Node] = [:]
        for (k, v) in m {
            guard let key = k.string else {
                fail(k, "\(what): keys must be strings")
                continue
            }
            guard known.contains(key) else {
                fail(k, "unknown key '\(key)' in \(what) (known: \(known.joined(separator: ", ")))")
                continue
            }
            out[key] = v
        }
        return out
    }

    /// The elements of a sequence (a lone scalar counts as a one-element list).
    package mutating func sequence(_ node: Node, what: String) -> [Node] {
        switch node {
        case .sequence(let s): return Array(s)
        case .scalar: return [node]
        default:
            fail(node, "\(what) must be a list")
            return []
        }
    }

    package mutating func string(_ node: Node?, what: String) -> String? {
        guard let node else { return nil }
        guard case .scalar(let s) = node else {
            fail(node, "\(what) must be a string")
            return nil
        }
        return s.string
    }

    /// A scalar's text. Numbers and booleans are read from it here, not by Yams's constructors: those follow YAML
    /// 1.1 (base-60 `1:30`, octal, `.inf`) and one of them traps on overflow — a fuzzer found
    /// `responses-per-second: 211100000000001067:78265` crashing the config loader.
    static func scalar(_ node: Node) -> String? {
        guard case .scalar(let s) = node else { return nil }
        return s.string.trimmingCharacters(in: .whitespaces)
    }

    /// The words YAML users write for booleans.
    static let booleans: [String: Bool] = [
        "true": true, "yes": true, "on": true, "false": false, "no": false, "off": false,
    ]

    package mutating func int(_ node: Node?, what: String, range: ClosedRange<Int>) -> Int? {
        guard let node else { return nil }
        guard let v = YAMLReader.scalar(node).flatMap({ Int($0) }), range.contains(v) else {
            fail(node, "\(what) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return v
    }

    package mutating func double(_ node: Node?, what: String, range: ClosedRange<Double>) -> Double? {
        guard let node else { return nil }
        guard let v = YAMLReader.scalar(node).flatMap({ Double($0) }), v.isFinite, range.contains(v) else {
            fail(node, "\(what) must be a number from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return v
    }

    package mutating func bool(_ node: Node?, what: String) -> Bool? {
        guard let node else { return nil }
        guard let v = YAMLReader.scalar(node).flatMap({ YAMLReader.booleans[$0.lowercased()] }) else {
            fail(node, "\(what) must be true or false")
            return nil
        }
        return v
    }
}
