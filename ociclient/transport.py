"""The thin HTTP layer over :mod:`requests`: scheme probing, auth, redirects, retries, TLS.

One :class:`Transport` talks to one registry host. It

* pings ``/v2/`` once to choose ``https`` (or ``http`` when the registry is insecure) and
  learn the auth challenge;
* answers ``WWW-Authenticate`` challenges: Basic with the configured credentials, Bearer by
  fetching tokens (per scope set, cached until they expire, refetched on a 401);
* follows redirects itself and never sends ``Authorization`` to another host;
* retries connection errors, 429 and 5xx with exponential backoff, honouring ``Retry-After``;
* sets a (connect, read) timeout on every socket operation, a total time limit on every
  request (``request_timeout``: connecting, sending, the headers and any body read into
  memory) and optionally one on everything the transport does (``deadline``, the
  operation's end; retries and their waits included), see :mod:`ociclient.deadline`;
* reads every body except a blob stream through one bounded reader (:func:`read_body`): at
  most :data:`MAX_BODY` bytes of an answer, :data:`MAX_ERROR_BODY` of an error answer, and
  asks for ``identity`` encoding so that no compressed body can expand in memory;
* only follows redirects to, and asks token realms at, ``http(s)://`` URLs;
* uses per-host certificates from ``certs.d`` (``*.crt`` CAs, ``*.cert``/``*.key`` client pairs).

Every failure is an :class:`~ociclient.errors.OciError`; a time limit that passed is
:class:`~ociclient.errors.DeadlineExceeded` and is not retried.
"""

from __future__ import annotations

import email.utils
import glob
import logging
import os
import random
import ssl
import threading
import time
import warnings
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Type, Union
from urllib.parse import urljoin, urlsplit

import attrs
import requests
import requests.adapters
import urllib3

from .auth import Credentials
from .challenge import Challenge, merge_scopes, parse_challenges
from .deadline import remaining, watch
from .errors import (
    DeadlineExceeded, OciError, RegistryError, ResponseTooLarge, TransportError, Unauthorized,
    error_class_for,
)
from .schema import Num, Obj, Str, checked_json, opt
from .watched_adapter import WatchedAdapter

log = logging.getLogger(__name__)

USER_AGENT = "ociclient/0.1"
#: the most of a (non-blob) answer read into memory: manifests, tag pages, tokens
MAX_BODY = 4 * 1024 * 1024
#: the most of an error answer read (the rest is not needed for its message)
MAX_ERROR_BODY = 64 * 1024
#: default total time for one request (connect, send, headers, a bounded body)
DEFAULT_REQUEST_TIMEOUT = 300.0

#: a token server's answer (docker token spec / OAuth2)
TOKEN_SCHEMA = Obj({"token": opt(Str()), "access_token": opt(Str()), "expires_in": opt(Num()),
                    "issued_at": opt(Str()), "refresh_token": opt(Str())})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
CERTS_D_DIRS = ("/etc/containers/certs.d", "/etc/docker/certs.d")


