// DigTests: the real binary answers dig as NSD and Knot would — sections, flags, rcodes, EDNS, TCP.

import Foundation
import TestSupport
import Testing

/// The zone the integration tests serve: every answer shape in a few lines.
let itZone = """
    $ORIGIN example.com.
    $TTL 3600
    @       IN SOA ns1 hostmaster ( 2026112101 3600 900 1209600 300 )
            IN NS  ns1
            IN NS  ns2
            IN MX  10 mail
    ns1     IN A   192.0.2.10
    ns2     IN A   198.51.100.10
    www  60 IN A   192.0.2.10
    www  60 IN A   198.51.100.10
    mail    IN A   192.0.2.25
    ftp     IN CNAME www
    chain   IN CNAME ftp
    ext     IN CNAME www.example.net.
    dangling IN CNAME nothing
    a.ent   IN A   192.0.2.50
    *.wild  IN A   192.0.2.77
    *.wcname IN CNAME www
    branch  IN NS  ns.branch
    branch  IN NS  ns.elsewhere.net.
    ns.branch IN A 203.0.113.53
    big     IN TXT "\(String(repeating: "a", count: 250))"
    big     IN TXT "\(String(repeating: "b", count: 250))"
    big     IN TXT "\(String(repeating: "c", count: 250))"
    d       IN DNAME example.net.
    """

let itConfig = """
    server:
      identity: it-ns
      version: UplinkDNS-it
      nsid: it-nsid
      udp-workers: 1
      tcp:
        max-connections: 4
        idle-timeout: 1
    zones:
      - origin: example.com.
        file: example.com.zone
    """

/// Each test starts its own server (Swift Testing makes a suite instance per test), so tests stay independent
/// and can run in parallel; the server stops when the instance goes away.
@Suite struct DigTests {
    let s: ServerProcess

    init() throws {
        s = try ServerProcess(files: ["uplinkdns.yaml": itConfig, "example.com.zone": itZone])
    }

    @Test func siteNameHasBothLinesAuthoritatively() throws {
        for transport in ["+notcp", "+tcp"] {
            let d = try s.dig("www.example.com", "A", transport)
            #expect(d.status == "NOERROR", "\(d)")
            #expect(d.flags == ["qr", "aa"], "\(d)")
            #expect(Set(d.answer) == ["www.example.com. 60 IN A 192.0.2.10", "www.example.com. 60 IN A 198.51.100.10"])
            #expect(d.authority.isEmpty)  // minimal responses: no apex NS in positive answers
        }
    }

    @Test func nxdomainAndNodataCarryTheSOAWithTheNegativeTTL() throws {
        // The served serial (the file's), with the negative TTL (RFC 2308 §3).
        let serial = try #require(try s.dig("example.com", "SOA").answer.first?.split(separator: " ")[6])
        let soa = "example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. \(serial) 3600 900 1209600 300"
        let nx = try s.dig("nothing.example.com", "A")
        #expect(nx.status == "NXDOMAIN" && nx.flags.contains("aa") && nx.answer.isEmpty)
        #expect(nx.authority == [soa])
        let nodata = try s.dig("www.example.com", "MX")
        #expect(nodata.status == "NOERROR" && nodata.flags.contains("aa") && nodata.answer.isEmpty)
        #expect(nodata.authority == [soa])
        let ent = try s.dig("ent.example.com", "A")
        #expect(ent.status == "NOERROR" && ent.authority == [soa])
        #expect(try s.dig("x.ent.example.com", "A").status == "NXDOMAIN")
    }

