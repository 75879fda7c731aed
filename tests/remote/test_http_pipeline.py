"""Pipelined GETs (HttpFetcher.fetch_each): what a batch of objects meets on the way.

nginx answers pipelined requests in order; the fault proxy (a Python HTTP/1.1 server, which
reads pipelined requests one after the other too) closes, cuts and fails answers in the
middle of a batch; a bare socket server proves the requests are sent before any answer."""

from __future__ import annotations

import io
import socket
import threading
import time

import pytest

from ostreepy.remote import pull
from ostreepy.remote.config import Remote
from ostreepy.remote.fetcher import FetchError, NotFound
from ostreepy.remote.http import HttpFetcher
from ostreepy.store.repo import Repo

from . import servers
from .conftest import small_tree
from .test_pull_http import NO_GPG, fsck, rev_parse

FAST = {"backoff": 0.01, "max_backoff": 0.05}


def objects_of(r) -> list[str]:
    return sorted(str(p.relative_to(r.path)) for p in (r.path / "objects").glob("*/*.*"))


def fetch_all(f: HttpFetcher, paths: list[str]) -> list[tuple[int, bytes, int]]:
    sinks: dict[int, io.BytesIO] = {}
    got: list[tuple[int, bytes, int]] = []

    def sink_for(i: int) -> io.BytesIO:
        return sinks.setdefault(i, io.BytesIO())

    def done(i: int, sink: io.BytesIO, n: int) -> None:
        got.append((i, sink.getvalue(), n))

    f.fetch_each(paths, sink_for, done, 1 << 20)
    return got


def fetch_whole(url: str, r, objs: list[str]) -> None:
    """Every object of the served repo ``r`` fetched in one batch from ``url``: each arrives,
    in order, whole and as it is on the server."""
    f = HttpFetcher(url, **FAST)
    try:
        got = fetch_all(f, objs)
    finally:
        f.close()
    assert [i for i, _, _ in got] == list(range(len(objs)))
    for i, data, n in got:
        assert data == (r.path / objs[i]).read_bytes() and n == len(data)


def test_a_batch_comes_in_order_over_one_connection(web_server, served_repo):
    r = served_repo("pipe", files=small_tree(seed=5, n=30))
    objs = objects_of(r)
    mark = web_server.mark()
    fetch_whole(f"{web_server.url}{r.urlpath}", r, objs)
    entries = web_server.entries(mark)
    assert [e.path for e in entries] == [f"{r.urlpath}/{o}" for o in objs]
    assert len({e.connection for e in entries}) == 1


def test_the_requests_go_out_before_the_answers_are_read():
    """A server that answers only once it has read the whole batch: a client asking one
    object at a time would wait for ever (cut by the low-speed rule)."""
    n = 5
    srv = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            buf = b""
            conn.settimeout(5)
            while buf.count(b"\r\n\r\n") < n:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
            for req in buf.split(b"\r\n\r\n")[:n]:
                target = req.split(b" ")[1]
                seen.append(target)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(target), target))
            conn.recv(1)  # until the client goes

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    f = HttpFetcher(f"http://127.0.0.1:{srv.getsockname()[1]}/r", n_network_retries=0, low_speed_time=2, **FAST)
    try:
        got = fetch_all(f, [f"objects/0{i}/x.filez" for i in range(n)])
    finally:
        f.close()
        srv.close()
    assert [data for _, data, _ in got] == [f"/r/objects/0{i}/x.filez".encode() for i in range(n)]
    assert len(seen) == n


def test_a_server_that_ignores_pipelined_requests_costs_one_stall():
    """A server that answers only the first request of each connection and ignores the rest
    (not allowed by RFC 9112 9.3.2, which lets it close instead): one low-speed window is
    lost, then the fetcher asks one request at a time."""
    n = 16
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(10)
    stop = threading.Event()

    def serve_one(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            buf = b""
            try:
                while True:
                    while b"\r\n\r\n" not in buf:
                        chunk = conn.recv(65536)
                        if not chunk:
                            return
                        buf += chunk
                    req, buf = buf.split(b"\r\n\r\n", 1)
                    target = req.split(b" ")[1]
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(target), target))
                    if buf:  # pipelined: ignored, and nothing more answered on this connection
                        stop.wait(5)
                        return
            except OSError:
                return

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    f = HttpFetcher(f"http://127.0.0.1:{srv.getsockname()[1]}/r", n_network_retries=1, low_speed_time=0.5,
                    **FAST)
    t0 = time.monotonic()
    try:
        got = fetch_all(f, [f"objects/{i:02d}/x.filez" for i in range(n)])
        # the next batch is asked one at a time at once
        got2 = fetch_all(f, [f"objects/{i:02d}/y.filez" for i in range(3)])
    finally:
        stop.set()
        f.close()
        srv.close()
    assert [data for _, data, _ in got] == [f"/r/objects/{i:02d}/x.filez".encode() for i in range(n)]
    assert [data for _, data, _ in got2] == [f"/r/objects/{i:02d}/y.filez".encode() for i in range(3)]
    assert time.monotonic() - t0 < 2.5  # one stall of 0.5 s, not one a round


