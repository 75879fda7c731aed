"""The HTTP(S) fetcher: files of a remote repository over ``http://`` and ``https://``.

Design. :class:`HttpFetcher` implements :class:`~ostreepy.remote.fetcher.Fetcher` over the
connection pools of a ``requests`` adapter (:class:`ociclient.watched_adapter.WatchedAdapter`),
sending through urllib3 directly (a ``requests.Session`` spends more CPU per request than a loopback GET
of a small object takes). The pull engine calls it from several threads, so each thread gets
its own pool manager (its own kept-alive connection; never shared, so no locking on the hot
path). Bodies are streamed in chunks into the caller's sink, counted against ``max_size`` as
they arrive (a ``Content-Length`` is only a first check: it may lie or be absent), and read
as raw bytes (``Accept-Encoding: identity``: what the server stores is what is checksummed).

What libostree does, and we do too (``src/libostree/ostree-fetcher-util.c``,
``ostree-fetcher-curl.c``, ``ostree-repo-pull.c``):

* 403, 404 and 410 mean "not there" (:class:`NotFound`; ostree maps all three to
  ``G_IO_ERROR_NOT_FOUND``, which keeps optional files such as ``summary.sig`` optional on
  stores like S3 that answer 403 for a missing key). Not retried.
* Every other failure is retried (ostree's default ``retry-all-network-errors=true`` turns
  any other status and any transport error into ``G_IO_ERROR_TIMED_OUT``, which it retries),
  ``n-network-retries`` times (default 5, i.e. up to 6 tries). Unlike ostree, which retries at
  once, we wait ``backoff * 2**n`` (jittered, capped), or what ``Retry-After`` asks (capped).
  A certificate that fails verification is not retried: it will not get better.
* A transfer slower than ``low-speed-limit-bytes`` (1000 B/s) for ``low-speed-time-seconds``
  (30 s) is cut (curl's ``CURLOPT_LOW_SPEED_*``) and retried. We enforce it with
  :mod:`ociclient.deadline`'s watchdog: each window of ``low_speed_time`` seconds must bring
  ``low_speed_limit * low_speed_time`` bytes (or the end), else the socket is shut down, which
  also wakes a thread blocked in ``recv`` on a server trickling one byte at a time. Waiting for
  the headers is the first window. ``timeout`` adds a total limit per try.
* Remote options: ``tls-permissive``, ``tls-ca-path``, ``tls-client-cert-path`` /
  ``-key-path`` (both or neither), ``proxy``, ``http2`` (ignored: HTTP/1.1 only); the pull
  options ``http-headers`` and ``append-user-agent``; ``user:password@`` in the URL is sent as
  Basic auth (never ``~/.netrc``, which curl does not read either).

Plain ``http://`` without a proxy (a mirror on the LAN, a test server) skips urllib3 for the
request itself: :class:`_PlainConn` writes the GET and parses the answer's head over this
thread's kept-alive socket, about a tenth of urllib3's and http.client's CPU per request, which
is what a pull of thousands of small objects spends most of its time on. Statuses, redirects,
size caps, retries and the low-speed watchdog are handled as on the urllib3 path; an answer it
does not take on (no ``Content-Length``, chunked) is asked again through urllib3.
A batch of objects (:meth:`HttpFetcher.fetch_each`, the pull's content batches) goes out over
that socket as pipelined GETs, answered in order, so that a thread is not idle a round trip per
object and a few threads keep the server busy (libostree keeps 8 requests in flight on its
curl multi handle); whatever the pipeline does not take on is asked again alone.
requests and urllib3 are imported only when something goes through them (https, a proxy,
such an answer, Basic auth's header, an error answer's ``Retry-After``): a pull over plain
http does not pay a few hundred milliseconds of imports for nothing.

Where we are stricter: ostree lets curl follow any redirect (``CURLOPT_FOLLOWLOCATION``, to any
host; curl's redirect protocols are http/https). We follow at most 10 redirects and only to the
same host name, never from https to http; anything else is a :class:`FetchError`, so a
compromised mirror cannot send the client (and its credentials or client certificate) away.
"""

from __future__ import annotations

import io
import os
import socket
import sys
import threading
import time
import warnings
from types import ModuleType

from ociclient.deadline import watch
from ociclient.errors import DeadlineExceeded

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import BinaryIO, Callable, Dict, List, Optional, Sequence, Tuple

    import urllib3

    from ociclient.watched_adapter import WatchedAdapter

    from .cookies import Cookie

from .._version import __version__
from ..errors import FetchError
from ..errors import FetchAheadBroken as AheadBroken
from ..errors import FetchNotFoundError as NotFound
from .summary_cache import Conditional
# a remote's URL split, and object paths quoted, without urllib.parse where there is nothing
# to unquote (its import, with ipaddress's, was ~2 ms of every pull's start-up)
from .urls import PlainURL, quote_path, unquote
from .urls import split as urlsplit

#: ostree's OSTREE_FETCHER_USERAGENT_STRING ("libostree/" PACKAGE_VERSION), with the version
#: ``ostreepy --version`` reports as libostree's: servers and ostree's own tests (test-remote-
#: headers) match on it, and ``--append-user-agent`` text follows it after a space
USER_AGENT = f"libostree/{__version__}"
#: ostree's DEFAULT_N_NETWORK_RETRIES
DEFAULT_N_NETWORK_RETRIES = 5
#: ostree's OPT_LOWSPEEDLIMIT_DEFAULT / OPT_LOWSPEEDTIME_DEFAULT
DEFAULT_LOW_SPEED_LIMIT = 1000
DEFAULT_LOW_SPEED_TIME = 30.0
#: curl's CURLOPT_CONNECTTIMEOUT as ostree sets it
CONNECT_TIMEOUT = 30.0
MAX_REDIRECTS = 10
CHUNK = 1 << 16
#: how much of an error answer is read so its connection can be kept
_DRAIN = 1 << 16

