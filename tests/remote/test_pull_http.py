"""End to end: our pull engine over HTTP from nginx, a repository written by ``ostree``.

Skipped while the engine (:mod:`ostreepy.remote.pull`) is not there. Targets the contract
``pull_remote(repo, remote, refs, progress=..., fetcher=...)``."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Set, Tuple

import pytest

pull = pytest.importorskip("ostreepy.remote.pull", reason="the pull engine is not on this branch yet")

from ostreepy.errors import OstreeError  # noqa: E402
from ostreepy.remote.config import Remote  # noqa: E402
from ostreepy.remote.fetcher import fetcher_for_remote  # noqa: E402
from ostreepy.remote.http import HttpFetcher  # noqa: E402
from ostreepy.store.repo import Repo  # noqa: E402

from . import servers  # noqa: E402
from .conftest import TOOL_ENV, objects_fetched, run, small_tree  # noqa: E402

FAST = dict(backoff=0.01, max_backoff=0.05)
NO_GPG = (("gpg-verify", "false"),)


def fsck(repo: Path) -> str:
    p = subprocess.run(["ostree", f"--repo={repo}", "fsck"], capture_output=True, env=TOOL_ENV, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout


def rev_parse(repo: Path, ref: str) -> str:
    return subprocess.run(["ostree", f"--repo={repo}", "rev-parse", ref], check=True, capture_output=True,
                          env=TOOL_ENV, text=True).stdout.strip()


def stored_objects(repo: Path) -> Set[Tuple[str, str]]:
    """(checksum, kind) of every loose object; kind ``file`` for content in any mode."""
    out = set()
    for p in (repo / "objects").glob("*/*.*"):
        name, ext = p.name.split(".", 1)
        out.add((p.parent.name + name, "file" if ext in ("file", "filez") else ext))
    return out


def served_key(path: str) -> Tuple[str, str]:
    d, f = path.rsplit("/", 2)[-2:]
    name, ext = f.split(".", 1)
    return d + name, "file" if ext in ("file", "filez") else ext


@pytest.mark.parametrize("mode", ["bare-user", "archive"])
def test_pull_from_nginx_is_what_ostree_wrote(web_server, served_repo, tmp_path, mode):
    r = served_repo("e2e")
    dest = tmp_path / "dest"
    repo = Repo.init(str(dest), mode)
    remote = Remote("origin", f"{web_server.url}{r.urlpath}", options=NO_GPG)
    mark = web_server.mark()
    fetcher = fetcher_for_remote(remote)
    try:
        pull.pull_remote(repo, remote, ["main"], fetcher=fetcher)
    finally:
        fetcher.close()
    repo.close()
    assert rev_parse(dest, "origin:main") == r.commit
    assert "Verifying content integrity of 1 commit objects" in fsck(dest)
    counts = objects_fetched(web_server.entries(mark), r.urlpath)
    assert counts and max(counts.values()) == 1  # nothing fetched twice
    assert {served_key(p) for p in counts} == stored_objects(dest)


def test_pull_through_faults_retries_and_resumes(web_server, served_repo, fault_proxy, tmp_path):
    r = served_repo("faulty", files=small_tree(seed=3, n=30))
    objs = sorted(str(p.relative_to(r.path)) for p in (r.path / "objects").glob("*/*.*"))
    dirtrees = [o for o in objs if o.endswith(".dirtree")]
    contents = [o for o in objs if o.endswith(".filez")]
    dest = tmp_path / "dest"
    repo = Repo.init(str(dest), "bare-user")
    remote = Remote("origin", f"{fault_proxy.url}{r.urlpath}", options=NO_GPG)

    # a first pull that cannot finish: one file object keeps failing past the retries
    broken = contents[0]
    fault_proxy.plan(f"{r.urlpath}/{broken}", *[servers.status(503)] * 2)
    fault_proxy.plan(f"{r.urlpath}/{contents[1]}", servers.cut(5))
    fetcher = HttpFetcher(remote.url, n_network_retries=1, **FAST)
    with pytest.raises(OstreeError):
        pull.pull_remote(repo, remote, ["main"], fetcher=fetcher)
    fetcher.close()
    have = stored_objects(dest)
    assert served_key(broken) not in have

    # the second pull meets transient faults only, retries them, and fetches nothing it has
    fault_proxy.plan(f"{r.urlpath}/{broken}", servers.status(429, ("Retry-After", "0")), servers.cut(3))
    if dirtrees:
        fault_proxy.plan(f"{r.urlpath}/{dirtrees[0]}", servers.status(502))
    mark = web_server.mark()
    fetcher = HttpFetcher(remote.url, **FAST)
    try:
        pull.pull_remote(repo, remote, ["main"], fetcher=fetcher)
    finally:
        fetcher.close()
    repo.close()
    assert rev_parse(dest, "origin:main") == r.commit
    fsck(dest)
    again = objects_fetched(web_server.entries(mark), r.urlpath)
    refetched = {p for p in again if served_key(p) in have}
    assert not refetched, f"fetched again after resume: {sorted(refetched)}"
    kinds = [k for p, k in fault_proxy.requests if p == f"{r.urlpath}/{broken}"]
    assert kinds[-3:] == ["status", "cut", "pass"]


def test_corrupt_object_fails_the_pull_and_is_not_stored(web_server, served_repo, fault_proxy, tmp_path):
    r = served_repo("corrupt")
    bad = sorted(str(p.relative_to(r.path)) for p in (r.path / "objects").glob("*/*.filez"))[0]
    dest = tmp_path / "dest"
    repo = Repo.init(str(dest), "bare-user")
    remote = Remote("origin", f"{fault_proxy.url}{r.urlpath}", options=NO_GPG)
    fault_proxy.plan(f"{r.urlpath}/{bad}", servers.corrupt(40))
    fetcher = HttpFetcher(remote.url, **FAST)
    with pytest.raises(OstreeError):
        pull.pull_remote(repo, remote, ["main"], fetcher=fetcher)
    assert served_key(bad) not in stored_objects(dest)
    pull.pull_remote(repo, remote, ["main"], fetcher=fetcher)
    fetcher.close()
    repo.close()
    assert rev_parse(dest, "origin:main") == r.commit
    fsck(dest)


def test_fetched_commitmeta_is_stored_as_glib_reads_it(web_server, served_repo, tmp_path):
    """The server's .commitmeta as libostree takes it in (test-commit-sign): a corrupt one is
    stored as GLib's normal form of it, not refused, when the remote verifies nothing; an
    emptied one (what `gpg-sign --delete` leaves) replaces the copy a client already has.
    The status line counts a .commitmeta found, not one missing (ostree >= 2023.9)."""
    from ostreepy.cli.main import main
    from ostreepy.store import gvariant

    r = served_repo("cmeta")
    meta = r.path / "objects" / r.commit[:2] / f"{r.commit[2:]}.commitmeta"
    url = f"{web_server.url}{r.urlpath}"

    def pull_both(name: str) -> dict:
        out = {}
        for who in ("peer", "ours"):
            dest = tmp_path / f"{name}-{who}"
            if not dest.exists():
                subprocess.run(["ostree", f"--repo={dest}", "init", "--mode=archive"], check=True, env=TOOL_ENV)
                subprocess.run(["ostree", f"--repo={dest}", "remote", "add", "--no-gpg-verify", "origin", url],
                               check=True, env=TOOL_ENV)
            args = [f"--repo={dest}", "pull", "origin", "main"]
            if who == "peer":
                p = subprocess.run(["ostree", *args], capture_output=True, text=True, env=TOOL_ENV)
                rc, line = p.returncode, p.stdout
            else:
                import contextlib
                import io
                buf = io.StringIO()
                with contextlib.redirect_stdout(buf):
                    rc = main(args)
                line = buf.getvalue()
            stored = dest / "objects" / r.commit[:2] / f"{r.commit[2:]}.commitmeta"
            out[who] = (rc, line.split(" content objects")[0],
                        stored.read_bytes() if stored.exists() else None)
        return out

    meta.write_bytes(gvariant.serialize("a{sv}", {"k": gvariant.Variant("s", "v")}))
    first = pull_both("c1")
    assert first["ours"] == first["peer"] and first["ours"][2] == meta.read_bytes()
    meta.write_bytes(b"")  # an emptied dictionary: the client's copy is replaced
    again = pull_both("c1")
    assert again["ours"] == again["peer"] and again["ours"][2] == b""
    meta.write_bytes(b"borkborkbork\n")
    bork = pull_both("c2")
    assert bork["ours"] == bork["peer"]
    assert bork["ours"][2] == gvariant.normal_form("a{sv}", b"borkborkbork\n") == bytes.fromhex(
        "00000000000000000000282901000000" * 2 + "00000000000000000000282901" + "0d1d2d")  # {'': <()>} x3


def test_status_line_counts_as_ostree_2026(web_server, served_repo, tmp_path):
    """test-pull-localcache's count, which ostree changed in 2023.9 (c8ed1c7a, "lib/pull: Fix
    miscounting of missing metadata"): a .commitmeta the server does not have is not a
    metadata fetch. ostreepy counts as 2026.4; Debian's 2022.7 counts one more. And
    test-delta's "1 delta parts, 2 loose fetched" (superblock and delta-index request)."""
    import upstream_peer

    from ostreepy.cli.main import main

    peer = upstream_peer.peer_bin("ostree")
    r = served_repo("lcache", files=small_tree(seed=5, n=6))
    url = f"{web_server.url}{r.urlpath}"

    def tool(who: str, *args) -> str:
        argv = [str(a) for a in args]
        if who == "ours":
            import contextlib
            import io
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                assert main(argv) == 0
            return buf.getvalue()
        p = subprocess.run([peer if who == "peer" else "ostree", *argv], capture_output=True, text=True,
                           env=TOOL_ENV)
        assert p.returncode == 0, p.stderr
        return p.stdout

    def status(out: str) -> str:
        return out.strip().splitlines()[-1].split(";")[0]

    def fresh(path: Path) -> Path:
        tool("debian", f"--repo={path}", "init", "--mode=archive")
        tool("debian", f"--repo={path}", "remote", "add", "--no-gpg-verify", "origin", url)
        return path

    for who in ("peer", "ours", "debian"):
        tool(who, f"--repo={fresh(tmp_path / f'cache-{who}')}", "pull", "origin", "main")
    tree = tmp_path / "tree2"
    subprocess.run(["ostree", f"--repo={r.path}", "checkout", "main", str(tree)], check=True, env=TOOL_ENV)
    (tree / "anewfile").write_text("anewfile\n")
    subprocess.run(["ostree", f"--repo={r.path}", "commit", "-b", "main", str(tree)], check=True,
                   capture_output=True, env=TOOL_ENV)
    subprocess.run(["ostree", f"--repo={r.path}", "summary", "-u"], check=True, env=TOOL_ENV)
    lines = {who: status(tool(who, f"--repo={fresh(tmp_path / f'new-{who}')}", "pull", "--localcache-repo",
                              tmp_path / f"cache-{who}", "origin", "main"))
             for who in ("peer", "ours", "debian")}
    assert lines["ours"] == lines["peer"] == "2 metadata, 1 content objects fetched (8 meta, 8 content local)"
    assert lines["debian"] == "3 metadata, 1 content objects fetched (8 meta, 8 content local)"

    # a from-scratch delta, listed through a delta index (2026.4's summary)
    src = tmp_path / "dsrc"
    tool("peer", f"--repo={src}", "init", "--mode=archive")
    tool("peer", f"--repo={src}", "pull-local", r.path, "main")
    tool("peer", f"--repo={src}", "static-delta", "generate", "--empty", "main")
    tool("peer", f"--repo={src}", "summary", "-u")
    for who in ("peer", "ours"):
        dest = tmp_path / f"d-{who}"
        tool("peer", f"--repo={dest}", "init", "--mode=bare-user")
        lines[who] = status(tool(who, f"--repo={dest}", "pull-local", "--require-static-deltas", src, "main"))
    assert lines["ours"] == lines["peer"] == "1 delta parts, 2 loose fetched"


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (apt-get install strace)")
def test_a_pull_flushes_the_file_system_once_as_ostree(web_server, served_repo, tmp_path):
    """The fsync policy of a pull, against the peer's under strace: one ``syncfs`` (libostree's
    commit_transaction: objects and refs in one transaction), then the same fsyncs (each
    objects/xx directory written, objects/, the ref's data), and three more of ours: the
    ref's directories up to refs/, which libostree leaves unsynced."""
    r = served_repo("syncs", files=small_tree(seed=7, n=20))
    url = f"{web_server.url}{r.urlpath}"
    syncs = {}
    for who in ("ostree", "ours"):
        repo = tmp_path / who
        run("ostree", f"--repo={repo}", "init", "--mode=bare-user")
        run("ostree", f"--repo={repo}", "remote", "add", "--no-gpg-verify", "origin", url)
        tool = ["ostree"] if who == "ostree" else [sys.executable, "-m", "ostreepy"]
        log = tmp_path / f"{who}.strace"
        run("strace", "-f", "-qq", "-e", "trace=syncfs,fsync,fdatasync", "-o", str(log),
            *tool, f"--repo={repo}", "pull", "origin", "main")
        assert rev_parse(repo, "origin:main") == r.commit
        calls = re.findall(r"\b(syncfs|fsync|fdatasync)\(", log.read_text())
        assert calls.count("syncfs") == 1, who
        syncs[who] = len(calls)
    assert syncs["ours"] == syncs["ostree"] + 3, syncs