def test_closed_cut_and_failed_answers_in_a_batch_are_asked_again(web_server, served_repo, fault_proxy):
    r = served_repo("pipefault", files=small_tree(seed=6, n=30))
    objs = objects_of(r)
    assert len(objs) > 20

    def url(k: int) -> str:
        return f"{r.urlpath}/{objs[k]}"

    def run(*faults: tuple[int, servers.Fault]) -> dict[int, list[str]]:
        fault_proxy.clear()
        for k, fault in faults:
            fault_proxy.plan(url(k), fault)
        fetch_whole(f"{fault_proxy.url}{r.urlpath}", r, objs)
        return {k: [kind for p, kind in fault_proxy.requests if p == url(k)] for k in range(len(objs))}

    # nginx's keepalive_requests (announced), a server gone without a word, an answer cut
    # mid-body (and the connection with it), then a round answered only once (as by an
    # HTTP/1.0 server), after which the rest go one at a time
    kinds = run((2, servers.close(announced=True)), (5, servers.close(announced=False)), (8, servers.cut(20)),
                (16, servers.close(announced=True)), (17, servers.close(announced=True)))
    assert kinds[2] == kinds[5] == kinds[16] == kinds[17] == ["close"]  # answered, not asked again
    assert kinds[8] == ["cut", "pass"]
    # what went unanswered behind a close was asked again: each once in all
    assert all(ks == ["pass"] for k, ks in kinds.items() if k not in (2, 5, 8, 16, 17))
    assert fault_proxy.connections >= 5
    # a failure worth a retry, and a redirect within the host: asked again alone (the rest of
    # the round may have been answered on the connection given up, and is asked again)
    kinds = run((11, servers.status(503)))
    assert kinds[11] == ["status", "pass"]
    kinds = run((14, servers.redirect(url(14))))
    assert kinds[14] == ["redirect", "pass"]
    assert all(ks[-1] == "pass" for ks in kinds.values())


def test_retries_and_not_found_hold_in_a_batch(web_server, served_repo, fault_proxy):
    r = served_repo("piperetry", files=small_tree(seed=7, n=10))
    objs = objects_of(r)
    f = HttpFetcher(f"{fault_proxy.url}{r.urlpath}", n_network_retries=1, **FAST)
    # the pipelined try counts: two 503s are the two tries of n_network_retries=1
    fault_proxy.plan(f"{r.urlpath}/{objs[3]}", servers.status(503), servers.status(503))
    with pytest.raises(FetchError, match="HTTP 503.*after 2 tries"):
        fetch_all(f, objs)
    assert [k for p, k in fault_proxy.requests if p == f"{r.urlpath}/{objs[3]}"] == ["status", "status"]
    # a missing object is NotFound, not retried; those before it were delivered
    delivered: list[int] = []
    with pytest.raises(NotFound):
        f.fetch_each(objs[:4] + ["objects/00/missing.filez"] + objs[4:], lambda i: io.BytesIO(),
                     lambda i, s, n: delivered.append(i), 1 << 20)
    assert delivered == [0, 1, 2, 3]
    # a size cap is not retried either
    big = max(objs, key=lambda o: (r.path / o).stat().st_size)
    with pytest.raises(FetchError, match="exceeded maximum size"):
        f.fetch_each([objs[0], big], lambda i: io.BytesIO(), lambda i, s, n: None,
                     (r.path / big).stat().st_size - 1)
    f.close()