@attrs.frozen
class RetryPolicy:
    """Retries for connection errors, 429 and 5xx; delay ``base * 2**n`` (+jitter), capped."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    #: a Retry-After longer than this is not waited for (the error is raised)
    max_retry_after: float = 120.0

    def backoff(self, attempt: int) -> float:
        d = min(self.max_delay, self.base_delay * (2 ** attempt))
        return d * (0.75 + random.random() * 0.5)


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        dt = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if dt is None:
        return None
    return max(0.0, dt.timestamp() - (time.time() if now is None else now))


@attrs.frozen
class TLSConfig:
    """How to check the registry's certificate.

    :ivar verify: ``False`` disables verification (``--tls-verify=false``).
    :ivar cert_dir: a directory with ``*.crt`` / ``*.cert`` / ``*.key`` used *instead of* the
        per-host ``certs.d`` directories (``--cert-dir``).
    :ivar certs_d: the ``certs.d`` roots searched for ``<host[:port]>/``.
    """

    verify: bool = True
    cert_dir: Optional[str] = None
    certs_d: Tuple[str, ...] = CERTS_D_DIRS


def host_cert_files(host: str, tls: TLSConfig) -> Tuple[List[str], List[Tuple[str, str]]]:
    """CA files and (cert, key) client pairs for a host."""
    dirs = [tls.cert_dir] if tls.cert_dir else [os.path.join(d, host) for d in tls.certs_d]
    home = os.path.expanduser("~")
    if not tls.cert_dir:
        dirs.append(os.path.join(home, ".config", "containers", "certs.d", host))
    cas: List[str] = []
    pairs: List[Tuple[str, str]] = []
    for d in dirs:
        if not os.path.isdir(d):
            continue
        cas.extend(sorted(glob.glob(os.path.join(d, "*.crt"))))
        for cert in sorted(glob.glob(os.path.join(d, "*.cert"))):
            key = cert[: -len(".cert")] + ".key"
            if not os.path.exists(key):
                raise OciError(f"missing key {key} for client certificate {cert}")
            pairs.append((cert, key))
        for key in sorted(glob.glob(os.path.join(d, "*.key"))):
            if not os.path.exists(key[: -len(".key")] + ".cert"):
                raise OciError(f"missing client certificate for key {key}")
    return cas, pairs


class _SSLAdapter(WatchedAdapter):
    def __init__(self, ssl_context: Optional[ssl.SSLContext], **kw: Any) -> None:
        self._ctx = ssl_context
        super().__init__(**kw)

    def init_poolmanager(self, *args: Any, **kw: Any) -> None:  # type: ignore[override]
        if self._ctx is not None:
            kw["ssl_context"] = self._ctx
        super().init_poolmanager(*args, **kw)


def _noauth(r: requests.PreparedRequest) -> requests.PreparedRequest:
    return r  # set as session.auth so requests never reads ~/.netrc


def check_url(url: str, what: str) -> str:
    """``url`` if it is an absolute ``http(s)://`` URL with a host, else :class:`RegistryError`
    (a registry must not send us to ``file://`` or into requests' error paths)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        host = None
    else:
        if parts.scheme in ("http", "https") and host:
            return url
    shown = url if len(url) <= 200 else url[:200] + "..."
    raise RegistryError(f"{what}: {shown!r} is not an http(s) URL")


def read_body(resp: requests.Response, limit: int = MAX_BODY,
              too_large: Type[OciError] = ResponseTooLarge) -> bytes:
    """The body of a response, read at most once and never more than ``limit`` bytes
    (:data:`MAX_ERROR_BODY` for an error answer). A longer answer raises ``too_large`` (an
    error answer is cut short instead, its start is enough for a message). The bytes are
    kept as ``resp.content``."""
    if getattr(resp, "_content_consumed", False) or getattr(resp, "_content", False) is not False:
        return resp.content or b""
    is_error = resp.status_code >= 400
    if is_error:
        limit = min(limit, MAX_ERROR_BODY)
    length = resp.headers.get("Content-Length", "")
    if not is_error and length.isdigit() and int(length) > limit:
        resp.close()
        raise too_large(f"{resp.request.method if resp.request else 'GET'} {resp.url}: the "
                        f"answer is {length} bytes, over the {limit} byte limit")
    buf = bytearray()
    try:
        while len(buf) <= limit:
            chunk = resp.raw.read(min(65536, limit + 1 - len(buf)), decode_content=True)
            if not chunk:
                break
            buf += chunk
    except (urllib3.exceptions.HTTPError, OSError) as e:
        resp.close()
        # the same class as a failure before the headers, so callers retry both alike
        raise requests.ConnectionError(e) from e
    truncated = len(buf) > limit
    if truncated:
        resp.raw.close()
        if not is_error:
            resp.close()
            raise too_large(f"{resp.request.method if resp.request else 'GET'} {resp.url}: "
                            f"the answer is over the {limit} byte limit")
        del buf[limit:]
    resp._content = bytes(buf)
    resp._content_consumed = True  # type: ignore[attr-defined]
    resp.close()  # hands the connection back to the pool (or drops it, if cut short)
    return resp._content


@attrs.define
class _Token:
    value: str
    expires: float


class Transport:
    """HTTP to one registry host.

    :param host: ``host[:port]`` (the API host, e.g. ``registry-1.docker.io``).
    :param credentials: used for Basic and for Bearer token requests; ``None`` = anonymous.
    :param insecure: allow plain HTTP and skip TLS verification (``--tls-verify=false`` or
        registries.conf ``insecure = true``).
    """

    def __init__(
        self,
        host: str,
        *,
        credentials: Optional[Credentials] = None,
        insecure: bool = False,
        tls: TLSConfig = TLSConfig(),
        timeout: Tuple[float, float] = (30.0, 120.0),
        retry: RetryPolicy = RetryPolicy(),
        pool_size: int = 10,
        user_agent: str = USER_AGENT,
        credentials_callback: Optional[Callable[[], Optional[Credentials]]] = None,
        registry_token: Optional[str] = None,
        request_timeout: Optional[float] = DEFAULT_REQUEST_TIMEOUT,
        deadline: Optional[float] = None,
    ) -> None:
        self.host = host
        #: total seconds for one request (``None``: no limit but ``deadline``)
        self.request_timeout = request_timeout
        #: the :func:`time.monotonic` time by which everything must be done (``None``: never)
        self.deadline = deadline
        self._static_token = registry_token
        self._credentials = credentials
        self._credentials_callback = credentials_callback
        self._credentials_resolved = credentials is not None
        self.insecure = insecure or not tls.verify
        self.tls = tls
        self.timeout = timeout
        self.retry = retry
        self.base: Optional[str] = None
        self._auth_scheme: Optional[str] = None  # "basic" | "bearer"
        self._bearer: Optional[Challenge] = None
        self._tokens: Dict[Tuple[str, ...], _Token] = {}
        self._lock = threading.RLock()
        self.session = requests.Session()
        self.session.auth = _noauth
        self.session.headers["User-Agent"] = user_agent
        # a compressed body could expand far past the size read; digests are of raw bytes
        self.session.headers["Accept-Encoding"] = "identity"
        self._verify: Union[bool, str] = not self.insecure
        ctx = None
        cas, pairs = host_cert_files(host, tls)
        if self._verify and (cas or pairs):
            ctx = ssl.create_default_context()
            for ca in cas:
                ctx.load_verify_locations(cafile=ca)
            for cert, key in pairs:
                ctx.load_cert_chain(cert, key)
        elif not self._verify and pairs:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            for cert, key in pairs:
                ctx.load_cert_chain(cert, key)
        adapter = _SSLAdapter(ctx, pool_connections=4, pool_maxsize=pool_size)
        self.session.mount("https://", adapter)
        self.session.mount("http://", WatchedAdapter(pool_connections=4, pool_maxsize=pool_size))
        if not self._verify:
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)

    # -- credentials ---------------------------------------------------------------------
    @property
    def credentials(self) -> Optional[Credentials]:
        if not self._credentials_resolved:
            with self._lock:
                if not self._credentials_resolved:
                    if self._credentials_callback is not None:
                        self._credentials = self._credentials_callback()
                    self._credentials_resolved = True
        return self._credentials

    def close(self) -> None:
        self.session.close()

    # -- low level -----------------------------------------------------------------------
    def request_deadline(self) -> Optional[float]:
        """When a request started now must be done: ``request_timeout`` from now, but not
        after the operation's ``deadline``."""
        own = None if self.request_timeout is None else time.monotonic() + self.request_timeout
        if self.deadline is None:
            return own
        return self.deadline if own is None else min(own, self.deadline)

    def _expiry_message(self, deadline: float, what: str) -> str:
        if self.deadline is not None and deadline >= self.deadline:
            return f"{what}: the operation's time limit was reached"
        return f"{what}: no complete answer within {self.request_timeout:g} s"

    def body_watch(self, resp: requests.Response, what: str) -> Any:
        """A context manager for reading a streamed (blob) body: bounded by the operation's
        deadline only, as a blob's size, not a fixed time, decides how long it may take."""
        conn = getattr(resp.raw, "connection", None) or getattr(resp.raw, "_connection", None)
        msg = f"{what}: the operation's time limit was reached"
        return watch(self.deadline, msg, conn)

    def sleep(self, seconds: float, what: str) -> None:
        """Wait before a retry, unless that would end after the operation's deadline."""
        left = remaining(self.deadline)
        if left is not None and seconds >= left:
            raise DeadlineExceeded(f"{what}: the operation's time limit leaves no time to retry")
        time.sleep(seconds)

    def _timeouts(self, deadline: Optional[float]) -> Tuple[float, float]:
        left = remaining(deadline)
        if left is None:
            return self.timeout
        return (max(0.001, min(self.timeout[0], left)), self.timeout[1])

    def _send(self, method: str, url: str, headers: Mapping[str, str], data: Any, stream: bool,
              follow: bool, *, params: Any = None, limit: int = MAX_BODY,
              too_large: Type[OciError] = ResponseTooLarge) -> requests.Response:
        """One request, its redirects followed, within one request deadline; the body is read
        (bounded) unless ``stream``. Raises requests' connection errors for the retry loops,
        :class:`OciError` for everything else."""
        deadline = self.request_deadline()
        what = f"{method} {url}"
        hdrs = dict(headers)
        with watch(deadline, self._expiry_message(deadline, what) if deadline is not None else ""):
            for _ in range(10):
                check_url(url, f"{method} {self.host}")
                try:
                    resp = self.session.request(
                        method, url, headers=hdrs, data=data, params=params, stream=True,
                        allow_redirects=False, timeout=self._timeouts(deadline), verify=self._verify,
                    )
                except (requests.ConnectionError, requests.Timeout):
                    raise
                except requests.RequestException as e:  # bad URL, header, encoding, ...
                    raise TransportError(f"{what}: {_describe(e)}") from e
                except ValueError as e:  # requests parses Location (for resp.next) even unasked
                    raise RegistryError(f"{what}: invalid answer: {e}") from e
                params = None  # they are in resp.url now
                if (follow and resp.status_code in (301, 302, 303, 307, 308)
                        and "Location" in resp.headers and method in ("GET", "HEAD")):
                    try:
                        new = urljoin(resp.url or url, resp.headers["Location"])
                    except ValueError:
                        new = resp.headers["Location"]
                    resp.close()
                    check_url(new, f"redirect from {url}")
                    if urlsplit(new).netloc != urlsplit(url).netloc or urlsplit(new).scheme != urlsplit(url).scheme:
                        hdrs.pop("Authorization", None)
                    url = new
                    continue
                if not stream and method != "HEAD":
                    read_body(resp, limit, too_large)
                return resp
        raise TransportError(f"too many redirects fetching {url}")

    def ping(self) -> None:
        """Choose the scheme with ``GET /v2/`` and record the auth challenge (once)."""
        if self.base is not None:
            return
        with self._lock:
            if self.base is not None:
                return
            schemes = ["https", "http"] if self.insecure else ["https"]
            last: Optional[Exception] = None
            for scheme in schemes:
                url = f"{scheme}://{self.host}/v2/"
                for attempt in range(self.retry.max_attempts):
                    try:
                        resp = self._send("GET", url, {}, None, True, True)
                    except requests.exceptions.SSLError as e:
                        last = e
                        break
                    except (requests.ConnectionError, requests.Timeout) as e:
                        last = e
                        if scheme == "https" and self.insecure:
                            break  # try http right away
                        if attempt + 1 < self.retry.max_attempts:
                            self.sleep(self.retry.backoff(attempt), f"pinging {url}")
                            continue
                        break
                    if resp.status_code in RETRY_STATUSES and attempt + 1 < self.retry.max_attempts:
                        delay = parse_retry_after(resp.headers.get("Retry-After"))
                        resp.close()
                        self.sleep(min(delay, self.retry.max_retry_after) if delay is not None
                                   else self.retry.backoff(attempt), f"pinging {url}")
                        continue
                    if scheme == "http" and resp.status_code >= 400 and resp.status_code != 401:
                        # plain HTTP answered but not as a registry
                        last = TransportError(f"pinging {url}: HTTP {resp.status_code}")
                        break
                    self.base = f"{scheme}://{self.host}"
                    if resp.status_code == 401:
                        self._learn_challenges(resp.headers.get("WWW-Authenticate", ""))
                    resp.close()
                    return
            raise TransportError(f"pinging registry {self.host}: {_describe(last)}") from None

    def _learn_challenges(self, header: str) -> Optional[Challenge]:
        chs = parse_challenges(header)
        for ch in chs:
            if ch.scheme == "bearer" and ch.realm:
                self._auth_scheme = "bearer"
                self._bearer = ch
                return ch
        for ch in chs:
            if ch.scheme == "basic":
                self._auth_scheme = "basic"
                return ch
        return None

    # -- tokens --------------------------------------------------------------------------
    def _authorization(self, scopes: Tuple[str, ...], force_new: bool = False) -> Optional[str]:
        if self._static_token:
            return "Bearer " + self._static_token
        if self._auth_scheme == "basic":
            creds = self.credentials
            if creds is not None and creds.username:
                return "Basic " + creds.basic
            return None
        if self._auth_scheme == "bearer":
            key = merge_scopes(scopes)
            with self._lock:
                tok = self._tokens.get(key)
                if tok is not None and not force_new and tok.expires > time.time() + 5:
                    return "Bearer " + tok.value
                tok = self._fetch_token(key)
                self._tokens[key] = tok
                return "Bearer " + tok.value
        return None

    def _fetch_token(self, scopes: Tuple[str, ...]) -> _Token:
        ch = self._bearer
        if ch is None or not ch.realm:
            raise Unauthorized(f"registry {self.host} asked for a bearer token without a realm")
        realm = check_url(ch.realm, f"token realm of {self.host}")
        creds = self.credentials
        params: List[Tuple[str, str]] = []
        if ch.service:
            params.append(("service", ch.service))
        headers: Dict[str, str] = {}
        if creds is not None and creds.identity_token:
            form = {"grant_type": "refresh_token", "refresh_token": creds.identity_token,
                    "client_id": "ociclient", "scope": " ".join(scopes)}
            if ch.service:
                form["service"] = ch.service
            do = lambda: self._send("POST", realm, {}, form, False, False)  # noqa: E731
        else:
            if creds is not None and creds.username:
                params.append(("account", creds.username))
                headers["Authorization"] = "Basic " + creds.basic
            for s in scopes:
                params.append(("scope", s))
            do = lambda: self._send("GET", realm, headers, None, False, True, params=params)  # noqa: E731
        resp = self._with_retries(do, f"token from {realm}")
        with resp:
            if resp.status_code == 401:
                raise Unauthorized(f"getting a token from {realm}: invalid username/password: unauthorized",
                                   status=401)
            if resp.status_code != 200:
                raise_for_response(resp, f"getting a token from {realm}")
            obj = checked_json(read_body(resp), TOKEN_SCHEMA, f"token from {realm}", Unauthorized)
        if not isinstance(obj, dict):
            raise Unauthorized(f"token server {realm} did not send a JSON object")
        token = obj.get("token") or obj.get("access_token")
        if not token:
            raise Unauthorized(f"token server {realm} sent no token")
        # a token lives at least a minute and is not trusted for more than a day
        expires_in = min(max(int(obj.get("expires_in") or 60), 60), 86400)
        return _Token(value=token, expires=time.time() + expires_in)

    def _with_retries(self, do: Callable[[], requests.Response], what: str) -> requests.Response:
        attempt = 0
        while True:
            try:
                resp = do()
            except (requests.ConnectionError, requests.Timeout) as e:
                if attempt + 1 < self.retry.max_attempts:
                    self.sleep(self.retry.backoff(attempt), what)
                    attempt += 1
                    continue
                raise TransportError(f"{what}: {_describe(e)}") from e
            if resp.status_code in RETRY_STATUSES and attempt + 1 < self.retry.max_attempts:
                delay = self._retry_delay(resp, attempt)
                resp.close()
                self.sleep(delay, what)
                attempt += 1
                continue
            return resp

    def _retry_delay(self, resp: requests.Response, attempt: int) -> float:
        ra = parse_retry_after(resp.headers.get("Retry-After"))
        if ra is not None:
            if ra > self.retry.max_retry_after:
                raise_for_response(resp, "request")
            return ra
        return self.retry.backoff(attempt)

    def _is_own(self, url: str) -> bool:
        if self.base is None:
            return False
        a, b = urlsplit(url), urlsplit(self.base)
        return (a.scheme, a.netloc) == (b.scheme, b.netloc)

    # -- the main entry point -------------------------------------------------------------
    def url(self, path_or_url: str) -> str:
        if "://" in path_or_url:
            return path_or_url
        self.ping()
        assert self.base is not None
        return self.base + path_or_url

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        scopes: Sequence[str] = (),
        headers: Optional[Mapping[str, str]] = None,
        data: Any = None,
        stream: bool = False,
        retry: Optional[bool] = None,
        follow_redirects: bool = True,
        limit: int = MAX_BODY,
        too_large: Type[OciError] = ResponseTooLarge,
    ) -> requests.Response:
        """Send a request with auth, redirects and retries; returns the final response
        whatever its status (callers check it, see :func:`raise_for_response`).

        :param data: bytes, ``None``, a callable returning a fresh body for every attempt,
            or a stream (then the request is not retried).
        :param retry: default: retry unless ``data`` is a one-shot stream.
        :param stream: leave the body unread (a blob; read it within :meth:`body_watch`);
            otherwise it is read now, at most ``limit`` bytes (:func:`read_body`; a longer
            answer raises ``too_large``), and ``resp.content`` holds it.
        """
        url = self.url(path_or_url)
        scopes_t = tuple(scopes)
        if retry is None:
            retry = data is None or isinstance(data, (bytes, bytearray)) or callable(data)
        attempt = 0
        auth_retried = False
        force_new = False
        # credentials go to this registry only: an absolute URL it hands us (a Link
        # page, an upload Location) on another host gets the request without them
        own = self._is_own(url)
        while True:
            hdrs = dict(headers or {})
            auth = self._authorization(scopes_t, force_new) if own else None
            force_new = False
            if auth:
                hdrs["Authorization"] = auth
            body = data() if callable(data) else data
            try:
                resp = self._send(method, url, hdrs, body, stream, follow_redirects, limit=limit,
                                  too_large=too_large)
            except (requests.ConnectionError, requests.Timeout) as e:
                if retry and attempt + 1 < self.retry.max_attempts:
                    delay = self.retry.backoff(attempt)
                    log.debug("%s %s failed (%s), retrying in %.1fs", method, url, e, delay)
                    self.sleep(delay, f"{method} {url}")
                    attempt += 1
                    continue
                raise TransportError(f"{method} {url}: {_describe(e)}") from e
            if (resp.status_code == 401 and not auth_retried and not self._static_token
                    and own and self._is_own(resp.url or url)):
                # a challenge counts only from the registry itself: a 401 from a host a
                # redirect led to (a CDN) must not choose where our password goes
                ch = self._learn_challenges(resp.headers.get("WWW-Authenticate", ""))
                if ch is not None:
                    if ch.scheme == "bearer":
                        scopes_t = merge_scopes(scopes_t + ch.scopes)
                        force_new = True
                        auth_retried = True
                        resp.close()
                        continue
                    if ch.scheme == "basic" and not auth and self.credentials is not None:
                        auth_retried = True
                        resp.close()
                        continue
            if resp.status_code in RETRY_STATUSES and retry and attempt + 1 < self.retry.max_attempts:
                delay = self._retry_delay(resp, attempt)
                log.debug("%s %s: HTTP %s, retrying in %.1fs", method, url, resp.status_code, delay)
                resp.close()
                self.sleep(delay, f"{method} {url}")
                attempt += 1
                continue
            return resp


