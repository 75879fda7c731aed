"""Objects taken from a local repository (``pull-local``, ``file://`` remotes) are
hard-linked, as libostree's ``_ostree_repo_import_object`` links them, and an
untrusted source's objects are still checked before they go in: the linked inode
itself, so a bad object is refused with no ref moved, nothing of it stored and
the source left as it was. The peer's ``fsck`` reads what we imported."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from ostreepy.errors import CorruptObjectError, OstreeError
from ostreepy.remote.pull import pull_local, pull_remote
from ostreepy.store import objimport
from ostreepy.store.objects import ObjectType
from ostreepy.store.repo import Repo

pytestmark = pytest.mark.skipif(shutil.which("ostree") is None, reason="needs Debian's ostree (apt-get install ostree)")


def ostree(*args: str) -> str:
    res = subprocess.run(["ostree", *args], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    return res.stdout


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive repository ``ostree`` wrote: ref ``main`` with a file of 60 kB
    (``big``), small ones, an executable and a symlink."""
    root = tmp_path_factory.mktemp("imp")
    tree = root / "tree"
    (tree / "d").mkdir(parents=True)
    (tree / "big").write_bytes(random.Random(3).randbytes(60_000))
    for i in range(12):
        (tree / "d" / f"f{i}").write_text(f"small {i}\n" * i)
    (tree / "run").write_text("#!/bin/sh\n")
    os.chmod(tree / "run", 0o755)
    os.symlink("d/f1", tree / "link")
    repo = root / "src"
    ostree(f"--repo={repo}", "init", "--mode=archive")
    ostree(f"--repo={repo}", "commit", "-b", "main", f"--tree=dir={tree}", "-s", "s")
    return repo


def _victim(repo: Path, name: str = "big") -> str:
    with Repo.open(str(repo)) as r:
        _kind, (csum,) = r.resolve_path(r.resolve_rev("main"), name)
    return csum


def _leftovers(repo: Repo) -> list:
    return [p.name for p in Path(repo.tmp_dir).rglob("*") if p.is_file()]


def _same(a: Repo, b: Repo, csum: str) -> bool:
    return os.path.samefile(a.object_path(csum, ObjectType.FILE), b.object_path(csum, ObjectType.FILE))


@pytest.mark.parametrize("untrusted", [False, True])
def test_same_mode_objects_are_linked_and_the_peer_reads_them(src: Path, tmp_path: Path, untrusted: bool) -> None:
    big = _victim(src)
    with Repo.init(str(tmp_path / "dst"), "archive") as dst, Repo.open(str(src)) as s:
        res = pull_local(dst, s, ["main"], untrusted=untrusted)
        assert _same(dst, s, big) and _same(dst, s, _victim(src, "link"))
        assert res.content_local == 15 and res.content_bytes_written == 0  # linked: nothing written
        assert _leftovers(dst) == []  # no link left behind
    assert "no errors found" in ostree(f"--repo={tmp_path / 'dst'}", "fsck")
    assert oct(os.stat(s.object_path(big, ObjectType.FILE)).st_mode) == oct(0o100644)