_NOT_FOUND = frozenset({403, 404, 410})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class _Retry(Exception):
    """One try failed in a way worth another (internal)."""

    def __init__(self, message: str, retry_after: Optional[float] = None, partial: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        #: the body was cut: what came is in the sink, and the next try may ask for the rest
        self.partial = partial


def _urllib3_exceptions() -> Optional[ModuleType]:
    """urllib3's exceptions module when urllib3 was imported (by a request sent through it),
    else None: the plain-socket path never imports it, and so cannot meet its errors."""
    return sys.modules.get("urllib3.exceptions")


#: held while a worker thread imports the requests/urllib3 stack: two workers importing parts of
#: that package graph at once can meet importlib's deadlock detection, which hands one of them a
#: partially initialised module (an ImportError inside urllib3 seen in a faulted pull)
_STACK_IMPORT = threading.Lock()


def _retry_after(value: Optional[str]) -> Optional[float]:
    # only an error answer carries Retry-After: ociclient.transport (requests and all) is
    # imported then, not by every pull
    with _STACK_IMPORT:
        from ociclient.transport import parse_retry_after
    return parse_retry_after(value)


def _environ_proxies(url: str) -> Dict[str, str]:
    """requests' ``get_environ_proxies``: the ``*_proxy`` variables that apply to ``url``.
    Without any such variable the answer is empty, and requests is not imported for it."""
    if not any(v and k.lower().endswith("_proxy") for k, v in os.environ.items()):
        return {}
    import requests.utils
    return requests.utils.get_environ_proxies(url)


def _same_host_redirect(old: str, new: str) -> bool:
    from urllib.parse import urlsplit  # (a redirect: rare)
    a, b = urlsplit(old), urlsplit(new)
    if b.scheme not in ("http", "https") or not b.hostname:
        return False
    if a.scheme == "https" and b.scheme == "http":
        return False
    return (a.hostname or "").lower() == b.hostname.lower()


def _sink_restart(sink: BinaryIO) -> None:
    sink.seek(0)
    sink.truncate()


class HttpFetcher:
    """A :class:`~ostreepy.remote.fetcher.Fetcher` for an ``http(s)://`` remote URL.

    :param timeout: total seconds one try may take (headers and body); ``None``: no total
        limit, only the low-speed rule.
    :param tls_ca_path: a CA bundle that replaces the system's (remote option ``tls-ca-path``).
    :param tls_client_cert: ``(cert_path, key_path)`` for TLS client authentication.
    :param proxy: a proxy URL for both schemes (remote option ``proxy``); without it the usual
        ``http_proxy``/``https_proxy``/``no_proxy`` variables apply, as with curl.
    :param extra_headers: sent with every request (pull option ``http-headers``).
    :param append_user_agent: appended to the User-Agent after a space.
    :param n_network_retries: retries after the first try (ostree's option of that name).
    :param cookies: the remote's cookie jar (``REPO/REMOTE.cookies.txt``); those that apply
        to the remote's URL go with every request, as curl's ``CURLOPT_COOKIEFILE``.
    :param backoff: the first retry's delay in seconds, doubled each time up to ``max_backoff``.
    :param max_retry_after: a longer ``Retry-After`` is waited for only this long.
    """

    def __init__(
        self,
        base_url: str,
        *,
        tls_permissive: bool = False,
        timeout: Optional[float] = None,
        tls_ca_path: Optional[str] = None,
        tls_client_cert: Optional[Tuple[str, str]] = None,
        proxy: Optional[str] = None,
        extra_headers: Sequence[Tuple[str, str]] = (),
        append_user_agent: Optional[str] = None,
        n_network_retries: int = DEFAULT_N_NETWORK_RETRIES,
        cookies: Sequence[Cookie] = (),
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        max_retry_after: float = 30.0,
        low_speed_limit: int = DEFAULT_LOW_SPEED_LIMIT,
        low_speed_time: float = DEFAULT_LOW_SPEED_TIME,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(f"Not an http(s) URL: {base_url!r}")
        auth: Optional[str] = None
        if parts.username is not None:
            auth = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
            netloc = host if parts.port is None else f"{host}:{parts.port}"
            parts = parts._replace(netloc=netloc)
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        #: the remote's URL without credentials, ending in ``/``
        if isinstance(parts, PlainURL):
            self.base_url = PlainURL(parts.scheme, parts.netloc, path, None, None).geturl()
        else:
            from urllib.parse import urlunsplit
            self.base_url = urlunsplit(parts._replace(path=path, query="", fragment=""))
        self.timeout = timeout
        # TLS as curl does it: the system's CAs unless tls-ca-path names others (not
        # REQUESTS_CA_BUNDLE or certifi's bundle)
        self._tls: Dict[str, object] = {"cert_reqs": "CERT_NONE" if tls_permissive else "CERT_REQUIRED"}
        if tls_ca_path and not tls_permissive:
            self._tls["ca_certs"] = tls_ca_path
        if tls_client_cert is not None:
            self._tls["cert_file"], self._tls["key_file"] = tls_client_cert
        # http_proxy/https_proxy/no_proxy as curl reads them, looked up once: every request
        # goes to this one host
        env = _environ_proxies(self.base_url)
        self._proxy = proxy or env.get(parts.scheme) or env.get("all") or None
        ua = USER_AGENT if not append_user_agent else f"{USER_AGENT} {append_user_agent}"
        self._headers = {"User-Agent": ua, "Accept-Encoding": "identity"}
        if auth is not None:
            import urllib3.util
            self._headers["Authorization"] = urllib3.util.make_headers(basic_auth=auth)["authorization"]
        for k, v in extra_headers:
            self._headers[k] = v
        # every request goes to this host under this path, so the cookies that apply are
        # chosen once, for the remote's own path (one scoped deeper, to a part of the
        # repository, is not sent: ostree's jars hold host-wide cookies)
        jar = None
        if cookies:  # (the cookies' module is imported by a remote that has a jar)
            from .cookies import cookie_header
            jar = cookie_header(cookies, str(parts.hostname), path, parts.scheme == "https")
        if jar is not None:
            self._headers["Cookie"] = jar
        self.n_network_retries = max(0, n_network_retries)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.low_speed_limit = low_speed_limit
        self.low_speed_time = low_speed_time
        self.connect_timeout = connect_timeout
        self._local = threading.local()
        self._adapters: List[WatchedAdapter] = []
        self._plain: List[_PlainConn] = []
        #: (host, port, Host header, request head after the target) for the plain fast path
        self._fast: Optional[Tuple[str, int, str, bytes]] = None
        if parts.scheme == "http" and self._proxy is None:
            host_header = parts.netloc
            head = "".join(f"{k}: {v}\r\n" for k, v in self._headers.items())
            self._fast = (str(parts.hostname), parts.port or 80, host_header,
                          f" HTTP/1.1\r\nHost: {host_header}\r\n{head}\r\n".encode("latin-1"))
        #: the base URL's path, which a plain GET's request target starts with
        self._base_path = urlsplit(self.base_url).path
        #: False once a server left a pipelined request unanswered (it would stall every round)
        self._pipelining = True
        self._lock = threading.Lock()
        if tls_permissive:
            import urllib3.exceptions
            warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)

    # -- connections ---------------------------------------------------------------------
    def _manager(self) -> urllib3.PoolManager:
        """This thread's connection manager. The requests adapter of :mod:`ociclient.watched_adapter`
        makes it (so its connections report to the watchdog), but requests are sent through
        urllib3 directly: a ``requests.Session`` costs more CPU per request than the whole GET
        of an object over loopback, and a pull makes thousands."""
        m: Optional[urllib3.PoolManager] = getattr(self._local, "manager", None)
        if m is None:
            with _STACK_IMPORT:
                from ociclient.watched_adapter import WatchedAdapter
            # one thread, one connection at a time: the pool needs no more
            adapter = WatchedAdapter(pool_connections=2, pool_maxsize=2, max_retries=0)
            adapter.init_poolmanager(2, 2, **self._tls)
            m = adapter.proxy_manager_for(self._proxy, **self._tls) if self._proxy else adapter.poolmanager
            self._local.manager = m
            with self._lock:
                self._adapters.append(adapter)
        return m

    def close(self) -> None:
        with self._lock:
            adapters, self._adapters = self._adapters, []
            plain, self._plain = self._plain, []
        for a in adapters:
            a.close()
        for c in plain:
            c.close()
        self._local = threading.local()

    def _plain_conn(self) -> "_PlainConn":
        c: Optional[_PlainConn] = getattr(self._local, "plain", None)
        if c is None:
            assert self._fast is not None
            c = _PlainConn(self._fast[0], self._fast[1])
            self._local.plain = c
            with self._lock:
                self._plain.append(c)
        return c

    # -- the protocol --------------------------------------------------------------------
    def url_of(self, path: str) -> str:
        if path.startswith("/") or ".." in path.split("/"):
            raise FetchError(f"Invalid remote path {path!r}", path)
        return self.base_url + quote_path(path)

    def fetch_bytes(self, path: str, max_size: int) -> bytes:
        buf = io.BytesIO()
        self.fetch_to(path, buf, max_size)
        return buf.getvalue()

    def fetch_conditional(self, path: str, max_size: int, if_none_match: Optional[str] = None,
                          if_modified_since: int = 0) -> Conditional:
        """A GET with ``If-None-Match``/``If-Modified-Since`` (what libostree sends for a cached
        summary): the body, or ``not_modified`` on a 304, with the answer's ``ETag`` and
        ``Last-Modified`` (seconds since the epoch; 0 when absent)."""
        headers = dict(self._headers)
        if if_none_match:
            headers["If-None-Match"] = if_none_match
        if if_modified_since > 0:
            headers["If-Modified-Since"] = _http_date(if_modified_since)
        meta: Dict[str, object] = {}
        buf = io.BytesIO()
        self.fetch_to(path, buf, max_size, _headers=headers, _meta=meta)
        if meta.get("not_modified"):
            return Conditional(None, True, None, 0)
        return Conditional(buf.getvalue(), False, meta.get("etag"), int(meta.get("last_modified", 0)))  # type: ignore

    def fetch_each(self, paths: Sequence[str], sink_for: Callable[[int], BinaryIO],
                   done: Callable[[int, BinaryIO, int], None], max_size: int) -> None:
        """Each of ``paths``, in order: its body into ``sink_for(i)``, then ``done(i, sink, n)``
        (outside any time limit: it may take its time). ``sink_for`` must give the same sink
        when asked again for the same ``i`` (a failed try restarts it).

        Over plain http the GETs are pipelined (HTTP/1.1, RFC 9112 9.3.2) on this thread's
        kept-alive connection: the server answers the next while this thread takes in the
        last, and one thread keeps a connection busy without a round trip per object.
        (libostree keeps 8 requests in flight, ostree-repo-pull.c
        OPT_OSTREE_MAX_OUTSTANDING_FETCHER_REQUESTS_DEFAULT: over HTTP/1.1 curl opens a
        connection for each, as it multiplexes only HTTP/2, ostree-fetcher-curl.c
        CURLPIPE_MULTIPLEX.) The answers
        come in order; one the pipeline does not take on (not 2xx, unframed, its head or
        body cut) ends the round: that object is asked again alone through :meth:`fetch_to`
        (redirects, ``Range`` and retries as ever, the failed answer counted as its first
        try), and the rest in a new round on a new connection. A server that closes after
        some answers (``Connection: close``, nginx's ``keepalive_requests``, or just the
        connection gone) has the rest asked again anew."""
        i = 0
        alone = self._fast is None or self.timeout is not None or not self._pipelining
        while i < len(paths):
            if alone or len(paths) - i < 2:
                # one at a time: no fast path, a total limit per try, or a server that
                # answered at most one of the last round (HTTP/1.0, or a connection gone stale)
                sink = sink_for(i)
                _sink_restart(sink)
                done(i, sink, self.fetch_to(paths[i], sink, max_size))
                i += 1
                continue
            j, failed = self._pipeline(paths, i, sink_for, done, max_size)
            alone = not self._pipelining
            if failed is None:
                alone = alone or j - i <= 1
                i = j
                continue
            sink = sink_for(j)
            _sink_restart(sink)
            done(j, sink, self.fetch_to(paths[j], sink, max_size, _failed=failed if failed is not _ALONE else None))
            i = j + 1

    def get_ahead(self) -> Optional["GetAhead"]:
        """A connection of its own for GETs sent ahead of their answers (see :class:`GetAhead`),
        or None where this fetcher does not pipeline (https, a proxy, a total time limit, a
        server found not to answer pipelined requests)."""
        if self._fast is None or self.timeout is not None or not self._pipelining:
            return None
        return GetAhead(self)

    def _pipeline(self, paths: Sequence[str], start: int, sink_for: Callable[[int], BinaryIO],
                  done: Callable[[int, BinaryIO, int], None],
                  max_size: int) -> tuple[int, _Retry | None]:
        """One round of pipelined GETs from ``paths[start]``: (the first not done, None) when
        the connection ended cleanly or the round is through, (that one, the try that failed
        it), or (that one, _ALONE) for an answer to be had by a GET of its own. A failure
        that is not worth a retry (too big; the sink's, or ``done``'s own error) is raised.
        The requests of a round are kept under a socket buffer's worth (_PIPELINE_BYTES), so
        sending them all before reading cannot block on a server that is itself blocked
        sending answers."""
        assert self._fast is not None
        tail = self._fast[3]
        requests: list[bytes] = []
        urls: list[str] = []
        size = 0
        for path in paths[start:]:
            url = self.url_of(path)
            req = self._plain_request(url, tail)
            if requests and size + len(req) > _PIPELINE_BYTES:
                break
            requests.append(req)
            urls.append(url)
            size += len(req)
        conn = self._plain_conn()
        reused = conn.open(self.connect_timeout, self.low_speed_time, False)
        window = self.low_speed_time
        i = start
        try:
            for k, url in enumerate(urls):
                path = paths[i]
                n = -1
                sink: BinaryIO | None = None
                try:
                    with watch(time.monotonic() + window, "no progress") as entry:
                        assert entry is not None
                        entry.sock = conn.sock  # the watchdog shuts it down

                        def progressed() -> None:
                            # a plain store, not postpone(): a later deadline needs no word
                            # to the watchdog (and its lock), which looks again when it wakes
                            entry.deadline = time.monotonic() + window

                        if k == 0:
                            conn.sock.sendall(b"".join(requests))  # type: ignore[union-attr]
                        status = conn.rfile.readline(_MAX_LINE)  # type: ignore[union-attr]
                        if not status:
                            # closed between answers: what is left is asked anew; a reused
                            # connection closed before the first is the usual stale one
                            conn.close()
                            if k == 0 and not reused:
                                return i, _Retry("connection closed without an answer")
                            return i, None
                        code, answer = _parse_head(status, conn.rfile)  # type: ignore[arg-type]
                        length, keep = _framing(status, answer)
                        if not 200 <= code < 300 or length is None or "transfer-encoding" in answer:
                            # asked again alone, where redirects, errors and other framings
                            # are dealt with
                            conn.close()
                            return i, _ALONE if code in _NOT_FOUND or code in _REDIRECTS or 200 <= code < 300 \
                                else _Retry(f"Server returned HTTP {code}", _retry_after(answer.get("retry-after")))
                        if length > max_size:
                            raise FetchError(_too_big(url, max_size), path)
                        sink = sink_for(i)
                        progressed()  # the headers came: the body's first window starts
                        n = self._pump(conn.rfile.read1, sink, url, path, max_size,  # type: ignore[union-attr]
                                       progressed, length)
                except DeadlineExceeded:
                    conn.close()
                    if k > 0 and sink is None:
                        # answered before, silent now: a server (or a proxy) that does not
                        # take pipelined requests; this fetcher asks one at a time from now on
                        self._pipelining = False
                    return i, _Retry(f"slower than {self.low_speed_limit} bytes/s for {window:g} s")
                except _Retry as e:
                    conn.close()
                    return i, e
                except (ValueError, OSError) as e:
                    conn.close()
                    if n < 0 and sink is None and k == 0 and reused:
                        return i, None  # a stale kept-alive connection: the round again, anew
                    return i, _Retry(f"bad answer: {e}" if isinstance(e, ValueError) else f"{type(e).__name__}: {e}")
                assert sink is not None
                done(i, sink, n)
                i += 1
                if not keep:
                    conn.close()
                    return i, None
        except BaseException:
            conn.close()  # answers left unread: the connection cannot serve another request
            raise
        return i, None

    def fetch_to(self, path: str, sink: BinaryIO, max_size: int, *, _headers: Optional[Dict[str, str]] = None,
                 _meta: Optional[Dict[str, object]] = None, _failed: _Retry | None = None) -> int:
        """``_failed``: a try already made failed so (a pipelined one): it counts as the first."""
        url = self.url_of(path)
        tries = self.n_network_retries + 1
        resume = False
        first = 0
        if _failed is not None:
            if tries <= 1:
                raise FetchError(f"While fetching {url}: {_failed} (after {tries} tries)", path)
            first = 1
            time.sleep(self._delay(0, _failed.retry_after))
        for attempt in range(first, tries):
            headers, meta, offset = _headers, _meta, 0
            if attempt:
                # a cut body is resumed where it stopped (Range), as libsoup's fetcher did for
                # ostree; a server that answers 200 instead sends it all again
                tell = getattr(sink, "tell", None)
                offset = tell() if resume and tell is not None and _meta is None else 0
                if offset:
                    headers = dict(self._headers, Range=f"bytes={offset}-")
                    meta = {"range_from": offset}
                else:
                    _sink_restart(sink)
            try:
                n = self._try(url, path, sink, max_size - offset, headers, meta)
                return n + (0 if meta is None or meta.get("restarted") else offset)
            except _Retry as e:
                if attempt + 1 >= tries:
                    raise FetchError(f"While fetching {url}: {e} (after {tries} tries)", path) from None
                resume = e.partial
                time.sleep(self._delay(attempt, e.retry_after))
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, retry_after: Optional[float]) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        import random  # only for a retry: not at every pull's start-up
        d = min(self.max_backoff, self.backoff * (2 ** attempt))
        return d * (0.75 + random.random() * 0.5)

    # -- one try -------------------------------------------------------------------------
    def _try(self, url: str, path: str, sink: BinaryIO, max_size: int,
             headers: Optional[Dict[str, str]] = None, meta: Optional[Dict[str, object]] = None) -> int:
        start = time.monotonic()
        total = None if self.timeout is None else start + self.timeout
        window = self.low_speed_time

        def limit(t: float) -> float:
            return t if total is None else min(t, total)

        try:
            with watch(limit(start + window), "no progress") as entry:
                assert entry is not None

                def progressed() -> None:
                    entry.postpone(limit(time.monotonic() + window))

                hops = 0
                if (self._fast is not None and url.startswith(self.base_url)
                        and (meta is None or "range_from" not in meta)):
                    done, moved = self._try_plain(entry, url, path, sink, max_size, progressed, headers, meta)
                    if done is not None:
                        return done
                    if moved is not None:
                        hops, url = 1, moved
                resp = self._get(self._manager(), url, path, hops, headers, meta)
                if resp is None:
                    return 0  # 304 Not Modified
                if meta is not None and meta.get("restarted"):
                    _sink_restart(sink)
                progressed()  # the headers came: the body's first window starts
                try:
                    return self._body(resp, url, path, sink, max_size, progressed)
                finally:
                    _close(resp)
        except DeadlineExceeded:
            if total is not None and time.monotonic() >= total:
                raise _Retry(f"no complete answer within {self.timeout:g} s") from None
            raise _Retry(f"slower than {self.low_speed_limit} bytes/s for {window:g} s") from None
        except Exception as e:
            u3 = _urllib3_exceptions()
            if u3 is not None and isinstance(e, u3.SSLError):
                raise FetchError(f"While fetching {url}: TLS: {e}", path) from None
            if isinstance(e, OSError) or (u3 is not None and isinstance(e, u3.HTTPError)):
                raise _Retry(f"{type(e).__name__}: {e}") from None
            raise

    def _plain_request(self, url: str, tail: bytes) -> bytes:
        """The GET of ``url`` (under the base URL) over the plain socket, ``tail`` its version
        and header lines."""
        return b"GET " + (self._base_path + url[len(self.base_url):]).encode("ascii") + tail

    def _try_plain(self, entry: object, url: str, path: str, sink: BinaryIO, max_size: int,
                   progressed: Callable[[], None], headers: Optional[Dict[str, str]] = None,
                   meta: Optional[Dict[str, object]] = None) -> Tuple[Optional[int], Optional[str]]:
        """One GET over this thread's plain socket: (bytes delivered, None), or (None, where a
        redirect sends it), or (None, None) for an answer whose body framing is not taken on
        here, to be asked again through urllib3. ``headers`` replace the usual ones (a
        conditional GET's); with ``meta``, a 304 answers 0 bytes and sets ``not_modified``, a
        2xx records its ETag and Last-Modified there, as :meth:`_get` does."""
        assert self._fast is not None
        conn = self._plain_conn()
        if headers is None:
            tail = self._fast[3]
        else:
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            tail = f" HTTP/1.1\r\nHost: {self._fast[2]}\r\n{head}\r\n".encode("latin-1")
        request = self._plain_request(url, tail)
        for fresh in (False, True):
            reused = conn.open(self.connect_timeout, self.low_speed_time, fresh)
            entry.sock = conn.sock  # type: ignore[attr-defined]  # the watchdog shuts it down
            try:
                conn.sock.sendall(request)  # type: ignore[union-attr]
                status = conn.rfile.readline(_MAX_LINE)  # type: ignore[union-attr]
            except OSError:
                conn.close()
                if reused and not fresh:
                    continue  # the server closed a kept-alive connection: once more, anew
                raise
            if not status and reused and not fresh:
                conn.close()
                continue
            break
        try:
            code, answer = _parse_head(status, conn.rfile)  # type: ignore[arg-type]
        except (ValueError, OSError) as e:
            conn.close()
            raise _Retry(f"bad answer: {e}") from None
        length, keep = _framing(status, answer)
        framed = "transfer-encoding" not in answer and length is not None
        if meta is not None and code == 304:
            if not keep:  # a 304 has no body, whatever its headers say (RFC 9110 15.4.5)
                conn.close()
            meta["not_modified"] = True
            return 0, None
        if not 200 <= code < 300:
            if framed and length <= _DRAIN and keep:  # type: ignore[operator]
                conn.read_exact(length)  # type: ignore[arg-type]
            else:
                conn.close()
            if code in _REDIRECTS and answer.get("location"):
                from urllib.parse import urljoin
                new = urljoin(url, answer["location"])
                if not _same_host_redirect(url, new):
                    raise FetchError(f"While fetching {url}: refusing redirect to {new[:200]!r} "
                                     "(only redirects within the same host are followed)", path)
                return None, new
            if code in _NOT_FOUND:
                raise NotFound(f"While fetching {url}: Server returned HTTP {code}", path)
            raise _Retry(f"Server returned HTTP {code}", _retry_after(answer.get("retry-after")))
        if not framed:
            conn.close()
            return None, None
        assert length is not None
        if length > max_size:
            conn.close()
            raise FetchError(_too_big(url, max_size), path)
        if meta is not None:
            _record_validators(meta, answer.get("etag"), answer.get("last-modified"))
        progressed()  # the headers came: the body's first window starts
        try:
            n = self._pump(conn.rfile.read1, sink, url, path, max_size, progressed,  # type: ignore[union-attr]
                           length)
        except BaseException:
            conn.close()
            raise
        if not keep:
            conn.close()
        return n, None

    def _get(self, manager: urllib3.PoolManager, url: str, path: str, hops: int = 0,
             headers: Optional[Dict[str, str]] = None,
             meta: Optional[Dict[str, object]] = None) -> Optional[urllib3.BaseHTTPResponse]:
        """The answer to a GET, redirects followed; None for a 304 to a conditional request
        (``meta`` given: the answer's ETag and Last-Modified go there)."""
        import urllib3
        for _ in range(MAX_REDIRECTS + 1 - hops):
            try:
                resp = manager.urlopen("GET", url, headers=headers or self._headers, redirect=False, retries=False,
                                       preload_content=False, decode_content=False,
                                       timeout=urllib3.Timeout(connect=self.connect_timeout,
                                                               read=self.low_speed_time))
            except urllib3.exceptions.LocationParseError as e:
                raise FetchError(f"While fetching {url}: {e}", path) from None
            code = resp.status
            if code in _REDIRECTS and resp.headers.get("Location"):
                _drain(resp)
                from urllib.parse import urljoin
                new = urljoin(url, resp.headers["Location"])
                if not _same_host_redirect(url, new):
                    raise FetchError(f"While fetching {url}: refusing redirect to {new[:200]!r} "
                                     "(only redirects within the same host are followed)", path)
                url = new
                continue
            if meta is not None and "range_from" in meta and code == 206:
                want = f"bytes {meta['range_from']}-"
                if not (resp.headers.get("Content-Range") or "").startswith(want):
                    _drain(resp)
                    raise _Retry(f"Content-Range {resp.headers.get('Content-Range')!r} does not continue "
                                 f"at byte {meta['range_from']}")
                return resp
            if meta is not None and "range_from" in meta and 200 <= code < 300:
                meta["restarted"] = True  # the whole file again: the caller restarts its sink
                return resp
            if meta is not None and code == 304:
                _drain(resp)
                meta["not_modified"] = True
                return None
            if 200 <= code < 300:
                if meta is not None:
                    _record_validators(meta, resp.headers.get("ETag"), resp.headers.get("Last-Modified"))
                return resp
            _drain(resp)
            if code in _NOT_FOUND:
                raise NotFound(f"While fetching {url}: Server returned HTTP {code}", path)
            raise _Retry(f"Server returned HTTP {code}", _retry_after(resp.headers.get("Retry-After")))
        raise FetchError(f"While fetching {url}: more than {MAX_REDIRECTS} redirects", path)

    def _body(self, resp: urllib3.BaseHTTPResponse, url: str, path: str, sink: BinaryIO, max_size: int,
              progressed: Callable[[], None]) -> int:
        cl = resp.headers.get("Content-Length")
        expected: Optional[int] = None
        if cl is not None and cl.strip().isdigit():
            expected = int(cl)
            if expected > max_size:
                raise FetchError(_too_big(url, max_size), path)
        # read to the end even with a Content-Length: urllib3 releases a connection whose
        # body it has seen end, and a longer body than announced is a partial file too
        n = self._pump(lambda size: resp.read1(size, decode_content=False), sink, url, path, max_size,
                       progressed, None)
        if expected is not None and n != expected:
            raise _Retry(f"Transferred a partial file: {n} of {expected} bytes", partial=True)
        resp.release_conn()
        return n

    def _pump(self, read1: Callable[[int], bytes], sink: BinaryIO, url: str, path: str, max_size: int,
              progressed: Callable[[], None], length: Optional[int]) -> int:
        """The body into ``sink``, a chunk at a time: ``length`` bytes when the answer said how
        many (fewer is a partial file, retried), else to the end; over ``max_size`` is refused;
        ``progressed()`` each time a low-speed window brought enough bytes."""
        quota = self.low_speed_limit * self.low_speed_time
        n = 0
        in_window = 0
        while length is None or n < length:
            chunk = read1(CHUNK if length is None else min(CHUNK, length - n))
            if not chunk:
                if length is not None:
                    raise _Retry(f"Transferred a partial file: {n} of {length} bytes", partial=True)
                break
            n += len(chunk)
            if n > max_size:
                raise FetchError(_too_big(url, max_size), path)
            try:
                sink.write(chunk)
            except OSError as e:  # the sink's trouble, not the network's: no retry
                raise FetchError(f"While fetching {url}: writing: {e}", path) from None
            in_window += len(chunk)
            if in_window >= quota:
                # this window brought enough: the next one starts now
                in_window = 0
                progressed()
        return n


