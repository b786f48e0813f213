#!/usr/bin/env python3
"""Writes the seed corpora in Fuzz/inputs/ (committed; rerun only to change them).

message, query: real queries (plain, EDNS, NSID, client subnet, ANY, TSIG-shaped, IXFR with its SOA) and the
responses the example server gives to them (pass --server PORT to capture those from a running `make run`).
zonefile, config: the repository's example files and variants with every feature and with mistakes.
"""
import base64, hashlib, hmac, os, socket, struct, sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "inputs")

def name(n):
    out = b""
    for label in n.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"

def query(qid, qname, qtype, flags=0x0100, additional=b"", arcount=0, authority=b"", nscount=0):
    return struct.pack(">HHHHHH", qid, flags, 1, 0, nscount, arcount) + name(qname) + struct.pack(">HH", qtype, 1) \
        + authority + additional

def opt(size=1232, options=b"", do=False):
    return b"\0" + struct.pack(">HHBBHH", 41, size, 0, 0, 0x8000 if do else 0, len(options)) + options

queries = {
    "a": query(1, "www.example.com", 1),
    "aaaa-edns": query(2, "www.example.com", 28, additional=opt(), arcount=1),
    "nsid": query(3, "example.com", 6, additional=opt(options=struct.pack(">HH", 3, 0)), arcount=1),
    "ecs": query(4, "s.example.com", 1, additional=opt(options=struct.pack(">HHHBB", 8, 7, 1, 24, 0) + bytes([198, 51, 100])), arcount=1),
    "any": query(5, "example.com", 255),
    "nxdomain": query(6, "nope.example.com", 1),
    "wildcard": query(7, "a.wild.example.com", 16),
    "referral": query(8, "host.sub.example.com", 1),
    "dname": query(9, "x.old.example.com", 1),
    "chaos": struct.pack(">HHHHHH", 10, 0, 1, 0, 0, 0) + name("version.bind") + struct.pack(">HH", 16, 3),
    "mixed-case": query(11, "WwW.ExAmPlE.CoM", 1),
    "tsig-shaped": query(12, "example.com", 6, additional=name("k") + struct.pack(">HHIH", 250, 255, 0, 26)
                         + name("hmac-sha256") + b"\0\0\0\0\0\0" + struct.pack(">HHHHH", 300, 0, 12, 0, 0), arcount=1),
    "ixfr": query(13, "example.com", 251, nscount=1, authority=b"\xc0\x0c" + struct.pack(">HHIH", 6, 1, 0, 22)
                  + b"\0\0" + struct.pack(">IIIII", 1, 0, 0, 0, 0)),
    "big-txt-udp512": query(14, "big.example.com", 16),
    "notify": struct.pack(">HHHHHH", 15, 0x2400, 1, 0, 0, 0) + name("example.com") + struct.pack(">HH", 6, 1),
}

def tsig_signed(message, key_name="k", secret=base64.b64decode("c2VjcmV0LXNoYXJlZC1ieS1wcmltYXJ5LWFuZC1zZWNvbmRhcnk="),
                now=1_800_000_000):
    """RFC 8945 §4.3: the MAC over the message and the TSIG variables; FuzzChecks verifies at this time."""
    alg = name("hmac-sha256")
    time48 = now.to_bytes(6, "big")
    variables = name(key_name) + struct.pack(">HI", 255, 0) + alg + time48 + struct.pack(">HHH", 300, 0, 0)
    mac = hmac.new(secret, message + variables, hashlib.sha256).digest()
    rdata = alg + time48 + struct.pack(">HH", 300, len(mac)) + mac + message[0:2] + struct.pack(">HH", 0, 0)
    signed = bytearray(message + name(key_name) + struct.pack(">HHIH", 250, 255, 0, len(rdata)) + rdata)
    signed[10:12] = struct.pack(">H", struct.unpack(">H", bytes(signed[10:12]))[0] + 1)
    return bytes(signed)

queries["axfr-signed"] = tsig_signed(query(16, "example.com", 252, flags=0))
queries["soa-signed"] = tsig_signed(query(17, "example.com", 6))
queries["ixfr-signed"] = tsig_signed(queries["ixfr"])
queries["axfr-unsigned"] = query(18, "example.com", 252, flags=0)

def write(target, label, data):
    os.makedirs(os.path.join(root, target), exist_ok=True)
    with open(os.path.join(root, target, label), "wb") as f:
        f.write(data)

for label, q in queries.items():
    write("query", label, q)
    write("message", "query-" + label, q)

if "--server" in sys.argv:
    port = int(sys.argv[sys.argv.index("--server") + 1])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    for label, q in queries.items():
        s.sendto(q, ("127.0.0.1", port))
        try:
            write("message", "response-" + label, s.recv(65535))
        except socket.timeout:
            pass

repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
write("zonefile", "example.com.zone", open(os.path.join(repo, "zones/example.com.zone"), "rb").read())
write("zonefile", "every-type.zone", b"""$ORIGIN example.com.
$TTL 3600
@       IN SOA ns1 hostmaster ( 7 3600 900 1209600 300 )
        IN NS  ns1
        IN NS  ns2.other.net.
        IN MX  10 mail
        IN TXT "v=spf1 -all" "second string"
        IN CAA 0 issue "letsencrypt.org"
ns1     IN A   192.0.2.1
        IN AAAA 2001:db8::1
mail 60 IN A   192.0.2.2
_sip._tcp IN SRV 10 60 5060 sip
sip     IN A   192.0.2.3
ftp     IN CNAME www.other.net.
old     IN DNAME new.example.net.
*.wild  IN TXT "wild"
odd     IN TYPE65280 \\# 4 0a0b0c0d
sub     IN NS  ns.sub
ns.sub  IN A   192.0.2.53
""")
write("zonefile", "mistakes.zone", b"""$ORIGIN example.com.
@ IN SOA ns1 hostmaster 1 2 3 4 5
@ IN SOA ns1 hostmaster 2 2 3 4 5
www IN CNAME a
www IN A 192.0.2.1
out.example.net. IN A 192.0.2.2
sub IN NS ns.sub
$INCLUDE other.zone
bad IN A 999.1.1.1
""")
write("config", "uplinkdns.yaml", open(os.path.join(repo, "config/uplinkdns.yaml"), "rb").read())
write("config", "transfer.yaml", b"""server:
  listen: ["127.0.0.1:5300", "[::1]:5300"]
  rrl: {responses-per-second: 20, slip: 2, exempt: []}
  tcp: {max-connections: 10, max-per-client: 2, idle-timeout: 3}
keys:
  - {name: transfer.example., secret: c2VjcmV0LXNoYXJlZC1ieS1wcmltYXJ5LWFuZC1zZWNvbmRhcnk=}
zones:
  - {origin: example.com., file: z, transfer: [127.0.0.1, 192.0.2.0/24], key: transfer.example., notify: ["127.0.0.1:5301"]}
links:
  - name: a
    public: [192.0.2.10]
    checks: [{tcp: "203.0.113.80:80"}, {http: "http://203.0.113.80/", expect: 200}, {file: /run/a.state}]
    require: any
  - {name: b, public: [198.51.100.10], bandwidth: 512kbit}
pools:
  - {name: www.example.com., links: [a, b], policy: sticky, answers: 1, all-down: servfail}
""")
write("config", "mistakes.yaml", b"""server:
  listn: x
  tcp: {max-connections: 0}
zones:
  - {origin: a.}
  - {origin: a., file: z, key: nokey}
links:
  - {name: x, public: [192.0.2.300], weight: 0}
pools:
  - {name: www.a., links: [nope], policy: random}
""")
