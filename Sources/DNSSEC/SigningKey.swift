// SigningKey: a zone's DNSSEC key — ECDSA P-256 (algorithm 13) or Ed25519 (15) from swift-crypto — with its DNSKEY
// RDATA, key tag and DS, generated here or read from the BIND key files dnssec-keygen and ldns-keygen write.

import Crypto
import DNSWire
import Foundation

/// The DNSSEC algorithms UplinkDNS signs with (RFC 8624 §3.1: 13 is the recommended one, 15 the other MUST).
public enum SigningAlgorithm: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// ECDSA with P-256 and SHA-256 (RFC 6605).
    case ecdsaP256SHA256 = 13
    /// Ed25519 (RFC 8080).
    case ed25519 = 15

    /// The mnemonic (RFC 8624, the IANA registry): `ECDSAP256SHA256`, `ED25519`.
    public var description: String {
        switch self {
        case .ecdsaP256SHA256: "ECDSAP256SHA256"
        case .ed25519: "ED25519"
        }
    }

    /// From a mnemonic or a number (`ECDSAP256SHA256`, `13`, `ed25519`, `15`).
    public init?(_ text: String) {
        if let n = UInt8(text), let a = SigningAlgorithm(rawValue: n) {
            self = a
            return
        }
        guard let a = SigningAlgorithm.allCases.first(where: { $0.description.lowercased() == text.lowercased() })
        else { return nil }
        self = a
    }
}

/// One DNSSEC key of a zone, with its private half.
public struct SigningKey: Sendable {
    /// The key's private half, as raw octets (swift-crypto's key types are not `Sendable`; they are made from
    /// these where used).
    enum Secret: Sendable {
        case p256([UInt8])
        case ed25519([UInt8])
    }

    /// The zone it signs.
    public let zone: DomainName
    /// DNSKEY flags: 257 (zone key + secure entry point: a KSK or a combined signing key), or 256 (a ZSK).
    public let flags: UInt16
    public let algorithm: SigningAlgorithm
    let secret: Secret
    /// The public key as DNSKEY carries it: P-256's X and Y (RFC 6605 §4), Ed25519's 32 octets (RFC 8080 §3).
    public let publicKey: [UInt8]
    /// The key tag (RFC 4034 Appendix B), computed once: every signature carries it.
    public let keyTag: UInt16
    /// The signer's name as RRSIG RDATA carries it: the zone, lower-cased (RFC 4034 §3.1.7, §6.2).
    let signerWire: [UInt8]

    init(zone: DomainName, flags: UInt16, algorithm: SigningAlgorithm, secret: Secret) throws {
        self.zone = zone
        self.flags = flags
        self.algorithm = algorithm
        self.secret = secret
        switch secret {
        case .p256(let raw):
            publicKey = Array(try P256.Signing.PrivateKey(rawRepresentation: raw).publicKey.rawRepresentation)
        case .ed25519(let raw):
            publicKey = Array(try Curve25519.Signing.PrivateKey(rawRepresentation: raw).publicKey.rawRepresentation)
        }
        keyTag = SigningKey.keyTag(
            [UInt8(flags >> 8), UInt8(flags & 0xFF), 3, algorithm.rawValue] + publicKey)
        signerWire = zone.lowercased().wire
    }

    /// A new random key. `flags` 257 makes a KSK or, used alone, a combined signing key (CSK).
    public static func generate(zone: DomainName, algorithm: SigningAlgorithm, flags: UInt16 = 257) -> SigningKey {
        let secret: Secret =
            switch algorithm {
            case .ecdsaP256SHA256: .p256(Array(P256.Signing.PrivateKey().rawRepresentation))
            case .ed25519: .ed25519(Array(Curve25519.Signing.PrivateKey().rawRepresentation))
            }
        // A key just made always reads back.
        return try! SigningKey(zone: zone, flags: flags, algorithm: algorithm, secret: secret)
    }

    /// Whether it is a key-signing key (SEP bit set: flags 257).
    public var isKSK: Bool { flags & 1 == 1 }

