"""What a deploy reads of its commit: the space check's directed walk and the
repository's scoped dirtree cache (issue 14), on commits made by the real ostree."""

from __future__ import annotations

import os
import subprocess

import pytest

from ostreepy.errors import ObjectNotFoundError
from ostreepy.store.objects import ObjectType
from ostreepy.store.repo import Repo
from ostreepy.sysroot.kernel import commit_kernel_size

FILES = {
    "usr/etc/a.conf": 10,
    "usr/etc/deep/er/b.conf": 5000,
    "usr/lib/modules/6.1/vmlinuz": 3000,
    "usr/lib/modules/6.1/initramfs.img": 7,
    "usr/lib/modules/6.1/kernel/x.ko": 100000,    # a module: not a boot file
    "usr/lib/modules/6.1/other": 1,               # not a boot name
    "usr/lib/modules/dtb/board.dtb": 20,          # as the whole-tree walk counted it
    "usr/lib/ostree-boot/vmlinuz-1-abc": 40,
    "usr/lib/ostree-boot/sub/vmlinuz-2-abc": 999,  # too deep
    "boot/initramfs-1-abc": 50,
    "boot/config-1": 60,                           # not a boot name
    "usr/bin/tool": 123456,
}


@pytest.fixture
def committed(tmp_path):
    tree = tmp_path / "tree"
    for rel, size in FILES.items():
        p = tree / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(os.urandom(size))
    repo = tmp_path / "repo"
    subprocess.run(["ostree", f"--repo={repo}", "init", "--mode=bare-user"], check=True)
    out = subprocess.run(["ostree", f"--repo={repo}", "commit", "-b", "t", f"--tree=dir={tree}", "-s", "t"],
                         check=True, capture_output=True, text=True)
    r = Repo.open(str(repo))
    yield r, out.stdout.strip()
    r.close()


def test_space_check_counts_boot_files_and_usr_etc(committed):
    repo, csum = committed
    boot_names = ["usr/lib/modules/6.1/vmlinuz", "usr/lib/modules/6.1/initramfs.img",
                  "usr/lib/modules/dtb/board.dtb", "usr/lib/ostree-boot/vmlinuz-1-abc", "boot/initramfs-1-abc"]
    etc_names = ["usr/etc/a.conf", "usr/etc/deep/er/b.conf"]
    assert commit_kernel_size(repo, csum) == (sum(FILES[n] for n in boot_names), sum(FILES[n] for n in etc_names))
    rounded = (lambda names: sum(-(-FILES[n] // 4096) * 4096 for n in names))
    assert commit_kernel_size(repo, csum, 4096) == (rounded(boot_names), rounded(etc_names))


def test_dirtree_cache_is_scoped_and_forgets_deleted_trees(committed):
    repo, csum = committed
    root = repo.load_commit(csum).root_tree
    usr = next(t for n, t, _m in repo.load_dirtree(root).dirs if n == "usr")
    bin_tree = next(t for n, t, _m in repo.load_dirtree(usr).dirs if n == "bin")
    assert repo.load_dirtree(root) is not repo.load_dirtree(root)
    with repo.dirtree_cache():
        first = repo.load_dirtree(root)
        with repo.dirtree_cache():  # nested blocks share the outer cache
            assert repo.load_dirtree(root) is first
        assert repo.load_dirtree(root) is first
        repo.load_dirtree(bin_tree)
        repo.delete_object(bin_tree, ObjectType.DIR_TREE)
        with pytest.raises(ObjectNotFoundError):
            repo.load_dirtree(bin_tree)
    with pytest.raises(ObjectNotFoundError):
        repo.load_dirtree(bin_tree)
    assert repo._dirtree_cache is None
