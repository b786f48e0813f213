// Tool: runs a command-line tool the tests check output with (dnssec-verify, keepalived, nft), its output caught.

import Foundation

/// Runs the tool at `path` with `args` (in `dir`, when given); its exit status and output, stdout and stderr together.
public func tool(_ path: String, _ args: [String], in dir: URL? = nil) throws -> (status: Int32, out: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    if let dir { p.currentDirectoryURL = dir }
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// The site the director's tests share (documentation and benchmarking addresses): NAT wrr 2:3 with every check kind
/// a real server takes, an fwmark service over 80 and 443 with persistence, and a UDP service by source hashing.
public let directorSiteYAML = """
    director:
      apply: nft
      services:
        - name: web
          address: 203.0.113.80
          port: 80
          scheduler: wrr
          real-servers:
            - address: 198.18.1.12
              weight: 2
              checks:
                - http: http://198.18.1.12/
                  expect: 200-399
                - tcp: 198.18.1.12:80
            - address: 198.18.1.13
              weight: 3
              checks:
                - icmp: 198.18.1.13
                - exec: test -e /etc/hostname
                - file: /run/uplinkdns/rs13.state
          interval: 1
          rise: 2
          fall: 2
        - name: shop
          address: 203.0.113.81
          fwmark: 6
          ports: [80, 443]
          scheduler: rr
          persistence: 300
          real-servers:
            - address: 198.18.1.12
            - address: 198.18.1.13
        - name: dns
          address: 203.0.113.82
          port: 53
          protocol: udp
          scheduler: sh
          real-servers:
            - address: 198.18.1.12
            - address: 198.18.1.13

    """
