"""The HTTP fetcher against a real nginx, with the fault proxy for what nginx will not do.

The fixture itself is checked first: Debian's ``ostree pull`` accepts our nginx."""

from __future__ import annotations

import io
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ostreepy.remote.config import Remote, RemoteError
from ostreepy.remote.fetcher import FetchError, NotFound, fetcher_for, fetcher_for_remote
from ostreepy.remote.http import USER_AGENT, HttpFetcher
from upstream_peer import needs_upstream, peer_bin

from . import servers
from .conftest import tool_pull

FAST = dict(backoff=0.01, max_backoff=0.05)


def repo_files(repo: Path):
    out = {}
    for p in sorted(repo.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[str(p.relative_to(repo))] = p.read_bytes()
    return out


def test_ostree_pulls_from_our_nginx(web_server, served_repo, tmp_path):
    r = served_repo("peer")
    mark = web_server.mark()
    commit, fsck = tool_pull(tmp_path / "dest", f"{web_server.url}{r.urlpath}", r.ref)
    assert commit == r.commit
    assert "Verifying content integrity of 1 commit objects" in fsck
    entries = web_server.entries(mark)
    assert any(e.path == f"{r.urlpath}/config" and e.status == 200 for e in entries)
    # the peer's identity, for the record: libostree/<version>
    assert all(e.user_agent.startswith("libostree/") for e in entries)


def test_bytes_equal_and_one_kept_alive_connection(web_server, served_repo):
    r = served_repo("same")
    files = {k: v for k, v in repo_files(r.path).items() if k.startswith(("objects/", "refs/", "config", "summary"))}
    assert len(files) > 15
    mark = web_server.mark()
    f = HttpFetcher(f"{web_server.url}{r.urlpath}/")
    try:
        for rel, data in files.items():
            assert f.fetch_bytes(rel, len(data)) == data
            with tempfile.TemporaryFile() as sink:
                assert f.fetch_to(rel, sink, len(data)) == len(data)
                sink.seek(0)
                assert sink.read() == data
    finally:
        f.close()
    entries = web_server.entries(mark)
    assert len(entries) == 2 * len(files)
    assert len({e.connection for e in entries}) == 1  # one thread: one connection throughout
    assert {e.user_agent for e in entries} == {USER_AGENT}


_NO_REQUESTS = r"""
import sys
from ostreepy.cli.main import main
from ostreepy.remote.http import HttpFetcher
url, src, dest = sys.argv[1:4]
for name, remote in (("http", url), ("file", "file://" + src)):
    repo = f"--repo={dest}-{name}"
    for argv in (["init", "--mode=bare-user"], ["remote", "add", "--no-gpg-verify", "origin", remote],
                 ["pull", "origin", "main"]):
        assert main([repo, *argv]) == 0, argv
f = HttpFetcher(url)
first = f.fetch_conditional("summary", 1 << 20)
by_etag = f.fetch_conditional("summary", 1 << 20, first.etag, 0)
by_date = f.fetch_conditional("summary", 1 << 20, None, first.last_modified)
f.close()
print(repr((first.data, bool(first.etag), first.last_modified > 0, by_etag.not_modified, by_etag.data,
            by_date.not_modified, sorted({m.split(".")[0] for m in sys.modules} & {"requests", "urllib3"}))))
"""


def test_plain_http_and_file_pulls_load_neither_requests_nor_urllib3(web_server, served_repo, tmp_path):
    """A pull over plain http (its conditional summary GET included) and one from file://
    never import requests or urllib3: importing them is a good part of a small pull's
    start-up. The conditional GET goes over the plain socket: a 200 with its ETag and
    Last-Modified, then a 304 for either, on the connection kept alive throughout."""
    import ast
    import subprocess
    import sys
    r = served_repo("noimports")
    url = f"{web_server.url}{r.urlpath}"
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    mark = web_server.mark()
    p = subprocess.run([sys.executable, "-c", _NO_REQUESTS, url, str(r.path), str(tmp_path / "dest")],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    data, etag, dated, by_etag, body, by_date, loaded = ast.literal_eval(p.stdout.splitlines()[-1])
    assert loaded == []
    assert data == (r.path / "summary").read_bytes() and etag and dated
    assert (by_etag, body, by_date) == (True, None, True)
    for name in ("http", "file"):
        rev = (tmp_path / f"dest-{name}/refs/remotes/origin/main").read_text().strip()
        assert rev == r.commit
    gets = [e for e in web_server.entries(mark) if e.path == f"{r.urlpath}/summary"]
    assert [e.status for e in gets][-3:] == [200, 304, 304]
    assert len({e.connection for e in gets[-3:]}) == 1


def test_kept_alive_connection_the_server_dropped_is_made_anew(web_server, served_repo):
    # plain http:// takes the fetcher's own request path (no urllib3): a connection the
    # server closed between two requests is reconnected once, and the request is not lost
    # or sent twice
    r = served_repo("dropped")
    data = (r.path / "config").read_bytes()
    f = HttpFetcher(f"{web_server.url}{r.urlpath}/", **FAST)
    try:
        assert f.fetch_bytes("config", 4096) == data
        mark = web_server.mark()
        conn = f._plain_conn()
        assert conn.sock is not None
        conn.sock.shutdown(2)  # as a server's keepalive_timeout leaves it: dead, not yet known
        assert f.fetch_bytes("config", 4096) == data
        with pytest.raises(NotFound):
            f.fetch_bytes("no-such-file", 4096)
        assert f.fetch_bytes("config", 4096) == data
    finally:
        f.close()
    assert [e.status for e in web_server.entries(mark)] == [200, 404, 200]


def test_threads_keep_their_own_connections(web_server, served_repo):
    r = served_repo("threads")
    files = repo_files(r.path)
    objs = [k for k in files if k.startswith("objects/")]
    mark = web_server.mark()
    f = fetcher_for(f"{web_server.url}{r.urlpath}")
    try:
        with ThreadPoolExecutor(4) as ex:
            got = list(ex.map(lambda k: f.fetch_bytes(k, 1 << 20), objs * 3))
    finally:
        f.close()
    assert got == [files[k] for k in objs * 3]
    conns = {e.connection for e in web_server.entries(mark)}
    assert 1 <= len(conns) <= 4


def test_not_found_is_not_retried(web_server, served_repo, fault_proxy):
    r = served_repo("nf")
    mark = web_server.mark()
    f = HttpFetcher(f"{web_server.url}{r.urlpath}", **FAST)
    with pytest.raises(NotFound):
        f.fetch_bytes("objects/00/nothing.commit", 100)
    assert [e.status for e in web_server.entries(mark)] == [404]
    # as libostree (_ostree_fetcher_http_status_code_to_io_error): 403 and 410 are "not found"
    p = HttpFetcher(f"{fault_proxy.url}{r.urlpath}", **FAST)
    for code in (403, 410):
        fault_proxy.plan(f"{r.urlpath}/summary.sig", servers.status(code))
        with pytest.raises(NotFound):
            p.fetch_bytes("summary.sig", 100)
    assert fault_proxy.requests == [(f"{r.urlpath}/summary.sig", "status")] * 2


def test_retries_after_cut_503_429(web_server, served_repo, fault_proxy):
    r = served_repo("retry")
    data = (r.path / "config").read_bytes()
    summary = (r.path / "summary").read_bytes()
    f = HttpFetcher(f"{fault_proxy.url}{r.urlpath}", **FAST)
    fault_proxy.plan(f"{r.urlpath}/config", servers.cut(10), servers.status(503), servers.status(500))
    assert f.fetch_bytes("config", 4096) == data
    fault_proxy.plan(f"{r.urlpath}/summary", servers.cut(len(summary) // 2))
    sink = io.BytesIO()
    assert f.fetch_to("summary", sink, 1 << 20) == len(summary)
    assert sink.getvalue() == summary  # the rest appended once, nothing twice
    # the retry asked for the rest only (what libsoup's fetcher did for ostree, test-pull-resume)
    asked = [(p, h.get("Range")) for (p, _), h in zip(fault_proxy.requests, fault_proxy.headers)]
    assert asked[-2:] == [(f"{r.urlpath}/summary", None), (f"{r.urlpath}/summary", f"bytes={len(summary) // 2}-")]
    fault_proxy.plan(f"{r.urlpath}/config", servers.status(429, ("Retry-After", "1")))
    t0 = time.monotonic()
    assert f.fetch_bytes("config", 4096) == data
    assert time.monotonic() - t0 >= 0.95  # waited as asked, not the 10 ms backoff
    kinds = [k for p, k in fault_proxy.requests]
    assert kinds == ["cut", "status", "status", "pass", "cut", "pass", "status", "pass"]


def test_retries_are_bounded(web_server, served_repo, fault_proxy):
    r = served_repo("bounded")
    f = HttpFetcher(f"{fault_proxy.url}{r.urlpath}", n_network_retries=2, **FAST)
    fault_proxy.plan(f"{r.urlpath}/config", *[servers.status(503)] * 5)
    with pytest.raises(FetchError, match="HTTP 503.*after 3 tries"):
        f.fetch_bytes("config", 4096)
    assert len(fault_proxy.requests) == 3
    # ostree's default: 5 retries, 6 tries
    g = HttpFetcher(f"{fault_proxy.url}{r.urlpath}", **FAST)
    fault_proxy.clear()
    fault_proxy.plan(f"{r.urlpath}/config", *[servers.status(502)] * 6)
    with pytest.raises(FetchError, match="after 6 tries"):
        g.fetch_bytes("config", 4096)
    assert len(fault_proxy.requests) == 6


def test_trickling_and_silent_servers_are_cut_in_bounded_time(web_server, served_repo, fault_proxy):
    r = served_repo("slow", files={"big": os.urandom(60_000)})
    big = next(p for p in (r.path / "objects").rglob("*.filez") if p.stat().st_size > 50_000)
    rel = str(big.relative_to(r.path))
    f = HttpFetcher(f"{fault_proxy.url}{r.urlpath}", n_network_retries=1, low_speed_limit=1000,
                    low_speed_time=0.5, **FAST)
    # 200 bytes/s: far below the low-speed limit, but never silent long enough for a socket timeout
    fault_proxy.plan(f"/{r.name}/{rel}", servers.slow(200), servers.slow(200))
    t0 = time.monotonic()
    with pytest.raises(FetchError, match="slower than 1000 bytes/s"):
        f.fetch_to(rel, io.BytesIO(), 1 << 20)
    assert time.monotonic() - t0 < 3
    # headers that never come
    fault_proxy.plan(f"{r.urlpath}/config", servers.hang(), servers.hang())
    t0 = time.monotonic()
    with pytest.raises(FetchError):
        f.fetch_bytes("config", 4096)
    assert time.monotonic() - t0 < 3
    # fast enough for the low-speed rule, but past the total time of one try
    g = HttpFetcher(f"{fault_proxy.url}{r.urlpath}", n_network_retries=0, timeout=0.6,
                    low_speed_limit=1000, low_speed_time=0.5, **FAST)
    fault_proxy.plan(f"/{r.name}/{rel}", servers.slow(20_000))
    t0 = time.monotonic()
    with pytest.raises(FetchError, match="within 0.6 s"):
        g.fetch_to(rel, io.BytesIO(), 1 << 20)
    assert time.monotonic() - t0 < 2
    # the same speed without a total limit completes: progress earns time
    fault_proxy.plan(f"/{r.name}/{rel}", servers.slow(100_000))
    h = HttpFetcher(f"{fault_proxy.url}{r.urlpath}", n_network_retries=0, low_speed_limit=1000,
                    low_speed_time=0.5, **FAST)
    assert h.fetch_bytes(rel, 1 << 20) == big.read_bytes()


def test_size_caps(web_server, served_repo, fault_proxy):
    r = served_repo("caps")
    data = (r.path / "summary").read_bytes()
    mark = web_server.mark()
    f = HttpFetcher(f"{web_server.url}{r.urlpath}", **FAST)
    with pytest.raises(FetchError, match="exceeded maximum size of"):
        f.fetch_bytes("summary", len(data) - 1)
    assert len(web_server.entries(mark)) == 1  # a cap is not retried
    assert f.fetch_bytes("summary", len(data)) == data
    # no Content-Length: the cap holds while streaming
    p = HttpFetcher(f"{fault_proxy.url}{r.urlpath}", **FAST)
    fault_proxy.plan(f"{r.urlpath}/summary", servers.no_length(), servers.no_length())
    sink = io.BytesIO()
    with pytest.raises(FetchError, match="exceeded maximum size of"):
        p.fetch_to("summary", sink, len(data) - 1)
    assert len(sink.getvalue()) < len(data)
    assert p.fetch_bytes("summary", len(data)) == data


def test_redirects_only_within_the_host(web_server, served_repo, fault_proxy):
    r = served_repo("redir")
    data = (r.path / "config").read_bytes()
    f = HttpFetcher(f"{fault_proxy.url}/moved", **FAST)
    fault_proxy.plan("/moved/config", servers.redirect(f"{r.urlpath}/config"))
    assert f.fetch_bytes("config", 4096) == data
    port = fault_proxy.url.rsplit(":", 1)[1]
    for target in (f"http://localhost:{port}{r.urlpath}/config", "file:///etc/passwd",
                   f"ftp://127.0.0.1{r.urlpath}/config"):
        fault_proxy.plan("/moved/config", servers.redirect(target))
        with pytest.raises(FetchError, match="refusing redirect") as e:
            f.fetch_bytes("config", 4096)
        assert not isinstance(e.value, NotFound)
    fault_proxy.plan("/moved/config", *[servers.redirect("/moved/config")] * 11)
    with pytest.raises(FetchError, match="redirects"):
        f.fetch_bytes("config", 4096)


def test_credentials_headers_user_agent_and_proxy_option(web_server, served_repo, fault_proxy, monkeypatch):
    r = served_repo("opts")
    data = (r.path / "config").read_bytes()
    f = HttpFetcher(f"http://us%40er:p%3Ass@{fault_proxy.url[7:]}{r.urlpath}",
                    extra_headers=[("X-Test", "1")], append_user_agent="flatpak/1.0", **FAST)
    assert f.fetch_bytes("config", 4096) == data
    h = fault_proxy.headers[-1]
    assert h["Authorization"] == "Basic dXNAZXI6cDpzcw=="  # us@er:p:ss
    assert h["X-Test"] == "1"
    assert h["User-Agent"] == f"{USER_AGENT} flatpak/1.0"
    assert h["Accept-Encoding"] == "identity"
    # the remote's `proxy` option: the request goes to the proxy in absolute form
    remote = Remote("o", f"http://repo.invalid{r.urlpath}", options=(("proxy", fault_proxy.url),))
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # the option wins over the environment
    g = fetcher_for_remote(remote)
    assert g.fetch_bytes("config", 4096) == data
    assert fault_proxy.requests[-1][0] == f"http://repo.invalid{r.urlpath}/config"
    with pytest.raises(RemoteError, match="must specify both"):
        fetcher_for_remote(Remote("o", "https://h/r", options=(("tls-client-cert-path", "/c"),)))
    assert fetcher_for_remote(Remote("o", "file:///srv/r")).root == "/srv/r"


def test_tls_options(tls_web_server):
    server, pki = tls_web_server
    for d in ("r", "mtls"):
        (server.root / d).mkdir(exist_ok=True)
        (server.root / d / "config").write_bytes(b"[core]\nrepo_version=1\nmode=archive-z2\n")
    data = (server.root / "r" / "config").read_bytes()
    mark = server.mark()
    t0 = time.monotonic()
    with pytest.raises(FetchError, match="TLS") as e:  # an unknown CA: not retried
        HttpFetcher(f"{server.tls_url}/r").fetch_bytes("config", 4096)
    assert not isinstance(e.value, NotFound) and time.monotonic() - t0 < 5
    assert server.entries(mark) == []
    remote = Remote("o", f"{server.tls_url}/r", options=(("tls-ca-path", str(pki["ca"])),))
    assert fetcher_for_remote(remote).fetch_bytes("config", 4096) == data
    remote = Remote("o", f"{server.tls_url}/r", options=(("tls-permissive", "true"),))
    assert fetcher_for_remote(remote).fetch_bytes("config", 4096) == data
    # client certificates
    with pytest.raises(NotFound):  # nginx answers 403 without one; ostree takes 403 as "not found"
        fetcher_for_remote(Remote("o", f"{server.tls_url}/mtls", options=(
            ("tls-ca-path", str(pki["ca"])),))).fetch_bytes("config", 4096)
    remote = Remote("o", f"{server.tls_url}/mtls", options=(
        ("tls-ca-path", str(pki["ca"])), ("tls-client-cert-path", str(pki["client"])),
        ("tls-client-key-path", str(pki["client_key"]))))
    assert fetcher_for_remote(remote).fetch_bytes("config", 4096) == data


# Which faults the peers retry (established with the tests below; kept as fixed vectors).
# Debian's 2022.7 (src/libostree/ostree-fetcher-util.c at v2022.7,
# _ostree_fetcher_http_status_code_to_io_error): only 500 (G_IO_ERROR_BUSY) and 408 are
# retried; any other status and every curl error (a cut body) is G_IO_ERROR_FAILED, final.
# Upstream since v2023.7 (4fb6e6f5, retry-all-network-errors, default on) retries curl errors,
# and since 76ab8621 every status but 403/404/410 too: what HttpFetcher does.
PEER_RETRIES = {
    "2022.7": {"500": True, "503": False, "cut": False},
    "2026.4": {"500": True, "503": True, "429": True, "cut": True},
}


def _peer_pull_with(fault_proxy, r, tmp_path, ostree, name, fault, target):
    path = f"{r.urlpath}/{target}"
    fault_proxy.plan(path, fault)
    try:
        commit, _ = tool_pull(tmp_path / name, f"{fault_proxy.url}{r.urlpath}", r.ref, ostree=ostree)
    except AssertionError as e:
        assert "pull" in str(e)
        return False
    assert commit == r.commit
    assert [k for p, k in fault_proxy.requests if p == path] == [fault.kind, "pass"]
    return True


def _peer_retries(fault_proxy, r, tmp_path, ostree, which):
    obj = sorted(str(p.relative_to(r.path)) for p in (r.path / "objects").glob("*/*.filez"))[0]
    faults = {"500": (servers.status(500), "config"), "503": (servers.status(503), "config"),
              "429": (servers.status(429, ("Retry-After", "0")), "config"), "cut": (servers.cut(5), obj)}
    got = {}
    for n, key in enumerate(PEER_RETRIES[which]):
        fault_proxy.clear()
        fault, target = faults[key]
        got[key] = _peer_pull_with(fault_proxy, r, tmp_path, ostree, f"d{n}", fault, target)
    return got


def test_debian_ostree_retries_only_500(web_server, served_repo, fault_proxy, tmp_path):
    r = served_repo("peerfaults")
    assert _peer_retries(fault_proxy, r, tmp_path, "ostree", "2022.7") == PEER_RETRIES["2022.7"]


@needs_upstream
def test_upstream_ostree_retries_what_we_retry(web_server, served_repo, fault_proxy, tmp_path):
    r = served_repo("peerfaults2")
    ostree = peer_bin("ostree")
    assert _peer_retries(fault_proxy, r, tmp_path, ostree, "2026.4") == PEER_RETRIES["2026.4"]


def test_debian_ostree_follows_redirects_to_other_hosts(web_server, served_repo, fault_proxy, tmp_path):
    """Fixed vector of the peer (curl with CURLOPT_FOLLOWLOCATION, ostree-fetcher-curl.c): a
    redirect to another host is followed, one to file:// is not. HttpFetcher refuses both
    (test_redirects_only_within_the_host)."""
    r = served_repo("peerredir")
    other = f"http://localhost:{web_server.port}{r.urlpath}/config"
    fault_proxy.plan(f"{r.urlpath}/config", servers.redirect(other))
    mark = web_server.mark()
    commit, _ = tool_pull(tmp_path / "d0", f"{fault_proxy.url}{r.urlpath}", r.ref)
    assert commit == r.commit
    assert [e.path for e in web_server.entries(mark)].count(f"{r.urlpath}/config") == 1  # only via localhost
    fault_proxy.plan(f"{r.urlpath}/config", servers.redirect(f"file://{r.path}/config"))
    with pytest.raises(AssertionError, match="pull"):
        tool_pull(tmp_path / "d1", f"{fault_proxy.url}{r.urlpath}", r.ref)


def test_fetch_to_streams_in_chunks(web_server):
    (web_server.root / "big").mkdir(exist_ok=True)
    data = os.urandom(3 << 20)
    (web_server.root / "big" / "blob").write_bytes(data)

    class Sink(io.BytesIO):
        largest = 0

        def write(self, b) -> int:
            Sink.largest = max(Sink.largest, len(b))
            return super().write(b)

    sink = Sink()
    f = HttpFetcher(f"{web_server.url}/big")
    assert f.fetch_to("blob", sink, len(data)) == len(data)
    assert sink.getvalue() == data
    assert Sink.largest <= 1 << 16  # never the whole body at once


def test_http_dates_as_email_utils_writes_and_reads_them():
    """If-Modified-Since is written, and Last-Modified read, without the email package:
    the same text and the same seconds as email.utils, whatever the locale; the obsolete
    forms still read; what email.utils refuses is refused (the caller then sends no
    conditional request)."""
    import email.utils

    from ostreepy.remote.http import _http_date, _parse_http_date
    for t in (0, 784111777, 951782400, 1700000000, 4102444799):
        text = _http_date(t)
        assert text == email.utils.formatdate(t, usegmt=True)
        assert _parse_http_date(text) == t
    assert _parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == 784111777  # RFC 850
    assert _parse_http_date("Sun Nov  6 08:49:37 1994") == 784111777  # asctime
    for bad in ("Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 32 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:xx:37 GMT",
                "Sun, 31 Apr 1994 08:49:37 GMT", "Thu, 29 Feb 1900 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:60 GMT"):
        with pytest.raises(ValueError):
            email.utils.parsedate_to_datetime(bad)
        with pytest.raises(ValueError):
            _parse_http_date(bad)


def test_utc_seconds_are_datetimes():
    """The IMF-fixdate is read without datetime (its import was start-up of every pull that
    met a summary's Last-Modified): the same seconds, the same dates refused, for random
    dates and times on both sides of every edge."""
    import datetime
    import random

    from ostreepy.remote.http import _utc_seconds
    rng = random.Random(8)
    for _ in range(20000):
        args = (rng.choice((1, 2, 1600, 1900, 1970, 2000, 2024, 9999, rng.randint(1, 9999))), rng.randint(0, 13),
                rng.randint(0, 32), rng.randint(-1, 24), rng.randint(-1, 60), rng.randint(-1, 60))
        try:
            want = int(datetime.datetime(*args, tzinfo=datetime.timezone.utc).timestamp())
        except ValueError:
            with pytest.raises(ValueError):
                _utc_seconds(*args)
        else:
            assert _utc_seconds(*args) == want, args
