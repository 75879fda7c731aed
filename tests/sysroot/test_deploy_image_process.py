"""The deploy's ``.ostree.cfs`` written by a forked process while the deployment is checked out
(composefs.deploy.start_deployment_image): the configuration read from the commit is the one the
checkout would show (or none is read, and the image waits for the checkout), the image process's
errors reach the deploy in the words of the sequential write, and a failed checkout leaves no image."""

from __future__ import annotations

import errno
import subprocess
import os
from pathlib import Path

import pytest

from ostreepy.composefs import deploy as cfs_deploy
from ostreepy.composefs.deploy import _commit_config, load_prepare_root_config, rootfs_config
from ostreepy.errors import CheckoutError, DeployError
from ostreepy.store.checkout import CheckoutOptions, checkout
from ostreepy.store.objtype import ObjectType
from ostreepy.store.prune import list_objects_ahead, prune, walk_commit
from ostreepy.store.repo import Repo
from ostreepy.sysroot import sysroot as sysroot_mod
from ostreepy.sysroot.sysroot import Sysroot

from .conftest import commit, make_sysroot, write_tree

CONF = "[composefs]\nenabled = {}\n"


def _variants(tree: Path) -> dict:
    """Trees by name: (what to do to a bootable tree, whether the commit can answer)."""
    def conf(rel: str, value: str = "verity"):
        def do() -> None:
            p = tree / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(CONF.format(value))
        return do

    def symlinked() -> None:
        conf("usr/lib/ostree/real.conf")()
        os.symlink("real.conf", tree / "usr/lib/ostree/prepare-root.conf")

    def dir_symlink() -> None:
        conf("usr/lib/ostree/prepare-root.conf")()
        (tree / "etc").mkdir(exist_ok=True)
        os.symlink("../usr/lib/ostree", tree / "etc/ostree")

    def whiteout() -> None:
        (tree / "usr/lib/ostree").mkdir(parents=True)
        (tree / "usr/lib/ostree/.ostree-wh.prepare-root.conf").write_text("")

    def file_in_path() -> None:
        (tree / "etc").mkdir(exist_ok=True)
        (tree / "etc/ostree").write_text("not a directory\n")

    def a_directory() -> None:
        (tree / "usr/lib/ostree/prepare-root.conf").mkdir(parents=True)

    def too_large() -> None:
        (tree / "usr/lib/ostree").mkdir(parents=True)
        (tree / "usr/lib/ostree/prepare-root.conf").write_text("#" * (1 << 20) + "\n")

    def both() -> None:
        conf("usr/lib/ostree/prepare-root.conf", "verity")()
        conf("etc/ostree/prepare-root.conf", "no")()

    return {"none": (lambda: None, True), "usr-lib": (conf("usr/lib/ostree/prepare-root.conf"), True),
            "etc": (conf("etc/ostree/prepare-root.conf", "yes"), True), "both": (both, True),
            "invalid": (conf("usr/lib/ostree/prepare-root.conf", "sometimes"), False),
            "symlink": (symlinked, False), "dir-symlink": (dir_symlink, False), "whiteout": (whiteout, False),
            "file-in-path": (file_in_path, False), "directory": (a_directory, False), "too-large": (too_large, False)}


def test_commit_config_is_the_checkouts(workdir):
    """For every tree: the commit's answer, where it gives one, is the checked-out deployment's
    reading; where the commit cannot say, none (the deploy then reads the checkout)."""
    sr = make_sysroot(workdir / "sr", "ours")
    repo = Repo.open(f"{sr}/ostree/repo")
    for name, (change, answers) in _variants(workdir / "tree").items():
        tree = workdir / "tree"
        write_tree(tree)
        change()
        csum = commit(sr, f"os/{name}", tree, "1")
        dest = workdir / f"co-{name}"
        checkout(repo, csum, str(dest), CheckoutOptions(passthrough_whiteouts=True))
        got = _commit_config(repo, csum)
        if not answers:
            assert got is None, name
            continue
        assert got is not None, name
        assert got == rootfs_config(load_prepare_root_config(str(dest))), name


