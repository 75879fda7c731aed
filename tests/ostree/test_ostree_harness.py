"""Checks of the test harness itself (the edge tree really has its edge cases),
using only the real ostree as the judge."""

import os
import stat

from . import treebuilder
from .conftest import REF, object_path
from .treecompare import assert_same_tree, diff, snapshot, transform


def test_edge_tree_has_the_edge_cases(edge_tree, edge_snapshot):
    s = edge_snapshot
    assert s["empty"].sha256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert os.path.getsize(edge_tree / "large.bin") > 4 * 1024 * 1024
    assert len(os.listdir(edge_tree / "many")) > 300
    assert sum(1 for p in s if p.startswith("deep/")) > treebuilder.DEEP_LEVELS
    assert {s[p].target for p in s if p.startswith("links/")} >= {"../hello.txt", "/etc/passwd", "does/not/exist", "../many"}
    assert not os.path.exists(edge_tree / "links/dangling")
    assert os.path.isdir(edge_tree / "links/dirlink")
    assert s["setuid"].mode & stat.S_ISUID and s["setgid"].mode & stat.S_ISGID
    assert s["sticky"].mode & stat.S_ISVTX and s["stickydir"].mode & stat.S_ISVTX
    assert s["mode0000"].mode == 0 and s["mode0dir"].mode == 0
    assert (s["owned-1000"].uid, s["owned-1000"].gid) == (1000, 1000)
    assert (s["otherdir"].uid, s["otherdir"].gid) == (1234, 5678)
    assert s["links/owned"].uid == 1000
    xa = dict(s["xattrs.txt"].xattrs)
    assert b"\x00" in xa["user.bin"] and len(xa) >= 3
    assert dict(s["xattrdir"].xattrs)["user.dir"] == b"\x00dir\x00"
    assert dict(s[""].xattrs)  # root directory xattrs
    # zero-length values are not part of a snapshot (ostree never stores them)
    assert os.getxattr(edge_tree / "xattr-empty-value", "user.emptyval") == b""
    assert dict(s["xattr-empty-value"].xattrs) == {"user.nonempty": b"v"}
    st = os.stat(edge_tree / "hardlink-a")
    assert st.st_nlink == 3 and os.stat(edge_tree / "many/hardlink-b").st_ino == st.st_ino
    assert any(any(ord(c) > 127 for c in p) for p in s)


def test_snapshot_diff_is_readable(edge_snapshot):
    changed = dict(edge_snapshot)
    changed["hello.txt"] = changed["hello.txt"]._replace(mode=0o600)
    del changed["empty"]
    d = diff(edge_snapshot, changed)
    assert any("/hello.txt" in line and "00644" in line and "00600" in line for line in d)
    assert any(line.startswith("missing") and "/empty" in line for line in d)
    assert diff(edge_snapshot, edge_snapshot) == []


def test_many_dirtree_needs_two_byte_offsets(edge_repos, ostree):
    repo, _ = edge_repos.get("ostree", "bare")
    cols = ostree.run("ls", "-dC", REF, "/many", repo=repo).out.split()
    size = os.path.getsize(object_path(repo, cols[4], "dirtree"))
    assert 256 <= size < 65536, size


def test_edge_tree_survives_ostree_round_trip(edge_repos, ostree, edge_snapshot, tmp_path):
    """The reference itself: ostree commit + checkout reproduces the tree (bare, as root)."""
    repo, _ = edge_repos.get("ostree", "bare")
    ostree.run("checkout", REF, tmp_path / "co", repo=repo)
    assert_same_tree(edge_snapshot, snapshot(tmp_path / "co"), "ostree checkout of its own bare repo")


def test_tar_matches_tree_for_ostree(ostree, edge_tree, edge_tar, tmp_path):
    """ostree sees the same tree in the tar as in the directory: same root dirtree and dirmeta."""
    repo = ostree.init(tmp_path / "repo", "bare-user")
    ostree.commit(repo, tree=edge_tree, branch="dir")
    ostree.commit(repo, f"--tree=tar={edge_tar}", branch="tar")
    a = ostree.run("ls", "-RCX", "dir", repo=repo).out
    b = ostree.run("ls", "-RCX", "tar", repo=repo).out
    assert a == b


def test_transform_for_user_mode(edge_snapshot):
    t = transform(edge_snapshot, user_mode=True)
    assert t["setuid"].mode == 0o755 and t["setuid"].uid is None and t["xattrs.txt"].xattrs == ()
