"""Checkout in both directions: ostreepy checks out ostree's repos, ostree checks
out ostreepy's; both must equal the source tree.  Options whose result is
harder to state from first principles are compared with ostree's own
checkout of the same repo."""

import os
import stat

import pytest

from . import treebuilder
from .conftest import REF, assert_error, copy_repo
from .treecompare import (
    EMPTY_SHA256, assert_same_tree, inode_groups, object_inodes, snapshot, subtree, transform,
)


def expected_checkout(source_snap, mode, user_mode=False):
    """What a checkout of the committed edge tree must look like (as root).

    bare-user-only: canonical permissions, and ostree always checks these out in user mode.
    -U from bare-user: files are hardlinks of the objects, with the objects' modes.
    """
    buo = mode == "bare-user-only"
    return transform(source_snap, canonical=buo, user_mode=user_mode, readable=buo,
                     bare_user_objects=(user_mode and mode == "bare-user"))


def user_view(snap):
    """A -U checkout as compared: owners are whoever ran it (not compared); the only
    xattr allowed is bare-user's own ``user.ostreemeta`` on hardlinked objects."""
    return {p: e._replace(uid=None, gid=None, xattrs=tuple(x for x in e.xattrs if x[0] != "user.ostreemeta"))
            for p, e in snap.items()}


def hardlinked_paths(dest, repo):
    objs = object_inodes(repo)
    return sorted(p for key, paths in inode_groups(dest).items() if key in objs for p in paths)


@pytest.mark.parametrize("writer,reader", [("ostree", "ostreepy"), ("ostreepy", "ostree")])
def test_checkout_equals_source(edge_repos, edge_snapshot, ostree, ostreepy, tmp_path, mode, writer, reader):
    repo, csum = edge_repos.get(writer, mode)
    tool = {"ostree": ostree, "ostreepy": ostreepy}[reader]
    dest = tmp_path / "co"
    tool.run("checkout", REF, dest, repo=repo)
    assert_same_tree(expected_checkout(edge_snapshot, mode), snapshot(dest),
                     f"{reader} checkout of a {mode} repo written by {writer}")


@pytest.mark.parametrize("writer,reader", [("ostree", "ostreepy"), ("ostreepy", "ostree")])
def test_checkout_by_checksum_user_mode(edge_repos, edge_snapshot, ostree, ostreepy, tmp_path, mode, writer, reader):
    """`checkout -U CHECKSUM`: no owners, no xattrs, no setuid/setgid on files."""
    repo, csum = edge_repos.get(writer, mode)
    tool = {"ostree": ostree, "ostreepy": ostreepy}[reader]
    dest = tmp_path / "co"
    tool.run("checkout", "-U", csum, dest, repo=repo)
    actual = snapshot(dest)
    assert actual["setuid"].mode == 0o755 and actual["setuidgid"].mode == 0o750
    assert_same_tree(expected_checkout(edge_snapshot, mode, user_mode=True),
                     user_view(actual), f"{reader} -U checkout of a {mode} repo by {writer}")


@pytest.mark.parametrize("writer,reader", [("ostree", "ostreepy"), ("ostreepy", "ostree")])
def test_hardlink_checkout_from_bare(edge_repos, edge_snapshot, ostree, ostreepy, tmp_path, writer, reader):
    """As root from a bare repo, `--require-hardlinks` shares inodes with objects/."""
    repo, _ = edge_repos.get(writer, "bare")
    tool = {"ostree": ostree, "ostreepy": ostreepy}[reader]
    dest = tmp_path / "co"
    tool.run("checkout", "--require-hardlinks", REF, dest, repo=repo)
    assert_same_tree(edge_snapshot, snapshot(dest), f"{reader} hardlink checkout")
    linked = hardlinked_paths(dest, repo)
    # every non-empty regular file is a hardlink of its object (ostree copies empty files)
    expected = sorted(p for p, e in edge_snapshot.items() if e.type == "-" and e.sha256 != EMPTY_SHA256)
    assert linked == expected
    # files with the same content share one inode
    st_a, st_c = os.stat(dest / "hardlink-a"), os.stat(dest / "many/hardlink-b")
    assert st_a.st_ino == st_c.st_ino and st_a.st_nlink >= 4