@pytest.fixture
def deployable(workdir, monkeypatch):
    """A sysroot with a commit to deploy, and the image process allowed in this process."""
    sr = make_sysroot(workdir / "sr", "ours")
    tree = workdir / "tree"
    write_tree(tree)
    commit(sr, "os/one", tree, "1")
    monkeypatch.setattr(cfs_deploy, "_may_fork", lambda: True)
    return sr


def _fail_image(monkeypatch, error: BaseException, seen: list) -> None:
    """The image's writing fails with ``error`` (once let in); ``seen`` has this process's id if
    it was written here (a forked process appends to its own copy)."""
    def failing(*args, before_write=None, **kw):
        seen.append(os.getpid())
        if before_write is not None:
            before_write()
        raise error

    monkeypatch.setattr(cfs_deploy, "write_commit_image", failing)


def _images(sr: Path) -> list:
    return sorted(p.name for p in sr.glob("ostree/deploy/myos/deploy/*/.ostree.cfs*"))


@pytest.mark.parametrize("forked", [True, False])
def test_image_errors_in_the_sequential_words(deployable, monkeypatch, forked):
    sr = deployable
    seen: list = []
    monkeypatch.setattr(cfs_deploy, "_may_fork", lambda: forked)
    _fail_image(monkeypatch, cfs_deploy.ComposefsError("the image failed"), seen)
    with Sysroot(str(sr)) as s, pytest.raises(DeployError) as e:
        s.deploy("myos", "os/one")
    assert str(e.value) == "composefs: the image failed"
    assert seen == ([] if forked else [os.getpid()])
    assert _images(sr) == []

    _fail_image(monkeypatch, OSError(errno.ENOSPC, "No space left on device", "/x/y", None, "/x/z"), seen)
    with Sysroot(str(sr)) as s, pytest.raises(OSError) as o:
        s.deploy("myos", "os/one")
    assert type(o.value) is OSError
    assert (o.value.errno, o.value.strerror, o.value.filename, o.value.filename2) == \
        (errno.ENOSPC, "No space left on device", "/x/y", "/x/z")


def test_image_is_the_sequential_one(deployable, monkeypatch):
    sr = deployable
    images = []
    for forked in (True, False):
        monkeypatch.setattr(cfs_deploy, "_may_fork", lambda: forked)
        with Sysroot(str(sr)) as s:
            d = s.deploy("myos", "os/one", prune=False)
            images.append(Path(s.deployment_dir(d), ".ostree.cfs").read_bytes())
            assert sorted(p.name for p in Path(s.deployment_dir(d)).glob(".ostree.cfs*")) == [".ostree.cfs"]
    assert images[0] == images[1]


def test_failed_checkout_leaves_no_image(deployable, monkeypatch):
    sr = deployable
    real = sysroot_mod.checkout

    def failing(*args, **kw):
        real(*args, **kw)
        raise CheckoutError("it broke")

    monkeypatch.setattr(sysroot_mod, "checkout", failing)
    pids = []
    real_init = cfs_deploy.DeploymentImage.__init__

    def recording(self, pid, *args):
        pids.append(pid)
        real_init(self, pid, *args)

    monkeypatch.setattr(cfs_deploy.DeploymentImage, "__init__", recording)
    with Sysroot(str(sr)) as s, pytest.raises(DeployError, match="^Checking out deployment tree: it broke$"):
        s.deploy("myos", "os/one")
    deployed = list(sr.glob("ostree/deploy/myos/deploy/*"))
    assert len(deployed) == 1 and (deployed[0] / "usr").is_dir()
    assert _images(sr) == []
    assert len(pids) == 1
    with pytest.raises(ChildProcessError):
        os.waitpid(pids[0], os.WNOHANG)  # the image's process reaped (not another test's child)


