"""fsck, prune and the composefs image hold no key per file object: the keys a walk reaches
go to buckets whose full pages live in a temporary file (``store.spill.SpilledKeys``)."""

from __future__ import annotations

import hashlib
import os

import pytest

from ostreepy.store import fsck as fsck_mod, spill
from ostreepy.store.repo import Repo, RepoMode


def _checksums(n: int) -> list[str]:
    return [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)]


def test_file_keys_give_every_distinct_checksum_once_in_binary_order():
    keys = spill.SpilledKeys(32)
    sums = _checksums(20_000)
    try:
        for s in sums + sums[::3]:  # repeats, as files shared between dirtrees and commits
            keys.add(bytes.fromhex(s))
        in_memory = sum(len(t) for t in keys._tails)
        assert in_memory < 256 * spill._PAGE and keys._end > 0  # most of them spilled
        got = [k.hex() for k in keys.unique()]
        assert {k.hex() for k in keys.repeated()} == set(sums[::3])
        assert len(keys.bucket(0)) == 32 * sum(1 for s in sums + sums[::3] if s.startswith("00"))
    finally:
        keys.close()
    assert got == sorted(set(sums))


def test_keys_of_another_width_spill_in_whole_keys():
    keys = spill.SpilledKeys(70)  # a composefs redirect's width
    paths = [f"{s[:2]}/{s[2:]}.file".encode() for s in _checksums(3_000)]
    try:
        for p in paths + paths[:10]:
            keys.add(p)
        assert keys._end > 0 and keys._end % 70 == 0
        assert keys.repeated() == set(paths[:10])
        assert list(keys.unique()) == sorted(paths)
    finally:
        keys.close()


def test_file_keys_of_a_few_files_stay_in_memory():
    keys = spill.SpilledKeys(32)
    for s in _checksums(100):
        keys.add(bytes.fromhex(s))
    assert keys._file is None
    assert len(list(keys.unique())) == 100
    keys.close()


def test_fsck_checks_each_file_once_and_walks_again_only_for_a_bad_object(tmp_path, monkeypatch):
    tree = tmp_path / "tree"
    for d in range(5):
        (tree / f"d{d}").mkdir(parents=True)
        for f in range(40):
            (tree / f"d{d}" / f"f{f}").write_text(f"file {f % 30}\n")  # repeated contents
    repo = Repo.init(str(tmp_path / "repo"), RepoMode.BARE)
    from ostreepy import porcelain
    c1 = porcelain.commit(repo, str(tree), branch="a").checksum
    (tree / "d0" / "f0").write_text("changed\n")
    porcelain.commit(repo, str(tree), branch="b")
    checked = []
    real = fsck_mod.fsck_object
    monkeypatch.setattr(fsck_mod, "fsck_object", lambda r, c, t: (checked.append((c, t)), real(r, c, t))[1])
    walks = []
    real_walk = fsck_mod._walk_commit
    monkeypatch.setattr(fsck_mod, "_walk_commit", lambda *a: (walks.append(a[1]), real_walk(*a))[1])
    res = fsck_mod.fsck(repo)
    assert res.ok and res.n_commits == 2
    assert len(checked) == len(set(checked)) == res.n_objects
    assert len(walks) == 2  # no second walk when nothing is bad
    # a corrupt file shared by both commits: named with both, found by a second walk
    shared = repo.load_dirtree(repo.load_dirtree(repo.load_commit(c1).root_tree).dirs[1][1]).files[0][1]
    path = repo.object_path(shared, fsck_mod.ObjectType.FILE)
    os.chmod(path, 0o644)
    with open(path, "ab") as f:
        f.write(b"x")
    walks.clear()
    res = fsck_mod.fsck(repo)
    assert not res.ok and len(walks) == 4
    (problem,) = res.problems
    assert problem.checksum == shared and len(problem.commits) == 2


def test_file_keys_stay_in_memory_without_a_temporary_file(tmp_path, monkeypatch):
    """An unwritable TMPDIR does not fail a check: the keys stay in their buckets."""
    import tempfile

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied", str(tmp_path))

    monkeypatch.setenv("TMPDIR", str(tmp_path / "missing"))  # no O_TMPFILE there
    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)  # nor a named file elsewhere
    assert spill.scratch_file() is None
    keys = spill.SpilledKeys(32)
    sums = _checksums(60_000)
    try:
        for s in sums:
            keys.add(bytes.fromhex(s))
        assert keys._file is None and keys._in_memory
        assert [k.hex() for k in keys.unique()] == sorted(sums)
    finally:
        keys.close()


def _two_commits(tmp_path, n_files: int) -> tuple[str, str]:
    """A bare repository with two commits of ``n_files`` files each, a third of them changed."""
    import subprocess
    tree = tmp_path / "tree"
    for i in range(n_files):
        (tree / f"d{i % 7}").mkdir(parents=True, exist_ok=True)
        (tree / f"d{i % 7}" / f"f{i}").write_text(f"file {i}\n")
    repo = str(tmp_path / "repo")
    subprocess.run(["ostree", f"--repo={repo}", "init", "--mode=bare"], check=True)
    subprocess.run(["ostree", f"--repo={repo}", "commit", "-b", "old", str(tree)], check=True, capture_output=True)
    for i in range(0, n_files, 3):
        (tree / f"d{i % 7}" / f"f{i}").write_text(f"changed {i}\n")
    subprocess.run(["ostree", f"--repo={repo}", "commit", "-b", "new", str(tree)], check=True, capture_output=True)
    subprocess.run(["ostree", f"--repo={repo}", "refs", "--delete", "old"], check=True)
    return repo, str(tmp_path / "theirs")


def _objects(repo: str) -> set[str]:
    return {f"{d}/{n}" for d in os.listdir(f"{repo}/objects") for n in os.listdir(f"{repo}/objects/{d}")}


@pytest.mark.parametrize("ahead", [False, True])
def test_prune_holds_the_reachable_files_spilled_and_deletes_what_ostree_deletes(tmp_path, monkeypatch, ahead):
    """The walk's file objects go to spilled buckets (pages of two keys here, so that nearly all
    are in the scratch file), its metadata alone in memory; the sweep, by ``objects/xx/`` or by
    a listing made ahead (a deploy's), leaves what ostree's prune leaves."""
    import shutil
    import subprocess

    from ostreepy.store import prune as prune_mod
    monkeypatch.setattr(spill, "_PAGE", 64)
    repo, theirs = _two_commits(tmp_path, 600)
    shutil.copytree(repo, theirs, symlinks=True)
    r = Repo.open(repo)
    walked = prune_mod.walk_commit(r, r.resolve_rev("new"))
    assert walked is not None
    assert len(walked) < 20 and len(walked.files) == 600 and walked.files._end > 0
    listed = prune_mod.list_objects_ahead(r) if ahead else None
    res = prune_mod.prune(r, refs_only=True, depth=0, walked=walked, listed=listed)
    out = subprocess.run(["ostree", f"--repo={theirs}", "prune", "--refs-only", "--depth=0"],
                         capture_output=True, text=True, check=True).stdout
    assert f"Deleted {res.n_objects_pruned} objects" in out and res.n_objects_pruned > 200
    assert _objects(repo) == _objects(theirs)
    assert subprocess.run(["ostree", f"--repo={repo}", "fsck"], capture_output=True).returncode == 0
