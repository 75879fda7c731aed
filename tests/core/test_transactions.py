"""Transactions: objects are staged and refs held back until one sync, as libostree does,
so a crash never leaves a ref to data that is not on disk."""

from __future__ import annotations

import os
import subprocess
import sys

from ostreepy.store.commit import create_commit, write_directory_to_mtree, write_mtree
from ostreepy.store.mtree import MutableTree
from ostreepy.store.objects import DirMeta, ObjectType
from ostreepy.store.repo import Repo


def _tree(tmp_path):
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for i in range(20):
        (src / "d" / f"f{i}").write_bytes(os.urandom(100 + i))
    return src


def test_objects_and_refs_land_only_when_the_transaction_ends(tmp_path):
    repo = Repo.init(str(tmp_path / "r"), "bare-user")
    src = _tree(tmp_path)
    with repo.transaction():
        mt = write_directory_to_mtree(repo, str(src), MutableTree())
        tree, meta = write_mtree(repo, mt)
        c = create_commit(repo, tree, meta, subject="s", timestamp=0)
        repo.set_ref("os/x", c)
        # visible to this repo object already...
        assert repo.read_ref("os/x") == c and repo.load_commit(c).root_tree == tree
        # ...but nothing is in objects/ or refs/ yet
        assert list(repo.list_objects()) == []
        assert not (tmp_path / "r/refs/heads/os/x").exists()
    assert (tmp_path / "r/refs/heads/os/x").read_text() == c + "\n"
    assert (c, ObjectType.COMMIT) in set(repo.list_objects())
    assert not [n for n in os.listdir(repo.tmp_dir) if n.startswith("staging-")]
    subprocess.run(["ostree", f"--repo={tmp_path / 'r'}", "fsck"], check=True, capture_output=True)


def test_failed_transaction_drops_its_refs(tmp_path):
    repo = Repo.init(str(tmp_path / "r"), "bare-user")
    src = _tree(tmp_path)
    try:
        with repo.transaction():
            mt = write_directory_to_mtree(repo, str(src), MutableTree())
            tree, meta = write_mtree(repo, mt)
            c = create_commit(repo, tree, meta, subject="s", timestamp=0)
            repo.set_ref("os/x", c)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert repo.read_ref("os/x") is None
    # the verified objects are kept (a retry reuses them)
    assert (c, ObjectType.COMMIT) in set(repo.list_objects())


def test_crash_inside_a_transaction_leaves_no_ref_and_no_object(tmp_path):
    src = _tree(tmp_path)
    Repo.init(str(tmp_path / "r"), "bare-user").close()
    code = f"""
import os
from ostreepy.store.repo import Repo
from ostreepy.store.mtree import MutableTree
from ostreepy.store.commit import write_directory_to_mtree, write_mtree, create_commit
repo = Repo.open({str(tmp_path / 'r')!r})
with repo.transaction():
    mt = write_directory_to_mtree(repo, {str(src)!r}, MutableTree())
    tree, meta = write_mtree(repo, mt)
    c = create_commit(repo, tree, meta, subject="s", timestamp=0)
    repo.set_ref("os/x", c)
    os._exit(9)
"""
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    repo = Repo.open(str(tmp_path / "r"))
    assert repo.read_ref("os/x") is None
    assert list(repo.list_objects()) == []
    repo.cleanup_tmp(max_age=-1, keep_current_boot=False)
    assert os.listdir(repo.tmp_dir) in ([], ["cache"])


def test_transaction_syncs_the_filesystem_once_then_fsyncs_directories(tmp_path, monkeypatch):
    """libostree's commit_transaction: syncfs, renames, fsync of the object directories, refs
    (ostree-repo-commit.c); no second whole-filesystem syncfs after the refs.  The refs'
    directories, up to refs/, are fsynced so that the ref set is on disk when the call
    returns (libostree leaves that to the next journal commit)."""
    import ostreepy.store.repo as repo_mod
    syncs, fsynced = [], []
    real = repo_mod._fsync_dir
    monkeypatch.setattr(repo_mod, "_syncfs", lambda fd: syncs.append(fd))
    monkeypatch.setattr(repo_mod, "_fsync_dir", lambda p: (fsynced.append(os.path.relpath(p, tmp_path / "r")), real(p)))
    repo = Repo.init(str(tmp_path / "r"), "bare-user")
    with repo.transaction():
        csum = repo.write_metadata(ObjectType.DIR_META, DirMeta(0, 0, 0o40755).serialize())
        repo.set_ref("a/b/c", "0" * 64)
    assert len(syncs) == 1
    assert fsynced[:2] == [f"objects/{csum[:2]}", "objects"]
    assert fsynced[2:] == ["refs/heads/a/b", "refs/heads/a", "refs/heads", "refs"]
    assert repo.read_ref("a/b/c") == "0" * 64 and repo.has_object(csum, ObjectType.DIR_META)


def test_transaction_end_steps_go_to_threads_only_once_they_wait():
    """_commit_staged's renames, fsyncs and rmdirs run on the caller's thread while they are
    quick (tmpfs, cached directories: threads cost more than they save) and on a few threads
    once a few calls have waited (a disk's flush or discard); results in order, errors raised."""
    import threading
    import time

    import pytest

    from ostreepy.store.repo import _serially_unless_slow

    items = [str(i) for i in range(20)]
    seen = []
    assert _serially_unless_slow(lambda s: seen.append(threading.get_ident()) or 2, items, 0.05) == [2] * 20
    assert set(seen) == {threading.get_ident()}
    seen.clear()

    def slow(s):
        seen.append(threading.get_ident())
        time.sleep(0.003)
        return int(s)

    assert _serially_unless_slow(slow, items, 0.001) == list(range(20))
    assert seen[:3] == [threading.get_ident()] * 3 and threading.get_ident() not in seen[3:]

    def fail(s):
        time.sleep(0.003)
        if s == "7":
            raise OSError("seven")

    with pytest.raises(OSError, match="seven"):
        _serially_unless_slow(fail, items, 0.001)
