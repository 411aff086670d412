#!/usr/bin/env python3
"""Network input throughput: tcp JSON lines -> null and forward -> null.

    bench/net.py BIN JSON_FILE [RUNS]

Starts BIN (the release sluice) once per run with the input under test,
its HTTP API on a free port and the null output, sends the whole data set
as fast as one sender can (the bytes are built before the clock starts,
so the sender costs little more than the kernel's copy) and stops the
clock when the null output has counted every record, polled from
/api/v1/metrics. Flush is 0.1 s so the last chunk's wait stays small.

Prints one Markdown row per workload: records/s (min, median, max),
MiB/s median, sluice's CPU seconds (user + system, median) and its peak
RSS (VmHWM, max). Needs msgpack (the test virtualenv has it).
"""
import json
import os
import socket
import struct
import subprocess
import sys
import time

import msgpack

from benchlib import free_port, delivered, wait_listening, proc_stats, row


def one_run(binary, plugin, payload, records):
    port, api = free_port(), free_port()
    proc = subprocess.Popen(
        [binary, "-q", "-f", "0.1", "-H", "-P", str(api), "-i", plugin,
         "-p", "listen=127.0.0.1", "-p", f"port={port}", "-p", f"mem_buf_limit={os.environ.get('BENCH_MEM_BUF', '32M')}",
         "-o", "null", "-m", "*"],
        stdout=subprocess.DEVNULL)
    try:
        wait_listening(port, proc)
        wait_listening(api, proc)
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(payload)
            while delivered(api) < records:
                time.sleep(0.005)
        elapsed = time.monotonic() - start
        cpu, rss = proc_stats(proc.pid)
        return elapsed, cpu, rss
    finally:
        proc.terminate()
        proc.wait()


def forward_payload(lines, per_frame=1000):
    frames = []
    for at in range(0, len(lines), per_frame):
        entries = b"".join(
            msgpack.packb([msgpack.ExtType(0, struct.pack(">II", 1700000000 + i, i)),
                           json.loads(line)])
            for i, line in enumerate(lines[at:at + per_frame]))
        frames.append(msgpack.packb(["bench", entries, {"size": per_frame}],
                                    use_bin_type=True))
    return b"".join(frames)


def main():
    binary, path = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    with open(path, "rb") as f:
        text = f.read()
    lines = text.splitlines()
    records = len(lines)
    packed = forward_payload(lines)
    print("| workload | records/s min | records/s median | records/s max | MiB/s median "
          "| CPU s | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for name, plugin, payload in [("tcp JSON lines → null", "tcp", text),
                                  ("forward PackedForward → null", "forward", packed)]:
        results = [one_run(binary, plugin, payload, records) for _ in range(runs)]
        row(name, results, records, len(payload))


if __name__ == "__main__":
    main()
