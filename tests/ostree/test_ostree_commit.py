"""Commit: ostreepy must produce exactly ostree's checksums and objects, and
every repo it writes must pass `ostree fsck`."""

import os
import socket
import subprocess

import pytest

from . import treebuilder
from .conftest import (
    REF, TIMESTAMP, TIMESTAMP2, TIMESTAMP3,
    assert_error, assert_ostree_fsck_clean, object_files, object_path,
)


def _same_commit(ostree, ostreepy, tmp_path, mode, *args, tree=None, fsync=False, **kw):
    """Commits with both tools into fresh repos of ``mode``; returns (ref repo, py repo, checksum)."""
    ref_repo = ostree.init(tmp_path / "ostree-repo", mode, fsync=fsync)
    py_repo = ostreepy.init(tmp_path / "ostreepy-repo", mode, fsync=fsync)
    expected = ostree.commit(ref_repo, *args, tree=tree, **kw)
    got = ostreepy.commit(py_repo, *args, tree=tree, **kw)
    assert got == expected, f"commit checksum differs from ostree's ({mode}, args {args})"
    return ref_repo, py_repo, got


def test_commit_edge_tree(ostree, ostreepy, edge_tree, tmp_path, mode):
    args = ["-m", "A body\n\nwith two paragraphs", "--add-metadata-string=version=1.0",
            "--add-metadata-string=ünïcode=välue"]
    ref_repo, py_repo, csum = _same_commit(ostree, ostreepy, tmp_path, mode, *args, tree=edge_tree,
                                           subject="Edge tree ✓", fsync=True)
    assert object_files(py_repo) == object_files(ref_repo), "object sets differ"
    assert (py_repo / "refs/heads" / REF).read_text() == csum + "\n"
    assert_ostree_fsck_clean(ostree, py_repo)


@pytest.mark.parametrize("flags", [
    pytest.param(["--orphan"], id="orphan"),
    pytest.param(["--owner-uid=4242", "--owner-gid=2424"], id="owner"),
    pytest.param(["--owner-uid=0"], id="owner-uid-only"),
    pytest.param(["--canonical-permissions"], id="canonical"),
    pytest.param(["--no-xattrs"], id="no-xattrs"),
    pytest.param(["--parent=none", "--add-metadata-string=a=1", "--add-metadata-string=b=2"], id="metadata"),
    pytest.param(["--add-metadata=count=uint32 5", "--add-metadata=list=['a', 'b']", "--add-metadata=flag=true",
                  "--add-metadata=t=<(uint64 7, 'x')>", "--add-metadata-string=s=after typed"], id="typed-metadata"),
])
def test_commit_flags(ostree, ostreepy, edge_tree, tmp_path, mode, flags):
    branch = None if "--orphan" in flags else REF
    ref_repo, py_repo, csum = _same_commit(ostree, ostreepy, tmp_path, mode, *flags,
                                           tree=edge_tree, branch=branch)
    assert object_files(py_repo) == object_files(ref_repo), "object sets differ"
    if branch is None:
        assert not list((py_repo / "refs/heads").iterdir()), "--orphan without -b must not write a ref"
    assert_ostree_fsck_clean(ostree, py_repo)


def test_commit_tree_dir_option(ostree, ostreepy, edge_tree, tmp_path):
    _same_commit(ostree, ostreepy, tmp_path, "bare-user", f"--tree=dir={edge_tree}")


def test_commit_layered_trees(ostree, ostreepy, edge_tree, tmp_path):
    """Several --tree options are layered in order (later ones win)."""
    a = treebuilder.build_small_tree(tmp_path / "a", 1)
    b = treebuilder.build_small_tree(tmp_path / "b", 2)
    _same_commit(ostree, ostreepy, tmp_path, "archive", f"--tree=dir={a}", f"--tree=dir={b}",
                 f"--tree=dir={edge_tree}")


def test_commit_tree_ref_and_skip_if_unchanged(ostree, ostreepy, tmp_path, mode):
    tree = treebuilder.build_small_tree(tmp_path / "t")
    out = {}
    for name, tool in (("ostree", ostree), ("ostreepy", ostreepy)):
        repo = tool.init(tmp_path / f"{name}-repo", mode)
        c1 = tool.commit(repo, tree=tree)
        before = object_files(repo)
        # unchanged content: prints the existing commit, writes nothing
        c2 = tool.commit(repo, "--skip-if-unchanged", tree=tree, subject="again", timestamp=TIMESTAMP2)
        assert c2 == c1 and object_files(repo) == before, f"{name}: --skip-if-unchanged made a new commit"
        c3 = tool.commit(repo, f"--tree=ref={REF}", branch="copy", subject="from a ref")
        c4 = tool.commit(repo, tree=tree, branch="sde", timestamp=None, env={"SOURCE_DATE_EPOCH": "1700000000"})
        out[name] = [c1, c2, c3, c4]
    assert out["ostreepy"] == out["ostree"]


