"""fsck on clean and damaged repos; prune compared with ostree's prune."""

import os

import pytest

from . import treebuilder
from .conftest import REF, assert_error, copy_repo, object_files, object_path


@pytest.mark.parametrize("writer", ["ostree", "ostreepy"])
def test_fsck_clean(edge_repos, ostreepy, mode, writer):
    repo, _ = edge_repos.get(writer, mode)
    res = ostreepy.run("fsck", repo=repo)
    assert "error" not in res.err.lower()


@pytest.fixture
def small_repo(ostree, tmp_path, mode):
    """A fresh ostree-made repo with a small tree plus a 1 MiB file, and its parts' checksums."""
    tree = treebuilder.build_small_tree(tmp_path / "tree")
    (tree / "big").write_bytes(os.urandom(1 << 20))
    repo = ostree.init(tmp_path / "repo", mode)
    commit = ostree.commit(repo, tree=tree)
    col = lambda *a: ostree.run("ls", *a, repo=repo).out.split()[4]
    return dict(repo=repo, commit=commit, tree=tree, a=col("-C", REF, "/a.txt"), big=col("-C", REF, "/big"),
                sub=col("-dC", REF, "/sub"))


def damage(path, how):
    data = bytearray(open(path, "rb").read())
    if how == "flip":
        data[len(data) - 2] ^= 0x01  # inside the content (or the end of the deflate stream)
    elif how == "flip-name":
        data[1] ^= 0x01  # a dirtree's first file name
    elif how == "truncate":
        data = data[: len(data) // 2]
    elif how == "empty":
        data = b""
    os.chmod(path, 0o644)
    with open(path, "wb") as f:
        f.write(data)


DAMAGE = ["flip", "truncate"]


def ostree_sees_damage(ostree, repo, tmp_path):
    """Premise: the damage is real, ostree's fsck fails too (on a copy: fsck can mark commits partial)."""
    ostree.run("fsck", repo=copy_repo(repo, tmp_path / "premise-copy"), rc=1)


@pytest.mark.parametrize("how", DAMAGE)
def test_fsck_reports_corrupt_content_object(small_repo, ostree, ostreepy, tmp_path, how):
    damage(object_path(small_repo["repo"], small_repo["a"], "file"), how)
    ostree_sees_damage(ostree, small_repo["repo"], tmp_path)
    assert_error(ostreepy.run("fsck", repo=small_repo["repo"], rc=None), small_repo["a"])


# ostree does not name a dirtree whose framing offsets are damaged ("flip" hits the offsets)
@pytest.mark.parametrize("how", ["flip-name", "truncate", pytest.param("flip", marks=pytest.mark.stricter_than_ostree)])
def test_fsck_reports_corrupt_dirtree(small_repo, ostree, ostreepy, tmp_path, how):
    damage(object_path(small_repo["repo"], small_repo["sub"], "dirtree"), how)
    ostree_sees_damage(ostree, small_repo["repo"], tmp_path)
    assert_error(ostreepy.run("fsck", repo=small_repo["repo"], rc=None), small_repo["sub"])


def test_fsck_reports_missing_object(small_repo, ostree, ostreepy, tmp_path):
    os.unlink(object_path(small_repo["repo"], small_repo["a"], "file"))
    ostree_sees_damage(ostree, small_repo["repo"], tmp_path)
    assert_error(ostreepy.run("fsck", repo=small_repo["repo"], rc=None), small_repo["a"])


@pytest.mark.stricter_than_ostree  # ostree stops at the first one
def test_fsck_reports_every_corrupt_object(small_repo, ostreepy):
    damage(object_path(small_repo["repo"], small_repo["a"], "file"), "flip")
    damage(object_path(small_repo["repo"], small_repo["big"], "file"), "truncate")
    assert_error(ostreepy.run("fsck", repo=small_repo["repo"], rc=None), small_repo["a"], small_repo["big"])


@pytest.mark.stricter_than_ostree
@pytest.mark.parametrize("how", DAMAGE)
def test_cat_of_corrupt_object_fails(small_repo, ostreepy, how):
    damage(object_path(small_repo["repo"], small_repo["a"], "file"), how)
    res = ostreepy.run("cat", REF, "/a.txt", repo=small_repo["repo"], rc=None)
    assert_error(res)
    assert res.stdout == b"", "corrupt data was returned"


@pytest.mark.stricter_than_ostree
@pytest.mark.parametrize("how", DAMAGE)
def test_cat_of_corrupt_large_object_fails(small_repo, ostreepy, how):
    damage(object_path(small_repo["repo"], small_repo["big"], "file"), how)
    assert_error(ostreepy.run("cat", REF, "/big", repo=small_repo["repo"], rc=None))


@pytest.mark.stricter_than_ostree
@pytest.mark.parametrize("how", DAMAGE)
def test_checkout_of_corrupt_object_fails(small_repo, ostreepy, tmp_path, mode, how):
    damage(object_path(small_repo["repo"], small_repo["a"], "file"), how)
    # a copying checkout reads the object's data (hardlinks from bare repos would not, and
    # bare-user-only checkouts are always user-mode, so hardlinks too)
    args = ["--force-copy"] if mode in ("bare", "bare-user-only") else []
    res = ostreepy.run("checkout", *args, REF, tmp_path / "co", repo=small_repo["repo"], rc=None)
    assert_error(res)
    a = tmp_path / "co" / "a.txt"
    assert not a.exists() or a.read_bytes() == b"alpha\n", "corrupt data was checked out"


@pytest.mark.stricter_than_ostree
def test_ls_of_corrupt_dirtree_fails(small_repo, ostreepy):
    damage(object_path(small_repo["repo"], small_repo["sub"], "dirtree"), "flip")
    assert_error(ostreepy.run("ls", "-R", REF, repo=small_repo["repo"], rc=None))


def test_fsck_delete_matches_ostree(small_repo, ostree, ostreepy, tmp_path):
    damage(object_path(small_repo["repo"], small_repo["a"], "file"), "flip")
    repos = {n: copy_repo(small_repo["repo"], tmp_path / n) for n in ("ostree", "ostreepy")}
    ostree.run("fsck", "--delete", repo=repos["ostree"], rc=1)
    assert_error(ostreepy.run("fsck", "--delete", repo=repos["ostreepy"], rc=None), small_repo["a"])
    assert object_files(repos["ostreepy"]) == object_files(repos["ostree"])
    assert sorted(os.listdir(repos["ostreepy"] / "state")) == sorted(os.listdir(repos["ostree"] / "state"))
    # afterwards both tools agree on what a new fsck says
    a = ostree.run("fsck", repo=repos["ostree"], rc=None)
    b = ostree.run("fsck", repo=repos["ostreepy"], rc=None)
    assert (a.rc, a.err) == (b.rc, b.err)
    c = ostreepy.run("fsck", repo=repos["ostreepy"], rc=None)
    assert c.rc == a.rc


# --- prune ----------------------------------------------------------------------

PRUNE_CASES = {
    "default": [],
    "refs-only": ["--refs-only"],
    "depth0": ["--refs-only", "--depth=0"],
    "depth1": ["--refs-only", "--depth=1"],
    "no-prune": ["--no-prune", "--refs-only", "--depth=0"],
    "keep-younger": ["--keep-younger-than=2024-01-02 12:00:00 +0000"],
}


@pytest.mark.parametrize("case", sorted(PRUNE_CASES))
def test_prune_matches_ostree(history_repos, ostree, ostreepy, tmp_path, mode, case):
    h = history_repos(mode)
    repos = {n: copy_repo(h["repo"], tmp_path / n) for n in ("ostree", "ostreepy")}
    for r in repos.values():
        ostree.run("refs", "--delete", "other/branch", repo=r)
    expected = ostree.run("prune", *PRUNE_CASES[case], repo=repos["ostree"])
    got = ostreepy.run("prune", *PRUNE_CASES[case], repo=repos["ostreepy"])
    assert got.out == expected.out
    assert object_files(repos["ostreepy"]) == object_files(repos["ostree"])
    res = ostree.run("fsck", repo=repos["ostreepy"], rc=None)
    assert res.rc == 0, res.err


def test_prune_nothing_to_do(history_repos, ostree, ostreepy, tmp_path):
    repo = copy_repo(history_repos("bare")["repo"], tmp_path / "r")
    a = ostree.run("prune", repo=repo).out
    assert "No unreachable objects" in a  # premise
    assert ostreepy.run("prune", repo=repo).out == a


@pytest.mark.parametrize("waits", [False, True])
def test_prune_of_many_objects_matches_ostree(ostree, ostreepy, tmp_path, waits, monkeypatch):
    """More unreachable objects than one round of deletes (256): after the first round, on one
    thread where an unlink does not wait on the filesystem, else on two (ostreepy.parallel.Pool;
    forced either way by the threshold), and every one is gone, as ostree's prune leaves the repo."""
    import ostreepy.store.prune as prune_module
    monkeypatch.setattr(prune_module, "_WAITING_UNLINK", 0.0 if waits else 1.0)
    pool_runs = []
    from ostreepy import parallel
    real_pool = parallel.Pool
    monkeypatch.setattr(parallel, "Pool", lambda *a, **k: pool_runs.append(a) or real_pool(*a, **k))
    tree = tmp_path / "tree"
    for d in range(6):
        (tree / f"d{d}").mkdir(parents=True)
        for f in range(100):
            (tree / f"d{d}" / f"f{f}").write_text(f"{d}/{f}\n")
    repo = ostree.init(tmp_path / "repo", "bare-user")
    ostree.commit(repo, tree=tree)
    ostree.run("refs", "--delete", REF, repo=repo)
    repos = {n: copy_repo(repo, tmp_path / n) for n in ("ostree", "ostreepy")}
    expected = ostree.run("prune", "--refs-only", repo=repos["ostree"])
    from ostreepy import porcelain
    res = porcelain.prune(str(repos["ostreepy"]), refs_only=True)
    assert (res.n_objects_total, res.n_objects_pruned) == (609, 609)
    assert f"Total objects: {res.n_objects_total}" in expected.out and len(pool_runs) == (1 if waits else 0)
    assert object_files(repos["ostreepy"]) == object_files(repos["ostree"]) == []
    assert ostree.run("fsck", repo=repos["ostreepy"], rc=None).rc == 0


@pytest.mark.parametrize("args", [
    "prune", "prune --refs-only --depth=0", "--repo=r prune --refs-only --depth=0", "prune --repo r --depth 3",
    "prune --no-prune --refs-only --depth=-1", "prune --depth -2 -v", "prune --depth=+4 --commit-only",
    "prune --keep-younger-than=2024-01-02 --refs-only", "prune --delete-commit=abc --static-deltas-only",
    "prune --retain-branch-depth=main=2 --only-branch=other", "prune --verbose --repo=/x/y",
    "prune --only-branch main --no-prune",
])
def test_a_plain_prune_reads_as_argparse_reads_it(args):
    """`prune [FLAGS]` is read by the program's entry without argparse (cli.prune): the same namespace."""
    from ostreepy.cli.main import _command_first, _parse_command_line
    from ostreepy.cli.prune import plain_prune_args
    argv = args.split()
    plain = plain_prune_args(argv)
    assert plain is not None
    assert vars(plain) == vars(_parse_command_line(_command_first(argv)))


@pytest.mark.parametrize("args", [
    "prune x", "refs prune", "prune --refs", "prune --refs-only=true", "prune --depth=1 --depth=2", "prune --depth",
    "prune --depth=x", "prune --depth= 5", "prune --depth=5_0", "prune --depth --refs-only", "prune -- --refs-only",
    "prune --help", "prune -h", "--version prune", "prune --delete-commit=a --delete-commit=b",
    "prune --keep-younger-than --refs-only", "prune --delete-commit=", "--repo=a prune --repo=b", "prune -vq",
    "prune --repo", "container image prune",
])
def test_other_prune_command_lines_are_left_to_argparse(args):
    from ostreepy.cli.prune import plain_prune_args
    assert plain_prune_args(args.split()) is None


def test_a_prune_finds_the_summary_cache_where_the_remote_room_keeps_it():
    from ostreepy.remote.summary_cache import CACHE_SUBDIR
    from ostreepy.remote.tidy import SUMMARY_CACHE_SUBDIR
    assert SUMMARY_CACHE_SUBDIR == CACHE_SUBDIR
