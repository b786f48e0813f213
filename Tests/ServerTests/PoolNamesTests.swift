// PoolNamesTests: one pool definition for many names (`names`, `names-file`), as a host with many customers on the
// same lines writes it; each name a pool of its own, every mistake at its file and line.

import Foundation
import Server
import Testing
import Uplinks

@Suite struct PoolNamesTests {
    @Test func oneDefinitionAnswersEveryNameItLists() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("names-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "# customers\nshop.a.\n  blog.a   # without the dot\n\n".write(
            to: dir.appendingPathComponent("names.txt"), atomically: true, encoding: .utf8)
        let path = dir.appendingPathComponent("uplinkdns.yaml").path
        try
            (uplinksBase + """
                pools:
                  - name: www.a.
                    names: [web.a.]
                    names-file: names.txt
                    links: [unicom, cnc]
                    policy: failover
                """).write(toFile: path, atomically: true, encoding: .utf8)
        let c = try Config.load(path: path)
        #expect(c.uplinks.pools.map(\.name.description) == ["www.a.", "web.a.", "shop.a.", "blog.a."])
        #expect(Set(c.uplinks.pools.map(\.policy)) == [.failover])
        #expect(c.uplinks.pools.allSatisfy { $0.members.map(\.link) == ["unicom", "cnc"] })

        // A name that does not parse is an error at its file and line; a name given twice, at the second.
        try "shop.a.\nbad..name\nwww.a.\n".write(
            to: dir.appendingPathComponent("names.txt"), atomically: true, encoding: .utf8)
        let failure = try #require(throws: ConfigFailure.self) { try Config.load(path: path) }
        let names = dir.appendingPathComponent("names.txt").path
        #expect(
            failure.errors.map(\.description) == [
                "\(names):2: 'bad..name' is not a domain name",
                "\(names):3: pool www.a. is defined twice (first on line 10)",
            ], "\(failure.errors)")
    }

    @Test func aPoolWithoutAnyNameIsRefused() throws {
        let failure = try #require(throws: ConfigFailure.self) {
            try Config.parse(uplinksBase + "pools:\n  - links: [unicom]\n", path: "/x/c.yaml")
        }
        #expect(failure.errors.map(\.description).contains { $0.contains("needs a 'name'") }, "\(failure.errors)")
    }
}
