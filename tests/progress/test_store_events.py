"""Commit, checkout, fsck and prune: the events received, checked against what
the real ``ostree`` finds in the same repository."""

from __future__ import annotations

import os
import re
import tarfile
from pathlib import Path
from typing import List

import pytest

from ostreepy.progress import FileCheckedOut, FileWritten, FsckStarted, ObjectChecked, ObjectPruned, ProgressEvent
from ostreepy.store.checkout import CheckoutOptions, checkout
from ostreepy.store.commit import create_commit, write_directory_to_mtree, write_mtree, write_tar_to_mtree
from ostreepy.store.fsck import fsck
from ostreepy.store.mtree import MutableTree
from ostreepy.store.prune import prune
from ostreepy.store.repo import Repo

from .conftest import ls_files, ostree, regular_bytes, write_tree


def _commit(repo: Repo, tree: Path, ref: str, events: List[ProgressEvent], threads=None) -> str:
    with repo.transaction():
        mtree = write_directory_to_mtree(repo, str(tree), MutableTree(), progress=events.append, threads=threads)
        root, meta = write_mtree(repo, mtree)
        csum = create_commit(repo, root, meta, subject=ref, timestamp=1700000000)
        repo.set_ref(ref, csum)
    return csum


@pytest.mark.parametrize("threads", [1, 4])
def test_commit_files_written(workdir, threads):
    tree = workdir / "tree"
    write_tree(tree)
    events: List[ProgressEvent] = []
    with Repo.init(str(workdir / "repo"), "bare") as r:
        csum = _commit(r, tree, "main", events, threads)
    assert events and all(type(e) is FileWritten for e in events)
    # every file and symlink the real ostree lists in the commit, once, with its size
    listed = ls_files(workdir / "repo", csum)
    assert sorted(e.path for e in events) == sorted(listed)
    assert {e.path: e.size for e in events} == {p: size for p, (_, size) in listed.items()}
    n, size = regular_bytes(tree)
    assert len(events) == n and sum(e.size for e in events) == size
    assert {e.path: e.size for e in events}["/usr/bin/sh"] == 0


def test_commit_from_tar_files_written(workdir):
    tree = workdir / "tree"
    write_tree(tree)
    tar = workdir / "tree.tar"
    with tarfile.open(tar, "w") as tf:
        tf.add(tree, arcname=".")
    events: List[ProgressEvent] = []
    with Repo.init(str(workdir / "repo"), "bare") as r:
        with r.transaction(), open(tar, "rb") as f:
            mtree = MutableTree()
            write_tar_to_mtree(r, f, mtree, progress=events.append)
            root, meta = write_mtree(r, mtree)
            csum = create_commit(r, root, meta, timestamp=1700000000)
    listed = ls_files(workdir / "repo", csum)
    written = {e.path: e.size for e in events if isinstance(e, FileWritten)}
    # a tar stores one name of a hardlinked pair as a link entry, with no content of its own
    assert set(listed) - set(written) in ({"/usr/bin/true"}, {"/usr/bin/also-true"})
    assert set(written) <= set(listed)
    assert all(written[p] == listed[p][1] for p in written)


def test_no_event_built_without_a_callback(workdir, monkeypatch):
    """The per-file sites build nothing when nobody listens: an event class that
    cannot be constructed goes unnoticed."""
    import ostreepy.store.checkout as co
    import ostreepy.store.commit as cm

    def boom(*a, **k):
        raise AssertionError("event built without a callback")

    monkeypatch.setattr(cm, "FileWritten", boom)
    monkeypatch.setattr(co, "_file_checked_out", boom)
    tree = workdir / "tree"
    write_tree(tree)
    with Repo.init(str(workdir / "repo"), "bare") as r:
        with r.transaction():
            root, meta = write_mtree(r, write_directory_to_mtree(r, str(tree), MutableTree()))
            csum = create_commit(r, root, meta, timestamp=1700000000)
        checkout(r, csum, str(workdir / "co"))
        with pytest.raises(AssertionError, match="without a callback"), r.transaction():
            write_directory_to_mtree(r, str(tree), MutableTree(), progress=lambda e: None)
        with pytest.raises(AssertionError, match="without a callback"):
            checkout(r, csum, str(workdir / "co2"), progress=lambda e: None)


