#!/usr/bin/env python3
"""HTTP output throughput: tcp JSON lines -> http / es -> a local sink.

    bench/http_out.py BIN JSON_FILE [RUNS]

Each run starts BIN (the release sluice) with a tcp input and one HTTP
output pointed at a sink in this script (a threaded HTTP/1.1 server on
127.0.0.1 that keeps connections alive, gunzips bodies and counts the
records in each: one per line for JSON lines, one per action/source pair
for _bulk). The whole data set is sent on one connection; the clock stops
when the sink has counted every record. Prints one Markdown row per
workload like bench/net.py: records/s (min, median, max), MiB/s of input
(median), sluice's CPU seconds and peak RSS.
"""
import http.server
import socket
import subprocess
import sys
import threading
import time
import zlib

from benchlib import free_port, wait_listening, proc_stats, row

RECEIVED = {"records": 0}
LOCK = threading.Lock()


class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = zlib.decompress(body, 31)
        lines = body.count(b"\n")
        records = lines // 2 if self.path.endswith("_bulk") else lines
        with LOCK:
            RECEIVED["records"] += records
        answer = b'{"errors":false,"items":[]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def one_run(binary, sink_port, output, payload, records):
    port = free_port()
    args = [binary, "-q", "-f", "0.1", "-i", "tcp", "-p", "listen=127.0.0.1",
            "-p", f"port={port}", "-p", "mem_buf_limit=32M", "-o", output[0],
            "-m", "*", "-p", f"port={sink_port}"]
    for prop in output[1:]:
        args += ["-p", prop]
    with LOCK:
        RECEIVED["records"] = 0
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    try:
        wait_listening(port, proc)
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(payload)
            while RECEIVED["records"] < records:
                if proc.poll() is not None:
                    sys.exit(f"sluice exited early: {proc.returncode}")
                time.sleep(0.005)
        elapsed = time.monotonic() - start
        cpu, rss = proc_stats(proc.pid)
        return elapsed, cpu, rss
    finally:
        proc.terminate()
        proc.wait()


def main():
    binary, path = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    with open(path, "rb") as f:
        text = f.read()
    records = text.count(b"\n")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sink_port = server.server_address[1]
    print("| workload | records/s min | records/s median | records/s max | MiB/s median "
          "| CPU s | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for name, output in [
        ("tcp → http json_lines", ["http", "format=json_lines"]),
        ("tcp → http json_lines gzip", ["http", "format=json_lines", "compress=gzip"]),
        ("tcp → es _bulk", ["es"]),
    ]:
        results = [one_run(binary, sink_port, output, text, records) for _ in range(runs)]
        row(name, results, records, len(text))


if __name__ == "__main__":
    main()
