#!/usr/bin/env python3
"""Syslog input throughput: sends RFC 5424 messages over TCP to a running
sluice and stops the clock when its HTTP API says every one was
delivered.

    bench/syslog.py PORT HTTP_PORT [MESSAGES] [newline|octet]

Start sluice with a configuration that turns the HTTP server on
(`HTTP_Server On`, `HTTP_Port HTTP_PORT`) and has a `syslog` input in
`Mode tcp` on PORT with a null output. Prints messages/s end to end.
"""
import json
import socket
import sys
import time
import urllib.request

port = int(sys.argv[1])
http_port = int(sys.argv[2])
messages = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000
framing = sys.argv[4] if len(sys.argv) > 4 else "newline"

text = ("<134>1 2026-12-04T06:20:11.123456+00:00 web-01 checkout 4242 ORD "
        "[meta user=\"u-17\"] GET /api/v1/items 200 " + "x" * 80).encode()
frame = (b"%d " % len(text)) + text if framing == "octet" else text + b"\n"
batch = frame * 1000


def delivered():
    url = f"http://127.0.0.1:{http_port}/api/v1/metrics"
    with urllib.request.urlopen(url) as answer:
        outputs = json.load(answer)["output"]
    return sum(o["proc_records"] for o in outputs.values())


before = delivered()
sock = socket.create_connection(("127.0.0.1", port))
start = time.monotonic()
for _ in range(messages // 1000):
    sock.sendall(batch)
sock.close()
while delivered() - before < messages // 1000 * 1000:
    time.sleep(0.01)
elapsed = time.monotonic() - start
size = len(batch) * (messages // 1000)
print(f"{messages} messages ({framing}), {size / 2**20:.0f} MiB in {elapsed:.2f} s: "
      f"{messages / elapsed:,.0f} messages/s, {size / 2**20 / elapsed:.1f} MiB/s")