@pytest.mark.parametrize("mode", ["bare-user", "bare-user-only"])
@pytest.mark.parametrize("writer,reader", [("ostree", "ostreepy"), ("ostreepy", "ostree")])
def test_user_hardlink_checkout(edge_repos, edge_snapshot, ostree, ostreepy, tmp_path, mode, writer, reader):
    """`-U --require-hardlinks` from bare-user(-only): hardlinks, no setuid, no owners."""
    repo, _ = edge_repos.get(writer, mode)
    tool = {"ostree": ostree, "ostreepy": ostreepy}[reader]
    dest = tmp_path / "co"
    tool.run("checkout", "-U", "--require-hardlinks", REF, dest, repo=repo)
    actual = snapshot(dest)
    assert not any(e.mode & (stat.S_ISUID | stat.S_ISGID) for e in actual.values() if e.type == "-")
    assert_same_tree(expected_checkout(edge_snapshot, mode, user_mode=True), user_view(actual),
                     f"{reader} -U hardlink checkout of {mode}")
    linked = set(hardlinked_paths(dest, repo))
    assert "large.bin" in linked and "many/f100" in linked and "hello.txt" in linked
    # and exactly the same files are hardlinked as with ostree
    ref_dest = tmp_path / "ref-co"
    ostree.run("checkout", "-U", "--require-hardlinks", REF, ref_dest, repo=repo)
    assert sorted(linked) == hardlinked_paths(ref_dest, repo)


def test_user_checkout_copies_each_empty_file(ostree, ostreepy, tmp_path):
    """-U from bare-user copies empty files (one object must not collect every link) and
    links the rest: our walk tells an empty object by its name (the checksum of its
    header alone), so empties of several headers, and files with xattrs, are here."""
    tree = tmp_path / "tree"
    tree.mkdir()
    for name, mode, owner in (("e644", 0o644, 0), ("e755", 0o755, 0), ("e600", 0o600, 0),
                              ("e-owned", 0o644, 1000), ("e-suid", 0o4755, 0)):
        (tree / name).write_bytes(b"")
        os.chown(tree / name, owner, owner)
        os.chmod(tree / name, mode)
    (tree / "e-xattr").write_bytes(b"")
    os.setxattr(tree / "e-xattr", "user.a", b"1")
    (tree / "full-xattr").write_bytes(b"data\n")
    os.setxattr(tree / "full-xattr", "user.a", b"1")
    (tree / "full").write_bytes(b"data\n")
    (tree / "full755").write_bytes(b"data\n")
    os.chmod(tree / "full755", 0o755)
    os.chmod(tree, 0o755)
    repo = ostree.init(tmp_path / "repo", "bare-user")
    ostree.commit(repo, tree=tree)
    linked = {}
    for name, tool in (("ostree", ostree), ("ostreepy", ostreepy)):
        dest = tmp_path / name
        tool.run("checkout", "-U", REF, dest, repo=repo)
        linked[name] = hardlinked_paths(dest, repo)
    assert linked["ostreepy"] == linked["ostree"] == ["full", "full-xattr", "full755"]
    assert_same_tree(user_view(snapshot(tmp_path / "ostree")), user_view(snapshot(tmp_path / "ostreepy")))


@pytest.mark.parametrize("mode,args", [
    ("bare", ["-U", "--require-hardlinks"]),
    ("archive", ["--require-hardlinks"]),
    ("archive", ["-U", "--require-hardlinks"]),
])
def test_require_hardlinks_impossible(edge_repos, ostree, ostreepy, tmp_path, mode, args):
    repo, _ = edge_repos.get("ostree", mode)
    for name, tool in (("ostree", ostree), ("ostreepy", ostreepy)):
        res = tool.run("checkout", *args, REF, tmp_path / f"co-{name}", repo=repo, rc=None)
        assert_error(res)


def test_force_copy_from_bare(edge_repos, edge_snapshot, ostreepy, tmp_path):
    repo, _ = edge_repos.get("ostree", "bare")
    dest = tmp_path / "co"
    ostreepy.run("checkout", "--force-copy", REF, dest, repo=repo)
    assert_same_tree(edge_snapshot, snapshot(dest), "--force-copy checkout")
    assert hardlinked_paths(dest, repo) == []


