"""Kill a deploy at every step: the sysroot still boots the old or the new
deployment set whole, both tools read it, and a rerun recovers."""

from __future__ import annotations

import pytest

from ostreepy.sysroot.bootconfig import FAULT_EXIT_CODE

from .conftest import NAMING_1_ENV, check_bootable, commit, make_sysroot, ours, real, run, write_tree

BOOTSWAP_STEPS = ["checkout", "etc-prepare", "etc-merge", "origin", "kernel", "entries", "bootlinks",
                  "bootlinks-swap", "loader-link", "sync", "loader-swap", "cleanup", "refs"]
SUBBOOT_STEPS = ["bootlinks", "sync", "bootlinks-swap"]


def _setup(workdir, same_kernel: bool):
    sr = make_sysroot(workdir / "ours", "ours")
    tree = workdir / "tree"
    write_tree(tree, etc={"a": "1\n"})
    commit(sr, "os/one", tree, "1", day=1)
    ours(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", "--karg=rw", env=NAMING_1_ENV)
    if same_kernel:
        # a second deployment with the same boot entry, so the next deploy only flips links
        write_tree(tree, etc={"a": "2\n"})
        commit(sr, "os/one", tree, "1", day=2)
        ours(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", env=NAMING_1_ENV)
        write_tree(tree, etc={"a": "3\n"})
        commit(sr, "os/one", tree, "1", day=3)
    else:
        write_tree(tree, etc={"a": "2\n"}, kernel=b"K2\n")
        commit(sr, "os/one", tree, "2", day=2)
    return sr


def _check(sr, before):
    names = check_bootable(sr)
    st = real(f"--sysroot={sr}", "status").stdout
    assert st == ours(f"--sysroot={sr}", "status").stdout
    assert "no errors found" in run("ostree", f"--repo={sr}/ostree/repo", "fsck").stdout
    return names


@pytest.mark.parametrize("kind,step", [("bootswap", s) for s in BOOTSWAP_STEPS]
                         + [("subboot", s) for s in SUBBOOT_STEPS])
def test_kill_at_every_step(workdir, kind, step):
    if True:
        d = workdir / step
        d.mkdir()
        sr = _setup(d, same_kernel=(kind == "subboot"))
        before = check_bootable(sr)
        p = ours(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", check=False,
                 env={**NAMING_1_ENV, "OSTREEPY_FAULT": step})
        assert p.returncode == FAULT_EXIT_CODE, (step, p.stdout, p.stderr)
        after = _check(sr, before)
        # whole old set, or whole new set whose default is the new commit
        new_csum = run("ostree", f"--repo={sr}/ostree/repo", "rev-parse", "os/one").stdout.strip()
        assert after == before or after[0].startswith(new_csum), (step, before, after)
        if step in ("loader-swap", "cleanup", "refs") or (kind == "subboot" and step == "bootlinks-swap"):
            assert after != before, step
        # a rerun (or a cleanup) recovers a clean sysroot
        if after == before:
            ours(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", env=NAMING_1_ENV)
        else:
            ours(f"--sysroot={sr}", "cleanup")
        final = check_bootable(sr)
        assert final[0].startswith(new_csum)
        deploy_dirs = sorted(p.name for p in (sr / "ostree/deploy/myos/deploy").iterdir() if p.is_dir())
        assert deploy_dirs == sorted(final), step
        # ostree itself is happy to continue from here, and has nothing left to clean
        real(f"--sysroot={sr}", "cleanup")
        assert check_bootable(sr) == final
        assert sorted(p.name for p in (sr / "ostree/deploy/myos/deploy").iterdir() if p.is_dir()) == deploy_dirs
