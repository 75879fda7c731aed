#!/usr/bin/env python3
"""Stand-in for ``ostree-trivial-httpd``, which Debian does not ship, for ostree's test scripts.

Serves a directory on 127.0.0.1 only, with the flags libtest.sh passes:
``--daemonize`` (the parent returns once the port file is written), ``-p PORTFILE``,
``-P PORT``, ``--autoexit`` (leave when the served directory is gone), ``--log-file``.
Flags of the real server that this one does not implement (``--random-500s``,
``--require-basic-auth``, ``--expected-cookies``...) are refused, so a test that needs
them fails at its set-up instead of passing by accident.
"""

import argparse
import http.server
import os
import sys
import threading
import time


def main() -> int:
    ap = argparse.ArgumentParser(prog="ostree-trivial-httpd")
    ap.add_argument("--daemonize", "-d", action="store_true")
    ap.add_argument("--autoexit", action="store_true")
    ap.add_argument("-p", "--port-file")
    ap.add_argument("-P", "--port", type=int, default=0)
    ap.add_argument("--log-file")
    ap.add_argument("dir", nargs="?", default=".")
    args = ap.parse_args()
    root = os.path.abspath(args.dir)
    log = open(args.log_file, "a") if args.log_file else None

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):  # noqa: ANN002, ANN003
            super().__init__(*a, directory=root, **kw)

        def log_message(self, fmt: str, *a) -> None:  # noqa: ANN002
            if log:
                log.write(fmt % a + "\n")
                log.flush()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    port = server.server_address[1]
    if args.daemonize:
        if os.fork() > 0:
            # the parent returns only when the port can be read, as the real one does
            if args.port_file:
                while not os.path.exists(args.port_file):
                    time.sleep(0.02)
            return 0
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.rename(tmp, args.port_file)
    if args.autoexit:
        def watch() -> None:
            while os.path.isdir(root):
                time.sleep(0.5)
            os._exit(0)
        threading.Thread(target=watch, daemon=True).start()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