def _describe(e: Optional[BaseException]) -> str:
    if e is None:
        return "unknown error"
    if isinstance(e, requests.exceptions.SSLError):
        return f"TLS error: {_root_cause(e)}"
    if isinstance(e, (requests.ConnectionError, requests.Timeout)):
        return _root_cause(e)
    return str(e) or type(e).__name__


def _root_cause(e: BaseException) -> str:
    """The innermost reason of a requests/urllib3 error, e.g. ``[Errno 111] Connection refused``."""
    seen = set()
    cur: Optional[BaseException] = e
    last = str(e)
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        nxt = getattr(cur, "reason", None)
        if not isinstance(nxt, BaseException):
            nxt = cur.args[0] if cur.args and isinstance(cur.args[0], BaseException) else None
        if nxt is None:
            nxt = cur.__cause__ or cur.__context__
        if nxt is None:
            break
        cur = nxt
        last = str(cur)
    if "): " in last and last.startswith(("HTTPConnection", "HTTPSConnection", "<urllib3")):
        last = last.split("): ", 1)[1]
    return last


def read_capped(resp: requests.Response, limit: int) -> bytes:
    """At most ``limit`` bytes of an error body (:func:`read_body` cuts it short; a failure
    to read it only loses the message)."""
    try:
        return read_body(resp, limit)[:limit]
    except (OciError, requests.RequestException):
        return b""


