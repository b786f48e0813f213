// Base32Hex: RFC 4648 §7's "base32 with extended hex alphabet", lower case and unpadded, as NSEC3 owner names use it
// (RFC 5155 §3.3).

public enum Base32Hex {
    /// `bytes` in base32hex: five bits per character from `0-9a-v`, the last character padded with zero bits.
    public static func encode(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        let alphabet = Array("0123456789abcdefghijklmnopqrstuv".utf8)
        var out: [UInt8] = []
        var buffer = 0
        var bits = 0
        for b in bytes {
            buffer = (buffer << 8 | Int(b)) & 0xFFFF
            bits += 8
            while bits >= 5 {
                out.append(alphabet[(buffer >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[(buffer << (5 - bits)) & 31]) }
        return out
    }
}