    /// The DNSKEY RDATA (RFC 4034 §2.1): flags, protocol 3, algorithm, public key.
    public var dnskeyRDATA: [UInt8] { [UInt8(flags >> 8), UInt8(flags & 0xFF), 3, algorithm.rawValue] + publicKey }

    /// The DNSKEY record (TTL from the caller).
    public func dnskey(ttl: UInt32) -> ResourceRecord {
        ResourceRecord(name: zone, type: .dnskey, ttl: ttl, rdata: dnskeyRDATA)
    }

    /// The key tag of DNSKEY RDATA (RFC 4034 Appendix B; not for algorithm 1).
    public static func keyTag(_ rdata: [UInt8]) -> UInt16 {
        var ac: UInt32 = 0
        for (i, b) in rdata.enumerated() { ac += i & 1 == 1 ? UInt32(b) : UInt32(b) << 8 }
        ac += (ac >> 16) & 0xFFFF
        return UInt16(ac & 0xFFFF)
    }

    /// The DS RDATA for this key with a SHA-256 digest (RFC 4509): key tag, algorithm, digest type 2, digest of the
    /// owner name (canonical) and the DNSKEY RDATA.
    public var dsRDATA: [UInt8] {
        let digest = SHA256.hash(data: zone.lowercased().wire + dnskeyRDATA)
        return [UInt8(keyTag >> 8), UInt8(keyTag & 0xFF), algorithm.rawValue, 2] + Array(digest)
    }

    /// The DS record in presentation form, as a registrar's form takes it: `example.com. IN DS 12345 13 2 ABCD…`.
    public var dsText: String {
        let d = dsRDATA
        return "\(zone) IN DS \(keyTag) \(algorithm.rawValue) 2 "
            + d[4...].map { String(format: "%02X", $0) }.joined()
    }

    /// The DS RDATA alone in presentation form (`12345 13 2 ABCD…`).
    public var dsPresentation: String {
        "\(keyTag) \(algorithm.rawValue) 2 " + dsRDATA[4...].map { String(format: "%02X", $0) }.joined()
    }

    /// Signs `data` (RFC 6605 §4: ECDSA's r and s, 32 octets each; RFC 8080 §4: Ed25519's 64 octets).
    func sign(_ data: [UInt8]) throws -> [UInt8] { try prepared().sign(data) }

    /// The private key ready to sign many times: made from its raw octets once (which computes the public point,
    /// as costly as a signature), not once per signature.
    func prepared() throws -> Prepared {
        switch secret {
        case .p256(let raw): .p256(try P256.Signing.PrivateKey(rawRepresentation: raw))
        case .ed25519(let raw): .ed25519(try Curve25519.Signing.PrivateKey(rawRepresentation: raw))
        }
    }

    /// A key's private half as swift-crypto holds it (one per signing thread).
    enum Prepared {
        case p256(P256.Signing.PrivateKey)
        case ed25519(Curve25519.Signing.PrivateKey)

        func sign(_ data: [UInt8]) throws -> [UInt8] {
            switch self {
            case .p256(let key):
                // The digest made here from the octets (RFC 6605 §4: SHA-256), not through `DataProtocol`.
                var hash = SHA256()
                data.withUnsafeBytes { hash.update(bufferPointer: $0) }
                let digest = hash.finalize()
                return Array(try key.signature(for: digest).rawRepresentation)
            case .ed25519(let key): return Array(try key.signature(for: data))
            }
        }
    }
}

/// Why a key file could not be used.
public struct KeyFileError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

extension SigningKey {
    /// The BIND file name stem: `Kexample.com.+013+12345` (`.key` and `.private` are added).
    public var fileStem: String {
        let tag = String(format: "%05d", keyTag)
        return "K\(zone.lowercased())+\(String(format: "%03d", algorithm.rawValue))+\(tag)"
    }

    /// The `.key` file: the DNSKEY record in presentation form, after a comment (as dnssec-keygen writes it).
    public var publicFile: String {
        let kind = isKSK ? "key-signing" : "zone-signing"
        return "; This is a \(kind) key, keyid \(keyTag), for \(zone.lowercased())\n"
            + "\(zone.lowercased()) IN DNSKEY \(flags) 3 \(algorithm.rawValue) "
            + Data(publicKey).base64EncodedString() + "\n"
    }

