// LinkHealthTests: rise/fall hysteresis, overrides and their expiry, persistence.

import Foundation
import Health
import Testing

let t0 = Date(timeIntervalSince1970: 1_800_000_000)

@Suite struct LinkHealthTests {
    /// Rounds (g = good, b = bad) and the probed state after each, with rise 2 and fall 3.
    @Test(arguments: [
        ("bbb", "uud"),  // three bad rounds take an up line down
        ("bbgbb", "uuuuu"),  // a good round breaks the streak
        ("bbbgg", "uuddu"),  // down after 3, up again after 2
        ("bbbgbg", "uudddd"),  // alternating never comes back up
    ])
    func hysteresis(rounds: String, expected: String) {
        var h = LinkHealth(name: "cnc", since: t0)
        var got = ""
        for (i, c) in rounds.enumerated() {
            _ = h.record(good: c == "g", reason: "tcp", rise: 2, fall: 3, at: t0.addingTimeInterval(Double(i)))
            got += h.probed == .up ? "u" : "d"
        }
        #expect(got == expected)
    }

    @Test func overridesWinAndExpire() {
        var h = LinkHealth(name: "cnc", since: t0)
        h.setOverride(.drain, for: 600, at: t0)
        #expect(h.effective(at: t0) == .down && h.probed == .up)
        #expect(h.effective(at: t0.addingTimeInterval(599)) == .down)
        #expect(h.effective(at: t0.addingTimeInterval(600)) == .up)  // expired: a drill cannot be forgotten
        #expect(h.expire(at: t0.addingTimeInterval(601)) && h.override == nil)
        for _ in 0..<3 { _ = h.record(good: false, reason: "tcp", rise: 2, fall: 3, at: t0) }
        h.setOverride(.forceUp, at: t0)
        #expect(h.effective(at: t0.addingTimeInterval(1e6)) == .up)  // no expiry given: until cleared
        h.setOverride(nil, at: t0)
        #expect(h.effective(at: t0) == .down)
        #expect(h.reason == "operator: auto")
    }

    @Test func storeRoundTripsAtomicallyAndIgnoresOldState() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("health-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = HealthStore(directory: dir)
        var h = LinkHealth(name: "cnc", since: t0)
        h.setOverride(.drain, at: t0)
        try store.save([h, LinkHealth(name: "unicom", since: t0)], at: t0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["health.json"])  // no temp file left
        let back = try #require(store.load(maxAge: 60, at: t0.addingTimeInterval(30)))
        #expect(back.map(\.name) == ["cnc", "unicom"] && back[0].override == .drain)
        #expect(store.load(maxAge: 60, at: t0.addingTimeInterval(61)) == nil)
        try "{ torn".write(toFile: store.path, atomically: false, encoding: .utf8)
        #expect(store.load(maxAge: 60, at: t0) == nil)
    }
}