def test_prune_walked_ahead_is_the_same_prune(workdir):
    """A prune told a walk of a commit a ref names and a listing of the objects (the deploy's,
    ahead of its cleanup) deletes what the plain one deletes; deeper than depth 0 (where the
    commit's parents would go unwalked) the walk ahead is not taken."""
    results = []
    for ahead in (False, True):
        sr = make_sysroot(workdir / f"sr-{ahead}", "ours")
        tree = workdir / "tree"
        write_tree(tree, etc={"a": "1\n"})
        first = commit(sr, "os/one", tree, "1", day=1)
        write_tree(tree, etc={"a": "2\n"})
        second = commit(sr, "os/one", tree, "2", day=2)
        write_tree(tree, etc={"a": "3\n"})
        commit(sr, "os/gone", tree, "3", day=3)
        subprocess.run(["ostree", f"--repo={sr}/ostree/repo", "refs", "--delete", "os/gone"], check=True)
        repo = Repo.open(f"{sr}/ostree/repo")
        walked = walk_commit(repo, second) if ahead else None
        if ahead:
            assert walked is not None
            # deeper, the walk ahead is not taken: the parent stays
            res = prune(repo, refs_only=True, depth=-1, no_prune=True, walked=walked)
            assert res.n_objects_pruned == prune(repo, refs_only=True, depth=-1, no_prune=True).n_objects_pruned
        res = prune(repo, refs_only=True, depth=0, walked=walked, listed=list_objects_ahead(repo) if ahead else None)
        left = sorted(p.name for p in Path(f"{sr}/ostree/repo/objects").rglob("*.*"))
        results.append((res.n_objects_total, res.n_objects_pruned, res.freed_bytes, len(left)))
        assert repo.has_object(second, ObjectType.COMMIT) and not repo.has_object(first, ObjectType.COMMIT)
    assert results[0] == results[1] and results[0][1] > 0


def test_prune_listed_ahead_spares_what_came_since(workdir):
    """Objects made after the listing are not deleted (a later prune's), those a ref names
    since are kept, those gone since free nothing; the rest go as in a plain prune."""
    sr = make_sysroot(workdir / "sr", "ours")
    repo_path = f"{sr}/ostree/repo"
    tree = workdir / "tree"
    write_tree(tree, etc={"a": "1\n"})
    commit(sr, "os/one", tree, "1", day=1)
    write_tree(tree, etc={"a": "2\n"})
    commit(sr, "os/gone", tree, "2", day=2)
    write_tree(tree, etc={"a": "3\n"})
    kept = commit(sr, "os/kept", tree, "3", day=3)
    for ref in ("os/gone", "os/kept"):
        subprocess.run(["ostree", f"--repo={repo_path}", "refs", "--delete", ref], check=True)
    repo = Repo.open(repo_path)
    listed = list_objects_ahead(repo)
    assert listed is not None
    # since the listing: a ref names os/kept's commit again, and a new commit no ref names
    subprocess.run(["ostree", f"--repo={repo_path}", "refs", "--create=os/kept", kept], check=True)
    write_tree(tree, etc={"a": "4\n"})
    late = commit(sr, "os/late", tree, "4", day=4)
    subprocess.run(["ostree", f"--repo={repo_path}", "refs", "--delete", "os/late"], check=True)
    res = prune(repo, refs_only=True, depth=0, listed=listed)
    assert res.n_objects_pruned > 0 and res.n_objects_total == len(listed)
    assert repo.has_object(kept, ObjectType.COMMIT) and repo.has_object(late, ObjectType.COMMIT)
    p = subprocess.run(["ostree", f"--repo={repo_path}", "fsck"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    # a plain prune now takes the late commit
    assert prune(repo, refs_only=True, depth=0).n_objects_pruned > 0
    assert not repo.has_object(late, ObjectType.COMMIT)