    /// The `.private` file (format v1.3, as dnssec-keygen and ldns-keygen write it).
    public var privateFile: String {
        let secretBytes: Data =
            switch secret {
            case .p256(let raw): Data(raw)
            case .ed25519(let raw): Data(raw)
            }
        return "Private-key-format: v1.3\nAlgorithm: \(algorithm.rawValue) (\(algorithm))\n"
            + "PrivateKey: \(secretBytes.base64EncodedString())\n"
    }

    /// Reads a key from BIND's pair of files (`stem.key`, `stem.private`), as `dnssec-keygen` or `ldns-keygen`
    /// make them: the zone and flags from the DNSKEY, the private key from the `.private` file, checked to match.
    public static func read(stem: String) throws(KeyFileError) -> SigningKey {
        let pub: String
        let priv: String
        do {
            pub = try String(contentsOfFile: stem + ".key", encoding: .utf8)
            priv = try String(contentsOfFile: stem + ".private", encoding: .utf8)
        } catch {
            throw KeyFileError(description: "\(stem).key/.private: \(error.localizedDescription)")
        }
        // The DNSKEY line: OWNER [TTL] [IN] DNSKEY FLAGS 3 ALG BASE64…
        guard
            let line = pub.split(separator: "\n").first(where: {
                !$0.hasPrefix(";") && $0.split(separator: " ").contains("DNSKEY")
            })
        else { throw KeyFileError(description: "\(stem).key: no DNSKEY record") }
        let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let at = f.firstIndex(of: "DNSKEY"), f.count > at + 4, let flags = UInt16(f[at + 1]),
            let algNumber = UInt8(f[at + 3]), let zone = try? DomainName(f[0])
        else { throw KeyFileError(description: "\(stem).key: cannot read the DNSKEY record") }
        guard let algorithm = SigningAlgorithm(rawValue: algNumber) else {
            throw KeyFileError(
                description: "\(stem).key: algorithm \(algNumber) is not supported (13 ECDSAP256SHA256, 15 ED25519)")
        }
        guard
            let value = priv.split(separator: "\n").first(where: { $0.hasPrefix("PrivateKey:") })?
                .dropFirst("PrivateKey:".count).trimmingCharacters(in: .whitespaces),
            let raw = Data(base64Encoded: value)
        else { throw KeyFileError(description: "\(stem).private: no PrivateKey line") }
        let key: SigningKey
        do {
            key = try SigningKey(
                zone: zone, flags: flags, algorithm: algorithm,
                secret: algorithm == .ecdsaP256SHA256 ? .p256(Array(raw)) : .ed25519(Array(raw)))
        } catch {
            throw KeyFileError(description: "\(stem).private: the private key does not read: \(error)")
        }
        let published = f[(at + 4)...].joined()
        guard Data(base64Encoded: published).map(Array.init) == key.publicKey else {
            throw KeyFileError(description: "\(stem): the .key and .private files are not one key")
        }
        return key
    }

    /// Writes the key's `.key` and `.private` files into `directory` (the private one mode 0600).
    public func write(to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let stem = (directory as NSString).appendingPathComponent(fileStem)
        try publicFile.write(toFile: stem + ".key", atomically: true, encoding: .utf8)
        let path = stem + ".private"
        _ = FileManager.default.createFile(
            atPath: path, contents: Data(privateFile.utf8), attributes: [.posixPermissions: 0o600])
        guard FileManager.default.contents(atPath: path) == Data(privateFile.utf8) else {
            throw KeyFileError(description: "\(path): cannot be written")
        }
    }

    /// Every key whose files are in `directory` for `zone` (`K<zone>+*.private` with its `.key`).
    public static func all(in directory: String, zone: DomainName) throws(KeyFileError) -> [SigningKey] {
        let prefix = "K\(zone.lowercased())+"
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var keys: [SigningKey] = []
        for file in files.sorted() where file.hasPrefix(prefix) && file.hasSuffix(".private") {
            let stem = (directory as NSString).appendingPathComponent(String(file.dropLast(".private".count)))
            keys.append(try read(stem: stem))
        }
        return keys
    }
}
