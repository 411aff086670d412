#!/usr/bin/env python3
"""Writes deterministic benchmark data sets.

  gen.py json N PATH     N JSON log lines of about 200 bytes
  gen.py apache N PATH   N Apache combined log lines
  gen.py syslog N PATH   N RFC 5424 syslog lines of about 150 bytes

The same N always gives the same bytes, so runs compare.
"""
import random
import sys

PATHS = ["/", "/index.html", "/api/v1/users", "/api/v1/orders", "/static/app.js",
         "/login", "/logout", "/search?q=rust", "/cart", "/checkout"]
METHODS = ["GET", "GET", "GET", "POST", "PUT", "DELETE"]
LEVELS = ["info", "info", "info", "warn", "error", "debug"]
STATUS = [200, 200, 200, 201, 204, 301, 404, 500]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64)", "curl/8.5.0", "Go-http-client/1.1"]
APPS = ["checkout", "cart", "auth", "search", "gateway"]


def json_line(rng, i):
    sec = 1_700_000_000 + i // 1000
    return (
        '{"time":"2023-11-14T22:%02d:%02d.%03dZ","level":"%s","msg":"request handled",'
        '"user_id":%d,"latency_ms":%.3f,"path":"%s","method":"%s","status":%d,'
        '"host":"web-%02d.example.internal","request_id":"%016x"}\n'
        % ((sec // 60) % 60, sec % 60, i % 1000, rng.choice(LEVELS), rng.randrange(1, 10**6),
           rng.random() * 500, rng.choice(PATHS), rng.choice(METHODS), rng.choice(STATUS),
           rng.randrange(0, 40), rng.getrandbits(64))
    )


def apache_line(rng, i):
    sec = i // 1000
    return (
        '%d.%d.%d.%d - - [14/Nov/2023:22:%02d:%02d +0000] "%s %s HTTP/1.1" %d %d "-" "%s"\n'
        % (rng.randrange(1, 255), rng.randrange(0, 255), rng.randrange(0, 255), rng.randrange(1, 255),
           (sec // 60) % 60, sec % 60, rng.choice(METHODS), rng.choice(PATHS), rng.choice(STATUS),
           rng.randrange(100, 50_000), rng.choice(AGENTS))
    )


def syslog_line(rng, i):
    """One RFC 5424 message, newline-framed. The priority is always
    local0.info and the structured data nil, so every program under test
    can carry the whole message through (sluice's `syslog` output takes
    severity and facility from presets and writes no SD from a string).
    `request_id=` occurs once in each, so a sink can count messages in
    any framing."""
    sec = i // 1000
    return (
        '<134>1 2023-11-14T22:%02d:%02d.%03dZ web-%02d.example.internal %s %d - - '
        '%s %s %d latency_ms=%.3f user_id=%d request_id=%016x\n'
        % ((sec // 60) % 60, sec % 60, i % 1000, rng.randrange(0, 40), rng.choice(APPS),
           rng.randrange(100, 32768), rng.choice(METHODS), rng.choice(PATHS),
           rng.choice(STATUS), rng.random() * 500, rng.randrange(1, 10**6), rng.getrandbits(64))
    )


def main():
    kind, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rng = random.Random(42)
    make = {"json": json_line, "apache": apache_line, "syslog": syslog_line}[kind]
    with open(path, "w") as f:
        buf = []
        for i in range(n):
            buf.append(make(rng, i))
            if len(buf) == 10_000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))


if __name__ == "__main__":
    main()
