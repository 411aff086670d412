#!/usr/bin/env python3
"""http input throughput: POSTs NDJSON bodies to a running sluice over
keep-alive connections and times until every answer came back.

    bench/http_input.py PORT [EVENTS] [PER_BODY] [CONNECTIONS]

Uses only the standard library. A success answer means the body's records
were appended (not yet delivered), so this measures what the input takes.
Prints events/s and MiB/s of JSON.
"""
import http.client
import sys
import threading
import time

port = int(sys.argv[1])
events = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
per_body = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
connections = int(sys.argv[4]) if len(sys.argv) > 4 else 2

line = '{"level":"info","msg":"GET /api/v1/items 200 %s","n":%d}\n'
body = "".join(line % ("x" * 120, i) for i in range(per_body)).encode()
bodies = events // per_body
headers = {"Content-Type": "application/x-ndjson"}
failures = []


def client(count):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(count):
        conn.request("POST", "/bench", body, headers)
        answer = conn.getresponse()
        answer.read()
        if answer.status != 201:
            failures.append(answer.status)
    conn.close()


share = [bodies // connections + (i < bodies % connections) for i in range(connections)]
threads = [threading.Thread(target=client, args=(n,)) for n in share]
start = time.monotonic()
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.monotonic() - start
assert not failures, failures[:5]
size = len(body) * bodies
print(f"{bodies * per_body} events, {size / 2**20:.0f} MiB in {elapsed:.2f} s over "
      f"{connections} connections: {bodies * per_body / elapsed:,.0f} events/s, "
      f"{size / 2**20 / elapsed:.0f} MiB/s")
