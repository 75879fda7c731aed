"""Committing a directory that holds the repository itself, as ostree's own
test-signed-commit.sh and test-commit-timestamp.sh do (``commit .`` with
``repo/`` inside): the objects written while the tree is walked must not show
up as files that vanish under the walk. Metadata objects are written through
anonymous O_TMPFILE files, as libostree writes them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_commit_of_a_tree_holding_the_repo(tmp_path: Path) -> None:
    top = tmp_path / "top"
    for i in range(60):
        d = top / f"d{i:02d}" / "sub"
        d.mkdir(parents=True)
        (d / "f").write_text(f"{i}\n")
    for mode in ("archive", "bare-user"):
        repo = top / f"repo-{mode}"
        subprocess.run([sys.executable, "-m", "ostreepy", f"--repo={repo}", "init", f"--mode={mode}"], check=True)
        for n in range(3):
            p = subprocess.run([sys.executable, "-m", "ostreepy", f"--repo={repo}", "commit", "-b", f"b{n}",
                                "--fsync=false", "."], cwd=top, capture_output=True, text=True)
            assert p.returncode == 0, p.stderr
        assert not list((repo / "tmp").glob("tmpobj-*"))
        fsck = subprocess.run(["ostree", f"--repo={repo}", "fsck"], capture_output=True, text=True)
        assert fsck.returncode == 0, fsck.stderr


def test_metadata_objects_are_written_through_anonymous_files(tmp_path: Path, monkeypatch) -> None:
    """The mechanism the test above depends on, checked directly: no metadata
    object passes through a named file under ``tmp/`` (on a filesystem with
    O_TMPFILE, as this one's tmp directory is)."""
    import os

    from ostreepy.store.objects import DirMeta, ObjectType
    from ostreepy.store.repo import Repo
    named = []
    real_open = os.open

    def spy(path, flags, *a, **kw):  # type: ignore[no-untyped-def]
        if isinstance(path, str) and "/tmp/" in path and flags & os.O_CREAT:
            named.append(path)
        return real_open(path, flags, *a, **kw)

    with Repo.init(str(tmp_path / "repo"), "bare-user") as repo:
        monkeypatch.setattr(os, "open", spy)
        csum = repo.write_dirmeta(DirMeta(uid=0, gid=0, mode=0o40755))
        with repo.transaction():
            repo.write_dirmeta(DirMeta(uid=0, gid=0, mode=0o40700))
        monkeypatch.undo()
        assert repo.has_object(csum, ObjectType.DIR_META)
    assert not [p for p in named if os.path.basename(p).startswith("tmpobj-")], named
