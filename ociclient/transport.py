"""The thin HTTP layer over :mod:`requests`: scheme probing, auth, redirects, retries, TLS.

One :class:`Transport` talks to one registry host. It

* pings ``/v2/`` once to choose ``https`` (or ``http`` when the registry is insecure) and
  learn the auth challenge;
* answers ``WWW-Authenticate`` challenges: Basic with the configured credentials, Bearer by
  fetching tokens (per scope set, cached until they expire, refetched on a 401);
* follows redirects itself and never sends ``Authorization`` to another host;
* retries connection errors, 429 and 5xx with exponential backoff, honouring ``Retry-After``;
* sets a (connect, read) timeout on every request;
* uses per-host certificates from ``certs.d`` (``*.crt`` CAs, ``*.cert``/``*.key`` client pairs).
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
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import urljoin, urlsplit

import attrs
import requests
import requests.adapters
import urllib3

from .auth import Credentials
from .challenge import Challenge, merge_scopes, parse_challenges
from .errors import (
    OciError, TransportError, Unauthorized, error_class_for,
)

log = logging.getLogger(__name__)

USER_AGENT = "ociclient/0.1"
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
    except (TypeError, ValueError):
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


class _SSLAdapter(requests.adapters.HTTPAdapter):
    def __init__(self, ssl_context: Optional[ssl.SSLContext], **kw: Any) -> None:
        self._ctx = ssl_context
        super().__init__(**kw)

    def init_poolmanager(self, *args: Any, **kw: Any) -> None:  # type: ignore[override]
        if self._ctx is not None:
            kw["ssl_context"] = self._ctx
        super().init_poolmanager(*args, **kw)


def _noauth(r: requests.PreparedRequest) -> requests.PreparedRequest:
    return r  # set as session.auth so requests never reads ~/.netrc


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
    ) -> None:
        self.host = host
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
        self.session.mount("http://", requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool_size))
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
    def _send(self, method: str, url: str, headers: Mapping[str, str], data: Any, stream: bool,
              follow: bool) -> requests.Response:
        hdrs = dict(headers)
        for _ in range(10):
            resp = self.session.request(
                method, url, headers=hdrs, data=data, stream=stream, allow_redirects=False,
                timeout=self.timeout, verify=self._verify,
            )
            if (follow and resp.status_code in (301, 302, 303, 307, 308)
                    and "Location" in resp.headers and method in ("GET", "HEAD")):
                new = urljoin(url, resp.headers["Location"])
                if urlsplit(new).netloc != urlsplit(url).netloc or urlsplit(new).scheme != urlsplit(url).scheme:
                    hdrs.pop("Authorization", None)
                resp.close()
                url = new
                continue
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
                        resp = self._send("GET", url, {}, None, False, True)
                    except requests.exceptions.SSLError as e:
                        last = e
                        break
                    except (requests.ConnectionError, requests.Timeout) as e:
                        last = e
                        if scheme == "https" and self.insecure:
                            break  # try http right away
                        if attempt + 1 < self.retry.max_attempts:
                            time.sleep(self.retry.backoff(attempt))
                            continue
                        break
                    if resp.status_code in RETRY_STATUSES and attempt + 1 < self.retry.max_attempts:
                        delay = parse_retry_after(resp.headers.get("Retry-After"))
                        resp.close()
                        time.sleep(min(delay, self.retry.max_retry_after) if delay is not None
                                   else self.retry.backoff(attempt))
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
        assert ch is not None and ch.realm
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
            do = lambda: self.session.post(ch.realm, data=form, timeout=self.timeout,  # noqa: E731
                                           verify=self._verify, allow_redirects=True)
        else:
            if creds is not None and creds.username:
                params.append(("account", creds.username))
                headers["Authorization"] = "Basic " + creds.basic
            for s in scopes:
                params.append(("scope", s))
            do = lambda: self.session.get(ch.realm, params=params, headers=headers,  # type: ignore[arg-type]  # noqa: E731
                                          timeout=self.timeout, verify=self._verify)
        resp = self._with_retries(do, f"token from {ch.realm}")
        try:
            if resp.status_code == 401:
                raise Unauthorized(f"getting a token from {ch.realm}: invalid username/password: unauthorized",
                                   status=401)
            if resp.status_code != 200:
                raise_for_response(resp, f"getting a token from {ch.realm}")
            try:
                obj = resp.json()
            except ValueError:
                raise Unauthorized(f"token server {ch.realm} sent invalid JSON") from None
        finally:
            resp.close()
        token = obj.get("token") or obj.get("access_token")
        if not token:
            raise Unauthorized(f"token server {ch.realm} sent no token")
        expires_in = obj.get("expires_in") or 60
        try:
            expires_in = max(int(expires_in), 60)
        except (TypeError, ValueError):
            expires_in = 60
        return _Token(value=str(token), expires=time.time() + expires_in)

    def _with_retries(self, do: Callable[[], requests.Response], what: str) -> requests.Response:
        attempt = 0
        while True:
            try:
                resp = do()
            except (requests.ConnectionError, requests.Timeout) as e:
                if attempt + 1 < self.retry.max_attempts:
                    time.sleep(self.retry.backoff(attempt))
                    attempt += 1
                    continue
                raise TransportError(f"{what}: {_describe(e)}") from None
            if resp.status_code in RETRY_STATUSES and attempt + 1 < self.retry.max_attempts:
                delay = self._retry_delay(resp, attempt)
                resp.close()
                time.sleep(delay)
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
    ) -> requests.Response:
        """Send a request with auth, redirects and retries; returns the final response
        whatever its status (callers check it, see :func:`raise_for_response`).

        :param data: bytes, ``None``, a callable returning a fresh body for every attempt,
            or a stream (then the request is not retried).
        :param retry: default: retry unless ``data`` is a one-shot stream.
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
                resp = self._send(method, url, hdrs, body, stream, follow_redirects)
            except (requests.ConnectionError, requests.Timeout) as e:
                if retry and attempt + 1 < self.retry.max_attempts:
                    delay = self.retry.backoff(attempt)
                    log.debug("%s %s failed (%s), retrying in %.1fs", method, url, e, delay)
                    time.sleep(delay)
                    attempt += 1
                    continue
                raise TransportError(f"{method} {url}: {_describe(e)}") from None
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
                time.sleep(delay)
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
    """At most ``limit`` bytes of a body: a streamed response is not read further, so
    a hostile registry cannot make us buffer gigabytes of error text."""
    if getattr(resp, "_content_consumed", False) or getattr(resp, "_content", False) is not False:
        return (resp.content or b"")[:limit]
    try:
        data = resp.raw.read(limit, decode_content=True) or b""
    finally:
        resp.close()
    return data


def error_details(resp: requests.Response) -> Tuple[List[str], str]:
    """The registry error codes and a message from an error response body."""
    codes: List[str] = []
    msgs: List[str] = []
    try:
        body = read_capped(resp, 65536)
        obj = __import__("json").loads(body) if body else None
    except Exception:
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
