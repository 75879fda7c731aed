"""store.presence: a walk's "which of these files are here?" answers as has_object does,
whether a directory of objects/ is asked by lstat or read whole, in objects/, in a
transaction's staging directory and in a core.parent."""

from __future__ import annotations

import pytest

from ostreepy.store.objects import FileHeader, ObjectType
from ostreepy.store.presence import ObjectPresence
from ostreepy.store.repo import Repo

HEADER = FileHeader(0, 0, 0o100644)


def _write(repo: Repo, n: int, tag: str) -> list:
    # inside a transaction (or the caller's): one sync, not one per object
    with repo.transaction():
        return [repo.write_content_bytes(HEADER, f"{tag} {i}\n".encode()) for i in range(n)]


@pytest.mark.parametrize("mode", ["bare-user", "archive"])
def test_answers_as_has_object_in_objects_and_staging(tmp_path, mode):
    repo = Repo.init(str(tmp_path / "r"), mode)
    stored = _write(repo, 300, "stored")
    absent = [c[:2] + "f" * 62 for c in stored[:50]]  # same directories, not there
    with repo.transaction():
        staged = _write(repo, 40, "staged")
        asked = stored + staged + absent
        want = {c for c in asked if repo.has_object(c, ObjectType.FILE)}
        assert want == set(stored) | set(staged)
        p = ObjectPresence(repo)
        # one at a time, the first lookups of each directory go by lstat; a second round
        # finds every directory read whole: both give the same answers
        assert {c for c in asked if p.present([c])} == want
        assert p.present(asked) == want
        assert all(d.names is not None for d in p._dirs.values())
        # what a directory read did not see is answered absent (the caller fetches it again)
        later = _write(repo, 1, "later")[0]
        if later[:2] in p._dirs:
            assert p.present([later]) == set()
        assert ObjectPresence(repo).present([later]) == {later}


def test_a_parent_repository_is_asked_too(tmp_path):
    parent = Repo.init(str(tmp_path / "p"), "bare-user")
    only_parent = _write(parent, 5, "parent")
    child = Repo.init(str(tmp_path / "c"), "bare-user")
    child.config.set("core", "parent", str(tmp_path / "p"))
    child.write_config()
    child = Repo.open(str(tmp_path / "c"))
    own = _write(child, 200, "child")
    p = ObjectPresence(child)
    for _ in range(3):
        assert p.present(own + only_parent + ["0" * 64]) == set(own) | set(only_parent)


@pytest.mark.parametrize("mode", ["bare-user", "archive"])
def test_listed_answers_metadata_from_the_files_listings_only(tmp_path, mode):
    """A pull's walk asks whether its dirmetas and dirtrees are here of the listings read for
    its files: known present, known absent, or None (not listed: ask has_object)."""
    from ostreepy.store.objects import DirMeta, DirTree
    repo = Repo.init(str(tmp_path / "r"), mode)
    files = _write(repo, 300, "f")
    with repo.transaction():
        meta = repo.write_dirmeta(DirMeta(0, 0, 0o40755))
        tree = repo.write_dirtree(DirTree(files=(("a", files[0]),)))
    p = ObjectPresence(repo)
    assert p.listed(meta, ObjectType.DIR_META) is None  # nothing read yet
    # (absent names in the metadata's directories too, so that they are worth reading: a
    # checksum asked twice counts once)
    p.present(files + [prefix + fill * 62 for prefix in (meta[:2], tree[:2]) for fill in "e96"])
    assert p.listed(meta, ObjectType.DIR_META) is True
    assert p.listed(tree, ObjectType.DIR_TREE) is True
    assert p.listed(tree, ObjectType.DIR_META) is False  # a name, not a prefix of one
    assert p.listed(meta[:2] + "d" * 62, ObjectType.DIR_META) is False
    # with a core.parent, what the listing lacks may be there: asked of has_object
    repo.parent = Repo.init(str(tmp_path / "p"), mode)
    assert p.listed(meta[:2] + "d" * 62, ObjectType.DIR_META) is None


def test_load_loose_dirtree_opens_objects_only(tmp_path):
    from ostreepy.store.objects import DirTree
    repo = Repo.init(str(tmp_path / "r"), "bare-user")
    f = _write(repo, 1, "f")[0]
    with repo.transaction():
        stored = repo.write_dirtree(DirTree(files=(("a", f),)))
    assert repo.load_loose_dirtree(stored) == repo.load_dirtree(stored)
    assert repo.load_loose_dirtree("0" * 64) is None
    with repo.transaction():
        staged = repo.write_dirtree(DirTree(files=(("b", f),)))
        # staged in this transaction: not in objects/ yet, so the caller asks has_object
        assert repo.load_loose_dirtree(staged) is None and repo.has_object(staged, ObjectType.DIR_TREE)
    assert repo.load_loose_dirtree(staged) == DirTree(files=(("b", f),))
    # a corrupt one is refused as load_dirtree refuses it
    path = repo.object_path(stored, ObjectType.DIR_TREE)
    import os
    os.chmod(path, 0o644)
    with open(path, "ab") as fh:
        fh.write(b"x")
    from ostreepy.errors import ChecksumMismatchError
    with pytest.raises(ChecksumMismatchError):
        repo.load_loose_dirtree(stored)
