"""The command line's consumers of the events: ``ostreepy fsck`` prints its
objects' progress as the real ``ostree fsck`` does, byte for byte, off a
terminal and on one (run under ``script``), with and without ``--quiet``."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

import pytest

from .conftest import ostree, run, write_tree


@pytest.fixture
def repo(workdir: Path) -> Path:
    tree = workdir / "tree"
    write_tree(tree)
    repo = workdir / "repo"
    ostree(repo, "init", "--mode=bare")
    ostree(repo, "commit", "-b", "one", "--timestamp=2024-01-01 00:00:00 +0000", str(tree))
    (tree / "usr/share/new").write_text("new\n")
    ostree(repo, "commit", "-b", "two", "--timestamp=2024-01-02 00:00:00 +0000", str(tree))
    return repo


@pytest.mark.parametrize("quiet", [False, True])
def test_fsck_output_as_ostree(repo, quiet):
    args = ["fsck"] + (["--quiet"] if quiet else [])
    ours = run(sys.executable, "-m", "ostreepy", f"--repo={repo}", *args).stdout
    theirs = ostree(repo, *args).stdout
    assert "fsck objects (" in theirs  # premise: the progress lines are there to compare
    assert ours == theirs


@pytest.mark.skipif(shutil.which("script") is None, reason="needs script(1) for a terminal")
@pytest.mark.parametrize("columns", [80, 22])
def test_fsck_bar_on_a_terminal_as_ostree(repo, columns):
    def on_tty(*argv: str) -> bytes:
        cmd = f"stty cols {columns}; " + " ".join(shlex.quote(a) for a in argv)
        return run("script", "-qec", cmd, "/dev/null").stdout.encode()

    theirs = on_tty("ostree", f"--repo={repo}", "fsck")
    assert b"\x1b8fsck objects" in theirs and b"] 100%" in theirs
    assert on_tty(sys.executable, "-m", "ostreepy", f"--repo={repo}", "fsck") == theirs