@pytest.mark.parametrize("small", [objimport.SMALL, 1000])
@pytest.mark.parametrize("how", ["swapped", "flipped"])
def test_untrusted_bad_objects_are_refused_after_linking(src: Path, tmp_path: Path, how: str, small: int,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # small=1000: the 60 kB object is checked streamed rather than in memory
    monkeypatch.setattr(objimport, "SMALL", small)
    bad = tmp_path / "bad"
    shutil.copytree(src, bad, symlinks=True)
    victim = _victim(bad)
    vpath = bad / "objects" / victim[:2] / f"{victim[2:]}.filez"
    if how == "swapped":
        other = _victim(bad, "d/f5")
        shutil.copy(bad / "objects" / other[:2] / f"{other[2:]}.filez", vpath)
    else:
        data = bytearray(vpath.read_bytes())
        data[-500] ^= 0xFF
        vpath.write_bytes(bytes(data))
    before = vpath.read_bytes()
    with Repo.init(str(tmp_path / "dst"), "archive") as dst:
        with pytest.raises(CorruptObjectError):
            pull_local(dst, str(bad), ["main"], untrusted=True)
        assert dst.list_refs() == {} and not dst.has_object(victim, ObjectType.FILE)
        assert _leftovers(dst) == []
        # the same source over file:// is checked as it is linked too
        dst.config.set('remote "bad"', "url", f"file://{bad}")
        dst.config.set('remote "bad"', "gpg-verify", "false")
        with pytest.raises(CorruptObjectError):
            pull_remote(dst, "bad", ["main"])
        assert dst.list_refs() == {} and not dst.has_object(victim, ObjectType.FILE)
    assert not [p for p in (tmp_path / "dst" / "objects").rglob("*") if p.name.startswith(victim[2:])]
    assert vpath.read_bytes() == before and os.stat(vpath).st_nlink == 1
    with Repo.init(str(tmp_path / "good"), "archive") as good, Repo.open(str(src)) as s:
        pull_local(good, s, ["main"], untrusted=True)  # the good object passes the same check
        assert _same(good, s, victim)


def test_bare_user_objects_are_checked_as_bare_user(src: Path, tmp_path: Path) -> None:
    big = _victim(src)
    with Repo.init(str(tmp_path / "bu"), "bare-user") as bu:
        pull_local(bu, str(src), ["main"])  # another mode: copied (inflated)
        assert not os.path.samefile(bu.object_path(big, ObjectType.FILE),
                                    str(src / "objects" / big[:2] / f"{big[2:]}.filez"))
        with Repo.init(str(tmp_path / "ok"), "bare-user") as ok:
            pull_local(ok, bu, ["main"], untrusted=True)
            assert _same(ok, bu, big)
        assert "no errors found" in ostree(f"--repo={tmp_path / 'ok'}", "fsck")
        with open(bu.object_path(big, ObjectType.FILE), "r+b") as f:
            f.write(b"X")
        with Repo.init(str(tmp_path / "dst"), "bare-user") as dst:
            with pytest.raises(CorruptObjectError):
                pull_local(dst, bu, ["main"], untrusted=True)
            assert dst.list_refs() == {} and not dst.has_object(big, ObjectType.FILE)


def test_an_untrusted_source_of_another_owner_is_copied(src: Path, tmp_path: Path) -> None:
    # as libostree's import_via_reflink_is_possible: a shared inode another user
    # could change later is linked only from a trusted source
    if os.geteuid() != 0:
        pytest.skip("needs root to give the source another owner")
    other = tmp_path / "other"
    shutil.copytree(src, other, symlinks=True)
    os.chown(other, 4242, 4242)
    objimport._owner.cache_clear()
    big = _victim(other)
    with Repo.init(str(tmp_path / "u"), "archive") as u, Repo.open(str(other)) as s:
        pull_local(u, s, ["main"], untrusted=True)
        assert not _same(u, s, big)
        with Repo.init(str(tmp_path / "t"), "archive") as t:
            pull_local(t, s, ["main"])
            assert _same(t, s, big)
    assert "no errors found" in ostree(f"--repo={tmp_path / 'u'}", "fsck")


@pytest.mark.parametrize("untrusted", [False, True])
def test_bare_user_into_bare_user_only_links_as_ostree(tmp_path: Path, untrusted: bool) -> None:
    """test-basic-user-only's 'hardlink pull from bare-user': a bare-user regular file that
    bare-user-only reads as the same object (0:0, no xattrs, its own mode) is linked, as
    libostree's import_is_bareuser_only_conversion links it; symlinks (regular files in
    bare-user) and a non-canonical file are copied. The same inodes shared as ostree's."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "afile").write_bytes(b"afile\n")
    (tree / "tool").write_bytes(b"#!/bin/sh\n")
    os.chmod(tree / "tool", 0o755)
    os.symlink("afile", tree / "afile-link")
    src = tmp_path / "input"
    ostree("init", f"--repo={src}", "--mode=bare-user")
    ostree("commit", f"--repo={src}", "--canonical-permissions", "-b", "canon", f"--tree=dir={tree}")
    (tree / "odd").write_bytes(b"owned by 1:1\n")
    ostree("commit", f"--repo={src}", "--owner-uid=1", "--owner-gid=1", "-b", "odd", f"--tree=dir={tree}")
    linked = {}
    for who in ("ours", "theirs"):
        dest = tmp_path / who
        ostree("init", f"--repo={dest}", "--mode=bare-user-only")
        if who == "ours":
            with Repo.open(str(dest)) as d:
                pull_local(d, str(src), ["canon"], untrusted=untrusted)
        else:
            ostree("pull-local", f"--repo={dest}", *(["--untrusted"] if untrusted else []), str(src), "canon")
        objects = dest / "objects"
        linked[who] = sorted(str(p.relative_to(objects)) for p in objects.rglob("*.file")
                             if not p.is_symlink() and os.path.samestat(p.lstat(), (src / "objects" / p.relative_to(
                                 objects)).lstat()))
        ostree("fsck", f"--repo={dest}")
    assert linked["ours"] == linked["theirs"] and len(linked["ours"]) == 2
    # objects bare-user-only would read differently are not linked: ostree links them, and its
    # fsck then finds them corrupt; we copy, and the copy is refused for what it is
    dest = tmp_path / "odd"
    ostree("init", f"--repo={dest}", "--mode=bare-user-only")
    with Repo.open(str(dest)) as d:
        with pytest.raises(OstreeError, match="bare-user-only repositories cannot store file ownership"):
            pull_local(d, str(src), ["odd"])
    assert not any(p.stat().st_nlink > 1 for p in (dest / "objects").rglob("*.file") if not p.is_symlink())
