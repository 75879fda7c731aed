"""``ostreepy admin`` against the real ``ostree admin`` (2022.7): the same
commands on the same commits give the same sysroot, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import (NAMING_1_ENV, commit, dump, loader_entries, make_sysroot, ours, real, run, tool,
                       write_tree)

V1_ETC = {"myconf": "default\n", "passwd": "root:x:0:0:root:/root:/bin/sh\n", "keep": "same\n",
          "sub": None, "sub/a.conf": "a\n"}
V2_ETC = {"myconf": "default-v2\n", "passwd": "root:x:0:0:root:/root:/bin/bash\n", "keep": "same\n",
          "vendornew": "vendor-new\n", "sub": None, "sub/a.conf": "a2\n"}


def _deploy_dir(sr: Path, serial: int = 0) -> Path:
    return sorted((sr / "ostree/deploy/myos/deploy").glob(f"*.{serial}"))[0]


def _local_edits(sr: Path) -> None:
    d = _deploy_dir(sr)
    (d / "etc/myconf").write_text("local-edit\n")       # local edit of a file the vendor changes
    (d / "etc/passwd").unlink()                        # local deletion of a file the vendor changes
    (d / "etc/localonly").write_text("newlocal\n")     # local addition
    (d / "etc/sub/b.conf").write_text("b\n")           # addition inside a vendor directory
    (d / "etc/localdir").mkdir()                       # added directory with content
    (d / "etc/localdir/x").write_text("x\n")


def _both(workdir: Path, steps):
    """Run the same steps on a sysroot of each tool; returns the outputs."""
    outs = {}
    for which in ("ours", "real"):
        sr = make_sysroot(workdir / which, which)
        outs[which] = steps(sr, tool(which))
    return outs


def _status(sr: Path, t) -> str:
    return t(f"--sysroot={sr}", "status").stdout


def test_deploy_merge_redeploy_same_as_ostree(workdir):
    tree = workdir / "tree"

    def steps(sr, t):
        log = []
        write_tree(tree, etc=V1_ETC)
        commit(sr, "os/one", tree, "1.0", day=1)
        log.append(t(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", "--karg=root=UUID=1234", "--karg=rw",
                     "--karg-append=console=ttyS0", env=NAMING_1_ENV).stdout)
        log.append(_status(sr, t))
        _local_edits(sr)
        write_tree(tree, etc=V2_ETC, kernel=b"FAKEKERNEL2\n")
        commit(sr, "os/one", tree, "2.0", day=2)
        log.append(t(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", env=NAMING_1_ENV).stdout)
        log.append(_status(sr, t))
        snap2 = dump(sr)
        log.append(t(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", env=NAMING_1_ENV).stdout)
        log.append(_status(sr, t))
        return log, snap2, dump(sr)

    outs = _both(workdir, steps)
    (log_o, snap2_o, snap3_o), (log_r, snap2_r, snap3_r) = outs["ours"], outs["real"]
    assert log_o == log_r
    assert "Copying /etc changes: 1 modified, 1 removed, 4 added" in log_o[2]
    assert snap2_o == snap2_r
    assert snap3_o == snap3_r
    ours_sr, real_sr = workdir / "ours", workdir / "real"
    # the /etc merge result, spelled out
    etc = _deploy_dir(ours_sr, 1) / "etc"
    assert (etc / "myconf").read_text() == "local-edit\n"
    assert not (etc / "passwd").exists()
    assert (etc / "localonly").read_text() == "newlocal\n"
    assert (etc / "vendornew").read_text() == "vendor-new\n"
    assert (etc / "sub/a.conf").read_text() == "a2\n"
    assert (etc / "sub/b.conf").read_text() == "b\n"
    assert (etc / "localdir/x").read_text() == "x\n"
    assert loader_entries(ours_sr) == loader_entries(real_sr)
    assert sorted(loader_entries(ours_sr)) == ["ostree-1-myos.conf", "ostree-2-myos.conf"]
    # each reads the other's sysroot as its own
    assert real(f"--sysroot={ours_sr}", "status").stdout == ours(f"--sysroot={ours_sr}", "status").stdout
    assert ours(f"--sysroot={real_sr}", "status").stdout == real(f"--sysroot={real_sr}", "status").stdout
    fsck = run("ostree", f"--repo={ours_sr}/ostree/repo", "fsck")
    assert "no errors found" in fsck.stdout
    assert run("ostree", f"--repo={ours_sr}/ostree/repo", "refs").stdout == \
        run("ostree", f"--repo={real_sr}/ostree/repo", "refs").stdout


def test_undeploy_pin_set_origin_kargs_as_ostree(workdir):
    tree = workdir / "tree"

    def steps(sr, t):
        log = []
        write_tree(tree, etc=V1_ETC)
        commit(sr, "os/one", tree, "1.0", day=1)
        t(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", "--karg=root=UUID=1", env=NAMING_1_ENV)
        write_tree(tree, etc=V2_ETC, kernel=b"K2\n")
        commit(sr, "os/one", tree, "2.0", day=2)
        t(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", "--karg-append=quiet", env=NAMING_1_ENV)
        log.append(t(f"--sysroot={sr}", "pin", "1").stdout)
        log.append(t(f"--sysroot={sr}", "pin", "1").stdout)
        log.append(_status(sr, t))
        write_tree(tree, etc=V2_ETC, kernel=b"K3\n")
        commit(sr, "os/one", tree, "3.0", day=3)
        # the pinned deployment survives a deploy that would drop it
        log.append(t(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", env=NAMING_1_ENV).stdout)
        log.append(_status(sr, t))
        log.append(t(f"--sysroot={sr}", "pin", "--unpin", "2").stdout)
        t(f"--sysroot={sr}", "set-origin", "--index=0", "--set=gpg-verify=false", "myremote", "http://example.invalid/repo")
        t(f"--sysroot={sr}", "kargs", "edit-in-place", "--append-if-missing=foo=bar",
          "--append-if-missing=quiet", env=NAMING_1_ENV)
        log.append(_status(sr, t))
        snap = dump(sr)
        log.append(t(f"--sysroot={sr}", "undeploy", "2", env=NAMING_1_ENV).stdout)
        t(f"--sysroot={sr}", "cleanup")
        log.append(_status(sr, t))
        return log, snap, dump(sr)

    outs = _both(workdir, steps)
    assert outs["ours"][0] == outs["real"][0]
    assert outs["ours"][1] == outs["real"][1]
    assert outs["ours"][2] == outs["real"][2]
    assert "Pinned: yes" in outs["ours"][0][2]


def test_retain_not_as_default_and_subbootversion_flip(workdir):
    tree = workdir / "tree"

    def steps(sr, t):
        log = []
        write_tree(tree, etc={"a": "1\n"})
        commit(sr, "os/one", tree, "1", day=1)
        log.append(t(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", env=NAMING_1_ENV).stdout)
        write_tree(tree, etc={"a": "2\n"})
        commit(sr, "os/one", tree, "1", day=2)   # same kernel, same version: same boot entries
        log.append(t(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", env=NAMING_1_ENV).stdout)
        write_tree(tree, etc={"a": "3\n"})
        commit(sr, "os/one", tree, "1", day=3)
        # two deployments before and after: only the subbootversion flips
        log.append(t(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", env=NAMING_1_ENV).stdout)
        snap = dump(sr)
        write_tree(tree, etc={"a": "4\n"}, kernel=b"other\n")
        commit(sr, "os/one", tree, "2", day=4)
        log.append(t(f"--sysroot={sr}", "deploy", "--os=myos", "--retain", "os/one", env=NAMING_1_ENV).stdout)
        commit(sr, "os/one", tree, "3", day=5)
        log.append(t(f"--sysroot={sr}", "deploy", "--os=myos", "--not-as-default", "os/one",
                     env=NAMING_1_ENV).stdout)
        log.append(_status(sr, t))
        return log, snap, dump(sr)

    outs = _both(workdir, steps)
    assert outs["ours"] == outs["real"]
    assert "Transaction complete; bootconfig swap: no" in outs["ours"][0][2]


@pytest.mark.parametrize("variant", ["legacy", "devicetree", "no-initramfs"])
def test_kernel_layouts_as_ostree(workdir, variant):
    tree = workdir / "tree"
    kw = {"legacy": dict(legacy=True), "devicetree": dict(devicetree=b"DTB\n"),
          "no-initramfs": dict(initramfs=None)}[variant]

    def steps(sr, t):
        write_tree(tree, etc={"a": "1\n"}, **kw)
        commit(sr, "os/one", tree, "1.0")
        out = t(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", "--karg=rw", env=NAMING_1_ENV).stdout
        return out, dump(sr)

    outs = _both(workdir, steps)
    assert outs["ours"] == outs["real"]


def test_default_naming_is_current_upstream(workdir):
    sr = make_sysroot(workdir / "ours", "ours")
    tree = workdir / "tree"
    write_tree(tree)
    commit(sr, "os/one", tree, "1.0")
    ours(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", "--karg=rw", env={"OSTREE_SYSROOT_OPTS": ""})
    commit(sr, "os/one", tree, "2.0", day=2)
    ours(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", env={"OSTREE_SYSROOT_OPTS": ""})
    assert sorted(loader_entries(sr)) == ["ostree-1.conf", "ostree-2.conf"]
    # ostree 2022.7 still reads them
    assert "Version: 2.0" in real(f"--sysroot={sr}", "status").stdout