@pytest.mark.parametrize("subpath", ["/many", "/deep/d00/d01", "/xattrdir", "/ünïcødé", "/hello.txt", "/setuid"])
def test_subpath(edge_repos, edge_snapshot, ostree, ostreepy, tmp_path, subpath):
    repo, _ = edge_repos.get("ostree", "bare-user")
    a, b = tmp_path / "ostree", tmp_path / "ostreepy"
    ostree.run("checkout", f"--subpath={subpath}", REF, a, repo=repo)
    ostreepy.run("checkout", f"--subpath={subpath}", REF, b, repo=repo)
    assert_same_tree(snapshot(a), snapshot(b), f"--subpath={subpath} checkout compared with ostree's")
    if edge_snapshot[subpath.strip("/")].type == "d":
        assert_same_tree(subtree(edge_snapshot, subpath), snapshot(b), f"--subpath={subpath}")


def test_checkout_into_existing_fails(edge_repos, ostree, ostreepy, tmp_path):
    repo, _ = edge_repos.get("ostree", "bare-user")
    for name, tool in (("ostree", ostree), ("ostreepy", ostreepy)):
        dest = tmp_path / name
        tool.run("checkout", REF, dest, repo=repo)
        res = tool.run("checkout", REF, dest, repo=repo, rc=None)
        assert_error(res)


def _prepare_existing(dest):
    """A destination with content that conflicts with the small tree."""
    os.makedirs(dest / "sub" / "mine")
    (dest / "a.txt").write_bytes(b"local version of a\n")       # conflicting file
    (dest / "local-only").write_bytes(b"local\n")                # extra file
    (dest / "sub" / "mine" / "x").write_bytes(b"x\n")            # extra file in a merged directory
    os.symlink("nowhere", dest / "link")                         # conflicting symlink


@pytest.mark.parametrize("union", ["--union", "--union-add", "--union-identical"])
@pytest.mark.parametrize("mode", ["bare", "archive"])
def test_union_modes_match_ostree(ostree, ostreepy, tmp_path, union, mode):
    tree = treebuilder.build_small_tree(tmp_path / "tree", 1)
    repo = ostree.init(tmp_path / "repo", mode)
    ostree.commit(repo, tree=tree)
    results = {}
    for name, tool in (("ostree", ostree), ("ostreepy", ostreepy)):
        dest = tmp_path / name
        _prepare_existing(dest)
        results[name] = tool.run("checkout", union, REF, dest, repo=repo, rc=None)
    if results["ostree"].rc != 0:
        assert_error(results["ostreepy"])
    else:
        assert results["ostreepy"].rc == 0, results["ostreepy"].err
    assert_same_tree(snapshot(tmp_path / "ostree"), snapshot(tmp_path / "ostreepy"),
                     f"checkout {union} over existing files, compared with ostree's")


def test_union_identical_accepts_identical(ostree, ostreepy, tmp_path):
    tree = treebuilder.build_small_tree(tmp_path / "tree", 1)
    repo = ostree.init(tmp_path / "repo", "bare-user")
    ostree.commit(repo, tree=tree)
    for name, tool in (("ostree", ostree), ("ostreepy", ostreepy)):
        dest = tmp_path / name
        tool.run("checkout", "-U", REF, dest, repo=repo)
        tool.run("checkout", "-U", "--require-hardlinks", "--union-identical", REF, dest, repo=repo)
    assert_same_tree(snapshot(tmp_path / "ostree"), snapshot(tmp_path / "ostreepy"))


def _layer_trees(tmp_path):
    base = tmp_path / "base"
    os.makedirs(base / "opaque" / "old")
    os.makedirs(base / "keepdir")
    (base / "victim").write_bytes(b"to be removed\n")
    (base / "keepdir" / "victim2").write_bytes(b"also removed\n")
    (base / "keepdir" / "stays").write_bytes(b"stays\n")
    (base / "opaque" / "old" / "file").write_bytes(b"old\n")
    (base / "opaque" / "oldfile").write_bytes(b"old\n")
    (base / "victimdir").mkdir()
    (base / "victimdir" / "f").write_bytes(b"f\n")
    layer = tmp_path / "layer"
    os.makedirs(layer / "opaque")
    os.makedirs(layer / "keepdir")
    (layer / ".wh.victim").write_bytes(b"")
    (layer / ".wh.victimdir").write_bytes(b"")
    (layer / "keepdir" / ".wh.victim2").write_bytes(b"")
    (layer / "opaque" / ".wh..wh..opq").write_bytes(b"")
    (layer / "opaque" / "new").write_bytes(b"new\n")
    (layer / "added").write_bytes(b"added\n")
    for d in (base, layer):
        for dirpath, dirnames, _ in os.walk(d):
            os.chmod(dirpath, 0o755)
    return base, layer


