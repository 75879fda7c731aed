"""End to end: our pull engine over HTTP from nginx, a repository written by ``ostree``.

Skipped while the engine (:mod:`ostreepy.remote.pull`) is not there. Targets the contract
``pull_remote(repo, remote, refs, progress=..., fetcher=...)``."""

from __future__ import annotations

import subprocess
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
from .conftest import TOOL_ENV, objects_fetched, small_tree  # noqa: E402

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
