"""Commits that write each finished directory early (flat memory at any size), against ostree.

A commit seals a directory (writes its dirtree, keeps only the checksum) as
soon as it is finished; a tar that comes back to a sealed directory reloads it.
Either way the checksums must be ostree's, and nothing extra may be written.
"""

from __future__ import annotations

import gc
import io
import os
import subprocess
import sys
import tarfile
import weakref

import pytest

from ostreepy.store.commit import create_commit, write_directory_to_mtree, write_mtree, write_tar_to_mtree
from ostreepy.store.mtree import MutableTree
from ostreepy.store.objects import ObjectType
from ostreepy.store.repo import Repo


def ostree(*args: object) -> str:
    return subprocess.run(["ostree", *map(str, args)], capture_output=True, text=True, check=True).stdout.strip()


def _ti(name: str, **kw: object) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.mtime = 0
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti


def _d(name: str) -> tuple:
    return _ti(name, type=tarfile.DIRTYPE, mode=0o755), None


def _f(name: str, data: bytes, mode: int = 0o644) -> tuple:
    return _ti(name, size=len(data), mode=mode), data


# not depth-first: ./a is left for ./b and then written to again, as is ./a/sub
ORDER = [_d("./"), _d("./a"), _f("./a/one", b"1"), _d("./a/sub"), _f("./a/sub/x", b"x" * 3000),
         _d("./b"), _f("./b/g", b"g"), _f("./a/two", b"2"), _f("./a/sub/y", b"y"),
         _d("./b/deep"), _d("./b/deep/er"), _f("./b/deep/er/z", os.urandom(2000)),
         (_ti("./b/hl", type=tarfile.LNKTYPE, linkname="./a/sub/x", mode=0o644), None),
         (_ti("./b/sym", type=tarfile.SYMTYPE, linkname="../a/one", mode=0o777), None),
         _f("./a/one", b"replaced")]


def _tar(entries: list) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for ti, data in entries:
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _commit_tar(repo: Repo, data: bytes, seal: bool = True) -> str:
    with repo.transaction():
        mt = write_tar_to_mtree(repo, io.BytesIO(data), MutableTree(), seal=seal)
        tree, meta = write_mtree(repo, mt)
        return create_commit(repo, tree, meta, subject="t", timestamp=0)


@pytest.mark.parametrize("entries", [ORDER, sorted(ORDER, key=lambda e: e[0].name)], ids=["revisits", "sorted"])
def test_tar_commit_matches_ostree_whatever_the_order(tmp_path, entries):
    data = _tar(entries)
    (tmp_path / "t.tar").write_bytes(data)
    ostree(f"--repo={tmp_path / 'theirs'}", "init", "--mode=bare")
    expected = ostree(f"--repo={tmp_path / 'theirs'}", "commit", "--orphan", "--no-bindings", "-s", "t",
                      "--timestamp=@0", f"--tree=tar={tmp_path / 't.tar'}")
    ours = Repo.init(str(tmp_path / "ours"), "bare")
    assert _commit_tar(ours, data) == expected
    # sealing early writes no dirtree that the commit does not use, when the tar is depth-first
    theirs_objs = sorted(Repo.open(str(tmp_path / "theirs")).list_objects())
    if entries is not ORDER:
        assert sorted(ours.list_objects()) == theirs_objs
    else:  # a revisited directory's first dirtree may be left over (prune takes it), nothing else
        extra = set(ours.list_objects()) - set(theirs_objs)
        assert all(t is ObjectType.DIR_TREE for _, t in extra)
        assert set(theirs_objs) <= set(ours.list_objects())
    ostree(f"--repo={ours.path}", "fsck")


@pytest.mark.parametrize("threads", [1, 4])
def test_directory_commit_keeps_only_open_directories(tmp_path, threads):
    src = tmp_path / "src"
    for i in range(40):
        d = src / f"d{i % 5}" / f"e{i % 3}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}").write_bytes(os.urandom(i * 50))
    os.symlink("d0", src / "link")
    repo = Repo.init(str(tmp_path / "ours"), "bare")
    with repo.transaction():
        mt = write_directory_to_mtree(repo, str(src), MutableTree(), threads=threads)
        # every subdirectory is already written and dropped: only its checksum is held
        for name, sub in mt._dirs.items():
            assert sub.contents_checksum is not None and not sub._dirs and not sub._files, name
            assert repo.has_object(sub.contents_checksum, ObjectType.DIR_TREE)
        tree, meta = write_mtree(repo, mt)
        ours = create_commit(repo, tree, meta, subject="t", timestamp=0)
    ostree(f"--repo={tmp_path / 'theirs'}", "init", "--mode=bare")
    assert ours == ostree(f"--repo={tmp_path / 'theirs'}", "commit", "--orphan", "--no-bindings", "-s", "t",
                          "--timestamp=@0", str(src))
    assert sorted(repo.list_objects()) == sorted(Repo.open(str(tmp_path / "theirs")).list_objects())


