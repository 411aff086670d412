#!/usr/bin/env python3
"""The benchmark suite: standard workloads, physical references and
peers, written to BENCHMARKS.md with a chart. Run it with bench/suite.

    bench/suite.py BIN DATA_DIR RUNS

Each workload is a plain configuration a Fluent Bit user would
recognise, run RUNS times in a fresh sluice. The clock starts when the
data starts to flow and stops when every record is out: counted by the
null output (read from /api/v1/metrics) or by the sink at the end of the
line. CPU seconds (user + system) and peak RSS (VmHWM) are sluice's own,
read from /proc. Flush is 0.05 s so the wait for the last chunk's seal
adds at most that to a run. A workload whose plugins this build lacks is
listed as not run, with what it waits for. The syslog workloads (S1, S2)
also run in rsyslogd and syslog-ng (peers.py), taking turns with sluice.
"""
import datetime
import functools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import benchlib
import peers
from benchlib import (FileLines, LineSink, TokenSink, feed_socat, free_port, wait_count,
                      wait_port)


def null_count(api):
    url = f"http://127.0.0.1:{api}/api/v1/metrics"
    with urllib.request.urlopen(url, timeout=5) as answer:
        metrics = json.load(answer)
    return sum(o["proc_records"] for name, o in metrics["output"].items()
               if name.startswith("null"))


def proc_stats(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.split(":", 1) for line in f)
    kib = lambda key: int(status[key].split()[0]) / 1024
    return cpu, kib("VmHWM"), kib("VmRSS")


