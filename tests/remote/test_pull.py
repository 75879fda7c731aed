"""The pull engine against the real ``ostree`` (Debian 12's 2022.7): repositories
it wrote, pulled by us over ``file://`` into every mode, must give the same
commits and trees and pass its ``fsck``; our ``pull-local`` must equal its
own; it must pull from an archive repository we wrote (over HTTP, its real
fetch path); a killed pull resumes; hostile or corrupt sources are refused
with no ref moved and nothing bad stored."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

import ostreepy
from ostreepy.errors import CorruptObjectError, OstreeError
from ostreepy.progress import ObjectFetched, PullDone, PullProgress, PullStarted
from ostreepy.remote.pull import PullError, pull_local, pull_remote
from ostreepy.remote.summary import Summary, SummaryRef
from ostreepy.store.objects import Commit, DirMeta, DirTree, FileHeader, ObjectType, lenprefix
from ostreepy.store.repo import Repo

ROOT = Path(__file__).resolve().parents[2]
MODES = ["archive", "bare", "bare-user", "bare-user-only"]

pytestmark = pytest.mark.skipif(shutil.which("ostree") is None, reason="needs Debian's ostree (apt-get install ostree)")


def ostree(*args: str, check: bool = True) -> str:
    res = subprocess.run(["ostree", *args], capture_output=True, text=True)
    if check:
        assert res.returncode == 0, res.stderr
    return res.stdout


# ------------------------------------------------------------------ the peer's repositories


class Src:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo = root / "src"          # archive, no summary
        self.summary_repo = root / "srcsum"  # the same, with a summary
        self.commits: Dict[str, str] = {}
        self.chain: List[str] = []

    def url(self, summary: bool = False) -> str:
        return f"file://{self.summary_repo if summary else self.repo}"


def _tree(path: Path, n_many: int) -> None:
    rnd = random.Random(7)
    (path / "a/b/c").mkdir(parents=True)
    (path / "a/b/c/deep.txt").write_text("deep\n")
    (path / "a/f").write_text("hi\n")
    os.symlink("f", path / "a/l")
    os.symlink("/nonexistent/abs", path / "dangling")
    (path / "empty").write_bytes(b"")
    os.link(path / "a/f", path / "hard")
    (path / "bin").mkdir()
    (path / "bin/tool").write_text("#!/bin/sh\n")
    os.chmod(path / "bin/tool", 0o755)
    (path / "big.bin").write_bytes(rnd.randbytes(200_000))
    (path / "many").mkdir()
    for i in range(n_many):
        (path / f"many/f{i:02d}").write_text(f"file {i}\n" * (i + 1))
    (path / "x").write_text("with an xattr\n")
    os.setxattr(path / "x", "user.foo", b"bar")


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Src:
    root = tmp_path_factory.mktemp("peer")
    s = Src(root)
    ostree(f"--repo={s.repo}", "init", "--mode=archive")
    for i, year in enumerate((2020, 2021, 2022)):
        t = root / f"t{i}"
        _tree(t, 20 * (i + 1))
        csum = ostree(f"--repo={s.repo}", "commit", "-b", "main", f"--tree=dir={t}", "-s", f"c{i}",
                      f"--timestamp={year}-01-01 00:00:00 +0000").strip()
        s.chain.append(csum)
    s.commits["main"] = s.chain[-1]
    s.commits["plain"] = ostree(f"--repo={s.repo}", "commit", "-b", "plain", f"--tree=dir={root / 't2'}",
                                "--no-xattrs", "-s", "plain").strip()
    small = root / "small"
    small.mkdir()
    (small / "one").write_text("1\n")
    s.commits["other"] = ostree(f"--repo={s.repo}", "commit", "-b", "other", f"--tree=dir={small}",
                                "-s", "o").strip()
    shutil.copytree(s.repo, s.summary_repo, symlinks=True)
    ostree(f"--repo={s.summary_repo}", "summary", "-u")
    return s


def _new_repo(path: Path, mode: str, src: Src, summary: bool = False, name: str = "origin") -> Repo:
    repo = Repo.init(str(path), mode)
    repo.config.set(f'remote "{name}"', "url", src.url(summary))
    repo.config.set(f'remote "{name}"', "gpg-verify", "false")
    repo.write_config()
    repo.close()
    return Repo.open(str(path))


def _snapshot(root: Path) -> Dict[str, Tuple]:
    out: Dict[str, Tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            st = os.lstat(p)
            xattrs = tuple(sorted((n, os.getxattr(p, n, follow_symlinks=False))
                                  for n in os.listxattr(p, follow_symlinks=False)
                                  # a hardlink checkout of a bare-user object shows its own record
                                  if n.startswith("user.") and n != "user.ostreemeta"))
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode), xattrs)
            else:
                out[rel] = ("file", stat.S_IMODE(st.st_mode), hashlib.sha256(p.read_bytes()).hexdigest(), xattrs)
    return out


def _objects(path: Path) -> set:
    out = set()
    for d in (path / "objects").iterdir():
        for f in d.iterdir():
            out.add(d.name + f.name)
    return out


# ------------------------------------------------------------------ into every mode, against the peer


@pytest.mark.parametrize("mode", MODES)
def test_pull_into_each_mode_gives_the_peers_commit_and_tree(src: Src, tmp_path: Path, mode: str) -> None:
    ref = "plain" if mode == "bare-user-only" else "main"  # bare-user-only holds no xattrs
    summary = mode in ("archive", "bare-user")
    events: list = []
    with _new_repo(tmp_path / "repo", mode, src, summary) as repo:
        res = ostreepy.pull_ostree(repo, "origin", [ref], progress=events.append)
        assert repo.read_ref(f"origin:{ref}") == src.commits[ref]
        assert not repo.commit_is_partial(src.commits[ref])
    assert res.refs[0].refspec == f"origin:{ref}" and res.refs[0].old is None
    assert res.content_fetched > 40 and res.metadata_fetched >= 3 and res.bytes_transferred > 200_000
    assert isinstance(events[0], PullStarted) and isinstance(events[-1], PullDone)
    assert sum(isinstance(e, ObjectFetched) for e in events) == res.metadata_fetched + res.content_fetched
    assert any(isinstance(e, PullProgress) and e.phase == "writing-refs" for e in events)
    # the peer reads what we wrote, and finds it whole
    out = ostree(f"--repo={tmp_path / 'repo'}", "fsck")
    assert "no errors found" in out
    assert ostree(f"--repo={tmp_path / 'repo'}", "rev-parse", f"origin:{ref}").strip() == src.commits[ref]
    ostree(f"--repo={src.repo}", "checkout", "-U", ref, str(tmp_path / "theirs"))
    ostreepy.checkout(tmp_path / "repo", f"origin:{ref}", tmp_path / "ours", user_mode=True)
    assert _snapshot(tmp_path / "ours") == _snapshot(tmp_path / "theirs")
    # a second pull finds everything there
    with Repo.open(str(tmp_path / "repo")) as repo:
        again = pull_remote(repo, "origin", [ref])
    assert again.refs == () and again.content_fetched == 0 and again.metadata_fetched == 0



def test_a_pull_with_nothing_new_starts_no_worker(src: Src, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The walk does its only task, a commit, on its own thread: a pull that finds the commit
    here and complete (ostree's no-op pull) starts no worker, nor a connection of its own."""
    started: List[str] = []
    orig = threading.Thread.start

    def start(self: threading.Thread) -> None:
        started.append(self.name)
        orig(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    with _new_repo(tmp_path / "repo", "bare-user", src, True) as repo:
        first = pull_remote(repo, "origin", ["other"])
        workers = [n for n in started if n.startswith("ostreepy-pull")]
        assert first.content_fetched == 1 and workers  # the tree's objects went to workers
        del started[:]
        again = pull_remote(repo, "origin", ["other"])
    assert again.refs == () and again.content_fetched == again.metadata_fetched == 0
    assert not [n for n in started if n.startswith("ostreepy-pull")], started

def test_depth_mirror_commit_only_and_subpath(src: Src, tmp_path: Path) -> None:
    with _new_repo(tmp_path / "deep", "archive", src) as repo:
        pull_remote(repo, "origin", ["main"], depth=-1)
        for c in src.chain:
            assert repo.has_object(c, ObjectType.COMMIT) and not repo.commit_is_partial(c)
    log = ostree(f"--repo={tmp_path / 'deep'}", "log", "origin:main")
    assert all(c in log for c in src.chain)
    assert "no errors found" in ostree(f"--repo={tmp_path / 'deep'}", "fsck")

    with _new_repo(tmp_path / "one", "bare-user", src) as repo:
        pull_remote(repo, "origin", ["main"], depth=1)
        assert repo.has_object(src.chain[1], ObjectType.COMMIT)
        assert not repo.has_object(src.chain[0], ObjectType.COMMIT)

    # REF@CHECKSUM: that commit under that ref, as ostree pull takes it
    with _new_repo(tmp_path / "pinned", "archive", src, summary=True) as repo:
        res = pull_remote(repo, "origin", [f"main@{src.chain[0]}"])
        assert repo.read_ref("origin:main") == src.chain[0] and res.commits == {"main": src.chain[0]}

    # --mirror with no refs: every ref of the summary into refs/heads, the summary copied
    with _new_repo(tmp_path / "mirror", "archive", src, summary=True) as repo:
        res = pull_remote(repo, "origin", [], mirror=True)
        assert repo.list_refs() == src.commits
    assert {u.refspec for u in res.refs} == set(src.commits)
    assert (tmp_path / "mirror/summary").read_bytes() == (src.summary_repo / "summary").read_bytes()

    # --commit-metadata-only: the commit alone, left partial, the ref set
    with _new_repo(tmp_path / "meta", "bare", src) as repo:
        res = pull_remote(repo, "origin", ["main"], commit_metadata_only=True)
        c = src.commits["main"]
        assert repo.read_ref("origin:main") == c and repo.commit_is_partial(c)
        assert not repo.has_object(repo.load_commit(c).root_tree, ObjectType.DIR_TREE)
    assert res.metadata_fetched == 1 and res.content_fetched == 0

    # --subpath: only that part of the tree; the commit stays partial, as in ostree
    with _new_repo(tmp_path / "sub", "archive", src) as repo:
        res = pull_remote(repo, "origin", ["main"], subpaths=["/a/b"])
        c = src.commits["main"]
        assert repo.commit_is_partial(c)
        assert repo.resolve_path(c, "a/b/c/deep.txt")[0] == "file"
        kind, (fcsum,) = repo.resolve_path(c, "a/f")
        assert not repo.has_object(fcsum, ObjectType.FILE)
    assert res.content_fetched == 1

    # --dry-run: resolved and checked, nothing written
    with _new_repo(tmp_path / "dry", "archive", src) as repo:
        res = pull_remote(repo, "origin", ["main"], dry_run=True)
        assert res.refs[0].new == src.commits["main"] and repo.list_refs() == {}
        assert not repo.has_object(src.commits["main"], ObjectType.COMMIT)


def test_timestamp_check_refuses_an_older_commit(src: Src, tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(src.repo, old, symlinks=True)
    ostree(f"--repo={old}", "reset", "main", src.chain[0])
    with _new_repo(tmp_path / "repo", "archive", src) as repo:
        repo.config.set('remote "back"', "url", f"file://{old}")
        repo.config.set('remote "back"', "gpg-verify", "false")
        repo.write_config()
    with Repo.open(str(tmp_path / "repo")) as repo:
        pull_remote(repo, "origin", ["main"])
        # the ref of another remote counts, as ostree resolves the bare ref name
        with pytest.raises(PullError, match="chronologically older"):
            pull_remote(repo, "back", ["main"], timestamp_check=True)
        assert repo.read_ref("back:main") is None
        pull_remote(repo, "back", ["main"])  # without the check it is allowed
        assert repo.read_ref("back:main") == src.chain[0]


def test_localcache_repo_supplies_objects(src: Src, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    ostree(f"--repo={cache}", "init", "--mode=bare-user")
    ostree(f"--repo={cache}", "pull-local", str(src.repo), "main")
    with _new_repo(tmp_path / "repo", "archive", src) as repo:
        res = pull_remote(repo, "origin", ["main"], localcache_repos=[str(cache)])
    assert res.content_fetched == 0 and res.content_local > 40 and res.metadata_fetched == 0
    assert "no errors found" in ostree(f"--repo={tmp_path / 'repo'}", "fsck")


# ------------------------------------------------------------------ pull-local


@pytest.mark.parametrize("untrusted", [False, True])
def test_pull_local_equals_ostree_pull_local(src: Src, tmp_path: Path, untrusted: bool) -> None:
    flags = ["--untrusted"] if untrusted else []
    ostree(f"--repo={tmp_path / 'theirs'}", "init", "--mode=bare-user")
    theirs_out = ostree(f"--repo={tmp_path / 'theirs'}", "pull-local", *flags, str(src.repo), "main", "other")
    Repo.init(str(tmp_path / "ours"), "bare-user").close()
    res = subprocess.run([sys.executable, "-m", "ostreepy", f"--repo={tmp_path / 'ours'}", "pull-local", *flags,
                          str(src.repo), "main", "other"], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    # the same line, bar the size written (ostree counts a bare-user object's bytes its own way)
    pat = r"^(\d+) metadata, (\d+) content objects imported; .* content written$"
    assert re.match(pat, res.stdout.strip()).groups() == re.match(pat, theirs_out.strip()).groups()
    assert ostree(f"--repo={tmp_path / 'ours'}", "refs") == ostree(f"--repo={tmp_path / 'theirs'}", "refs")
    assert _objects(tmp_path / "ours") == _objects(tmp_path / "theirs")
    assert "no errors found" in ostree(f"--repo={tmp_path / 'ours'}", "fsck")
    # every ref of the source when none is named; --remote puts them under refs/remotes
    with Repo.init(str(tmp_path / "all"), "archive") as repo:
        res2 = pull_local(repo, str(src.repo), remote="peer")
        assert repo.list_refs() == {f"peer:{k}": v for k, v in src.commits.items()}
        if not untrusted:  # trusted, same mode: the objects are hard-linked, not copied
            _kind, (fcsum,) = repo.resolve_path(src.commits["main"], "big.bin")
            with Repo.open(str(src.repo)) as s:
                assert os.path.samefile(repo.object_path(fcsum, ObjectType.FILE), s.object_path(fcsum, ObjectType.FILE))
    assert res2.status.startswith(f"{res2.metadata_local} metadata, ")
    assert "no errors found" in ostree(f"--repo={tmp_path / 'all'}", "fsck")


def test_ostree_pulls_over_http_from_an_archive_we_wrote(src: Src, tmp_path: Path) -> None:
    with Repo.init(str(tmp_path / "ours"), "archive") as repo:
        pull_local(repo, str(src.repo), ["main"], untrusted=True)

    handler = functools.partial(_QuietHandler, directory=str(tmp_path / "ours"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        peer = tmp_path / "peer"
        ostree(f"--repo={peer}", "init", "--mode=bare-user")
        ostree(f"--repo={peer}", "remote", "add", "--no-gpg-verify", "us",
               f"http://127.0.0.1:{server.server_address[1]}/")
        out = ostree(f"--repo={peer}", "pull", "us", "main")
    finally:
        server.shutdown()
        server.server_close()
    assert "content objects fetched" in out
    assert ostree(f"--repo={peer}", "rev-parse", "us:main").strip() == src.commits["main"]
    assert "no errors found" in ostree(f"--repo={peer}", "fsck")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


# ------------------------------------------------------------------ killed, resumed


KILLER = textwrap.dedent("""\
    import os, signal, sys
    from ostreepy.progress import ObjectFetched
    from ostreepy.remote.pull import pull_remote
    from ostreepy.store.repo import Repo
    n = 0
    def cb(ev):
        global n
        if isinstance(ev, ObjectFetched) and ev.objtype == "file":
            n += 1
            if n == int(sys.argv[2]):
                os.kill(os.getpid(), signal.SIGKILL)
    pull_remote(Repo.open(sys.argv[1]), "origin", ["main"], progress=cb)
""")


@pytest.mark.parametrize("mode", ["archive", "bare-user"])
def test_a_killed_pull_resumes_fetching_only_what_is_missing(src: Src, tmp_path: Path, mode: str) -> None:
    path = tmp_path / "repo"
    _new_repo(path, mode, src).close()
    res = subprocess.run([sys.executable, "-c", KILLER, str(path), "25"], cwd=ROOT, capture_output=True)
    assert res.returncode == -signal.SIGKILL, res.stderr
    c = src.commits["main"]
    with Repo.open(str(path)) as repo:
        assert repo.read_ref("origin:main") is None  # no ref before the commit is whole
        assert repo.list_refs() == {} and repo.commit_is_partial(c)
        done = pull_remote(repo, "origin", ["main"])
        assert repo.read_ref("origin:main") == c and not repo.commit_is_partial(c)
    with Repo.init(str(tmp_path / "fresh"), "archive") as fresh:
        full = pull_local(fresh, str(src.repo), ["main"], untrusted=True)
    # the 25 content objects the killed pull stored are not fetched again
    assert done.content_fetched <= full.content_local - 25
    assert "no errors found" in ostree(f"--repo={path}", "fsck")


# ------------------------------------------------------------------ refused input


def _corrupt_copy(src: Src, tmp_path: Path, how: str) -> Tuple[Path, str]:
    bad = tmp_path / "bad"
    shutil.copytree(src.repo, bad, symlinks=True)
    with Repo.open(str(bad)) as r:
        _kind, (victim,) = r.resolve_path(src.commits["main"], "big.bin")
        _kind, (other,) = r.resolve_path(src.commits["main"], "a/f")
    vpath = bad / "objects" / victim[:2] / f"{victim[2:]}.filez"
    if how == "swapped":  # a valid object under another's name
        shutil.copy(bad / "objects" / other[:2] / f"{other[2:]}.filez", vpath)
    elif how == "size":  # the right data, but more of it than its header announces
        data = vpath.read_bytes()
        hlen = int.from_bytes(data[:4], "big")
        header, size = FileHeader.parse_zlib(data[8:8 + hlen])
        vpath.write_bytes(lenprefix(header.serialize_zlib(size // 2)) + data[8 + hlen:])
    else:  # a byte of the compressed data flipped
        data = bytearray(vpath.read_bytes())
        data[-1000] ^= 0xFF
        vpath.write_bytes(bytes(data))
    return bad, victim


@pytest.mark.parametrize("how", ["swapped", "flipped", "size"])
@pytest.mark.parametrize("mode", ["archive", "bare"])
def test_a_corrupt_object_is_refused_and_no_ref_moves(src: Src, tmp_path: Path, how: str, mode: str) -> None:
    bad, victim = _corrupt_copy(src, tmp_path, how)
    with _new_repo(tmp_path / "repo", mode, src) as repo:
        repo.config.set('remote "origin"', "url", f"file://{bad}")
        with pytest.raises(CorruptObjectError):
            pull_remote(repo, "origin", ["main"])
        assert repo.list_refs() == {}
        assert not repo.has_object(victim, ObjectType.FILE)
        assert repo.commit_is_partial(src.commits["main"])
    assert not [n for n in _objects(tmp_path / "repo") if n.startswith(victim)]


def _hostile_source(path: Path, name: str = "..", dirmeta_mode: int = 0o40755) -> str:
    """An archive repository whose commit has a hostile dirtree or dirmeta, written raw."""
    with Repo.init(str(path), "archive") as r:
        fcsum = r.write_content_bytes(FileHeader(0, 0, 0o100644), b"payload\n")
        meta = DirMeta(0, 0, dirmeta_mode).serialize()
        mcsum = hashlib.sha256(meta).hexdigest()
        tree = DirTree(files=((name, fcsum),)).serialize()
        tcsum = hashlib.sha256(tree).hexdigest()
        for csum, data, ext in ((mcsum, meta, "dirmeta"), (tcsum, tree, "dirtree")):
            (path / "objects" / csum[:2]).mkdir(exist_ok=True)
            (path / "objects" / csum[:2] / f"{csum[2:]}.{ext}").write_bytes(data)
        commit = r.write_commit(Commit(root_tree=tcsum, root_meta=mcsum, subject="evil"))
        r.set_ref("main", commit)
        return commit


@pytest.mark.parametrize("name,dmode", [("..", 0o40755), ("a/b", 0o40755), ("", 0o40755),
                                        ("ok", 0o20644)])
def test_hostile_tree_is_refused(tmp_path: Path, name: str, dmode: int) -> None:
    evil = tmp_path / "evil"
    _hostile_source(evil, name, dmode)
    before = sorted(os.listdir(tmp_path))
    with Repo.init(str(tmp_path / "repo"), "bare-user") as repo:
        repo.config.set('remote "evil"', "url", f"file://{evil}")
        repo.config.set('remote "evil"', "gpg-verify", "false")
        with pytest.raises(CorruptObjectError):
            pull_remote(repo, "evil", ["main"])
        assert repo.list_refs() == {}
    assert sorted(os.listdir(tmp_path)) == sorted(before + ["repo"])
    assert not (tmp_path / "payload").exists()


def test_a_commit_larger_than_the_summary_says_is_refused(src: Src, tmp_path: Path) -> None:
    lying = tmp_path / "lying"
    shutil.copytree(src.repo, lying, symlinks=True)
    c = src.commits["main"]
    (lying / "summary").write_bytes(Summary(refs={"main": SummaryRef(c, 10)}).serialize())
    with _new_repo(tmp_path / "repo", "archive", src) as repo:
        repo.config.set('remote "origin"', "url", f"file://{lying}")
        with pytest.raises(OstreeError, match="larger than"):
            pull_remote(repo, "origin", ["main"])
        assert repo.list_refs() == {} and not repo.has_object(c, ObjectType.COMMIT)


def test_errors_are_ostrees(src: Src, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with _new_repo(tmp_path / "repo", "archive", src, summary=True) as repo:
        with pytest.raises(PullError, match="No such branch 'nope' in repository summary"):
            pull_remote(repo, "origin", ["nope"])
        with pytest.raises(PullError, match="(?i)static deltas"):
            pull_remote(repo, "origin", ["main"], require_static_deltas=True)
    with _new_repo(tmp_path / "repo2", "archive", src) as repo:
        with pytest.raises(PullError, match="refs/heads/nope"):
            pull_remote(repo, "origin", ["nope"])
    with _new_repo(tmp_path / "repo4", "archive", src, summary=True) as repo:
        monkeypatch.setattr("ostreepy.remote.pull.MAX_SUMMARY_SIZE", 100)
        with pytest.raises(PullError, match="summary: .*larger than 100 bytes"):
            pull_remote(repo, "origin", ["main"])
        assert repo.list_refs() == {}
    # a summary naming a ref that would escape refs/ is refused before anything is fetched
    evil = tmp_path / "evilsum"
    shutil.copytree(src.repo, evil, symlinks=True)
    (evil / "summary").write_bytes(Summary(refs={"../../x": SummaryRef(src.commits["main"], 500)}).serialize())
    with _new_repo(tmp_path / "repo5", "archive", src) as repo:
        repo.config.set('remote "origin"', "url", f"file://{evil}")
        with pytest.raises(OstreeError, match="Invalid ref name"):
            pull_remote(repo, "origin", [], mirror=True)
        assert repo.list_refs() == {} and not list(repo.list_objects())
    assert not (tmp_path / "x").exists()
    bare = tmp_path / "barerepo"
    ostree(f"--repo={bare}", "init", "--mode=bare")
    with _new_repo(tmp_path / "repo3", "archive", src) as repo:
        repo.config.set('remote "origin"', "url", f"file://{bare}")
        # a file:// remote of another mode is read as a repository, as ostree's remote_repo_local
        # (test-pull-collections): an empty one has no ref, in ostree's words
        with pytest.raises(PullError, match="^Refspec 'main' not found$"):
            pull_remote(repo, "origin", ["main"])


def test_cli_pull_prints_ostrees_status_line(src: Src, tmp_path: Path) -> None:
    _new_repo(tmp_path / "repo", "archive", src).close()
    res = subprocess.run([sys.executable, "-m", "ostreepy", f"--repo={tmp_path / 'repo'}", "pull", "origin:main"],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert re.fullmatch(r"\d+ metadata, \d+ content objects fetched; \d+ KiB transferred in \d+ seconds;"
                        r" .* content written\n", res.stdout), res.stdout
    res = subprocess.run([sys.executable, "-m", "ostreepy", f"--repo={tmp_path / 'repo'}", "pull", "--dry-run",
                          "origin", "main"], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 1 and res.stderr == "error: --dry-run requires --require-static-deltas\n"


def test_cli_pull_on_a_terminal_redraws_ostrees_progress_line(src: Src, tmp_path: Path) -> None:
    import pty
    _new_repo(tmp_path / "repo", "archive", src).close()
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "ostreepy", f"--repo={tmp_path / 'repo'}", "pull", "origin",
                             "main"], stdout=follower, stderr=follower, cwd=ROOT)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert proc.wait() == 0, out
    text = out.decode()
    assert text.startswith("\r\x1b[KReceiving metadata objects: ")
    assert re.search(r"\r\x1b\[K\d+ metadata, \d+ content objects fetched; .* content written\r\n$", text), text


def test_a_commit_bound_to_another_ref_is_refused_as_by_ostree(src: Src, tmp_path: Path) -> None:
    aliased = tmp_path / "aliased"
    shutil.copytree(src.repo, aliased, symlinks=True)
    ostree(f"--repo={aliased}", "refs", "--create=alias", "main")
    peer = tmp_path / "peer"
    ostree(f"--repo={peer}", "init", "--mode=archive")
    ostree(f"--repo={peer}", "remote", "add", "--no-gpg-verify", "origin", f"file://{aliased}")
    theirs = subprocess.run(["ostree", f"--repo={peer}", "pull", "origin", "alias"], capture_output=True, text=True)
    assert theirs.returncode == 1
    with _new_repo(tmp_path / "repo", "archive", src) as repo:
        repo.config.set('remote "origin"', "url", f"file://{aliased}")
        with pytest.raises(PullError) as e:
            pull_remote(repo, "origin", ["alias"])
        assert theirs.stderr == f"error: {e.value}\n"
        assert repo.list_refs() == {} and not repo.has_object(src.commits["main"], ObjectType.COMMIT)
        pull_remote(repo, "origin", ["alias"], disable_verify_bindings=True)
        assert repo.read_ref("origin:alias") == src.commits["main"]


def test_a_small_filez_inflated_in_memory_is_refused_as_a_streamed_one() -> None:
    # most objects of a pull into a bare repository take this path (pure bytes, no I/O)
    import zlib

    from ostreepy.remote.pull import SPOOL_SIZE, _inflate_filez

    payload = b"hello, world\n" * 50
    header = FileHeader(0, 0, 0o100644)

    def filez(data: bytes, size: int, tail: bytes = b"") -> bytes:
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        return lenprefix(header.serialize_zlib(size)) + c.compress(data) + c.flush() + tail

    good = filez(payload, len(payload))
    h, size, data = _inflate_filez(good, "x" * 64)
    # the walk's header is a plain LightHeader with the FileHeader's fields
    assert (h.uid, h.gid, h.mode, h.symlink_target, h.xattrs, h.rdev) == (0, 0, 0o100644, "", (), 0)
    assert h.serialize() == header.serialize() and h.serialize_zlib(size) == header.serialize_zlib(size)
    assert (size, data) == (len(payload), payload)
    assert _inflate_filez(filez(b"", 0), "x" * 64)[2] == b""
    for bad, words in ((good[:-5], "truncated"), (filez(payload, len(payload), b"junk"), "trailing"),
                       (filez(payload, len(payload) - 1), "too long"), (filez(payload, len(payload) + 1), "size"),
                       (good[:12] + bytes(b ^ 0xFF for b in good[12:]), "Corrupted")):
        with pytest.raises(CorruptObjectError, match=words):
            _inflate_filez(bad, "x" * 64)
    # one that inflates beyond the spool is left to the streaming path (bounded memory)
    assert _inflate_filez(filez(b"\0" * (SPOOL_SIZE + 1), SPOOL_SIZE + 1), "x" * 64) is None