    @Test func cnameChainsStopAtTheZoneEdgeAndDanglingIsNXDOMAIN() throws {
        let chain = try s.dig("chain.example.com", "A")
        #expect(
            chain.answer.prefix(2) == [
                "chain.example.com. 3600 IN CNAME ftp.example.com.",
                "ftp.example.com. 3600 IN CNAME www.example.com.",
            ])
        #expect(chain.answer.count == 4 && chain.flags.contains("aa"))
        let ext = try s.dig("ext.example.com", "A")
        #expect(ext.answer == ["ext.example.com. 3600 IN CNAME www.example.net."] && ext.status == "NOERROR")
        let dangling = try s.dig("dangling.example.com", "A")
        #expect(dangling.status == "NXDOMAIN" && dangling.answer.count == 1)
        #expect(try s.dig("ftp.example.com", "CNAME").answer == ["ftp.example.com. 3600 IN CNAME www.example.com."])
    }

    @Test func wildcardsSynthesiseTheQueryName() throws {
        let w = try s.dig("a.b.wild.example.com", "A")
        #expect(w.answer == ["a.b.wild.example.com. 3600 IN A 192.0.2.77"] && w.flags.contains("aa"))
        let wc = try s.dig("x.wcname.example.com", "A")
        #expect(wc.answer.first == "x.wcname.example.com. 3600 IN CNAME www.example.com." && wc.answer.count == 3)
        let nodata = try s.dig("x.wild.example.com", "TXT")
        #expect(nodata.status == "NOERROR" && nodata.answer.isEmpty && nodata.authority.count == 1)
    }

    @Test func referralsHaveNoAAAndCarryGlue() throws {
        let r = try s.dig("host.branch.example.com", "A")
        #expect(r.status == "NOERROR" && r.flags == ["qr"], "\(r)")
        #expect(
            Set(r.authority) == [
                "branch.example.com. 3600 IN NS ns.branch.example.com.",
                "branch.example.com. 3600 IN NS ns.elsewhere.net.",
            ])
        #expect(r.additional == ["ns.branch.example.com. 3600 IN A 203.0.113.53"])
        let ds = try s.dig("branch.example.com", "DS")
        #expect(ds.flags.contains("aa") && ds.answer.isEmpty && ds.authority.first?.contains("SOA") == true)
    }

    @Test func mxTargetsGetAddressesInAdditional() throws {
        let mx = try s.dig("example.com", "MX")
        #expect(mx.answer == ["example.com. 3600 IN MX 10 mail.example.com."])
        #expect(mx.additional == ["mail.example.com. 3600 IN A 192.0.2.25"])
    }

    @Test func dnameSynthesisesACNAME() throws {
        let d = try s.dig("www.d.example.com", "A")
        #expect(
            d.answer == [
                "d.example.com. 3600 IN DNAME example.net.",
                "www.d.example.com. 3600 IN CNAME www.example.net.",
            ])
    }

    @Test func outsideEveryZoneIsRefusedWithoutAA() throws {
        let d = try s.dig("www.example.org", "A")
        #expect(d.status == "REFUSED" && !d.flags.contains("aa") && !d.flags.contains("ra"))
        let rd = try s.dig("www.example.com", "A", "+rec")
        #expect(rd.flags == ["qr", "aa", "rd"])  // RD copied, RA never set
    }

    @Test func anyIsOneRRsetOverUDPAndTCP() throws {
        for transport in ["+notcp", "+tcp"] {
            let d = try s.dig("example.com", "ANY", transport)
            #expect(Set(d.answer.map { $0.split(separator: " ")[3] }).count == 1, "\(d)")
        }
    }

    @Test func questionCaseIsKept() throws {
        let d = try s.dig("WwW.ExAmPlE.cOm", "A")
        #expect(d.question == ";WwW.ExAmPlE.cOm. IN A")
        #expect(d.answer.allSatisfy { $0.hasPrefix("WwW.ExAmPlE.cOm. ") })
    }

    @Test func ednsBehaviour() throws {
        let plain = try s.dig("www.example.com", "+noedns")
        #expect(!plain.hasOPT)
        let edns = try s.dig("www.example.com")
        #expect(edns.text.contains("udp: 1232"))
        let nsid = try s.dig("www.example.com", "+nsid")
        #expect(nsid.text.contains("(\"it-nsid\")"))
        let badvers = try s.dig("www.example.com", "+edns=1", "+noednsnegotiation")
        #expect(badvers.status == "BADVERS", "\(badvers)")
    }

    @Test func truncationOverUDPAndCompleteOverTCP() throws {
        let udp = try s.dig("big.example.com", "TXT", "+noedns", "+ignore")
        #expect(udp.flags.contains("tc") && udp.answer.isEmpty)
        let tcp = try s.dig("big.example.com", "TXT", "+tcp")
        #expect(!tcp.flags.contains("tc") && tcp.answer.count == 3)
        let retried = try s.dig("big.example.com", "TXT", "+noedns")  // dig retries over TCP after TC
        #expect(retried.answer.count == 3)
    }

    @Test func chaosIdentityAndVersion() throws {
        let v = try s.dig("version.bind", "CH", "TXT")
        #expect(v.answer == ["version.bind. 0 CH TXT \"UplinkDNS-it\""] && !v.flags.contains("aa"))
        #expect(try s.dig("id.server", "CH", "TXT").answer == ["id.server. 0 CH TXT \"it-ns\""])
        #expect(try s.dig("hostname.bind", "CH", "TXT").answer.count == 1)
        #expect(try s.dig("authors.bind", "CH", "TXT").status == "REFUSED")
    }

    @Test func zoneTransfersAndNotifyAreNotServedYet() throws {
        // RFC 5936 §4.2: no transfers over UDP (NOTIMP); over TCP REFUSED until transfers are configured.
        let udp = try #require(
            udpExchange(port: s.port, queryBytes("example.com.", .axfr, id: 7)))
        #expect(udp[3] & 0x0F == 4)
        let c = try TCPClient(port: s.port)
        c.send(tcpFramed(queryBytes("example.com.", .axfr, id: 8)))
        #expect(try #require(c.receive())[3] & 0x0F == 5)
        #expect(try s.dig("+opcode=notify", "example.com", "SOA").status == "NOTIMP")
    }

    @Test func kdigAgrees() throws {
        let r = try run(try tool("kdig"), ["@127.0.0.1", "-p", "\(s.port)", "+norec", "+tcp", "www.example.com", "A"])
        #expect(r.out.contains("status: NOERROR") && r.out.contains("Flags: qr aa;"), "\(r.out)")
        #expect(r.out.contains("198.51.100.10") && r.out.contains("192.0.2.10"))
    }

    @Test func tcpPipelinesAndAnswersInOrder() throws {
        let c = try TCPClient(port: s.port)
        c.send(
            tcpFramed(queryBytes("www.example.com.", .a, id: 1)) + tcpFramed(queryBytes("mail.example.com.", .a, id: 2))
                + tcpFramed(queryBytes("www.example.com.", .a, id: 3)))
        for id in [1, 2, 3] {
            let r = try #require(c.receive())
            #expect(Int(r[0]) << 8 | Int(r[1]) == id)
            #expect(r[3] & 0x0F == 0)
        }
    }

    @Test func aTruncatedTCPFrameGetsNoAnswer() throws {
        let c = try TCPClient(port: s.port)
        let q = tcpFramed(queryBytes("www.example.com.", .a, id: 9))
        c.send(Array(q.prefix(10)))
        shutdown(c.fd, Int32(SHUT_WR))
        #expect(c.receive() == nil)
    }

    @Test func idleTCPConnectionsAreClosed() throws {
        let c = try TCPClient(port: s.port)  // idle-timeout is 1 s in this config
        let start = Date()
        #expect(c.closedByServer())
        #expect(Date().timeIntervalSince(start) < 4, "idle-timeout is 1 s")
    }

    /// max-connections 4: nine tenths of it (at least one slot) is where each new connection closes the oldest idle
    /// one (RFC 7766 §6.2.2: a full table must not keep new clients out); UDP is not affected.
    @Test func aFullTableClosesTheOldestIdleConnectionsForNewOnesAndUDPKeepsServing() throws {
        var held: [TCPClient] = []
        for _ in 0..<4 {
            held.append(try TCPClient(port: s.port))
            usleep(50_000)
        }
        let extra = try TCPClient(port: s.port)
        #expect(held[0].closedByServer() && held[1].closedByServer())
        #expect(try s.dig("www.example.com", "+notcp").status == "NOERROR")
        for c in [held[2], held[3], extra] {
            c.send(tcpFramed(queryBytes("www.example.com.", .a, id: 5)))
            #expect(c.receive() != nil)
        }
    }
}

extension DigTests {
    @Test func malformedDatagramsGetFORMERROrNothingAndTheServerKeepsAnswering() throws {
        let noQuestion: [UInt8] = [0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        let r = try #require(udpExchange(port: s.port, noQuestion))
        #expect(r.count == 12 && r[3] & 0x0F == 1 && r[2] & 0x80 != 0)
        #expect(udpExchange(port: s.port, [1, 2, 3]) == nil)
        var response = queryBytes("www.example.com.", .a, id: 3)
        response[2] |= 0x80
        #expect(udpExchange(port: s.port, response) == nil)
        #expect(try s.dig("www.example.com").status == "NOERROR")
    }
}
