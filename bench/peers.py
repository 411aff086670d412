"""The peers: rsyslogd and syslog-ng doing the syslog workloads' job
beside sluice, each a private instance on 127.0.0.1.

A run writes the peer's configuration into a fresh directory, which also
takes its pid, state and output files, starts the peer in the
foreground, sends the data set with socat as soon as the peer listens
and stops the clock when every message came out: as lines of the output
file (job "file") or at a sink that counts them (job "forward"). CPU
seconds (user + system, every thread) and peak RSS are the peer's own,
read from /proc before it is stopped. The peer writes nothing outside
that directory.

Both peers keep their defaults but for what the job needs: every
message is kept (syslog-ng's log path waits for a full destination
instead of dropping, `flags(flow-control)`), and the file line has the
same fields as sluice's: the sender's time, host, app[procid] and
message. Forwarded messages are RFC 5424, newline-framed by the peers
and octet-counted by sluice.
"""
import os
import shutil
import subprocess
import tempfile
import time

from benchlib import (FileLines, TokenSink, feed_socat, free_port, proc_stats, wait_count, wait_quiet,
                      wait_port)

# Each generated syslog message carries one (see gen.py).
TOKEN = b" request_id="

BENCH = os.path.dirname(os.path.abspath(__file__))


class Rsyslog:
    """rsyslogd from Debian's rsyslog package, which bench/suite installs;
    with -f it reads no configuration of the system's."""

    name = "rsyslog"
    binary = "/usr/sbin/rsyslogd"

    def missing(self):
        if not os.access(self.binary, os.X_OK):
            return "rsyslogd (apt-get install rsyslog)"
        return None

    def version(self):
        out = subprocess.run([self.binary, "-v"], capture_output=True, text=True).stdout
        return out.split()[1] if out else "?"

    def command(self, conf, run_dir):
        return [self.binary, "-n", "-f", conf, "-i", os.path.join(run_dir, "pid")]

    def config(self, job, port, run_dir, sink_port):
        if job == "file":
            action = (f'action(type="omfile" file="{run_dir}/out.log" '
                      'template="bench_line")')
        else:
            action = (f'action(type="omfwd" target="127.0.0.1" port="{sink_port}" '
                      'protocol="tcp" template="RSYSLOG_SyslogProtocol23Format")')
        return f"""\
global(workDirectory="{run_dir}")
module(load="imtcp")
template(name="bench_line" type="string"
         string="%timereported:::date-rfc3339% %hostname% %app-name%[%procid%]: %msg%\\n")
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="bench")
ruleset(name="bench") {{
    {action}
}}
"""


class SyslogNg:
    """syslog-ng from the wrapper bench/suite writes: Debian's package
    conflicts with rsyslog, so it is unpacked rather than installed."""

    name = "syslog-ng"
    binary = os.environ.get("BENCH_SYSLOG_NG",
                            os.path.join(BENCH, "tools", "syslog-ng", "syslog-ng"))

    def missing(self):
        if not os.access(self.binary, os.X_OK):
            return "syslog-ng (bench/suite unpacks it into bench/tools/syslog-ng)"
        return None

    def version(self):
        out = subprocess.run([self.binary, "-V"], capture_output=True, text=True).stdout
        # "syslog-ng 3 (3.38.1)"
        return out.split("\n", 1)[0].split("(")[-1].rstrip(")") if out else "?"

    def command(self, conf, run_dir):
        return [self.binary, "-F", "-f", conf, "-p", os.path.join(run_dir, "pid"),
                "-R", os.path.join(run_dir, "persist"), "-c", os.path.join(run_dir, "ctl")]

    def config(self, job, port, run_dir, sink_port):
        if job == "file":
            destination = (f'file("{run_dir}/out.log" template('
                           '"${ISODATE} ${HOST} ${PROGRAM}[${PID}]: ${MESSAGE}\\n"))')
        else:
            destination = (f'network("127.0.0.1" port({sink_port}) transport("tcp") '
                           'flags(syslog-protocol))')
        # keep-hostname: the host is the message's, not the sender's
        # address; frac-digits: the milliseconds stay in the time.
        return f"""\
@version: 3.38
options {{ keep-hostname(yes); frac-digits(3); stats-freq(0); }};
source s_bench {{
    network(ip("127.0.0.1") port({port}) transport("tcp") flags(syslog-protocol));
}};
destination d_bench {{ {destination}; }};
log {{ source(s_bench); destination(d_bench); flags(flow-control); }};
"""


PEERS = [Rsyslog(), SyslogNg()]


def run(peer, job, data, records, workdir):
    """One run of `peer` on `job` ("file" or "forward"): the seconds from
    the first byte sent to the last message out, CPU seconds and peak
    RSS in MiB. RuntimeError when the peer stops or loses messages."""
    wait_quiet()
    run_dir = tempfile.mkdtemp(prefix=f"{peer.name}-", dir=workdir)
    port = free_port()
    sink = FileLines(os.path.join(run_dir, "out.log")) if job == "file" else TokenSink(TOKEN)
    conf = os.path.join(run_dir, f"{peer.name}.conf")
    with open(conf, "w") as f:
        f.write(peer.config(job, port, run_dir, getattr(sink, "port", 0)))
    stderr = open(os.path.join(run_dir, "stderr"), "w+")
    proc = subprocess.Popen(peer.command(conf, run_dir), cwd=run_dir,
                            stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_port(port, proc, peer.name)
        start = time.monotonic()
        feed_socat(port, data)
        wait_count(lambda: sink.lines, records, peer.name)
        elapsed = time.monotonic() - start
        cpu, hwm = proc_stats(proc.pid)
        return elapsed, cpu, hwm
    except RuntimeError as err:
        stderr.seek(0)
        raise RuntimeError(f"{err}; its stderr: {stderr.read().strip()[-500:]!r}") from None
    finally:
        proc.terminate()
        proc.wait()
        stderr.close()
        shutil.rmtree(run_dir, ignore_errors=True)
