"""A minimal Forward protocol server, independent of sluice, for tests.

    forward_server.py PORT_FILE

Listens on 127.0.0.1 (a port the OS picks, written to PORT_FILE), decodes
every frame with the msgpack library: Message, Forward, PackedForward and
CompressedPackedForward (gzip). Each event is printed as one JSON line
{"tag", "time", "record", "mode"}; a frame whose options hold "chunk" is
answered with {"ack": chunk}. Runs until killed.
"""
import gzip
import json
import socket
import struct
import sys
import threading

import msgpack


def event_time(code, data):
    if code == 0 and len(data) == 8:
        sec, nsec = struct.unpack(">II", data)
        return sec + nsec / 1e9
    return msgpack.ExtType(code, data)


def entries(packed):
    unpacker = msgpack.Unpacker(ext_hook=event_time, raw=False)
    unpacker.feed(packed)
    return list(unpacker)


def events(frame):
    tag, second = frame[0], frame[1]
    options = frame[2] if len(frame) > 2 and isinstance(frame[2], dict) else {}
    if isinstance(second, (int, float)):
        options = frame[3] if len(frame) > 3 else {}
        return tag, "message", [[second, frame[2]]], options
    if isinstance(second, list):
        return tag, "forward", second, options
    packed = gzip.decompress(second) if options.get("compressed") == "gzip" else second
    mode = "compressed" if options.get("compressed") == "gzip" else "packed"
    return tag, mode, entries(packed), options


def serve(conn, lock):
    unpacker = msgpack.Unpacker(ext_hook=event_time, raw=False)
    while True:
        data = conn.recv(1 << 16)
        if not data:
            return
        unpacker.feed(data)
        for frame in unpacker:
            tag, mode, items, options = events(frame)
            with lock:
                for time, record in items:
                    if isinstance(time, list):
                        time = time[0]
                    print(json.dumps({"tag": tag, "time": time, "record": record,
                                      "mode": mode, "options": sorted(options)}),
                          flush=True)
            if "chunk" in options:
                conn.sendall(msgpack.packb({"ack": options["chunk"]}))


def main():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    with open(sys.argv[1], "w") as f:
        f.write(str(server.getsockname()[1]))
    lock = threading.Lock()
    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn, lock), daemon=True).start()


if __name__ == "__main__":
    main()