def _record_validators(meta: Dict[str, object], etag: Optional[str], last_modified: Optional[str]) -> None:
    """A 2xx answer's ETag and Last-Modified (seconds since the epoch, 0 when absent or
    unreadable) into a conditional GET's ``meta``."""
    meta["etag"] = etag or None
    try:
        meta["last_modified"] = _parse_http_date(last_modified) if last_modified else 0
    except (TypeError, ValueError):
        meta["last_modified"] = 0


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _http_date(t: int) -> str:
    """RFC 9110's IMF-fixdate, English names whatever the locale (what
    ``email.utils.formatdate(usegmt=True)`` gives, without importing the email
    package, a few milliseconds of every pull's start-up)."""
    g = time.gmtime(t)
    return (f"{_DAYS[g.tm_wday]}, {g.tm_mday:02d} {_MONTHS[g.tm_mon - 1]} {g.tm_year:04d} "
            f"{g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d} GMT")


def _parse_http_date(value: str) -> int:
    """Seconds since the epoch of an HTTP date: the IMF-fixdate every current server
    sends read here, the obsolete forms left to ``email.utils``."""
    parts = value.split()
    if len(parts) == 6 and parts[5] == "GMT" and parts[2] in _MONTHS:
        hh, mm, ss = (int(x) for x in parts[4].split(":"))
        return _utc_seconds(int(parts[3]), _MONTHS.index(parts[2]) + 1, int(parts[1]), hh, mm, ss)
    import email.utils
    when = email.utils.parsedate_to_datetime(value)
    return int(when.timestamp())


