"""Helpers the benchmark scripts share: ports, waiting for a program to
listen and for its records to come out, feeding it with socat, sinks
that count what arrives, its CPU and memory, and a table row."""
import json
import os
import socket
import subprocess
import sys
import threading
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


def wait_port(port, proc, what="sluice"):
    """Waits until something listens on `port`; RuntimeError when `proc`
    exits first or nothing listens within ten seconds."""
    for _ in range(1000):
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited early ({proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"{what} did not listen on {port}")


def wait_count(count, records, what, timeout=300):
    """Polls `count()` until it reaches `records`; RuntimeError after
    `timeout` seconds, saying how many came out."""
    deadline = time.monotonic() + timeout
    while (seen := count()) < records:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: {seen:,} of {records:,} records came out")
        time.sleep(0.005)


def feed_socat(port, path):
    """Sends the file at `path` over one TCP connection, as fast as the
    receiver takes it."""
    subprocess.run(["socat", "-u", f"FILE:{path}", f"TCP:127.0.0.1:{port}"], check=True)


class LineSink:
    """A TCP server on 127.0.0.1 that counts the lines it receives."""

    def __init__(self):
        self.lines = 0
        # Connections are counted on threads of their own; += on a shared
        # int is not atomic, and a lost update looked like lost records.
        self.lock = threading.Lock()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            conn, _ = self.server.accept()
            threading.Thread(target=self.count, args=(conn,), daemon=True).start()

    def count(self, conn):
        with conn:
            while chunk := conn.recv(1 << 20):
                n = chunk.count(b"\n")
                with self.lock:
                    self.lines += n


class TokenSink(LineSink):
    """A LineSink that counts messages by a token each of them carries
    once, whatever their framing: octet-counted syslog (`LEN SP MSG`)
    has no newline to count, and parsing the frames in Python cost 0.5
    µs of CPU a message, taken from the cores the programs measured run
    on."""

    def __init__(self, token):
        self.token = token
        super().__init__()

    def count(self, conn):
        # The tail is one byte shorter than the token: it cannot hold a
        # whole one, so none is counted twice, and one cut in two by
        # recv is found whole in the next round.
        tail = b""
        with conn:
            while chunk := conn.recv(1 << 20):
                text = tail + chunk
                n = text.count(self.token)
                tail = text[-(len(self.token) - 1):]
                with self.lock:
                    self.lines += n


class FileLines:
    """Counts the lines of a file that another process appends to,
    reading only what was added since the last look."""

    def __init__(self, path):
        self.path, self.offset, self.count = path, 0, 0

    @property
    def lines(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                added = f.read()
        except FileNotFoundError:
            return 0
        self.offset += len(added)
        self.count += added.count(b"\n")
        return self.count