def test_whiteouts_match_ostree(ostree, ostreepy, tmp_path):
    base, layer = _layer_trees(tmp_path)
    repo = ostree.init(tmp_path / "repo", "bare-user")
    ostree.commit(repo, tree=base, branch="base")
    ostree.commit(repo, tree=layer, branch="layer")
    for name, tool in (("ostree", ostree), ("ostreepy", ostreepy)):
        dest = tmp_path / f"co-{name}"
        tool.run("checkout", "-U", "base", dest, repo=repo)
        tool.run("checkout", "-U", "--union", "--whiteouts", "layer", dest, repo=repo)
    a, b = snapshot(tmp_path / "co-ostree"), snapshot(tmp_path / "co-ostreepy")
    assert "victim" not in a and "opaque/old" not in a and "opaque/new" in a  # the harness' premise
    assert_same_tree(a, b, "--union --whiteouts compared with ostree's")


def test_checkout_missing_ref_fails(edge_repos, ostreepy, tmp_path):
    repo, _ = edge_repos.get("ostree", "archive")
    res = ostreepy.run("checkout", "no/such/ref", tmp_path / "co", repo=repo, rc=None)
    assert_error(res, "no/such/ref")
    assert not (tmp_path / "co").exists()


def _cache_view(repo):
    """The uncompressed-objects-cache as names and snapshots, with each file's link count
    (what the checkouts share with it); None when there is no cache directory."""
    root = repo / "uncompressed-objects-cache"
    if not root.exists():
        return None
    return {p: (e, os.lstat(root / p).st_nlink if e.type == "-" else None)
            for p, e in user_view(snapshot(root)).items() if p}


def test_uncompressed_objects_cache_as_ostree(ostree, ostreepy, tmp_path):
    """test-basic-user's 'disable cache checkout': a plain ``checkout -U`` from an archive
    repository fills ``uncompressed-objects-cache`` and hardlinks from it (empty files and
    symlinks copied, set-id bits dropped); ``--disable-cache`` (or any newer option), a
    checkout that is not user-mode and ``core.enable-uncompressed-cache=false`` leave it
    alone; a second checkout and a ``--union`` one link the cached files again."""
    tree = tmp_path / "tree"
    for rel, data, mode in (("d/cowro", b"moo\n", 0o600), ("d/x", b"#!/bin/sh\n", 0o755),
                            ("suid", b"s\n", 0o4755), ("same", b"moo\n", 0o600), ("empty", b"", 0o644)):
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(data)
        os.chmod(tree / rel, mode)
    os.symlink("d/x", tree / "link")
    base = ostree.init(tmp_path / "base", "archive")
    ostree.commit(base, tree=tree)
    views = {}
    for name, tool in (("ostree", ostree), ("ostreepy", ostreepy)):
        repo = tmp_path / f"repo-{name}"
        copy_repo(base, repo)
        out = tmp_path / f"out-{name}"
        out.mkdir()
        for i, args in enumerate((["-U", "--disable-cache"], ["-U", "-z"], [])):
            tool.run("checkout", *args, REF, out / f"nocache{i}", repo=repo)
            assert _cache_view(repo) is None, (name, args)
        tool.run("checkout", "-U", REF, out / "co-plain", repo=repo)
        tool.run("checkout", "-U", REF, out / "co-again", repo=repo)
        tool.run("checkout", "-U", "--union", REF, out / "co-again", repo=repo)
        views[name] = (_cache_view(repo), user_view(snapshot(out)),
                       sorted(sorted(ps) for ps in inode_groups(out).values()))
        off = tmp_path / f"off-{name}"
        copy_repo(base, off)
        tool.run("config", "set", "core.enable-uncompressed-cache", "false", repo=off)
        tool.run("checkout", "-U", REF, tmp_path / f"co-off-{name}", repo=off)
        assert _cache_view(off) is None, name
    assert views["ostreepy"][0] == views["ostree"][0]
    assert views["ostree"][0] and all(e.mode & 0o6000 == 0 for e, _ in views["ostree"][0].values())
    assert_same_tree(views["ostree"][1], views["ostreepy"][1], "checkouts through the cache")
    assert views["ostreepy"][2] == views["ostree"][2]