def test_a_pull_that_finds_no_delta_asks_as_ostree_and_imports_no_delta_module(web_server, served_repo, tmp_path):
    """Into a bare-user repository a pull looks for a static delta: the commit's delta-indexes/
    file where the summary says they are indexed, else (no summary) the superblock of a
    from-scratch delta, as ostree's initiate_request. Neither there: the walk fetches the
    objects, without the deltas' modules (~5 ms of start-up), and the request counts as a
    metadata fetch in the status line, as ostree 2026.4 counts it (6 metadata for a two-file
    tree, with a summary or without). There: the delta runs, its superblock asked once."""
    r = served_repo("probe", files=small_tree(seed=9, n=8))
    url = f"{web_server.url}{r.urlpath}"

    def pull(name: str) -> Tuple[str, Set[str], list]:
        dest = tmp_path / name
        run("ostree", f"--repo={dest}", "init", "--mode=bare-user")
        run("ostree", f"--repo={dest}", "remote", "add", "--no-gpg-verify", "origin", url)
        mark = web_server.mark()
        p = subprocess.run([sys.executable, "-m", "ostreepy", f"--repo={dest}", "pull", "origin", "main"],
                           capture_output=True, text=True, env={**TOOL_ENV, "PYTHONPROFILEIMPORTTIME": "1"})
        assert p.returncode == 0, p.stderr
        assert rev_parse(dest, "origin:main") == r.commit
        fsck(dest)
        mods = {m.group(1) for m in re.finditer(r"^import time:.*\|\s+(\S+)$", p.stderr, re.M)}
        asked = [(e.path[len(r.urlpath) + 1:], e.status) for e in web_server.entries(mark)]
        return p.stdout.split(";")[0].strip(), mods, asked

    index = f"delta-indexes/{pull_index_name(r.commit)}"
    status, mods, asked = pull("indexed")
    # the summary (ostree's summary -u) says the deltas are indexed: one 404 for the index,
    # counted as ostree counts it (the commit, its dirtrees and dirmetas, the index)
    assert (index, 404) in asked and not [p for p, _ in asked if p.startswith("deltas/")]
    # the delta names are a light module of their own (deltas.naming, with the package's lazy
    # __init__); none of the delta format, fetch or apply is loaded
    light = {"ostreepy.remote.deltas", "ostreepy.remote.deltas.naming"}
    assert "ostreepy.remote.pull" in mods and not {m for m in mods if m.startswith("ostreepy.remote.deltas")} - light
    n_meta = sum(1 for p, s in asked if s == 200 and p.startswith("objects/") and not p.endswith((".filez",
                                                                                                  ".commitmeta")))
    assert status == f"{n_meta + 1} metadata, {len(small_tree(seed=9, n=8))} content objects fetched"

    for f in ("summary", "summary.sig"):
        (r.path / f).unlink(missing_ok=True)
    status, mods, asked = pull("legacy")
    superblock = f"deltas/{pull_index_name(r.commit)[:-len('.index')]}/superblock"
    assert (superblock, 404) in asked and not [p for p, _ in asked if p.startswith("delta-indexes/")]
    assert not {m for m in mods if m.startswith("ostreepy.remote.deltas")} - light
    assert status == f"{n_meta + 1} metadata, {len(small_tree(seed=9, n=8))} content objects fetched"

    run("ostree", f"--repo={r.path}", "static-delta", "generate", "--empty", "--to=main")
    status, mods, asked = pull("delta")
    assert [a for a in asked if a[0].startswith("deltas/")].count((superblock, 200)) == 1
    assert status.startswith("1 delta parts") and "ostreepy.remote.deltas.fetch" in mods


def pull_index_name(checksum: str) -> str:
    """``XX/REST.index`` of a commit's delta-indexes/ file (its modified base64)."""
    import base64
    b64 = base64.b64encode(bytes.fromhex(checksum)).decode().rstrip("=").replace("/", "_")
    return f"{b64[:2]}/{b64[2:]}.index"
