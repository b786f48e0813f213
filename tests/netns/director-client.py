#!/usr/bin/env python3
# director-client.py: the namespace tests' client of the director — new TCP connections through a VIP, each answered
# by the name of the real server behind it (python3 http.server serving an index.html with that name, or a line echo).
#   count VIP PORT N [SRC]    N connections (from SRC): {"r1": n, "r2": m, "FAIL": k}
#   pair VIP SRC              the names behind ports 80 and 443 for one client
#   loop VIP PORT STOPFILE    "EPOCH NAME" per connection until STOPFILE exists
#   hold VIP PORT GOFILE      one connection, a line before and after GOFILE appears
import json, socket, sys, time
def get(vip, port, src=None):
    s = socket.socket()
    s.settimeout(2)
    try:
        if src:
            s.bind((src, 0))
        s.connect((vip, port))
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
        return data.split(b"\r\n\r\n", 1)[1].decode().strip() or "FAIL"
    except Exception:
        return "FAIL"
    finally:
        s.close()
cmd = sys.argv[1]
if cmd == "count":  # count VIP PORT N [SRC]: {"r1": n, "r2": m}
    vip, port, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    src = sys.argv[5] if len(sys.argv) > 5 else None
    out = {}
    for _ in range(n):
        name = get(vip, port, src)
        out[name] = out.get(name, 0) + 1
    print(json.dumps(out, sort_keys=True))
elif cmd == "pair":  # pair VIP SRC: the names behind 80 and 443 for one client
    print(get(sys.argv[2], 80, sys.argv[3]), get(sys.argv[2], 443, sys.argv[3]))
elif cmd == "loop":  # loop VIP PORT STOPFILE: "EPOCH NAME" per connection until STOPFILE exists
    import os
    while not os.path.exists(sys.argv[4]):
        name = get(sys.argv[2], int(sys.argv[3]))
        print("%.3f %s" % (time.time(), name), flush=True)
        time.sleep(0.01)
elif cmd == "hold":  # hold VIP PORT GOFILE: one connection, a line before and after GOFILE appears
    import os
    s = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=30)
    f = s.makefile("rw")
    f.write("first\n"); f.flush()
    print("first", f.readline().strip(), flush=True)
    while not os.path.exists(sys.argv[4]):
        time.sleep(0.05)
    f.write("again\n"); f.flush()
    print("again", f.readline().strip() or "closed", flush=True)