def _utc_seconds(year: int, month: int, day: int, hh: int, mm: int, ss: int) -> int:
    """Seconds since the epoch of a UTC date and time, refusing (ValueError) what datetime
    refuses (a 25th hour, a 31st of April), as ``datetime(...).timestamp()`` gives them:
    without importing datetime into every pull that meets a summary's Last-Modified.
    (The days from the civil date as in H. Hinnant's ``days_from_civil``.)"""
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days_in = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    if not (1 <= year <= 9999 and 1 <= month <= 12 and 1 <= day <= days_in[month - 1]
            and 0 <= hh < 24 and 0 <= mm < 60 and 0 <= ss < 60):
        raise ValueError(f"date out of range: {year}-{month}-{day} {hh}:{mm}:{ss}")
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return (era * 146097 + doe - 719468) * 86400 + hh * 3600 + mm * 60 + ss


def _too_big(url: str, max_size: int) -> str:
    # ostree-fetcher-curl.c's words, which scripts match (test-pull-large-metadata)
    return f"URI {url} exceeded maximum size of {max_size} bytes"


_MAX_LINE = 1 << 16
_MAX_HEADERS = 100


def _framing(status: bytes, answer: Dict[str, str]) -> Tuple[Optional[int], bool]:
    """An answer's Content-Length (None when absent or not plain digits) and whether its
    connection can serve another request (HTTP/1.1 without ``Connection: close``)."""
    cl = answer.get("content-length")
    length = int(cl) if cl is not None and cl.isdigit() else None
    return length, answer.get("connection", "").lower() != "close" and status.startswith(b"HTTP/1.1")