def test_several_sources_write_what_ostree_writes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for root, n in ((a, 3), (b, 2)):
        for i in range(n):
            (root / "usr" / f"d{i}").mkdir(parents=True)
            (root / "usr" / f"d{i}" / f"{root.name}{i}").write_text(root.name)
    ostree(f"--repo={tmp_path / 'theirs'}", "init", "--mode=bare")
    subprocess.run([sys.executable, "-m", "ostreepy", f"--repo={tmp_path / 'ours'}", "init", "--mode=bare"],
                   check=True)
    args = ["commit", "--orphan", "--no-bindings", "-s", "t", "--timestamp=@0", f"--tree=dir={a}", f"--tree=dir={b}"]
    expected = ostree(f"--repo={tmp_path / 'theirs'}", *args)
    got = subprocess.run([sys.executable, "-m", "ostreepy", f"--repo={tmp_path / 'ours'}", *args],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert got == expected
    assert (sorted(Repo.open(str(tmp_path / "ours")).list_objects())
            == sorted(Repo.open(str(tmp_path / "theirs")).list_objects()))


def test_a_sealed_tree_reopens_from_the_repo(tmp_path):
    repo = Repo.init(str(tmp_path / "r"), "bare")
    whole = MutableTree()
    sealed = MutableTree()
    meta = ostree_meta = None
    with repo.transaction():
        from ostreepy.store.objects import DirMeta, FileHeader
        ostree_meta = repo.write_dirmeta(DirMeta(0, 0, 0o40755, ()))
        f1 = repo.write_content_bytes(FileHeader(0, 0, 0o100644, "", ()), b"1")
        f2 = repo.write_content_bytes(FileHeader(0, 0, 0o100644, "", ()), b"2")
        for t in (whole, sealed):
            t.meta = ostree_meta
            sub = t.ensure_dir("usr")
            sub.meta = ostree_meta
            sub.ensure_dir("lib").meta = ostree_meta
            sub.replace_file("one", f1)
        sealed.seal(repo)
        assert sealed.contents_checksum is not None
        for t in (whole, sealed):  # later changes to a sealed tree load it back first
            t.walk(["usr"]).replace_file("two", f2)
            t.walk(["usr", "lib"]).replace_file("x", f1)
        meta = write_mtree(repo, whole)
        assert write_mtree(repo, sealed) == meta
    assert sealed.lookup("usr")[1].lookup("two")[0] == f2


def test_tar_import_leaves_no_cycle_holding_its_stream(tmp_path):
    """The stream (for an image layer: its decompressor and buffers) is freed as soon as
    the import lets go of it, not at some later full garbage collection."""
    class Stream(io.BytesIO):
        pass

    repo = Repo.init(str(tmp_path / "r"), "bare")
    stream = Stream(_tar(sorted(ORDER, key=lambda e: e[0].name)))
    ref = weakref.ref(stream)
    gc.disable()
    try:
        with repo.transaction():
            write_tar_to_mtree(repo, stream, MutableTree())
        del stream
        assert ref() is None
    finally:
        gc.enable()


def test_small_files_held_as_views_keep_memory_bounded(tmp_path):
    """Small files wait for the writers as views of the stream's 1 MB chunks, each chunk
    counted whole against the pending limit: a tar that puts every small file in a chunk of
    its own (a small file, then a big one, and again) still holds a few MB, not a chunk per
    small file, and commits what ostree commits."""
    import tracemalloc
    rng = os.urandom
    entries = [_d("./"), _d("./d")]
    for i in range(24):
        entries += [_f(f"./d/s{i:02}", rng(3000)), _f(f"./d/t{i:02}", rng((1 << 20) + 4096))]
    path = tmp_path / "t.tar"
    path.write_bytes(_tar(entries))
    ostree(f"--repo={tmp_path / 'theirs'}", "init", "--mode=bare")
    expected = ostree(f"--repo={tmp_path / 'theirs'}", "commit", "--orphan", "--no-bindings", "-s", "t",
                      "--timestamp=@0", f"--tree=tar={path}")
    repo = Repo.init(str(tmp_path / "ours"), "bare")
    tracemalloc.start()
    try:
        with open(path, "rb") as f, repo.transaction():
            mt = write_tar_to_mtree(repo, f, MutableTree())
            tree, meta = write_mtree(repo, mt)
            got = create_commit(repo, tree, meta, subject="t", timestamp=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got == expected
    assert peak < 16 << 20, peak
