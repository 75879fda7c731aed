"""Servers for the HTTP tests: a real nginx serving repositories, and a fault proxy before it.

:class:`Nginx` runs Debian's nginx (package ``nginx-light``, see scripts/install-peers.sh) on
127.0.0.1 at a free port as its own master process with a generated configuration, serving a
directory (put repositories under :attr:`Nginx.root`). Its access log is tab-separated and
read back as :class:`LogEntry` values: which connection served which request lets a test count
connections (keep-alive) and requests per path (nothing fetched twice).

:class:`FaultProxy` is an HTTP/1.1 keep-alive proxy in a thread before a server. A test plans
faults per path (:meth:`FaultProxy.plan`): each request for that path takes the next planned
fault until none is left, then passes through. Faults: a status answer (503, 429 with
Retry-After, 404, ...), a redirect, a body cut after some bytes, corrupted bytes, a slow or a
trickling body, headers that never come.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Deque, Dict, List, Optional, Tuple

import attrs

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@attrs.frozen
class LogEntry:
    connection: int
    connection_requests: int
    status: int
    body_bytes: int
    method: str
    path: str
    user_agent: str


_CONF = """\
{user}
worker_processes 1;
daemon off;
master_process on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    default_type application/octet-stream;
    log_format t '$connection\\t$connection_requests\\t$status\\t$body_bytes_sent\\t$request_method\\t$uri\\t$http_user_agent';
    access_log {prefix}/access.log t;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    sendfile on;
    keepalive_timeout 60s;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ autoindex off; }}
    }}
{tls_server}}}
"""

_TLS_SERVER = """    server {{
        listen 127.0.0.1:{tls_port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_client_certificate {client_ca};
        ssl_verify_client optional;
        root {root};
        location / {{ autoindex off; }}
        location /mtls/ {{
            if ($ssl_client_verify != SUCCESS) {{ return 403; }}
        }}
    }}
"""


class Nginx:
    """nginx serving ``root`` on 127.0.0.1 (:attr:`url`), started by :meth:`start`."""

    def __init__(self, prefix: Path, root: Optional[Path] = None,
                 tls: Optional[Tuple[Path, Path, Path]] = None) -> None:
        """``tls``: (certificate, key, CA for client certificates) to serve HTTPS too, at
        :attr:`tls_url`; paths under ``/mtls/`` there answer 403 without a client certificate
        that CA signed."""
        self.prefix = Path(prefix)
        self.root = Path(root) if root is not None else self.prefix / "www"
        self.tls = tls
        self.port = 0
        self.tls_port = 0
        self.proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def tls_url(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}"

    @property
    def access_log(self) -> Path:
        return self.prefix / "access.log"

    def start(self) -> "Nginx":
        self.root.mkdir(parents=True, exist_ok=True)
        (self.prefix / "tmp").mkdir(parents=True, exist_ok=True)
        for attempt in range(5):
            self.port = free_port()
            tls_server = ""
            if self.tls is not None:
                self.tls_port = free_port()
                tls_server = _TLS_SERVER.format(tls_port=self.tls_port, cert=self.tls[0], key=self.tls[1],
                                                client_ca=self.tls[2], root=self.root)
            conf = self.prefix / "nginx.conf"
            conf.write_text(_CONF.format(
                user="user root;" if os.geteuid() == 0 else "",
                prefix=self.prefix, root=self.root, port=self.port, tls_server=tls_server))
            self.proc = subprocess.Popen(
                [NGINX, "-p", str(self.prefix), "-e", str(self.prefix / "error.log"), "-c", str(conf)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                start_new_session=True)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                    self.access_log.touch()
                    return self
                except OSError:
                    time.sleep(0.02)
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""
            self.stop()
            if "Address already in use" not in err and attempt:
                raise RuntimeError(f"nginx did not start: {err}")
        raise RuntimeError("nginx did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: master and worker
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    # -- the access log ------------------------------------------------------------------
    def _settled_size(self, settle: float) -> int:
        """The log's size once it has not grown for ``settle`` seconds (at most 3 s). nginx
        writes a line after the last byte went out, so a client can have the whole answer
        before its line is there."""
        end = time.monotonic() + 3
        size = self.access_log.stat().st_size
        while time.monotonic() < end:
            time.sleep(settle)
            now = self.access_log.stat().st_size
            if now == size:
                break
            size = now
        return size

    def mark(self, settle: float = 0.1) -> int:
        """A position in the access log; :meth:`entries` after it are the later requests.
        Settled as :meth:`entries` is, or a request answered just before the mark could have
        its line written after it."""
        return self._settled_size(settle)

    def entries(self, since: int = 0, settle: float = 0.1) -> List[LogEntry]:
        """The requests logged after ``since``, once the log has settled."""
        self._settled_size(settle)
        with open(self.access_log, "rb") as f:
            f.seek(since)
            data = f.read().decode("utf-8", "replace")
        out = []
        for line in data.splitlines():
            p = line.split("\t")
            if len(p) < 7:
                continue
            out.append(LogEntry(int(p[0]), int(p[1]), int(p[2]), int(p[3]), p[4], p[5], p[6]))
        return out

    def __enter__(self) -> "Nginx":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- the fault proxy ------------------------------------------------------------------------
@attrs.frozen
class Fault:
    """What the proxy does with one request instead of passing it through.

    ``kind``: ``status`` (answer ``code`` with ``headers``), ``redirect`` (302 to
    ``location``), ``cut`` (the true headers, then ``nbytes`` of the body, then close),
    ``corrupt`` (the body with byte ``nbytes`` flipped), ``slow`` (the body at ``rate``
    bytes/s), ``hang`` (accept, never answer), ``close`` (the true answer, then close; ``code``
    1: announced with ``Connection: close``).
    """

    kind: str
    code: int = 503
    headers: Tuple[Tuple[str, str], ...] = ()
    location: str = ""
    nbytes: int = 0
    rate: float = 0.0


def status(code: int, *headers: Tuple[str, str]) -> Fault:
    return Fault("status", code=code, headers=tuple(headers))


def redirect(location: str, code: int = 302) -> Fault:
    return Fault("redirect", code=code, location=location)


def cut(nbytes: int) -> Fault:
    return Fault("cut", nbytes=nbytes)


def corrupt(at: int = 0) -> Fault:
    return Fault("corrupt", nbytes=at)


def slow(rate: float) -> Fault:
    return Fault("slow", rate=rate)


def hang() -> Fault:
    return Fault("hang")


def close(announced: bool = True) -> Fault:
    """The true answer, then the connection closed: with ``Connection: close`` when
    ``announced`` (as nginx ends its ``keepalive_requests``), else without a word; requests
    pipelined behind it go unanswered."""
    return Fault("close", code=1 if announced else 0)


def no_length() -> Fault:
    """The body without Content-Length, ended by closing the connection (HTTP/1.0 style)."""
    return Fault("nolength")


class FaultProxy:
    """An HTTP/1.1 proxy on 127.0.0.1 (:attr:`url`) in front of ``upstream`` (host, port)."""

    def __init__(self, upstream: Tuple[str, int]) -> None:
        self.upstream = upstream
        self._plans: Dict[str, Deque[Fault]] = defaultdict(deque)
        self._lock = threading.Lock()
        #: (path, fault kind or "pass") for every request, in order
        self.requests: List[Tuple[str, str]] = []
        #: client connections accepted
        self.connections = 0
        #: the request headers of every request, in order
        self.headers: List[Dict[str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy.connections += 1
                self.upconn: Optional[http.client.HTTPConnection] = None

            def do_GET(self) -> None:
                proxy._serve(self)

            def do_HEAD(self) -> None:
                proxy._serve(self)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # clients that give up on a slow or cut answer are what the tests do

        self._stopping = threading.Event()
        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "FaultProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def plan(self, path: str, *faults: Fault) -> None:
        """The next requests for ``path`` (the URL path, e.g. ``/repo/config``) get ``faults``,
        one each, in order."""
        with self._lock:
            self._plans[path].extend(faults)

    def clear(self) -> None:
        with self._lock:
            self._plans.clear()
            self.requests.clear()
            self.connections = 0

    def _next(self, path: str) -> Optional[Fault]:
        with self._lock:
            q = self._plans.get(path)
            f = q.popleft() if q else None
            self.requests.append((path, f.kind if f else "pass"))
            return f

    def _record(self, headers: Dict[str, str]) -> None:
        with self._lock:
            self.headers.append(headers)

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        self._record(dict(h.headers.items()))
        fault = self._next(path)
        if fault is not None and fault.kind == "hang":
            self._stopping.wait(600)
            return
        if fault is not None and fault.kind in ("status", "redirect"):
            body = b"fault\n"
            h.send_response(fault.code)
            for k, v in fault.headers:
                h.send_header(k, v)
            if fault.kind == "redirect":
                h.send_header("Location", fault.location)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(body)
            return
        # pass through to the upstream, keeping one upstream connection per client connection
        if h.upconn is None:  # type: ignore[attr-defined]
            h.upconn = http.client.HTTPConnection(*self.upstream, timeout=30)  # type: ignore[attr-defined]
        up: http.client.HTTPConnection = h.upconn  # type: ignore[attr-defined]
        headers = {k: v for k, v in h.headers.items() if k.lower() not in ("connection", "keep-alive")}
        try:
            up.request(h.command, h.path, headers=headers)
            resp = up.getresponse()
        except (OSError, http.client.HTTPException):
            up.close()
            up.request(h.command, h.path, headers=headers)
            resp = up.getresponse()
        h.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() in ("connection", "keep-alive", "transfer-encoding", "server", "date"):
                continue
            if not (fault is not None and fault.kind == "nolength" and k.lower() == "content-length"):
                h.send_header(k, v)
        length = resp.getheader("Content-Length")
        if fault is not None and fault.kind == "close":
            h.close_connection = True
            if fault.code:
                h.send_header("Connection", "close")
        if fault is not None and fault.kind == "nolength":
            h.send_header("Connection", "close")
            h.end_headers()
            h.close_connection = True
            chunks = iter(lambda: resp.read(1 << 16), b"")
        elif length is None:
            body = resp.read()
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            chunks = [body]
        else:
            h.end_headers()
            chunks = iter(lambda: resp.read(1 << 16), b"")
        if h.command == "HEAD":
            resp.read()
            return
        sent = 0
        for chunk in chunks:
            if fault is not None and fault.kind == "cut":
                chunk = chunk[: max(0, fault.nbytes - sent)]
            if fault is not None and fault.kind == "corrupt" and sent <= fault.nbytes < sent + len(chunk):
                i = fault.nbytes - sent
                chunk = chunk[:i] + bytes([chunk[i] ^ 0xFF]) + chunk[i + 1:]
            if fault is not None and fault.kind == "slow":
                for i in range(0, len(chunk), max(1, int(fault.rate / 10))):
                    piece = chunk[i: i + max(1, int(fault.rate / 10))]
                    h.wfile.write(piece)
                    h.wfile.flush()
                    if self._stopping.wait(len(piece) / fault.rate):
                        return
            elif chunk:
                h.wfile.write(chunk)
            sent += len(chunk)
            if fault is not None and fault.kind == "cut" and sent >= fault.nbytes:
                break
        if fault is not None and fault.kind == "cut":
            resp.read()
            h.wfile.flush()
            h.close_connection = True
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
