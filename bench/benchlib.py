"""Helpers the benchmark scripts share: ports, waiting for sluice to
listen, its counters and its CPU and memory, and a table row."""
import json
import os
import socket
import sys
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def delivered(api):
    """Records every output of the sluice whose API is on `api` delivered."""
    url = f"http://127.0.0.1:{api}/api/v1/metrics"
    with urllib.request.urlopen(url, timeout=5) as r:
        metrics = json.load(r)
    return sum(o["proc_records"] for o in metrics["output"].values())


def wait_listening(port, proc):
    for _ in range(500):
        if proc.poll() is not None:
            sys.exit(f"sluice exited early: {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.01)
    sys.exit("sluice did not start listening")


def proc_stats(pid):
    """A process's CPU seconds (user + system) and peak RSS in MiB."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    with open(f"/proc/{pid}/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
    return cpu, hwm / 1024


def row(name, runs, records, size):
    """A Markdown row: records/s min, median, max, MiB/s, median CPU s, and
    the largest of each further figure of the runs (peak RSS)."""
    times = sorted(r[0] for r in runs)
    med = len(runs) // 2
    cpu = sorted(r[1] for r in runs)[med]
    peaks = " | ".join(f"{max(r[i] for r in runs):.1f}" for i in range(2, len(runs[0])))
    print(f"| {name} | {records / times[-1]:,.0f} | {records / times[med]:,.0f} "
          f"| {records / times[0]:,.0f} | {size / times[med] / 2**20:.0f} | {cpu:.2f} "
          f"| {peaks} |", flush=True)


def cpu_idle_share(interval=0.5):
    """The share of the machine's CPU time that was idle over `interval`."""
    def sample():
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return fields[3] + fields[4], sum(fields)
    idle0, total0 = sample()
    time.sleep(interval)
    idle1, total1 = sample()
    return (idle1 - idle0) / max(1, total1 - total0)


def wait_quiet(min_idle=0.9, longest=120):
    """Waits (up to `longest` seconds) until the machine is idle, so a run
    does not share its cores with a build or another test; says so when
    it gives up."""
    deadline = time.monotonic() + longest
    while cpu_idle_share() < min_idle:
        if time.monotonic() > deadline:
            print("machine still busy; running anyway", file=sys.stderr)
            return
        time.sleep(1)