def has_plugin(binary, kind, name):
    flag = {"input": "-i", "output": "-o", "filter": "-F"}[kind]
    return subprocess.run([binary, flag, name, "-h"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


class HttpSink:
    """An HTTP server that answers 200 and counts the NDJSON lines POSTed."""

    def __init__(self):
        import http.server
        sink = self
        self.lines = 0
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                n = body.count(b"\n")
                with sink.lock:
                    sink.lines += n
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Workload:
    """`sink` says what counts the records when the null output does not:
    True a LineSink, "http" an HttpSink, "syslog" a TokenSink, "file" the
    lines of `{out}/out.log`. `peers` is the job (see peers.py) rsyslogd
    and syslog-ng do beside sluice. `share` is a target too: the least
    fraction of the reference's lines/s the median must reach."""

    def __init__(self, key, title, conf, feed=None, needs=(), target=None, ref=None,
                 sink=False, data="json", waits_for=None, downstream=None, peers=None,
                 share=None):
        self.key, self.title, self.conf, self.feed = key, title, conf, feed
        self.needs, self.target, self.ref, self.sink = needs, target, ref, sink
        self.share = share
        self.data, self.waits_for, self.downstream = data, waits_for, downstream
        self.peers = peers


SERVICE = """[SERVICE]
    Flush        0.05
    Log_Level    error
    HTTP_Server  On
    HTTP_Listen  127.0.0.1
    HTTP_Port    {api}
    Parsers_File {parsers}
"""

TAIL = """[INPUT]
    Name           tail
    Path           {data}
    Read_from_Head On
    Tag            bench
"""


# Chunk files go to the disk the repository is on, not to RAM.
STORAGE = "    storage.path {storage}\n"


def feed_http(port, path):
    with open(path, "rb") as f:
        lines = f.read().splitlines(keepends=True)
    bodies = [b"".join(lines[i:i + 1000]) for i in range(0, len(lines), 1000)]
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for body in bodies:
        conn.request("POST", "/bench", body, {"Content-Type": "application/x-ndjson"})
        answer = conn.getresponse()
        answer.read()
        if answer.status >= 300:
            raise RuntimeError(f"http input answered {answer.status}")
    conn.close()


# The fields the peers write too (see peers.py); {time} is the epoch.
SYSLOG_TO_FILE = """[OUTPUT]
    Name     file
    Match    *
    Path     {out}
    File     out.log
    Format   template
    Template {{time}} {{host}} {{ident}}[{{pid}}]: {{message}}
"""

# The syslog parser keeps PRI as one number; the data is all local0.info.
SYSLOG_TO_TCP = """[OUTPUT]
    Name                   syslog
    Match                  *
    Host                   127.0.0.1
    Port                   {sink}
    Mode                   tcp
    Syslog_Format          rfc5424
    Syslog_Facility_Preset 16
    Syslog_Severity_Preset 6
    Syslog_Hostname_Key    host
    Syslog_Appname_Key     ident
    Syslog_Procid_Key      pid
    Syslog_Msgid_Key       msgid
    Syslog_Message_Key     message
"""


def workloads():
    null = "[OUTPUT]\n    Name  null\n    Match *\n"
    tcp_in = "[INPUT]\n    Name tcp\n    Listen 127.0.0.1\n    Port {port}\n    Tag bench\n"
    syslog_in = ("[INPUT]\n    Name syslog\n    Mode tcp\n    Listen 127.0.0.1\n"
                 "    Port {port}\n    Tag bench\n")
    return [
        Workload("W1", "tail JSON lines, json parser → null",
                 SERVICE + TAIL + "    Parser json\n" + null,
                 needs=[("input", "tail")], target=2_000_000, ref="cat"),
        Workload("W1b", "W1 with Time_Key/Time_Format",
                 SERVICE + TAIL + "    Parser json_time\n" + null,
                 needs=[("input", "tail")], target=1_500_000, ref="cat"),
        Workload("W2", "tail Apache lines, apache2 regex → null",
                 SERVICE + TAIL + "    Parser apache2\n" + null, data="apache",
                 needs=[("input", "tail")], target=1_100_000, ref="cat"),
        Workload("W3", "tcp JSON lines (socat) → null", SERVICE + tcp_in + null,
                 feed=feed_socat, target=1_800_000, ref="socat", share=0.5),
        Workload("W4", "tcp → tcp json_lines → line sink",
                 SERVICE + tcp_in + "[OUTPUT]\n    Name tcp\n    Match *\n    Host 127.0.0.1\n"
                 "    Port {sink}\n    Format json_lines\n",
                 feed=feed_socat, sink=True, needs=[("output", "tcp")], target=1_250_000,
                 ref="socat"),
        # Two processes: {fwd} is the second one's forward input, whose
        # null output is counted; CPU adds up both, peak RSS is the larger.
        Workload("W5", "tail → forward → sluice (forward) → null",
                 SERVICE + TAIL + "    Parser json\n[OUTPUT]\n    Name forward\n    Match *\n"
                 "    Host 127.0.0.1\n    Port {fwd}\n",
                 needs=[("input", "tail"), ("input", "forward"), ("output", "forward")],
                 target=1_600_000, ref="cat",
                 downstream=SERVICE + "[INPUT]\n    Name forward\n    Listen 127.0.0.1\n"
                 "    Port {fwd}\n" + null),
        Workload("W6", "http JSON → null",
                 SERVICE + "[INPUT]\n    Name http\n    Listen 127.0.0.1\n    Port {port}\n"
                 + null, feed=feed_http, needs=[("input", "http")], ref="socat"),
        Workload("W6b", "tail JSON lines → http json_lines → HTTP sink",
                 SERVICE + TAIL + "    Parser json\n[OUTPUT]\n    Name http\n    Match *\n"
                 "    Host 127.0.0.1\n    Port {sink}\n    URI /bulk\n    Format json_lines\n",
                 needs=[("input", "tail"), ("output", "http")], ref="cat", sink="http"),
        # Compared with W1 and W3 rather than with a fixed figure: the
        # target is to stay within 30% of memory storage on the machine.
        Workload("W7a", "W1 with storage.type filesystem (sync normal)",
                 SERVICE + STORAGE + TAIL + "    Parser json\n    storage.type filesystem\n"
                 + null, needs=[("input", "tail")], ref="cat"),
        Workload("W7b", "W3 with storage.type filesystem (sync normal)",
                 SERVICE + STORAGE + tcp_in + "    storage.type filesystem\n" + null,
                 feed=feed_socat, ref="socat"),
        # Beside rsyslogd and syslog-ng doing the same job (peers.py).
        Workload("S1", "TCP syslog → file", SERVICE + syslog_in + SYSLOG_TO_FILE,
                 feed=feed_socat, data="syslog", sink="file", peers="file",
                 needs=[("input", "syslog"), ("output", "file")]),
        Workload("S2", "TCP syslog → TCP forward", SERVICE + syslog_in + SYSLOG_TO_TCP,
                 feed=feed_socat, data="syslog", sink="syslog", peers="forward",
                 needs=[("input", "syslog"), ("output", "syslog")]),
    ]


def make_sink(kind, out):
    """What counts the records at the end of the line; None when the null
    output counts them."""
    if not kind:
        return None
    if kind == "file":
        return FileLines(os.path.join(out, "out.log"))
    if kind == "syslog":
        return TokenSink(peers.TOKEN)
    return {"http": HttpSink}.get(kind, LineSink)()


def run_workload(binary, w, paths, workdir):
    benchlib.wait_quiet()
    port, api, fwd, down_api = free_port(), free_port(), free_port(), free_port()
    out = tempfile.mkdtemp(prefix=f"{w.key}-", dir=workdir)
    sink = make_sink(w.sink, out)
    data = paths[w.data]
    storage = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "storage")
    shutil.rmtree(storage, ignore_errors=True)

    def write_conf(name, text, api_port):
        path = os.path.join(workdir, f"{name}.conf")
        with open(path, "w") as f:
            f.write(text.format(api=api_port, port=port, data=data, parsers=paths["parsers"],
                                sink=getattr(sink, "port", 0), storage=storage, fwd=fwd,
                                out=out))
        return path

    procs = []
    try:
        # The downstream process (W5) listens before the upstream starts.
        if w.downstream:
            conf = write_conf(f"{w.key}-down", w.downstream, down_api)
            procs.append(subprocess.Popen([binary, "-c", conf], stdout=subprocess.DEVNULL))
            wait_port(down_api, procs[-1])
            wait_port(fwd, procs[-1])
        conf = write_conf(w.key, w.conf, api)
        start = time.monotonic()
        proc = subprocess.Popen([binary, "-c", conf], stdout=subprocess.DEVNULL)
        procs.append(proc)
        wait_port(api, proc)
        if w.feed:
            wait_port(port, proc)
            start = time.monotonic()
            w.feed(port, data)
        counted = down_api if w.downstream else api
        wait_count(lambda: sink.lines if sink else null_count(counted), paths["lines"], w.key)
        elapsed = time.monotonic() - start
        # CPU is the work of both processes; the RSS target is per process.
        figures = [proc_stats(p.pid) for p in procs]
        return elapsed, sum(f[0] for f in figures), max(f[1] for f in figures)
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(out, ignore_errors=True)


def reference(name, path, lines):
    start = time.monotonic()
    if name == "cat":
        subprocess.run(f"cat '{path}' > /dev/null", shell=True, check=True)
    elif name == "wc -l":
        subprocess.run(["wc", "-l", path], stdout=subprocess.DEVNULL, check=True)
    elif name == "socat":
        port = free_port()
        server = subprocess.Popen(["socat", "-u", f"TCP-LISTEN:{port},reuseaddr",
                                   "OPEN:/dev/null"])
        # The listener takes one connection only: no probe, retry instead.
        for _ in range(500):
            start = time.monotonic()
            if subprocess.run(["socat", "-u", f"FILE:{path}", f"TCP:127.0.0.1:{port}"],
                              stderr=subprocess.DEVNULL).returncode == 0:
                break
            time.sleep(0.01)
        server.wait()
    return time.monotonic() - start


def idle(binary, seconds, from_disk):
    """CPU seconds, peak and final RSS of a sluice that idles for SECONDS.
    With FROM_DISK the binary's pages are first dropped from the page
    cache, so the kernel reads it from disk as after a reboot; without,
    it runs as just linked, and Linux then keeps it in large page-cache
    folios that map more of it per page fault."""
    if from_disk:
        fd = os.open(binary, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    api = free_port()
    proc = subprocess.Popen([binary, "-i", "dummy", "-p", "rate=1", "-o", "null", "-m", "*",
                             "-H", "-L", "127.0.0.1", "-P", str(api), "-q"],
                            stdout=subprocess.DEVNULL)
    try:
        wait_port(api, proc)
        time.sleep(seconds)
        cpu, hwm, rss = proc_stats(proc.pid)
        return cpu, hwm, rss
    finally:
        proc.terminate()
        proc.wait()


def stats(samples):
    s = sorted(samples)
    return s[0], s[len(s) // 2], s[-1]


def summary(results, records, size):
    """Figures of a program's runs: records/s (min, median, max), MiB/s
    and CPU seconds at the median, the largest peak RSS."""
    t_min, t_med, t_max = stats([r[0] for r in results])
    return {
        "rate": (records / t_max, records / t_med, records / t_min),
        "mib_s": size / t_med / 2**20,
        "cpu": stats([r[1] for r in results])[1],
        "rss": max(r[2] for r in results),
    }


def measure(binary, w, paths, size, runs, workdir):
    """Runs the workload RUNS times in sluice and, when it has peers, in
    rsyslogd and syslog-ng in turn after it, so a busy spell of the
    machine falls on all of them. Returns each program's summary, or
    {"skipped": why} for a program that did not run or failed."""
    programs = {"sluice": functools.partial(run_workload, binary, w, paths, workdir)}
    figures = {}
    for peer in peers.PEERS if w.peers else []:
        if why := peer.missing():
            figures[peer.name] = {"skipped": f"not run: needs {why}"}
        else:
            programs[peer.name] = functools.partial(
                peers.run, peer, w.peers, paths[w.data], paths["lines"], workdir)
    results = {name: [] for name in programs}
    for i in range(runs):
        for name, run in programs.items():
            if name in figures:
                continue
            label = w.key if not w.peers else f"{w.key} {name}"
            try:
                results[name].append(run())
            except RuntimeError as err:
                # A run that loses or holds back records is a finding, not
                # a reason to lose the other figures.
                figures[name] = {"skipped": f"FAILED in run {i + 1}: {err}"}
                print(f"{label}: {err}", file=sys.stderr)
                continue
            print(f"{label} run {i + 1}: {paths['lines'] / results[name][-1][0]:,.0f} records/s",
                  file=sys.stderr)
    order = ["sluice"] + [peer.name for peer in peers.PEERS if w.peers]
    return {name: figures.get(name) or summary(results[name], paths["lines"], size)
            for name in order}


def print_figures(rows):
    """The BENCH_ONLY answer: one line per workload and program."""
    for row in rows:
        programs = [("sluice", row)] + list(row.get("peers", {}).items())
        for name, f in programs:
            label = row["w"].key if "peers" not in row else f"{row['w'].key} {name}"
            if "rate" in f:
                print(f"{label}: median {f['rate'][1]:,.0f} records/s "
                      f"(min {f['rate'][0]:,.0f}, max {f['rate'][2]:,.0f}), "
                      f"CPU {f['cpu']:.2f} s, peak RSS {f['rss']:.1f} MiB")
            else:
                print(f"{label}: {f['skipped']}")


def main():
    binary, data_dir, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    idle_seconds = int(os.environ.get("BENCH_IDLE_SECONDS", "30"))
    root = os.path.dirname(os.path.abspath(__file__))
    paths = {
        "json": os.path.join(data_dir, "json.log"),
        "apache": os.path.join(data_dir, "apache.log"),
        "syslog": os.path.join(data_dir, "syslog.log"),
        "parsers": os.path.join(data_dir, "parsers.conf"),
    }
    with open(paths["json"], "rb") as f:
        paths["lines"] = sum(1 for _ in f)
    sizes = {k: os.path.getsize(paths[k]) for k in ("json", "apache", "syslog")}

    refs = {}
    for name in ("cat", "wc -l", "socat"):
        times = [reference(name, paths["json"], paths["lines"]) for _ in range(runs)]
        refs[name] = paths["lines"] / stats(times)[1]

    # BENCH_ONLY=W1,W7a runs those alone and prints them, leaving
    # BENCHMARKS.md as it is.
    only = [k for k in os.environ.get("BENCH_ONLY", "").split(",") if k]
    rows = []
    for w in workloads():
        if only and w.key not in only:
            continue
        missing = [f"{kind} {name}" for kind, name in w.needs
                   if not has_plugin(binary, kind, name)]
        if missing or w.conf is None:
            why = ", ".join(missing) if missing else w.waits_for
            rows.append({"w": w, "skipped": f"not run: needs {why}"})
            print(f"{w.key}: skipped ({why})", file=sys.stderr)
            continue
        figures = measure(binary, w, paths, sizes[w.data], runs, data_dir)
        row = {"w": w, **figures.pop("sluice")}
        if w.peers:
            row["peers"] = figures
        rows.append(row)
    idle_figures = {}
    if not only or "idle" in only:
        idle_figures = {"as linked": idle(binary, idle_seconds, False),
                        "read from disk": idle(binary, idle_seconds, True)}
    if only:
        print_figures(rows)
        for how, (cpu, hwm, rss) in idle_figures.items():
            print(f"idle, binary {how}: {rss:.1f} MiB (peak {hwm:.1f}), {cpu:.2f} CPU s")
        return
    write_report(root, rows, refs, paths["lines"], sizes, runs, idle_seconds, idle_figures)


def write_report(root, rows, refs, lines, sizes, runs, idle_seconds, idle_figures):
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=root).stdout.strip()
    cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                      if l.startswith("model name")), platform.processor())
    out = [
        "# sluice benchmarks",
        "",
        "Written by `bench/suite` (see bench/README.md); every figure below is",
        "from one run of it.",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"commit {commit}",
        f"- machine: {os.cpu_count()} cores ({cpu_model}), "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB",
        f"- data: {lines:,} JSON lines ({sizes['json'] / lines:.0f} B each), "
        f"{lines:,} Apache lines ({sizes['apache'] / lines:.0f} B each), "
        f"{lines:,} RFC 5424 syslog lines ({sizes['syslog'] / lines:.0f} B each), "
        f"in RAM-backed storage; {runs} runs per workload",
        "",
        "## References",
        "",
        "| reference | lines/s (median) |",
        "|---|---|",
    ]
    out += [f"| {name} | {rate:,.0f} |" for name, rate in refs.items()]
    out += [
        "",
        "## Workloads",
        "",
        "| workload | records/s min | median | max | MiB/s | CPU s | peak RSS MiB "
        "| of reference | target | met |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        w = row["w"]
        target = f"{w.target:,}" if w.target else "–"
        if w.share:
            target += f" and {w.share:.0%} of {w.ref}"
        if "skipped" in row:
            out.append(f"| {w.key} {w.title} | {row['skipped']} | | | | | | | {target} | no |")
            continue
        lo, med, hi = row["rate"]
        # One decimal where the share is a target, so the figure and the
        # verdict beside it cannot seem to disagree by rounding.
        digits = 1 if w.share else 0
        ratio = f"{med / refs[w.ref]:.{digits}%} of {w.ref}" if w.ref else "–"
        met = "–" if not w.target else ("yes" if med >= w.target else "no")
        if w.share and med < w.share * refs[w.ref]:
            met = f"no (under {w.share:.0%} of {w.ref})"
        if w.target and row["rss"] > 50:
            met += " (RSS over 50 MiB)"
        out.append(f"| {w.key} {w.title} | {lo:,.0f} | {med:,.0f} | {hi:,.0f} "
                   f"| {row['mib_s']:.0f} | {row['cpu']:.2f} | {row['rss']:.1f} | {ratio} "
                   f"| {target} | {met} |")
    out += peers_table([r for r in rows if "peers" in r], lines)
    out += [
        "",
        "## Idle",
        "",
        f"`dummy` at 1 record/s → null for {idle_seconds} s, target ≤ 5 MiB resident. "
        "A binary just linked sits in the page cache in large folios, and each page "
        "fault maps more of it than when it was read from disk (as after an install "
        "and a reboot); both are measured.",
        "",
        "| binary | RSS at the end MiB | peak RSS MiB | CPU s | target met |",
        "|---|---|---|---|---|",
    ]
    for how, (cpu, hwm, rss) in idle_figures.items():
        out.append(f"| {how} | {rss:.1f} | {hwm:.1f} | {cpu:.2f} "
                   f"| {'yes' if rss <= 5 else 'no'} |")
    out += [
        "",
        "![records/s and peak RSS per workload](bench/chart.png)",
        "",
    ]
    with open(os.path.join(root, "..", "BENCHMARKS.md"), "w") as f:
        f.write("\n".join(out))
    chart(root, [r for r in rows if "rate" in r])


def peers_table(rows, lines):
    """The Peers section: sluice, rsyslogd and syslog-ng on each syslog
    workload, one line per program."""
    if not rows:
        return []
    versions = {p.name: p.version() for p in peers.PEERS if not p.missing()}
    out = [
        "",
        "## Peers",
        "",
        "The syslog workloads again, beside Debian's rsyslogd and syslog-ng doing the",
        "same job: each a private instance on 127.0.0.1 with a configuration of its",
        "own (bench/peers.py), fed the same file by socat and timed the same way,",
        "from the first byte sent until the last message is in the file or at the",
        "sink. The programs take turns, run by run. CPU is the program's own.",
        "",
        "| workload | program | records/s min | median | max | CPU s | CPU µs/record "
        "| peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        programs = [("sluice", row)] + list(row["peers"].items())
        for i, (name, f) in enumerate(programs):
            workload = f"{row['w'].key} {row['w'].title}" if i == 0 else ""
            program = f"{name} {versions[name]}" if name in versions else name
            if "skipped" in f:
                out.append(f"| {workload} | {program} | {f['skipped']} | | | | | |")
                continue
            lo, med, hi = f["rate"]
            out.append(f"| {workload} | {program} | {lo:,.0f} | {med:,.0f} | {hi:,.0f} "
                       f"| {f['cpu']:.2f} | {f['cpu'] / lines * 1e6:.2f} | {f['rss']:.1f} |")
    return out


def chart(root, rows):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["w"].key for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.bar(names, [r["rate"][1] / 1e6 for r in rows], color="#3572a5")
    for i, r in enumerate(rows):
        if r["w"].target:
            left.plot([i - 0.4, i + 0.4], [r["w"].target / 1e6] * 2, color="#c0392b")
    left.set_title("records/s (millions, median; red: target)")
    right.bar(names, [r["rss"] for r in rows], color="#6a9955")
    right.axhline(50, color="#c0392b")
    right.set_title("peak RSS (MiB; red: 50 MiB target)")
    fig.tight_layout()
    fig.savefig(os.path.join(root, "chart.png"), dpi=100)


if __name__ == "__main__":
    main()
