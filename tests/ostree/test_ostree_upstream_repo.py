"""The repository side of ostree's own test scripts (test-basic*, test-libarchive,
test-prune, ... at v2022.7, run by scripts/upstream-tests.sh): each thing they found
missing or different in ostreepy, checked here against Debian's ostree."""

import os
import subprocess

import pytest

from .conftest import REF, assert_error


def _tree(root):
    os.makedirs(root / "a/b")
    (root / "a/f").write_text("hello\n")
    (root / "a/b/r").write_bytes(bytes(range(256)) * 20)
    os.symlink("../f", root / "a/b/l")
    (root / "empty").write_text("")
    (root / "seq").write_text("".join(f"{i}\n" for i in range(3000)))
    return root


@pytest.fixture
def archives(ostree, ostreepy, tmp_path):
    return (ostree.init(tmp_path / "ref", "archive"), ostreepy.init(tmp_path / "py", "archive"))


def _both(ostree, ostreepy, repos, *args, tree=None, branch=REF):
    a = ostree.commit(repos[0], *args, tree=tree, branch=branch)
    b = ostreepy.commit(repos[1], *args, tree=tree, branch=branch)
    assert a == b, f"commit {args} differs from ostree's"
    return a


def test_generate_sizes_as_ostree(ostree, ostreepy, archives, tmp_path):
    """--generate-sizes: the same ostree.sizes (so the same commit) for a directory, a
    ref then a directory (the table starts afresh at each source), a directory then a
    ref (every object of the ref listed again) and a tar; `show --print-sizes` alike."""
    tree = _tree(tmp_path / "t")
    _both(ostree, ostreepy, archives, "--generate-sizes", tree=tree)
    out = [t.run("show", "--print-sizes", REF, repo=r).out for t, r in zip((ostree, ostreepy), archives)]
    assert out[0] == out[1] and "Number of objects (needed/total): 0/9\n" in out[1]
    _both(ostree, ostreepy, archives, "--generate-sizes", f"--tree=ref={REF}", f"--tree=dir={tree}/a", branch="m2")
    _both(ostree, ostreepy, archives, "--generate-sizes", f"--tree=dir={tree}/a", f"--tree=ref={REF}", branch="m3")
    tar = tmp_path / "t.tar.gz"
    subprocess.run(["tar", "-C", tree, "-czf", tar, "."], check=True)
    _both(ostree, ostreepy, archives, "--generate-sizes", f"--tree=tar={tar}", branch="m4")
    # only archive repositories get sizes, as in ostree
    bare = ostreepy.init(tmp_path / "bare", "bare-user")
    ostreepy.commit(bare, "--generate-sizes", tree=tree)
    assert_error(ostreepy.run("show", "--print-sizes", REF, repo=bare, rc=1), "No metadata key ostree.sizes")


def test_tar_pathname_filter_as_ostree(ostree, ostreepy, archives, tmp_path):
    """--tar-pathname-filter=REGEX,REPLACEMENT: every match replaced (g_regex_replace),
    groups in the replacement, hardlink targets translated too; ostree's errors."""
    tree = _tree(tmp_path / "t")
    os.link(tree / "a/f", tree / "a/b/hl")
    tar = tmp_path / "t.tar.gz"
    subprocess.run(["tar", "-C", tree, "-czf", tar, "."], check=True)
    auto = "--tar-autocreate-parents"
    for filt, expect in (("^,foo/", "/foo/a/b/l"), ("b,B", "/a/B/hl"), (r"(a)/(b),\2/x\1\0", "/b/xaa/b/hl"),
                         ("^nosuch/,x/", "/a/b/hl")):
        _both(ostree, ostreepy, archives, auto, f"--tree=tar={tar}", f"--tar-pathname-filter={filt}")
        assert expect in ostreepy.run("ls", "-R", REF, repo=archives[1]).out
    res = ostreepy.run("commit", "-b", "x", f"--tree=tar={tar}", "--tar-pathname-filter=e", repo=archives[1], rc=1)
    assert_error(res, "Missing ',' in --tar-pathname-filter")
    # without autocreated parents: ostree_mutable_tree_walk's error, the first missing name
    res = ostreepy.run("commit", "-b", "x", f"--tree=tar={tar}", "--tar-pathname-filter=^a,n/a",
                       repo=archives[1], rc=1)
    assert_error(res, "No such file or directory: n")
    assert ostree.run("commit", "-b", "x", f"--tree=tar={tar}", "--tar-pathname-filter=^a,n/a",
                      repo=archives[0], rc=1).err == res.err


def _deltas(tool, repo):
    return sorted(tool.run("static-delta", "list", repo=repo).out.split())


def test_prune_static_deltas_as_ostree(ostree, ostreepy, archives, tmp_path):
    """prune --static-deltas-only --delete-commit=C drops the deltas to C and keeps C;
    without --delete-commit it is refused; a plain prune drops the deltas to commits
    it deleted (ostree_repo_prune_static_deltas)."""
    tree = _tree(tmp_path / "t")
    for tool, repo in zip((ostree, ostreepy), archives):
        tool.commit(repo, tree=tree)
        (tree / "new").write_text("x")
        tool.commit(repo, tree=tree, timestamp="2024-01-02 00:00:00 +0000")
        (tree / "new").unlink()
        tip = tool.rev_parse(repo, REF)
        tool.run("static-delta", "generate", REF, repo=repo)
        tool.run("static-delta", "generate", "--empty", f"{REF}^", repo=repo)
        res = tool.run("prune", "--static-deltas-only", "--keep-younger-than=1 week ago", repo=repo, rc=1)
        assert "--static-deltas-only requires --delete-commit" in res.err
        tool.run("prune", "--static-deltas-only", f"--delete-commit={tip}", repo=repo)
        assert len(_deltas(tool, repo)) == 1, f"{tool}: the delta to the tip is not the only one gone"
        assert tool.rev_parse(repo, REF) == tip
        tool.run("static-delta", "generate", REF, repo=repo)
        tool.run("reset", REF, f"{REF}^", repo=repo)
        tool.run("prune", "--refs-only", repo=repo)
        assert len(_deltas(tool, repo)) == 1, f"{tool}: the delta to the pruned commit is still there"
    assert _deltas(ostree, archives[0]) == _deltas(ostreepy, archives[1])
