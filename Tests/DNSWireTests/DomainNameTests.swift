// DomainNameTests: presentation and wire forms, case rules, limits.

import DNSWire
import Testing

@Suite struct DomainNameTests {
    @Test func parsesAndPrintsWithEscapes() throws {
        let n = try DomainName("a\\.b.Ex\\065mple.com.")
        #expect(n.labelCount == 3)
        #expect(n.description == "a\\.b.ExAmple.com.")
        #expect(try DomainName("www", origin: DomainName("example.com.")).description == "www.example.com.")
        #expect(DomainName.root.description == ".")
    }

    @Test func comparesCaseInsensitivelyButKeepsCase() throws {
        let a = try DomainName("WWW.Example.COM.")
        let b = try DomainName("www.example.com.")
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(a.description == "WWW.Example.COM.")
        #expect(a.lowercased().wire == b.wire)
    }

    @Test func subdomainsAndWildcards() throws {
        let apex = try DomainName("example.com.")
        #expect(try DomainName("a.b.example.com.").isSubdomain(of: apex))
        #expect(apex.isSubdomain(of: apex))
        #expect(!(try DomainName("badexample.com.").isSubdomain(of: apex)))
        #expect(apex.wildcardChild?.isWildcard == true)
        #expect(try DomainName("a.example.com.").parent == apex)
    }

    @Test func refusesOversizedLabelsAndNames() {
        #expect(throws: DNSWireError.self) { try DomainName(String(repeating: "a", count: 64) + ".com.") }
        let long = Array(repeating: String(repeating: "a", count: 63), count: 4).joined(separator: ".") + "."
        #expect(throws: DNSWireError.nameTooLong) { try DomainName(long) }
        #expect(throws: DNSWireError.self) { try DomainName("a..b.") }
    }
}

@Suite struct CanonicalOrderTests {
    /// RFC 4034 §6.1's own example, in order, shuffled and sorted back.
    @Test func rfc4034Example() throws {
        let ordered = [
            "example.", "a.example.", "yljkjljk.a.example.", "Z.a.example.", "zABC.a.EXAMPLE.", "z.example.",
            "\\001.z.example.", "*.z.example.", "\\200.z.example.",
        ]
        let names = try ordered.map { try DomainName($0) }
        #expect(names.shuffled().sorted() == names)
        for (i, a) in names.enumerated() {
            for (j, b) in names.enumerated() {
                #expect((a < b) == (i < j), "\(a) < \(b)")
            }
        }
        #expect(!(try DomainName("A.example.") < DomainName("a.EXAMPLE.")))
    }
}