#: (internal) an answer the pipeline leaves to a GET of its own: a redirect, a 404, a body
#: framed otherwise than by Content-Length
_ALONE = _Retry("asked alone")
#: the GETs of one pipelined round, at most (a loopback socket's send buffer holds more)
_PIPELINE_BYTES = 8192


class GetAhead:
    """GETs of small files sent ahead on a plain connection of their own, their answers read
    in order (HTTP/1.1 pipelining), by one thread: the pull's walk sends the dirtrees it finds
    missing and goes on reading those it has, then takes the answers in, with no thread
    hand-off per object (libostree's single main loop keeps its requests in flight the same
    way). Only the plain case is taken on: an answer that is not 2xx with a Content-Length,
    one that does not come within the low-speed window, or a closed connection raises
    :class:`AheadBroken`, after which the caller asks every outstanding path again through
    :meth:`HttpFetcher.fetch_to` (redirects, errors, retries as ever) and sends no more here.
    At most :data:`_PIPELINE_BYTES` of requests are outstanding, so a send never waits on a
    server that is itself waiting for its answers to be read."""

    def __init__(self, fetcher: HttpFetcher) -> None:
        assert fetcher._fast is not None
        self._f = fetcher
        self._conn = _PlainConn(fetcher._fast[0], fetcher._fast[1])
        self._sizes: List[int] = []
        self._outstanding = 0
        #: False once the server said it closes after an answer: nothing more is sent
        self._open = True

    def room(self) -> bool:
        return self._open and self._outstanding < _PIPELINE_BYTES

    def __len__(self) -> int:
        return len(self._sizes)

    def send(self, path: str) -> None:
        f = self._f
        req = f._plain_request(f.url_of(path), f._fast[3])  # type: ignore[index]
        conn = self._conn
        try:
            if conn.sock is None:
                conn.open(f.connect_timeout, f.low_speed_time, False)
            conn.sock.sendall(req)  # type: ignore[union-attr]
        except OSError as e:
            self.close()
            raise AheadBroken(str(e)) from None
        self._sizes.append(len(req))
        self._outstanding += len(req)

    def receive(self, max_size: int) -> bytes:
        """The body of the oldest outstanding GET."""
        conn = self._conn
        if not self._sizes or conn.rfile is None:
            raise AheadBroken("nothing outstanding")
        try:
            status = conn.rfile.readline(_MAX_LINE)
            code, answer = _parse_head(status, conn.rfile)
            length, keep = _framing(status, answer)
            if not 200 <= code < 300 or length is None or "transfer-encoding" in answer or length > max_size:
                raise AheadBroken(f"HTTP {code}")
            data = conn.rfile.read(length)
            if len(data) != length:
                raise AheadBroken("cut")
        except (OSError, ValueError, AheadBroken) as e:
            # (a socket timeout is an OSError: the low-speed window passed without an answer)
            self.close()
            raise AheadBroken(str(e)) from None
        self._outstanding -= self._sizes.pop(0)
        if not keep:
            # answered, but the last one this connection brings: the rest go another way
            self._open = False
        return data

    def close(self) -> None:
        self._open = False
        self._conn.close()


