#!/usr/bin/env python3
"""Tail input throughput: sluice reads a whole file with `tail`
(`read_from_head on`, `exit_on_eof on`) into the null output and exits by
itself; the clock runs from process start to exit.

    bench/tail.py BIN [LINES] [RUNS]

Workloads: JSON lines (~200 B) kept as `{"log": line}`, the same lines
with `parser json`, and Apache combined lines with the `apache2` regex
parser from conf/parsers.conf. Data sets are written by bench/gen.py to
/dev/shm (kept between runs). Prints a Markdown table: records/s and
MiB/s (median run), CPU seconds (user + system) and peak RSS of sluice.
"""
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PARSERS = os.path.join(HERE, "..", "conf", "parsers.conf")

binary = sys.argv[1]
lines = int(sys.argv[2]) if len(sys.argv) > 2 else 2_000_000
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3


def data_set(kind):
    path = f"/dev/shm/sluice-tail-{kind}-{lines}.log"
    if not os.path.exists(path):
        subprocess.run([sys.executable, os.path.join(HERE, "gen.py"), kind, str(lines), path],
                       check=True)
    return path


def run_once(path, parser):
    args = [binary, "-R", PARSERS, "-i", "tail", "-p", f"path={path}",
            "-p", "read_from_head=on", "-p", "exit_on_eof=on", "-t", "bench"]
    if parser:
        args += ["-p", f"parser={parser}"]
    args += ["-o", "null", "-m", "*", "-f", "1", "-q"]
    start = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.monotonic() - start
    if status != 0:
        sys.exit(f"sluice failed ({status}): {proc.stderr.read().decode()}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


print(f"| workload | records/s | MiB/s | CPU s | peak RSS MiB |")
print(f"|---|---:|---:|---:|---:|")
for name, kind, parser in [("json, no parser", "json", None),
                           ("json, parser json", "json", "json"),
                           ("apache, parser apache2", "apache", "apache2")]:
    path = data_set(kind)
    size = os.path.getsize(path) / 2**20
    results = sorted(run_once(path, parser) for _ in range(runs))
    elapsed, cpu, rss = results[len(results) // 2]
    print(f"| {name} | {lines / elapsed:,.0f} | {size / elapsed:.0f} | {cpu:.2f} | {rss:.0f} |")
