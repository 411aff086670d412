#!/usr/bin/env python3
"""Network output throughput, two sluice processes end to end.

    bench/outputs.py BIN JSON_FILE [RUNS]

Each run starts a receiving sluice (the input under test, the null
output, its HTTP API) and a sending sluice (a tcp JSON-lines input and the
output under test pointed at the receiver), sends the whole data set to
the sender over one connection, and stops the clock when the receiver's
null output has counted every record, polled from /api/v1/metrics.

Workloads: tcp output (json_lines) -> tcp input, and forward output ->
forward input (plain, then with require_ack_response). Prints one Markdown
row per workload: records/s (min, median, max), MiB/s of input JSON
(median), CPU seconds of both processes together (median) and the peak
RSS of each (max). Uses only the standard library.
"""
import os
import socket
import subprocess
import sys
import time

from benchlib import free_port, delivered, wait_listening, proc_stats, row

MEM_BUF = os.environ.get("BENCH_MEM_BUF", "32M")


def start(binary, args):
    return subprocess.Popen([binary, "-q", "-f", "0.1", *args],
                            stdout=subprocess.DEVNULL)


def one_run(binary, workload, payload, records):
    rx_port, api, tx_port = free_port(), free_port(), free_port()
    rx_input, tx_output, extra = workload
    receiver = start(binary, [
        "-H", "-P", str(api), "-i", rx_input, "-p", "listen=127.0.0.1",
        "-p", f"port={rx_port}", "-p", f"mem_buf_limit={MEM_BUF}",
        "-o", "null", "-m", "*"])
    sender = None
    try:
        wait_listening(rx_port, receiver)
        wait_listening(api, receiver)
        props = [a for p in extra for a in ("-p", p)]
        sender = start(binary, [
            "-i", "tcp", "-p", "listen=127.0.0.1", "-p", f"port={tx_port}",
            "-p", f"mem_buf_limit={MEM_BUF}", "-t", "bench",
            "-o", tx_output, "-m", "*", "-p", "host=127.0.0.1",
            "-p", f"port={rx_port}", *props])
        wait_listening(tx_port, sender)
        begin = time.monotonic()
        with socket.create_connection(("127.0.0.1", tx_port)) as sock:
            sock.sendall(payload)
            while delivered(api) < records:
                time.sleep(0.005)
        elapsed = time.monotonic() - begin
        tx_cpu, tx_rss = proc_stats(sender.pid)
        rx_cpu, rx_rss = proc_stats(receiver.pid)
        if os.environ.get("BENCH_SPLIT"):
            print(f"  sender CPU {tx_cpu:.2f} s, receiver CPU {rx_cpu:.2f} s", file=sys.stderr)
        return elapsed, tx_cpu + rx_cpu, tx_rss, rx_rss
    finally:
        for p in (sender, receiver):
            if p is not None:
                p.terminate()
                p.wait()


WORKLOADS = [
    ("tcp json_lines → tcp", ("tcp", "tcp", ["format=json_lines"])),
    ("forward → forward", ("forward", "forward", [])),
    ("forward (ack) → forward", ("forward", "forward", ["require_ack_response=on"])),
]


def main():
    binary, path = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    with open(path, "rb") as f:
        payload = f.read()
    records = payload.count(b"\n")
    print("| workload | records/s min | records/s median | records/s max | MiB/s median "
          "| CPU s (both) | sender RSS MiB | receiver RSS MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for name, workload in WORKLOADS:
        results = [one_run(binary, workload, payload, records) for _ in range(runs)]
        row(name, results, records, len(payload))


if __name__ == "__main__":
    main()
