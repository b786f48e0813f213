// ZoneText: test helpers that load zones and records written as master-file text.

import DNSWire
import Foundation
import Zones

/// Loads `text` through ldns, as the server loads a file (from memory: no temporary file).
public func loadZone(_ text: String, origin: String = "example.com.") throws -> Zone {
    try ZoneFileLoader.load(text: text, origin: DomainName(origin), displayPath: "test.zone")
}

/// The errors a zone text produces (empty if it loads).
public func zoneErrors(_ text: String, origin: String = "example.com.") -> [ZoneError] {
    do {
        _ = try loadZone(text, origin: origin)
        return []
    } catch let failure as ZoneLoadFailure {
        return failure.errors
    } catch {
        return [ZoneError(file: "?", line: nil, message: "\(error)")]
    }
}

/// Records written as zone text, one per line.
public func records(_ lines: [String]) throws -> [ResourceRecord] {
    try lines.map { try ZoneFileLoader.parseRecord($0) }
}

/// The example zone most lookup tests use: every RFC 1034 §4.3.2 situation in a few lines.
public let exampleZone = """
    $ORIGIN example.com.
    $TTL 3600
    @       IN SOA ns1 hostmaster ( 1 3600 900 1209600 300 )
            IN NS  ns1
            IN NS  ns2.other.net.
            IN MX  10 mail
    ns1     IN A   192.0.2.1
    www  60 IN A   192.0.2.10
    www  60 IN A   198.51.100.10
    www  60 IN AAAA 2001:db8::10
    mail    IN A   192.0.2.25
    alias   IN CNAME www
    chain   IN CNAME alias
    outside IN CNAME www.other.net.
    dangling IN CNAME nothing
    loop1   IN CNAME loop2
    loop2   IN CNAME loop1
    a.b.ent IN A   192.0.2.50
    *.wild  IN A   192.0.2.77
    *.wild  IN TXT "wild"
    exists.wild IN TXT "exists"
    *.wcname IN CNAME www
    sub     IN NS  ns.sub
    sub     IN NS  ns.other.net.
    sub     IN DS  12345 8 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
    ns.sub  IN A   192.0.2.53
    _sip._udp IN SRV 10 5 5060 www
    txt     IN TXT "one" "two three"
    d       IN DNAME target.example.net.
    dlocal  IN DNAME www.example.com.
    """

/// A zone with every kind of record the loader takes: several TXT strings (with quotes and a semicolon), CAA, SRV,
/// CNAMEs into and out of the zone, a DNAME, a wildcard, PTR, an unknown type (RFC 3597) and a delegation with glue.
public let variedZone = """
    $ORIGIN example.com.
    $TTL 3600
    @       IN SOA ns1 hostmaster ( 2026112101 3600 900 1209600 300 )
            IN NS  ns1
            IN NS  ns2.other.net.
            IN MX  10 mail
            IN TXT "v=spf1 -all" "second string" "with \\"quotes\\" and ; semicolon"
            IN CAA 0 issue "letsencrypt.org"
    ns1     IN A   192.0.2.1
            IN AAAA 2001:db8::1
    mail 60 IN A   192.0.2.2
    _sip._tcp IN SRV 10 60 5060 sip
    sip     IN A   192.0.2.3
    ftp     IN CNAME www
    alias   IN CNAME www.other.net.
    old     IN DNAME new.example.net.
    *.wild  IN TXT "wild"
    ptr     IN PTR host.example.net.
    odd     IN TYPE65280 \\# 4 0a0b0c0d
    sub     IN NS  ns.sub
    ns.sub  IN A   192.0.2.53
    """