@pytest.mark.parametrize("force_copy", [False, True])
def test_checkout_files(workdir, force_copy):
    tree = workdir / "tree"
    write_tree(tree)
    with Repo.init(str(workdir / "repo"), "bare") as r:
        csum = _commit(r, tree, "main", [])
        events: List[ProgressEvent] = []
        dest = workdir / "co"
        checkout(r, csum, str(dest), CheckoutOptions(force_copy=force_copy), progress=events.append)
    assert events and all(type(e) is FileCheckedOut for e in events)
    listed = ls_files(workdir / "repo", csum)
    assert sorted(e.path for e in events) == sorted(listed)
    for e in events:
        st = os.lstat(dest / e.path.lstrip("/"))
        # a hard link into the repository has more than one name; a copy one
        assert (st.st_nlink > 1) == e.hardlinked, e
        if force_copy:
            assert not e.hardlinked
    if not force_copy:
        by_path = {e.path: e for e in events}
        assert by_path["/usr/share/big"].hardlinked and not by_path["/usr/share/empty"].hardlinked


def _fsck_total(repo: Path) -> int:
    out = ostree(repo, "fsck").stdout
    m = re.findall(r"fsck objects \((\d+)/(\d+)\)", out)
    assert m, out
    assert m[-1][0] == m[-1][1]
    return int(m[-1][1])


def test_fsck_counts_as_ostree(workdir):
    tree = workdir / "tree"
    write_tree(tree)
    repo = workdir / "repo"
    with Repo.init(str(repo), "bare") as r:
        _commit(r, tree, "one", [])
        (tree / "usr/share/new").write_text("new\n")
        _commit(r, tree, "two", [])
        events: List[ProgressEvent] = []
        res = fsck(r, progress=events.append)
    assert res.ok and events[0] == FsckStarted(2, _fsck_total(repo))
    events = events[1:]
    assert events and all(type(e) is ObjectChecked for e in events)
    total = _fsck_total(repo)
    assert [e.done for e in events] == list(range(1, total + 1))
    assert {e.total for e in events} == {total} and all(e.ok for e in events)
    assert len({(e.checksum, e.object_type) for e in events}) == total
    assert sorted(e.checksum for e in events if e.object_type == "commit") == sorted(
        ostree(repo, "rev-parse", ref).stdout.strip() for ref in ("one", "two"))


def test_fsck_reports_the_corrupt_object(workdir):
    tree = workdir / "tree"
    write_tree(tree)
    repo = workdir / "repo"
    with Repo.init(str(repo), "bare") as r:
        csum = _commit(r, tree, "one", [])
    # the real ostree names the file's object; its content is changed in place
    fcsum = ostree(repo, "ls", "-RC", csum, "/usr/share/big").stdout.split()[4]
    path = repo / "objects" / fcsum[:2] / (fcsum[2:] + ".file")
    data = bytearray(path.read_bytes())
    data[10] ^= 1
    os.chmod(path, 0o644)
    path.write_bytes(bytes(data))
    assert ostree(repo, "fsck", "--all", check=False).returncode != 0
    with Repo.open(str(repo)) as r:
        events: List[ProgressEvent] = []
        res = fsck(r, progress=events.append)
    bad = [e for e in events if isinstance(e, ObjectChecked) and not e.ok]
    assert [(e.checksum, e.object_type) for e in bad] == [(fcsum, "file")]
    assert [p.checksum for p in res.problems] == [fcsum]


def test_prune_events_as_ostree(workdir):
    tree = workdir / "tree"
    write_tree(tree)
    repo = workdir / "repo"
    with Repo.init(str(repo), "bare") as r:
        _commit(r, tree, "keep", [])
        (tree / "usr/share/gone").write_bytes(os.urandom(5000))
        _commit(r, tree, "drop", [])
        r.set_ref("drop", None)
    would = ostree(repo, "prune", "--refs-only", "--no-prune").stdout
    m = re.search(r"Would delete: (\d+) objects", would)
    assert m, would
    with Repo.open(str(repo)) as r:
        events: List[ProgressEvent] = []
        dry = prune(r, refs_only=True, no_prune=True, progress=events.append)
        assert events and all(type(e) is ObjectPruned and not e.deleted for e in events)
        assert len(events) == dry.n_objects_pruned == int(m.group(1))
        assert sum(e.size for e in events) == dry.freed_bytes
        found = {(e.checksum, e.object_type) for e in events}
        events.clear()
        res = prune(r, refs_only=True, progress=events.append)
        assert {(e.checksum, e.object_type) for e in events} == found and all(e.deleted for e in events)
        assert res.n_objects_pruned == len(found)
    for csum, objtype in found:
        assert not (repo / "objects" / csum[:2] / f"{csum[2:]}.{objtype}").exists()
    assert "no errors found" in ostree(repo, "fsck").stdout
