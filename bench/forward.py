#!/usr/bin/env python3
"""Forward input throughput: sends PackedForward frames to a running
sluice and waits for the ack of the last one, which comes only after every
event before it was delivered.

    bench/forward.py PORT [EVENTS] [PER_FRAME]

Needs the msgpack package (the test virtualenv has it:
.venv/bin/python bench/forward.py ...). Prints events/s end to end.
"""
import socket
import struct
import sys
import time

import msgpack

port = int(sys.argv[1])
events = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
per_frame = int(sys.argv[3]) if len(sys.argv) > 3 else 1000

record = {"level": "info", "msg": "GET /api/v1/items 200 " + "x" * 120, "n": 0}
entries = b"".join(
    msgpack.packb([msgpack.ExtType(0, struct.pack(">II", 1700000000 + i, i)), record])
    for i in range(per_frame)
)
frame = msgpack.packb(["bench", entries, {"size": per_frame}], use_bin_type=True)
last = msgpack.packb(["bench", entries, {"size": per_frame, "chunk": "last"}], use_bin_type=True)
frames = events // per_frame

sock = socket.create_connection(("127.0.0.1", port))
start = time.monotonic()
for _ in range(frames - 1):
    sock.sendall(frame)
sock.sendall(last)
ack = sock.recv(64)
elapsed = time.monotonic() - start
assert b"last" in ack, ack
size = len(frame) * frames
print(f"{frames * per_frame} events, {size / 2**20:.0f} MiB in {elapsed:.2f} s: "
      f"{frames * per_frame / elapsed:,.0f} events/s, {size / 2**20 / elapsed:.0f} MiB/s")