def test_concurrent_commits_into_one_repo(ostree, ostreepy, tmp_path, edge_tree):
    """ostree and ostreepy write into the same repo at the same time (shared repo lock)."""
    trees = [treebuilder.build_small_tree(tmp_path / f"t{i}", i) for i in range(2)]
    repo = ostree.init(tmp_path / "repo", "bare-user")
    procs = [subprocess.Popen(tool.argv + [f"--repo={repo}", "commit", "-b", f"b{i}", f"--timestamp={TIMESTAMP}", t],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i, (tool, t) in enumerate([(ostree, edge_tree), (ostreepy, edge_tree), (ostree, trees[0]),
                                            (ostreepy, trees[1])])]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    assert_ostree_fsck_clean(ostree, repo)
    assert ostree.rev_parse(repo, "b0") != ostree.rev_parse(repo, "b1")  # ref bindings differ


def test_init_twice_keeps_repo(ostree, ostreepy, tmp_path):
    for name, tool in (("ostree", ostree), ("ostreepy", ostreepy)):
        repo = tool.init(tmp_path / name, "bare", fsync=True)
        (repo / "config").write_text((repo / "config").read_text() + "[x]\ny=z\n")
        tool.run("init", "--mode=bare", repo=repo)  # idempotent, as scripts expect
    assert (tmp_path / "ostreepy/config").read_text() == (tmp_path / "ostree/config").read_text()


def test_commit_default_parent_and_explicit_parent(ostree, ostreepy, tmp_path, mode):
    trees = [treebuilder.build_small_tree(tmp_path / f"t{i}", i) for i in range(3)]
    results = {}
    for name, tool in (("ostree", ostree), ("ostreepy", ostreepy)):
        repo = tool.init(tmp_path / f"{name}-repo", mode)
        c1 = tool.commit(repo, tree=trees[0], subject="one", timestamp=TIMESTAMP)
        c2 = tool.commit(repo, tree=trees[1], subject="two", timestamp=TIMESTAMP2)  # parent: c1
        c3 = tool.commit(repo, "--orphan", tree=trees[2], subject="three", timestamp=TIMESTAMP3)  # no parent
        c4 = tool.commit(repo, f"--parent={c1}", tree=trees[2], branch="side", subject="four")
        c5 = tool.commit(repo, tree=trees[0], subject="one", timestamp=TIMESTAMP, branch="fresh")
        results[name] = (repo, [c1, c2, c3, c4, c5])
    ref_repo, expected = results["ostree"]
    py_repo, got = results["ostreepy"]
    assert got == expected
    # ostree reads ostreepy's parent links the way it wrote them
    assert ostree.rev_parse(py_repo, f"{REF}") == expected[2]
    assert ostree.rev_parse(py_repo, "side^") == expected[0]
    ostree.run("rev-parse", f"{REF}^", repo=py_repo, rc=1)
    assert_ostree_fsck_clean(ostree, py_repo)


def test_commit_twice_same_branch_parent(ostree, ostreepy, edge_tree, tmp_path, mode):
    """Second commit of the same edge tree to the same branch: parent is the first."""
    results = []
    for name, tool in (("ostree", ostree), ("ostreepy", ostreepy)):
        repo = tool.init(tmp_path / f"{name}-repo", mode)
        a = tool.commit(repo, tree=edge_tree, timestamp=TIMESTAMP)
        b = tool.commit(repo, tree=edge_tree, timestamp=TIMESTAMP2)
        results.append((a, b))
        assert tool.rev_parse(repo, f"{REF}^") == a
    assert results[1] == results[0]


def test_commit_into_ostree_made_repo_and_back(ostree, ostreepy, tmp_path, mode):
    """Both tools write into the same repo, one after the other."""
    trees = [treebuilder.build_small_tree(tmp_path / f"t{i}", i) for i in range(2)]
    repo = ostree.init(tmp_path / "shared", mode)
    c1 = ostree.commit(repo, tree=trees[0])
    c2 = ostreepy.commit(repo, tree=trees[1], timestamp=TIMESTAMP2)
    ref = ostree.init(tmp_path / "ref", mode)
    assert ostree.commit(ref, tree=trees[0]) == c1
    assert ostree.commit(ref, tree=trees[1], timestamp=TIMESTAMP2) == c2
    assert object_files(repo) == object_files(ref)
    assert_ostree_fsck_clean(ostree, repo)


def test_commit_tar(ostree, ostreepy, edge_tar, tmp_path, mode):
    ref_repo, py_repo, _ = _same_commit(ostree, ostreepy, tmp_path, mode, f"--tree=tar={edge_tar}")
    assert object_files(py_repo) == object_files(ref_repo), "object sets differ"
    assert_ostree_fsck_clean(ostree, py_repo)


@pytest.mark.stricter_than_ostree
def test_commit_tar_xattrs_are_canonical(ostree, ostreepy, edge_tar, edge_tar_unsorted_xattrs, tmp_path, mode):
    """Xattrs from a tar are hashed sorted, whatever order its PAX records are in.

    That is what current ostree does (upstream "core: canonicalize xattrs" sorts
    them in _ostree_file_header_new and ostree_create_directory_metadata).
    Debian's ostree 2022.7 predates it and hashes them in reverse archive order,
    so its commit of a tar with unsorted records differs, and in a bare repo even
    fails its own fsck.  ostreepy follows upstream: its commit of the unsorted tar
    equals 2022.7's commit of the same tree from a tar whose records 2022.7 ends
    up sorting, in every mode, and ostree fsck is clean.
    """
    ref_repo = ostree.init(tmp_path / "ostree-repo", mode)
    py_repo = ostreepy.init(tmp_path / "ostreepy-repo", mode)
    expected = ostree.commit(ref_repo, f"--tree=tar={edge_tar}")
    got = ostreepy.commit(py_repo, f"--tree=tar={edge_tar_unsorted_xattrs}")
    assert got == expected
    assert object_files(py_repo) == object_files(ref_repo), "object sets differ"
    assert_ostree_fsck_clean(ostree, py_repo)


def test_commit_tar_with_prefix_and_autocreate(ostree, ostreepy, tmp_path):
    """A tar without directory entries needs --tar-autocreate-parents."""
    import io
    import tarfile
    tar = tmp_path / "noparents.tar"
    with tarfile.open(tar, "w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in [("usr/bin/tool", b"tool\n"), ("usr/share/doc/readme", b"doc\n"), ("etc/conf", b"c\n")]:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = len(data), 0o755
            tf.addfile(ti, io.BytesIO(data))
    _same_commit(ostree, ostreepy, tmp_path, "bare-user", "--tar-autocreate-parents", f"--tree=tar={tar}")


def _special_tree(tmp_path, kind):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "fine").write_bytes(b"fine\n")
    p = tree / "special"
    if kind == "fifo":
        os.mkfifo(p)
    elif kind == "chardev":
        os.mknod(p, 0o600 | 0o020000, os.makedev(1, 3))
    elif kind == "blockdev":
        os.mknod(p, 0o600 | 0o060000, os.makedev(7, 0))
    elif kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        cwd = os.getcwd()
        os.chdir(tree)  # a relative bind keeps the address short
        try:
            s.bind("special")
        finally:
            os.chdir(cwd)
            s.close()
    return tree


@pytest.mark.parametrize("kind", ["fifo", "chardev", "blockdev", "socket"])
def test_commit_refuses_special_files(ostree, ostreepy, tmp_path, kind):
    tree = _special_tree(tmp_path, kind)
    for name, tool in (("ostree", ostree), ("ostreepy", ostreepy)):
        repo = tool.init(tmp_path / f"{name}-repo", "bare")
        res = tool.run("commit", "-b", REF, f"--timestamp={TIMESTAMP}", tree, repo=repo, rc=None)
        assert_error(res, "special")
        assert not (repo / "refs/heads" / REF).exists(), f"{name} wrote a ref despite the error"


def test_init_matches_ostree(ostree, ostreepy, tmp_path, mode):
    a = ostree.init(tmp_path / "a", mode, fsync=True)
    b = ostreepy.init(tmp_path / "b", mode, fsync=True)
    assert (b / "config").read_text() == (a / "config").read_text()
    listing = lambda r: sorted(str(p.relative_to(r)) for p in r.rglob("*") if p.is_dir())
    assert set(listing(a)) <= set(listing(b)) | {"tmp/cache"}, "directories missing from ostreepy's init"
    # ostree can use it
    tree = treebuilder.build_small_tree(tmp_path / "t")
    ostree.commit(b, tree=tree)
    assert_ostree_fsck_clean(ostree, b)


@pytest.mark.parametrize("timestamp", ["@1700000000", "2024-01-01T00:00Z", "2024-01-01 12:00:00 +0200",
                                       "2024-01-01", "2024-06-30T23:59:59+05:30", "1 Jan 2024 10:00 UTC"])
def test_commit_timestamp_formats(ostree, ostreepy, tmp_path, timestamp):
    tree = treebuilder.build_small_tree(tmp_path / "t")
    _same_commit(ostree, ostreepy, tmp_path, "bare", "--orphan", tree=tree, branch=None, timestamp=timestamp)


def test_commit_huge_directory(ostree, ostreepy, tmp_path):
    """A directory whose dirtree is over 64 KiB: four-byte framing offsets."""
    tree = tmp_path / "t"
    (tree / "huge").mkdir(parents=True)
    for i in range(1700):
        (tree / "huge" / f"entry-with-a-fairly-long-name-{i:05d}").write_bytes(b"same content\n" if i % 2 else b"")
    ref_repo, py_repo, _ = _same_commit(ostree, ostreepy, tmp_path, "bare-user", tree=tree)
    cols = ostree.run("ls", "-dC", REF, "/huge", repo=ref_repo).out.split()
    assert os.path.getsize(object_path(ref_repo, cols[4], "dirtree")) > 65535  # premise
    assert object_files(py_repo) == object_files(ref_repo)
    assert ostreepy.run("ls", "-RC", REF, repo=ref_repo).out == ostree.run("ls", "-RC", REF, repo=ref_repo).out
    assert_ostree_fsck_clean(ostree, py_repo)