class _PlainConn:
    """One thread's kept-alive plain-HTTP socket (internal to :class:`HttpFetcher`)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.sock: Optional[socket.socket] = None
        self.rfile: Optional[BinaryIO] = None

    def open(self, connect_timeout: float, read_timeout: float, fresh: bool) -> bool:
        """Connect unless connected (or ``fresh``); True when an open socket is reused."""
        if self.sock is not None and not fresh:
            return True
        self.close()
        # an ASCII host name as bytes: getaddrinfo then needs no IDNA codec (encodings.idna,
        # stringprep) for it, and a non-ASCII one still goes through it as a str
        host = self.host.encode("ascii") if self.host.isascii() else self.host
        sock = socket.create_connection((host, self.port), timeout=connect_timeout)  # type: ignore[arg-type]
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(read_timeout)
        self.sock = sock
        self.rfile = sock.makefile("rb", buffering=CHUNK)  # type: ignore[assignment]
        return False

    def read_exact(self, n: int) -> None:
        assert self.rfile is not None
        if len(self.rfile.read(n)) != n:
            self.close()

    def close(self) -> None:
        sock, self.sock = self.sock, None
        rfile, self.rfile = self.rfile, None
        for c in (rfile, sock):
            if c is not None:
                try:
                    c.close()
                except OSError:
                    pass


def _parse_head(status: bytes, rfile: BinaryIO) -> Tuple[int, Dict[str, str]]:
    """The status code and the headers (lower-case names) of an HTTP/1.x answer."""
    parts = status.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not status.endswith(b"\n"):
        raise ValueError(f"status line {status[:80]!r}")
    code = int(parts[1])
    headers: Dict[str, str] = {}
    for _ in range(_MAX_HEADERS):
        line = rfile.readline(_MAX_LINE)
        if line in (b"\r\n", b"\n"):
            return code, headers
        if not line.endswith(b"\n"):
            raise ValueError("truncated header")
        name, sep, value = line.partition(b":")
        if not sep:
            raise ValueError(f"header line {line[:80]!r}")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    raise ValueError("too many headers")


def _drain(resp: urllib3.BaseHTTPResponse) -> None:
    """Read a small error/redirect body so the connection can serve the next request."""
    import urllib3.exceptions
    try:
        cl = resp.headers.get("Content-Length")
        if cl is not None and cl.isdigit() and int(cl) <= _DRAIN:
            resp.read(int(cl) + 1, decode_content=False)
            resp.release_conn()
        else:
            _close(resp)
    except (OSError, urllib3.exceptions.HTTPError):
        _close(resp)


def _close(resp: urllib3.BaseHTTPResponse) -> None:
    """Close an answer not read to its end, and give its (closed) connection back to the
    pool, which reconnects it for the next request; a completely read answer gave its
    connection back already."""
    resp.close()
    resp.release_conn()
