"""The dummy signature type (libostree's test signer, ostree-sign-dummy.c) wherever a
signature type goes: commit and summary signing, ``remote add --sign-verify``, the pull's
checks of commits and summaries; and what test-signed-pull(-summary).sh check with it: a
stored commit's detached metadata fetched again, an unreadable ``summary.sig``, ``prune``
clearing the summary cache of remotes that are gone. Each against Debian's ostree 2022.7
on the same served repository. The summary cache's revalidation is checked with bytes
(a server in memory), as the peer cannot make two summaries with different dummy
signatures."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import BinaryIO, Dict, List, Optional, Tuple

import pytest

from ostreepy.remote.summary_cache import (
    Conditional,
    SummaryCache,
    SummaryCacheError,
    fetch_summary_pair,
)
from ostreepy.store import gvariant
from ostreepy.store.gvariant import Variant

from .conftest import TOOL_ENV, last_error, ours

KEY = "dummysign"


def theirs(*argv: object, skip_cache: bool = True) -> Tuple[int, str, str]:
    env = dict(TOOL_ENV, OSTREE_DUMMY_SIGN_ENABLED="1")
    if not skip_cache:
        env.pop("OSTREE_SKIP_CACHE", None)
    p = subprocess.run(["ostree", *map(str, argv)], capture_output=True, text=True, env=env, check=False)
    return p.returncode, p.stdout, p.stderr


@pytest.fixture(autouse=True)
def _dummy_on(monkeypatch):
    monkeypatch.setenv("OSTREE_DUMMY_SIGN_ENABLED", "1")


def _both(tmp_path: Path, url: str, *remote_add: str) -> Dict[str, Path]:
    repos = {}
    for who, tool in (("ours", ours), ("theirs", theirs)):
        repo = tmp_path / who
        if repo.exists():
            shutil.rmtree(repo)
        assert tool(f"--repo={repo}", "init", "--mode=archive")[0] == 0
        rc, _, err = tool(f"--repo={repo}", "remote", "add", "--set=gpg-verify=false", *remote_add, "origin", url)
        assert rc == 0, err
        repos[who] = repo
    return repos


def _tools():
    return (("ours", ours), ("theirs", theirs))


def test_dummy_signatures_made_and_checked_as_ostree(served_repo, web_server, tmp_path):
    r = served_repo("dummy")
    url = f"{web_server.url}{r.urlpath}"
    # the peer signs the commit; we sign the summary: each side's signature checked by the other
    assert theirs(f"--repo={r.path}", "sign", "--sign-type=dummy", r.commit, KEY)[0] == 0
    rc, _, err = ours(f"--repo={r.path}", "summary", "-u", "--sign-type=dummy", f"--sign={KEY}")
    assert rc == 0, err
    sig = gvariant.deserialize("a{sv}", (r.path / "summary.sig").read_bytes())
    assert sig == {"ostree.sign.dummy": Variant("aay", [KEY.encode()])}

    repos = _both(tmp_path, url, f"--sign-verify=dummy=inline:{KEY}", "--set=sign-verify-summary=true")
    configs = [(repos[w] / "config").read_text().split('[remote "origin"]')[1] for w in repos]
    assert configs[0] == configs[1] and "sign-verify=dummy\n" in configs[0]
    for who, tool in _tools():
        rc, _, err = tool(f"--repo={repos[who]}", "pull", "origin", "main")
        assert rc == 0, (who, err)
        # a stored commit's detached metadata is fetched again (test-signed-pull's re-pull)
        meta = repos[who] / f"objects/{r.commit[:2]}/{r.commit[2:]}.commitmeta"
        meta.unlink()
        rc, _, err = tool(f"--repo={repos[who]}", "pull", "origin", "main")
        assert rc == 0 and meta.exists(), (who, err)

    # refusals: a wrong key, a keys file (the dummy type has none), no key for a named type
    for setting, words in ((("verification-dummy-key", "wrong"), "signature: dummy: incorrect signatures found: 1"),
                           (("verification-dummy-file", str(tmp_path / "keys")),
                            f"Failed loading 'dummy' keys from '{tmp_path / 'keys'}"),
                           (None, "No keys found for required signapi type dummy")):
        repos = _both(tmp_path, url, "--set=sign-verify=dummy")
        for who, tool in _tools():
            if setting is not None:
                assert tool(f"--repo={repos[who]}", "config", "set", f'remote "origin".{setting[0]}', setting[1])[0] == 0
            rc, _, err = tool(f"--repo={repos[who]}", "pull", "origin", "main")
            assert rc == 1 and words in last_error(err), (who, err)
            assert tool(f"--repo={repos[who]}", "rev-parse", "origin:main")[0] == 1

    # remote add's own refusals, word for word
    for spec, words in (("dummy", "Failed to parse KEYTYPE=[inline|file]:DATA in dummy"),
                        ("dummy=foo:bar", "Invalid key reference foo, expected inline|file"),
                        ("trustme=inline:ok", "Requested signature type is not implemented")):
        for who, tool in _tools():
            rc, _, err = tool(f"--repo={tmp_path / who}", "remote", "add", f"--sign-verify={spec}", "other",
                              "http://localhost")
            assert rc == 1 and words in last_error(err), (who, err)


def test_unreadable_summary_sig_and_summary_cache_prune_as_ostree(served_repo, web_server, tmp_path, monkeypatch):
    monkeypatch.delenv("OSTREE_SKIP_CACHE", raising=False)
    r = served_repo("dummysum")
    assert ours(f"--repo={r.path}", "summary", "-u", "--sign-type=dummy", f"--sign={KEY}")[0] == 0
    repos = _both(tmp_path, f"{web_server.url}{r.urlpath}", "--set=sign-verify-summary=true",
                  f"--set=verification-dummy-key={KEY}")
    cached = (("ours", ours), ("theirs", lambda *a: theirs(*a, skip_cache=False)))
    for who, tool in cached:
        rc, _, err = tool(f"--repo={repos[who]}", "pull", "origin", "main")
        assert rc == 0, (who, err)
        cache = repos[who] / "tmp/cache/summaries"
        assert (cache / "origin").read_bytes() == (r.path / "summary").read_bytes()
        assert (cache / "origin.sig").read_bytes() == (r.path / "summary.sig").read_bytes()
        for stray in ("gone", "gone.sig", "x.sig.sig"):
            (cache / stray).write_bytes(b"")
        rc, _, err = tool(f"--repo={repos[who]}", "prune")
        assert rc == 0, (who, err)
        assert sorted(os.listdir(cache)) == ["origin", "origin.sig"], who

    # GLib reads a malformed a{sv} as empty: no signatures, not a parse error
    (r.path / "summary.sig").write_bytes(b"invalid\n")
    repos = _both(tmp_path, f"{web_server.url}{r.urlpath}", "--set=sign-verify-summary=true",
                  f"--set=verification-dummy-key={KEY}")
    for who, tool in _tools():
        rc, _, err = tool(f"--repo={repos[who]}", "pull", "origin", "main")
        assert rc == 1 and "No signatures found" in last_error(err), (who, err)


# ------------------------------------------------------------------ the cache's revalidation, in bytes

class _Server:
    """A remote's summary files with HTTP's validators: ETag (a digest) and a one-second clock."""

    def __init__(self) -> None:
        self.files: Dict[str, Tuple[bytes, int]] = {}
        self.asked: List[str] = []

    def put(self, name: str, data: bytes, mtime: int) -> None:
        self.files[name] = (data, mtime)

    def fetch_bytes(self, path: str, max_size: int) -> bytes:
        return self.fetch_conditional(path, max_size, None, 0).data or b""

    def fetch_to(self, path: str, sink: BinaryIO, max_size: int) -> int:
        data = self.fetch_bytes(path, max_size)
        sink.write(data)
        return len(data)

    def fetch_conditional(self, path: str, max_size: int, etag: Optional[str], since: int) -> Conditional:
        self.asked.append(path)
        data, mtime = self.files[path]
        tag = f'"{hash(data)}"'
        if (etag == tag) if etag is not None else (0 < since and mtime <= since):
            # as ostreepy's HTTP fetcher reports a 304: without the answer's validators
            return Conditional(None, True, None, 0)
        return Conditional(data, False, tag, mtime)


def test_summary_cache_follows_a_signature_replaced_within_the_second(tmp_path, monkeypatch):
    """test-signed-pull-summary's 'broken cache' block: a cached summary that fails its
    signature is fetched again; the cache then holds a pair whose validators are the
    server's, so a signature published in the same second is still seen."""
    srv = _Server()
    good = {b"summary-1": b"sig-1", b"summary-2": b"sig-2"}

    def verify(data, sig):
        if good.get(data) != sig:
            raise SummaryCacheError("bad signature")

    srv.put("summary", b"summary-1", 100)
    srv.put("summary.sig", b"sig-1", 100)
    cache = SummaryCache(str(tmp_path), "origin")
    assert fetch_summary_pair(srv, cache, 1 << 20, 1 << 20, verify) == (b"summary-1", b"sig-1")
    # the cached summary replaced under the cache (the script's cp)
    (tmp_path / "tmp/cache/summaries/origin").write_bytes(b"summary-2")
    monkeypatch.setenv("OSTREE_REPO_TEST_ERROR", "invalid-cache")
    with pytest.raises(SummaryCacheError, match="^Remote origin cached summary invalid and "
                                                "OSTREE_REPO_TEST_ERROR_INVALID_CACHE specified$"):
        fetch_summary_pair(srv, cache, 1 << 20, 1 << 20, verify)
    assert cache.load() == b"summary-2" and cache.load(".sig") == b"sig-1"
    monkeypatch.delenv("OSTREE_REPO_TEST_ERROR")
    assert fetch_summary_pair(srv, cache, 1 << 20, 1 << 20, verify) == (b"summary-1", b"sig-1")
    assert cache.load() == b"summary-1"
    # published in the second the cached signature's date names
    srv.put("summary", b"summary-2", 100)
    srv.put("summary.sig", b"sig-2", 100)
    assert fetch_summary_pair(srv, cache, 1 << 20, 1 << 20, verify) == (b"summary-2", b"sig-2")
    assert (cache.load(), cache.load(".sig")) == (b"summary-2", b"sig-2")
