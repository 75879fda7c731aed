"""The commit image written from a stream of inode records (composefs/stream.py): the same bytes as
the whole tree's writer (and upstream ostree's checkout), in memory that does not grow with the files."""

from __future__ import annotations

import os
import subprocess
import tracemalloc

import pytest

from ostreepy import porcelain
from ostreepy.composefs import commit_image as ci, stream
from ostreepy.composefs.erofs import write_image
from ostreepy.store import spill
from ostreepy.store.repo import Repo

TIMESTAMP = 1700000000


def _set(path, key: str, value: bytes) -> None:
    try:
        os.setxattr(path, key, value, follow_symlinks=False)
    except OSError:
        pytest.skip(f"this filesystem refuses the xattr {key}")


def rich_tree(root) -> None:
    """Objects shared by several files (same redirect and digest), a content shared by two
    objects (same digest, another mode), xattrs shared and unique (and an overlay one, escaped),
    empty files and directories, symlinks short, long and spilled to a block, names of 255 bytes
    and names sorting before ".", and a directory of several blocks; no ``boot`` (added)."""
    for d in ("usr/bin", "usr/lib/deep/er", "usr/share/empty", "etc", "var/big", "x"):
        os.makedirs(root / d)
    for i, d in enumerate(("usr/bin", "usr/lib", "etc", "var/big")):
        (root / d / "same").write_bytes(b"the same content\n")
        (root / d / f"own{i}").write_bytes(b"own %d\n" % i * (i * 900 + 1))
    (root / "etc/same-other-mode").write_bytes(b"the same content\n")
    (root / "usr/bin/huge").write_bytes(bytes(range(256)) * 64 * 20)
    (root / "etc/empty").write_bytes(b"")
    (root / "usr/lib/deep/er/-dash").write_bytes(b"d")
    (root / "usr/lib/deep/er/!bang").write_bytes(b"b")
    (root / "usr/lib/deep/er/+plus").mkdir()
    (root / "x" / ("n" * 255)).write_bytes(b"long name")
    os.symlink("same", root / "usr/bin/link")
    os.symlink("/" + "t" * 300, root / "usr/long")
    os.symlink("/" + "s" * 4000, root / "usr/spilled")
    for i in range(300):
        (root / "var/big" / (f"{i:04d}" + "e" * 180)).write_bytes(b"%d" % (i % 7))
    for p in ("etc/own2", "usr/lib/own1", "usr/bin/own0"):
        _set(root / p, "user.label", b"shared label")
    _set(root / "usr/bin/huge", "user.unique", b"only here")
    _set(root / "usr/share", "user.label", b"shared label")
    _set(root / "usr/bin/huge", "trusted.overlay.thing", b"escaped")
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for f in filenames:
            if not os.path.islink(os.path.join(dirpath, f)):
                os.chmod(os.path.join(dirpath, f), 0o644)
    os.chmod(root / "etc/same-other-mode", 0o600)


def _images(repo, verity: ci.Verity) -> tuple[bytes, bytes, bytes, bytes]:
    with Repo.open(str(repo)) as r:
        c = r.load_commit(r.resolve_rev("main"))
        old: list[bytes] = []
        old_digest = write_image(ci._tree(r, c.root_tree, c.root_meta, verity), old.append, consume=True)
        new: list[bytes] = []
        new_digest = ci._write(r, c.root_tree, c.root_meta, verity, False, new.append, True)
    return b"".join(old), old_digest, b"".join(new), new_digest


@pytest.mark.parametrize("mode", ["bare", "bare-user", "archive"])
def test_stream_writes_the_trees_image(tmp_path, mode) -> None:
    rich_tree(tmp_path / "tree")
    repo = tmp_path / "repo"
    Repo.init(str(repo), mode).close()
    porcelain.commit(str(repo), str(tmp_path / "tree"), branch="main", timestamp=TIMESTAMP, owner_uid=0,
                     owner_gid=0)
    for verity in (ci.Verity.NO, ci.Verity.MAYBE, ci.Verity.YES):
        old, old_digest, new, new_digest = _images(repo, verity)
        assert new == old and new_digest == old_digest
        assert len(new) > 20 * 4096   # (the big directory's blocks, the spilled symlink's)


