"""Regression tests for sysroot data-loss and host-write findings (issue 14,
items 1 and 2): concurrent deploys keep every deployment, and a sysroot named
by ``$OSTREE_SYSROOT`` is the one a command changes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .conftest import commit, make_sysroot, ours, run, write_tree


def _entries(sr: Path) -> int:
    return len(list((sr / "boot/loader/entries").iterdir()))


def test_concurrent_retain_deploys_keep_every_deployment(workdir):
    """One deploy, then N at once with --retain: every one is kept (ostree keeps all
    too). Before the sysroot reloaded under its lock, writers built their list
    from a stale load and kept 2-4 of 7."""
    sr = make_sysroot(workdir / "ours", "ours")
    tree = workdir / "tree"
    write_tree(tree)
    commit(sr, "os/one", tree, "1.0")
    ours(f"--sysroot={sr}", "deploy", "--os=myos", "os/one")
    n = 6
    env = dict(os.environ)
    env.pop("OSTREEPY_FAULT", None)
    procs = [subprocess.Popen([sys.executable, "-m", "ostreepy", "admin", f"--sysroot={sr}", "deploy",
                               "--retain", "--os=myos", "os/one"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
             for _ in range(n)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert _entries(sr) == n + 1
    deployed = sorted(x.name for x in (sr / "ostree/deploy/myos/deploy").iterdir() if x.is_dir())
    assert [d.rsplit(".", 1)[1] for d in deployed] == [str(i) for i in range(n + 1)]
    status = ours(f"--sysroot={sr}", "status").stdout
    assert status.count("myos ") == n + 1


def test_ostree_sysroot_env_is_the_sysroot(workdir):
    """``OSTREE_SYSROOT=DIR ostreepy admin os-init`` works on DIR (it used to mkdir
    /ostree on the host), and so do status, bootc status and the default repo."""
    sr = workdir / "sr"
    sr.mkdir()
    ours("init-fs", str(sr))
    env = {"OSTREE_SYSROOT": str(sr)}
    root_had_ostree = os.path.lexists("/ostree")
    p = ours("os-init", "envos", env=env)
    assert p.stdout == "ostree/deploy/envos initialized as OSTree root\n"
    assert (sr / "ostree/deploy/envos/var").is_dir()
    assert os.path.lexists("/ostree") == root_had_ostree
    # the peer does the same with the same variable
    sr2 = workdir / "sr2"
    sr2.mkdir()
    run("ostree", "admin", "init-fs", str(sr2))
    run("ostree", "admin", "os-init", "envos", env={"OSTREE_SYSROOT": str(sr2)})
    assert (sr2 / "ostree/deploy/envos/var").is_dir()
    # deploy and status through the variable alone
    run("ostree", f"--repo={sr}/ostree/repo", "config", "set", "sysroot.bootloader", "none")
    tree = workdir / "tree"
    write_tree(tree)
    commit(sr, "os/one", tree, "1.0")
    ours("deploy", "--os=envos", "os/one", env=env)
    assert _entries(sr) == 1
    assert "envos " in ours("status", env=env).stdout
    # --sysroot wins over the variable
    assert ours(f"--sysroot={sr2}", "status", env=env).stdout == "No deployments.\n"
    # bootc's verbs and the default repository of the repo verbs follow it too
    bootc = run(sys.executable, "-m", "ostreepy", "bootc", "status", "--format=json", env=env).stdout
    assert '"booted":null' not in bootc
    refs = run(sys.executable, "-m", "ostreepy", "refs", env={**env, "OSTREE_REPO": ""}).stdout
    assert refs == run("ostree", "refs", env={**env, "OSTREE_REPO": ""}).stdout == "os/one\nostree/1/1/0\n"
