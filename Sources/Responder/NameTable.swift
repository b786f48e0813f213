// NameTable: an open-addressing hash table from lower-cased wire names to node indexes, probed without allocating.

import CUplinkSys
import DNSWire

/// Maps lower-cased uncompressed wire names to integers. Keys live in one byte arena; a probe hashes and compares
/// bytes straight from the caller's buffer, so a lookup allocates nothing and takes no lock.
struct NameTable: Sendable {
    private var keys: [UInt8] = []
    /// Per slot: key offset and length in `keys`, its hash, and value + 1 (0 = empty slot).
    private var slots: [Slot]
    private let mask: Int
    /// Keys appended (`append`) and not yet in `slots` (`commit`): key offset and length, value.
    private var pending: [(offset: Int32, length: Int32, value: Int32)] = []

    struct Slot: Sendable {
        var offset: Int32 = 0
        var length: Int32 = 0
        var hash: UInt32 = 0
        var valuePlusOne: Int32 = 0
    }

    /// A table with room for `count` keys at a load factor of at most one half (short probe runs).
    init(capacity count: Int) {
        var size = 16
        while size < count * 2 { size <<= 1 }
        slots = Array(repeating: Slot(), count: size)
        mask = size - 1
    }

    /// FNV-1a over the key octets: cheap, and spreads the similar names of one zone well.
    @inline(__always)
    static func hash(_ p: UnsafeRawBufferPointer) -> UInt32 {
        var h: UInt32 = 2_166_136_261
        for b in p { h = (h ^ UInt32(b)) &* 16_777_619 }
        return h
    }

    /// Inserts `name` lower-cased (ASCII letters, RFC 4343); returns false when it is already present. One walk
    /// of the probe run finds an equal key or the free slot.
    @discardableResult
    mutating func insert(folding name: UnsafeRawBufferPointer, value: Int32) -> Bool {
        let at = appendKey(folding: name)
        let h = keys.withUnsafeBytes { NameTable.hash(UnsafeRawBufferPointer(rebasing: $0[at...])) }
        var i = Int(h) & mask
        let present = keys.withUnsafeBytes { k in
            slots.withUnsafeBufferPointer { s in
                while s[i].valuePlusOne != 0 {
                    let slot = s[i]
                    if slot.hash == h && Int(slot.length) == name.count
                        && memcmpEqual(k.baseAddress! + Int(slot.offset), k.baseAddress! + at, name.count)
                    {
                        return true
                    }
                    i = (i + 1) & mask
                }
                return false
            }
        }
        if present {
            keys.removeLast(name.count)
            return false
        }
        slots[i] = Slot(offset: Int32(at), length: Int32(name.count), hash: h, valuePlusOne: value + 1)
        return true
    }

    /// Appends `name` lower-cased with `value`, to be put in the table by `commit`: for names known to be new (one
    /// zone's, which are unique), so that they go in as a batch whose cache misses overlap.
    mutating func append(folding name: UnsafeRawBufferPointer, value: Int32) {
        let at = appendKey(folding: name)
        pending.append((Int32(at), Int32(name.count), value))
    }

    /// Appends `name` lower-cased to the keys and returns where it starts. One append and a fold in place: an append
    /// per octet checks the storage's uniqueness each time.
    private mutating func appendKey(folding name: UnsafeRawBufferPointer) -> Int {
        let at = keys.count
        keys.append(contentsOf: name)
        keys.withUnsafeMutableBufferPointer { k in
            for i in at..<k.count { k[i] = DomainName.fold(k[i]) }
        }
        return at
    }

    /// Puts the appended names in the table. The table is larger than the caches, so each slot is asked for a few
    /// names before it is written (`uplink_prefetch`): the misses overlap, which is most of what filling a table
    /// of a million names costs.
    mutating func commit() {
        guard !pending.isEmpty else { return }
        let hashes = keys.withUnsafeBytes { k in
            pending.map {
                NameTable.hash(UnsafeRawBufferPointer(rebasing: k[Int($0.offset)..<Int($0.offset + $0.length)]))
            }
        }
        let ahead = 8
        let mask = self.mask
        slots.withUnsafeMutableBufferPointer { s in
            for j in pending.indices {
                if j + ahead < hashes.count { uplink_prefetch(s.baseAddress! + (Int(hashes[j + ahead]) & mask)) }
                let h = hashes[j]
                var i = Int(h) & mask
                while s[i].valuePlusOne != 0 { i = (i + 1) & mask }
                let p = pending[j]
                s[i] = Slot(offset: p.offset, length: p.length, hash: h, valuePlusOne: p.value + 1)
            }
        }
        pending.removeAll()
    }

    /// The value for `key`, or nil.
    @inline(__always)
    func find(_ key: UnsafeRawBufferPointer) -> Int32? {
        let h = NameTable.hash(key)
        var i = Int(h) & mask
        return slots.withUnsafeBufferPointer { s in
            keys.withUnsafeBytes { k in
                while true {
                    let slot = s[i]
                    if slot.valuePlusOne == 0 { return nil }
                    if slot.hash == h && Int(slot.length) == key.count
                        && memcmpEqual(k.baseAddress! + Int(slot.offset), key.baseAddress!, key.count)
                    {
                        return slot.valuePlusOne - 1
                    }
                    i = (i + 1) & mask
                }
            }
        }
    }
}

@inline(__always)
private func memcmpEqual(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ n: Int) -> Bool {
    var i = 0
    while i < n {
        if a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) { return false }
        i += 1
    }
    return true
}