def error_details(resp: requests.Response) -> Tuple[List[str], str]:
    """The registry error codes and a message from an error response body."""
    codes: List[str] = []
    msgs: List[str] = []
    try:
        body = read_capped(resp, MAX_ERROR_BODY)
        obj = __import__("json").loads(body) if body else None
    except (ValueError, RecursionError):
        obj = None
    if isinstance(obj, dict) and isinstance(obj.get("errors"), list):
        for e in obj["errors"]:
            if isinstance(e, dict):
                code = str(e.get("code", ""))
                codes.append(code)
                msg = str(e.get("message") or code).strip()
                detail = e.get("detail")
                if code and msg:
                    msgs.append(f"{code.lower().replace('_', ' ')}: {msg}" if code.lower() not in msg.lower() else msg)
                if isinstance(detail, str) and detail:
                    msgs[-1:] = [f"{msgs[-1]} ({detail})"] if msgs else [detail]
    return codes, "; ".join(msgs)


def raise_for_response(resp: requests.Response, what: str) -> None:
    """Raise the fitting :class:`OciError` for an error response (no-op below 400)."""
    if resp.status_code < 400:
        return
    codes, message = error_details(resp)
    cls = error_class_for(resp.status_code, codes)
    if not message:
        message = f"HTTP {resp.status_code} {resp.reason or ''}".strip()
    if resp.status_code == 401 and "unauthorized" not in message.lower():
        message = f"unauthorized: {message}"
    if resp.status_code == 403 and "denied" not in message.lower():
        message = f"denied: {message}"
    raise cls(f"{what}: {message}", codes=codes, status=resp.status_code)