def test_stream_as_upstream_ostree_checks_out(tmp_path) -> None:
    import upstream_peer
    if not upstream_peer.available():
        pytest.skip("upstream ostree 2026.4 not installed")
    rich_tree(tmp_path / "tree")
    repo = tmp_path / "repo"
    Repo.init(str(repo), "bare-user").close()
    porcelain.commit(str(repo), str(tmp_path / "tree"), branch="main", timestamp=TIMESTAMP, owner_uid=0,
                     owner_gid=0, generate_composefs_metadata=True)
    ostree = upstream_peer.peer_bin("ostree")
    for flag, verity in (("--composefs", True), ("--composefs-noverity", False)):
        porcelain.checkout_composefs(str(repo), "main", tmp_path / "ours.cfs", verity=verity)
        subprocess.run([ostree, "checkout", f"--repo={repo}", flag, "main", str(tmp_path / "peer.cfs")],
                       check=True, cwd=tmp_path)
        assert (tmp_path / "ours.cfs").read_bytes() == (tmp_path / "peer.cfs").read_bytes()
        os.unlink(tmp_path / "peer.cfs")


def test_maybe_on_a_filesystem_without_fsverity_takes_the_lstat_path(monkeypatch) -> None:
    """Verity.MAYBE (a deploy's) where the objects' filesystem has no fs-verity (tmpfs: the first
    object's measure says so): the rest cost an lstat and a listxattr each, as with Verity.NO, and
    the image is the NO one (no digest to be had)."""
    import shutil
    import tempfile
    from pathlib import Path
    if not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm")
    base = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        rich_tree(base / "tree")
        repo = base / "repo"
        Repo.init(str(repo), "bare").close()
        porcelain.commit(str(repo), str(base / "tree"), branch="main", timestamp=TIMESTAMP, owner_uid=0,
                         owner_gid=0)
        opened = []
        real = ci._Builder._bare_regular

        def spy(self, checksum):
            opened.append(checksum)
            return real(self, checksum)

        monkeypatch.setattr(ci._Builder, "_bare_regular", spy)
        old, old_digest, new, new_digest = _images(repo, ci.Verity.MAYBE)
        assert new == old and new_digest == old_digest
        assert new == _images(repo, ci.Verity.NO)[2]
        assert len(opened) < 20   # (the old writer's walk, then this one's: the first directory's each)
    finally:
        shutil.rmtree(base)


def test_stream_without_a_scratch_file(tmp_path, monkeypatch) -> None:
    """No TMPDIR to write to: the runs stay in memory, the image is the same."""
    rich_tree(tmp_path / "tree")
    repo = tmp_path / "repo"
    Repo.init(str(repo), "bare").close()
    porcelain.commit(str(repo), str(tmp_path / "tree"), branch="main", timestamp=TIMESTAMP, owner_uid=0,
                     owner_gid=0)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "missing"))
    monkeypatch.setattr(stream, "_RUN", 7)
    monkeypatch.setattr(stream, "_RUN_DIRS", 2)
    monkeypatch.setattr(spill, "_PAGE", 64)
    old, old_digest, new, new_digest = _images(repo, ci.Verity.NO)
    assert new == old and new_digest == old_digest


def _flat_tree(root, n: int) -> None:
    for i in range(n):
        d = root / f"d{i // 50:04d}"
        if i % 50 == 0:
            d.mkdir(parents=True)
        (d / f"file-{i:06d}").write_bytes(b"%d\n" % i)


def _peak(repo) -> int:
    with Repo.open(str(repo)) as r:
        c = r.load_commit(r.resolve_rev("main"))
        tracemalloc.start()
        try:
            ci._write(r, c.root_tree, c.root_meta, ci.Verity.NO, False, None, False)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


def test_stream_memory_does_not_grow_with_the_files(tmp_path, monkeypatch) -> None:
    """The builder's peak for 4N files is its peak for N but for ~5 bytes an inode (its number in
    the image, its file type) and a directory's share: with its constant buffers made small (a run of
    records, the pages of the repeated-key buckets, the nodes kept of objects met, the writer's
    buffer), so that N fills them."""
    from ostreepy.composefs import erofs
    monkeypatch.setattr(stream, "_RUN", 32)
    monkeypatch.setattr(stream, "_RUN_DIRS", 4)
    monkeypatch.setattr(spill, "_PAGE", 128)
    monkeypatch.setattr(erofs, "_FLUSH", 4096)
    monkeypatch.setattr(stream, "_NAMES_RUN", 256)
    monkeypatch.setattr(stream, "_SEEN_MAX", 32)
    peaks = []
    for n in (600, 2400):
        tree, repo = tmp_path / f"t{n}", tmp_path / f"r{n}"
        _flat_tree(tree, n)
        Repo.init(str(repo), "bare").close()
        porcelain.commit(str(repo), str(tree), branch="main", timestamp=TIMESTAMP, no_xattrs=True)
        peaks.append(_peak(repo))
    # (the whole tree's writer: ~300 bytes a file)
    assert peaks[1] - peaks[0] < 1800 * 20, peaks
