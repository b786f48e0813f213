// RateLimiterTests: RRL decisions — the rate per client network and response, slips, windows, exemptions.

import Responder
import Testing
import Uplinks

@Suite struct RateLimiterTests {
    func limiter(rate: Int = 5, slip: Int = 2, exempt: [String] = []) -> RateLimiter {
        var s = RateLimitSettings()
        s.responsesPerSecond = rate
        s.slip = slip
        s.exempt = exempt.compactMap(AddressPrefix.init)
        return RateLimiter(s, slots: 1024)
    }

    func client(_ text: String) -> ClientAddress { ClientAddress(IPAddress(text)!) }

    @Test func aFloodGetsTheRateThenSlipsAndDrops() {
        let l = limiter()
        let verdicts = (0..<20).map { _ in l.check(client: client("198.51.100.7"), answer: .body(3), now: 1000) }
        #expect(verdicts.prefix(5).allSatisfy { $0 == .send })
        // Over the rate: every second one slips (TC), the others are dropped.
        #expect(verdicts.dropFirst(5).filter { $0 == .slip }.count == 7)
        #expect(verdicts.dropFirst(5).filter { $0 == .drop }.count == 8)
        #expect(l.counts == (dropped: 8, slipped: 7))
        // The same /24 shares the budget; the next second starts afresh.
        #expect(l.check(client: client("198.51.100.200"), answer: .body(3), now: 1000) != .send)
        #expect(l.check(client: client("198.51.100.7"), answer: .body(3), now: 1001) == .send)
    }

    @Test func otherNetworksAndOtherResponsesAreNotTouched() {
        let l = limiter(rate: 2, slip: 0)
        for _ in 0..<10 { _ = l.check(client: client("198.51.100.7"), answer: .body(3), now: 5) }
        #expect(l.check(client: client("198.51.100.7"), answer: .body(3), now: 5) == .drop)  // slip 0: never TC
        #expect(l.check(client: client("198.51.101.7"), answer: .body(3), now: 5) == .send)  // another /24
        #expect(l.check(client: client("198.51.100.7"), answer: .body(4), now: 5) == .send)  // another response
        #expect(l.check(client: client("198.51.100.7"), answer: AnswerRef.error, now: 5) == .send)
    }

    @Test func ipv6ByThe56AndExemptions() {
        let l = limiter(rate: 1, slip: 0, exempt: ["203.0.113.0/24", "2001:db8:ffff::/48"])
        #expect(l.check(client: client("2001:db8:1:100::1"), answer: .body(9), now: 7) == .send)
        #expect(l.check(client: client("2001:db8:1:1ff::2"), answer: .body(9), now: 7) == .drop)  // same /56
        #expect(l.check(client: client("2001:db8:1:200::1"), answer: .body(9), now: 7) == .send)  // next /56
        for _ in 0..<50 {
            #expect(l.check(client: client("203.0.113.9"), answer: .body(9), now: 7) == .send)
            #expect(l.check(client: client("2001:db8:ffff:1::9"), answer: .body(9), now: 7) == .send)
        }
    }

    @Test func offByZeroAndReloadable() {
        let l = limiter(rate: 0)
        #expect(!l.isOn)
        #expect(
            (0..<100).allSatisfy { _ in l.check(client: client("198.51.100.7"), answer: .body(1), now: 1) == .send })
        var s = RateLimitSettings()
        s.responsesPerSecond = 1
        s.exempt = []
        l.update(s)
        #expect(l.isOn)
        #expect(l.check(client: client("198.51.100.7"), answer: .body(1), now: 2) == .send)
        #expect(l.check(client: client("198.51.100.7"), answer: .body(1), now: 2) != .send)
    }

    @Test func truncationKeepsHeaderAndQuestion() {
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
        defer { out.deallocate() }
        let response: [UInt8] = [0xbe, 0xef, 0x84, 0x00, 0, 1, 0, 1, 0, 0, 0, 1] + [1, 97, 0, 0, 1, 0, 1] + [9, 9, 9]
        out.copyBytes(from: response)
        let n = RateLimiter.truncate(out, length: response.count, questionEnd: 19)
        #expect(n == 19)
        #expect(Array(out[0..<n]) == [0xbe, 0xef, 0x86, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 1, 97, 0, 0, 1, 0, 1])
    }
}
