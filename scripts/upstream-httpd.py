#!/usr/bin/env python3
"""Stand-in for ``ostree-trivial-httpd``, which Debian does not ship, for ostree's test scripts.

Serves a directory on 127.0.0.1 only, with the flags of ostree-trivial-httpd.c
(v2022.7) that the scripts use: ``--daemonize`` (the parent returns once the port
file is written), ``-p PORTFILE``, ``-P PORT``, ``--autoexit`` (leave when the served
directory is gone), ``--log-file``, ``--require-basic-auth`` (foouser/barpw),
``--random-500s``/``--random-408s`` (with their ``-max``), ``--expected-cookies``,
``--expected-header`` (403 when missing), ``--force-range-requests`` (only half of an
object is sent, then the connection closes). GET answers ``Range`` (206/416),
``ETag`` (the quoted SHA-256 of the file), ``If-None-Match`` and
``If-Modified-Since`` (304) as the real one does through libsoup.
"""

import argparse
import base64
import email.utils
import hashlib
import http.cookies
import http.server
import os
import random
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
    ap.add_argument("--require-basic-auth", action="store_true")
    ap.add_argument("--random-500s", type=int, default=0)
    ap.add_argument("--random-500s-max", type=int, default=100)
    ap.add_argument("--random-408s", type=int, default=0)
    ap.add_argument("--random-408s-max", type=int, default=100)
    ap.add_argument("--expected-cookies", action="append", default=[])
    ap.add_argument("--expected-header", action="append", default=[])
    ap.add_argument("--force-range-requests", action="store_true")
    ap.add_argument("dir", nargs="?", default=".")
    args = ap.parse_args()
    root = os.path.abspath(args.dir)
    log = open(args.log_file, "a") if args.log_file else None
    emitted = {"500": 0, "408": 0}
    lock = threading.Lock()

    class Handler(http.server.SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def __init__(self, *a, **kw):  # noqa: ANN002, ANN003
            super().__init__(*a, directory=root, **kw)

        def log_message(self, fmt: str, *a) -> None:  # noqa: ANN002
            if log:
                log.write(fmt % a + "\n")
                log.flush()

        def _status(self, code: int, headers: tuple = ()) -> None:
            self.send_response(code)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _refused(self) -> bool:
            if args.require_basic_auth:
                want = "Basic " + base64.b64encode(b"foouser:barpw").decode()
                if self.headers.get("Authorization") != want:
                    self._status(401, (("WWW-Authenticate", 'Basic realm="auth-test"'),))
                    return True
            if args.expected_cookies:
                jar = http.cookies.SimpleCookie(self.headers.get("Cookie", ""))
                for kv in args.expected_cookies:
                    k, _, v = kv.partition("=")
                    if k not in jar or jar[k].value != v:
                        self._status(403)
                        return True
            for kv in args.expected_header:
                k, _, v = kv.partition("=")
                if self.headers.get(k) != v:
                    self._status(403)
                    return True
            if "../" in self.path:
                self._status(403)
                return True
            with lock:
                for code, pct, cap in (("500", args.random_500s, args.random_500s_max),
                                       ("408", args.random_408s, args.random_408s_max)):
                    if pct > 0 and emitted[code] < cap and random.randrange(100) < pct:
                        emitted[code] += 1
                        self._status(int(code))
                        return True
            return False

        def do_HEAD(self) -> None:  # noqa: N802
            if not self._refused():
                super().do_HEAD()

        def do_GET(self) -> None:  # noqa: N802
            if self._refused():
                return
            path = self.translate_path(self.path)
            if not os.path.lexists(path):
                # ostree-trivial-httpd's 404 has no body: the peer's curl fetcher keeps an
                # error page's body and appends the next mirror's object to it
                # (ostree-fetcher-curl.c, continued_request), so an HTML page breaks
                # test-pull-mirrorlist for it
                return self._status(404)
            if not os.path.isfile(path):
                return super().do_GET()
            with open(path, "rb") as f:
                data = f.read()
            etag = '"' + hashlib.sha256(data).hexdigest() + '"'
            mtime = os.stat(path).st_mtime
            last_modified = self.date_time_string(int(mtime))
            inm, ims = self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
            not_modified = False
            if inm is not None:
                not_modified = inm == etag
            elif ims is not None:
                try:
                    not_modified = int(mtime) <= email.utils.parsedate_to_datetime(ims).timestamp()
                except (TypeError, ValueError):
                    pass
            if not_modified:
                return self._status(304, (("ETag", etag), ("Last-Modified", last_modified)))
            code, body, extra = 200, data, []
            rng = self.headers.get("Range", "")
            if rng.startswith("bytes="):
                first, _, last = rng[6:].split(",")[0].partition("-")
                if first.isdigit():
                    start = int(first)
                    if start >= len(data):
                        return self._status(416)
                    end = min(int(last), len(data) - 1) if last.isdigit() else len(data) - 1
                    code, body = 206, data[start:end + 1]
                    extra.append(("Content-Range", f"bytes {start}-{end}/{len(data)}"))
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", last_modified)
            for k, v in extra:
                self.send_header(k, v)
            if args.force_range_requests and code == 200 and "/objects" in self.path:
                # announce it all, send half, close: the client has to resume with a Range
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body[:len(body) // 2])
                self.close_connection = True
                return
            self.end_headers()
            self.wfile.write(body)

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