@pytest.mark.parametrize("mode", ["bare-user", "archive"])
def test_a_pull_through_a_closing_server_is_complete(web_server, served_repo, fault_proxy, tmp_path, mode):
    r = served_repo(f"pipepull-{mode}", files=small_tree(seed=8, n=120))
    contents = [o for o in objects_of(r) if o.endswith(".filez")]
    for k in range(3, len(contents), 17):
        fault_proxy.plan(f"{r.urlpath}/{contents[k]}", servers.close(announced=k % 2 == 0))
    fault_proxy.plan(f"{r.urlpath}/{contents[10]}", servers.cut(7))
    dest = tmp_path / "dest"
    repo = Repo.init(str(dest), mode)
    remote = Remote("origin", f"{fault_proxy.url}{r.urlpath}", options=NO_GPG)
    fetcher = HttpFetcher(remote.url, **FAST)
    batches: list[int] = []
    fetch_each = fetcher.fetch_each

    def counted(paths, *args) -> None:  # type: ignore[no-untyped-def]
        batches.append(len(paths))
        fetch_each(paths, *args)

    fetcher.fetch_each = counted  # type: ignore[method-assign]
    try:
        res = pull.pull_remote(repo, remote, ["main"], fetcher=fetcher)
    finally:
        fetcher.close()
        repo.close()
    assert batches and max(batches) > 1  # the content went in pipelined batches
    assert res.content_fetched == len(contents)
    assert rev_parse(dest, "origin:main") == r.commit
    fsck(dest)
    if mode == "archive":  # the .filez stored as served
        for o in contents:
            assert (dest / o).read_bytes() == (r.path / o).read_bytes()


@pytest.mark.parametrize("fault", ["none", "close", "close-silent", "cut", "503", "redirect", "404"])
def test_a_walk_sends_its_dirtrees_ahead_and_what_fails_there_goes_the_usual_way(
        web_server, served_repo, fault_proxy, tmp_path, fault):
    """The walk sends the dirtrees and dirmetas it finds missing ahead on a connection of its
    own and takes their answers in itself (HttpFetcher.get_ahead); an answer that is not plain
    (closed, cut, an error, a redirect) sends what is outstanding to the workers, whose fetches
    deal with it as ever: the pull is the same, or fails with the same words."""
    r = served_repo("aheadpull", files=small_tree(seed=9, n=40))
    metas = sorted(o for o in objects_of(r) if o.endswith((".dirtree", ".dirmeta")))
    assert len(metas) > 5
    victim = f"{r.urlpath}/{metas[len(metas) // 2]}"
    faults = {"close": servers.close(announced=True), "close-silent": servers.close(announced=False),
              "cut": servers.cut(5), "503": servers.status(503), "redirect": servers.redirect(victim),
              "404": servers.status(404)}
    fault_proxy.clear()
    if fault in faults:
        # a missing object is missing when asked again too
        fault_proxy.plan(victim, *[faults[fault]] * (2 if fault == "404" else 1))
    repo = Repo.init(str(tmp_path / "dest"), "bare-user")
    remote = Remote("origin", f"{fault_proxy.url}{r.urlpath}", options=NO_GPG)
    fetcher = HttpFetcher(remote.url, **FAST)
    sent: list[str] = []
    get_ahead = fetcher.get_ahead

    def spied():  # type: ignore[no-untyped-def]
        ahead = get_ahead()
        send = ahead.send
        ahead.send = lambda path: (sent.append(path), send(path))[1]  # type: ignore[method-assign]
        return ahead

    fetcher.get_ahead = spied  # type: ignore[method-assign]
    try:
        if fault == "404":
            with pytest.raises(NotFound, match=f"While fetching .*{victim}: Server returned HTTP 404"):
                pull.pull_remote(repo, remote, ["main"], fetcher=fetcher)
            assert not (tmp_path / "dest" / "refs" / "remotes" / "origin" / "main").exists()
            return
        res = pull.pull_remote(repo, remote, ["main"], fetcher=fetcher)
    finally:
        fetcher.close()
        repo.close()
    # all of them ahead; after a failure there, nothing more
    assert sorted(sent) == metas if fault == "none" else (victim[len(r.urlpath) + 1:] in sent and set(sent) <= set(metas))
    assert res.metadata_fetched == len(metas) + 1  # and the commit
    assert rev_parse(tmp_path / "dest", "origin:main") == r.commit
    fsck(tmp_path / "dest")
    asked = [k for p, k in fault_proxy.requests if p == victim]
    # a closing answer is whole (what was behind it is asked again); the others once more
    assert asked == {"none": ["pass"], "close": ["close"], "close-silent": ["close"], "cut": ["cut", "pass"],
                     "503": ["status", "pass"], "redirect": ["redirect", "pass"]}[fault]
