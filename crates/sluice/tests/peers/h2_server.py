"""An HTTP/2 receiver served by hypercorn, independent of sluice, for tests.

    h2_server.py PORT_FILE OUT_FILE [--tls CERT KEY] [--http1-only]
                 [--statuses 503,200] [--delays 3,0]

Listens on 127.0.0.1 (a port the OS picks, written to PORT_FILE). With
--tls it offers "h2" and "http/1.1" by ALPN, or only "http/1.1" with
--http1-only; without, it serves HTTP/1.1 and HTTP/2 with prior knowledge
(h2c) on plain TCP. Every request is appended to OUT_FILE as one JSON
line: the HTTP version hypercorn saw ("2" or "1.1"), the client's port
(one per connection), method, path, headers and the body (gunzipped when
Content-Encoding says gzip). Requests are answered with the given statuses
in turn, then 200, each after the given delay in seconds, then none. Runs
until killed.
"""
import argparse
import asyncio
import gzip
import json
import socket

from hypercorn.asyncio import serve
from hypercorn.config import Config


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("port_file")
    parser.add_argument("out_file")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--http1-only", action="store_true")
    parser.add_argument("--statuses", default="")
    parser.add_argument("--delays", default="")
    return parser.parse_args()


def make_app(out_file, statuses, delays):
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                event = (await receive())["type"]  # lifespan.startup or .shutdown
                await send({"type": event + ".complete"})
                if event == "lifespan.shutdown":
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        if headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        line = {
            "http_version": scope["http_version"],
            "client_port": scope["client"][1],
            "method": scope["method"],
            "path": scope["path"],
            "query": scope["query_string"].decode(),
            "headers": headers,
            "body": body.decode(),
        }
        with open(out_file, "a") as out:
            out.write(json.dumps(line) + "\n")
        status = statuses.pop(0) if statuses else 200
        await asyncio.sleep(delays.pop(0) if delays else 0)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


async def main():
    args = parse_args()
    statuses = [int(s) for s in args.statuses.split(",") if s]
    delays = [float(s) for s in args.delays.split(",") if s]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    config = Config()
    config.bind = [f"fd://{listener.fileno()}"]
    if args.tls:
        config.certfile, config.keyfile = args.tls
    config.alpn_protocols = ["http/1.1"] if args.http1_only else ["h2", "http/1.1"]
    config.accesslog = None
    # The socket listens before hypercorn takes it over, so a connection
    # that comes as soon as the port is announced waits in the backlog.
    listener.listen(64)
    with open(args.port_file, "w") as port_file:
        port_file.write(str(listener.getsockname()[1]))
    await serve(make_app(args.out_file, statuses, delays), config)

if __name__ == "__main__":
    asyncio.run(main())
