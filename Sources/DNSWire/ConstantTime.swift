// ConstantTime: comparing secrets without leaking where they differ.

/// Compares two MACs or tokens in time that depends only on their length (no early exit that would leak a prefix).
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<a.count { diff |= a[i] ^ b[i] }
    return diff == 0
}
