"""Boot tools reading our entries, unprivileged deploys, staging, rollback,
the /etc merge preview, the space check and failed deploys."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bootloader.grub import generate_grub_config
from ostreepy.errors import DeployError
from ostreepy.sysroot.etcmerge import EtcEntry, format_plan, plan_etc_merge
from ostreepy.sysroot.sysroot import InsufficientSpaceError, Sysroot

from .conftest import (NAMING_1_ENV, bootctl_list, check_bootable, commit, dump, loader_entries, make_sysroot,
                       ours, real, run, write_tree)

NOBODY = 65534


def _two_deploys(workdir: Path) -> Path:
    sr = make_sysroot(workdir / "ours", "ours")
    tree = workdir / "tree"
    write_tree(tree, etc={"a": "1\n"}, devicetree=b"DT\n")
    commit(sr, "os/one", tree, "1.0", day=1)
    ours(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", "--karg=root=UUID=1234", "--karg=rw",
         '--karg=foo="a b"', env=NAMING_1_ENV)
    write_tree(tree, etc={"a": "2\n"}, kernel=b"K2\n")
    commit(sr, "os/one", tree, "2.0", day=2)
    ours(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", env=NAMING_1_ENV)
    return sr


def test_bootctl_and_grub_read_our_sysroot(workdir):
    sr = _two_deploys(workdir)
    listed = bootctl_list(sr / "boot")
    assert [x["id"] for x in listed] == ["ostree-2-myos.conf", "ostree-1-myos.conf"]
    assert listed[0]["title"] == "My OS 1 2.0 (ostree:0)"
    assert listed[1]["title"] == "My OS 1 1.0 (ostree:1)"
    for x in listed:
        assert (sr / "boot" / x["linux"].lstrip("/")).is_file()
        assert "ostree=/ostree/boot.0/myos/" in x["options"]
    assert listed[1]["devicetree"].startswith("/ostree/myos-")
    with Sysroot(str(sr)) as s:
        entries = [d.bootconfig for d in s.deployments]
    cfg = generate_grub_config(entries, boot_device_id="dummyid", prepare_root_cache="insmod ext2")
    peer = run("ostree", "admin", "instutil", f"--sysroot={sr}", "grub2-generate",
               env={"GRUB2_BOOT_DEVICE_ID": "dummyid", "GRUB2_PREPARE_ROOT_CACHE": "insmod ext2"}).stdout
    assert cfg == peer
    (workdir / "grub.cfg").write_text(cfg)
    run("grub-script-check", str(workdir / "grub.cfg"))


def test_unprivileged_bare_user_cycle(workdir):
    sr = workdir / "sr"
    sr.mkdir()
    ours("init-fs", "--repo-mode=bare-user", str(sr))
    run("chown", "-R", f"{NOBODY}:{NOBODY}", str(sr))
    tree = workdir / "tree"
    write_tree(tree, etc={"a": "1\n", "b": "b\n"})
    run("chown", "-R", f"{NOBODY}:{NOBODY}", str(tree))
    u = dict(user=NOBODY, env=NAMING_1_ENV)
    ours(f"--sysroot={sr}", "os-init", "myos", **u)
    run("ostree", f"--repo={sr}/ostree/repo", "config", "set", "sysroot.bootloader", "none", user=NOBODY)
    commit(sr, "os/one", tree, "1.0", day=1, user=NOBODY)
    ours(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", "--karg=rw", **u)
    d1 = next((sr / "ostree/deploy/myos/deploy").glob("*.0"))
    assert d1.stat().st_uid == NOBODY
    # hardlinked from the bare-user repo, /etc a copy
    assert (d1 / "usr/bin/true").stat().st_nlink > 1
    assert (d1 / "etc/a").stat().st_nlink == 1
    (d1 / "etc/a").write_text("local\n")
    run("rm", str(d1 / "etc/b"), user=NOBODY)
    # upgrade
    write_tree(tree, etc={"a": "2\n", "b": "b2\n", "c": "c\n"}, kernel=b"K2\n")
    run("chown", "-R", f"{NOBODY}:{NOBODY}", str(tree))
    c2 = commit(sr, "os/one", tree, "2.0", day=2, user=NOBODY)
    p = ours(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", **u)
    assert "Copying /etc changes: 1 modified, 1 removed, 0 added" in p.stdout
    names = check_bootable(sr)
    assert names[0].startswith(c2)
    d2 = sr / "ostree/deploy/myos/deploy" / names[0]
    assert (d2 / "etc/a").read_text() == "local\n" and not (d2 / "etc/b").exists()
    assert (d2 / "etc/c").read_text() == "c\n"
    # rollback: the previous deployment becomes the default again
    code = ("import sys; from ostreepy.sysroot.sysroot import Sysroot\n"
            "s = Sysroot(sys.argv[1], default_booted=True); s.rollback_now()\n")
    run(os.sys.executable, "-c", code, str(sr), **u)
    assert check_bootable(sr) == [names[1], names[0]]
    st = ours(f"--sysroot={sr}", "status", **u).stdout
    assert st == real(f"--sysroot={sr}", "status").stdout
    assert st.splitlines()[0].endswith(names[1])
    assert "no errors found" in run("ostree", f"--repo={sr}/ostree/repo", "fsck", user=NOBODY).stdout
    assert all(p.stat().st_uid == NOBODY for p in (sr / "boot").rglob("*") if not p.is_symlink())


def test_stage_then_finalize(workdir):
    sr = make_sysroot(workdir / "ours", "ours")
    tree = workdir / "tree"
    write_tree(tree, etc={"a": "1\n"})
    commit(sr, "os/one", tree, "1.0", day=1)
    ours(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", "--karg=rw", env=NAMING_1_ENV)
    before = dump(sr / "boot", with_nlink=False)
    write_tree(tree, etc={"a": "1\n", "n": "n\n"}, kernel=b"K2\n")
    c2 = commit(sr, "os/one", tree, "2.0", day=2)
    # staging wants a booted system (ostree refuses it otherwise): boot the first one
    entry = next((sr / "boot/loader/entries").glob("*.conf")).read_text()
    booted = next(line.split(" ", 1)[1] for line in entry.splitlines() if line.startswith("options "))
    refused = ours(f"--sysroot={sr}", "deploy", "--os=myos", "--stage", "os/one", env=NAMING_1_ENV, check=False)
    assert refused.returncode == 1
    assert refused.stderr == "error: Cannot stage deployment: Not currently booted into an OSTree system\n"
    ours(f"--sysroot={sr}", "deploy", f"--booted-cmdline={booted}", "--os=myos", "--stage", "os/one",
         env=NAMING_1_ENV)
    st = ours(f"--sysroot={sr}", "status").stdout
    assert st.splitlines()[0] == f"  myos {c2}.0 (staged)"
    assert dump(sr / "boot", with_nlink=False) == before  # boot config untouched until finalization
    assert ours(f"--sysroot={sr}", "status", "--json").stdout.count('"staged": true') == 1
    # a local change made after staging is still carried over at finalization
    d1 = next(p for p in (sr / "ostree/deploy/myos/deploy").iterdir() if p.is_dir() and not p.name.startswith(c2))
    (d1 / "etc/a").write_text("late\n")
    ours(f"--sysroot={sr}", "finalize-staged", env=NAMING_1_ENV)
    names = check_bootable(sr)
    assert names[0] == f"{c2}.0"
    d2 = sr / "ostree/deploy/myos/deploy" / names[0]
    assert (d2 / "etc/a").read_text() == "late\n"
    assert real(f"--sysroot={sr}", "status").stdout == ours(f"--sysroot={sr}", "status").stdout
    assert "rw" in loader_entries(sr)["ostree-2-myos.conf"].decode()


def test_etc_merge_preview_matches_result(workdir):
    sr = make_sysroot(workdir / "ours", "ours")
    tree = workdir / "tree"
    write_tree(tree, etc={"edit": "v1\n", "del": "v1\n", "same": "s\n", "upd": "u1\n", "gone": "g\n"})
    commit(sr, "os/one", tree, "1.0", day=1)
    ours(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", env=NAMING_1_ENV)
    d1 = next((sr / "ostree/deploy/myos/deploy").glob("*.0"))
    (d1 / "etc/edit").write_text("mine\n")
    (d1 / "etc/del").unlink()
    (d1 / "etc/added").write_text("mine\n")
    (d1 / "etc/clash").write_text("mine\n")
    write_tree(tree, etc={"edit": "v2\n", "del": "v2\n", "same": "s\n", "upd": "u2\n", "new": "n\n",
                          "clash": "vendor\n"})
    commit(sr, "os/one", tree, "2.0", day=2)
    with Sysroot(str(sr)) as s:
        plan = s.preview_etc_merge("os/one", "myos")
    acts = {i.path: (i.action, i.conflict is not None) for i in plan.items}
    assert acts["edit"] == ("keep-modified", True)
    assert acts["del"] == ("keep-removed", True)
    assert acts["added"] == ("keep-added", False)
    assert acts["clash"] == ("keep-added", True)
    assert acts["upd"] == ("vendor-update", False)
    assert acts["new"] == ("vendor-add", False)
    assert acts["gone"] == ("vendor-remove", False)
    assert "same" not in acts and plan.error is None
    assert {i.path for i in plan.conflicts} == {"edit", "del", "clash"}
    text = format_plan(plan)
    assert text.startswith("Copying /etc changes: 1 modified, 1 removed, 2 added\n")
    assert "CONFLICT" in text
    ours(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", env=NAMING_1_ENV)
    etc = sr / "ostree/deploy/myos/deploy" / check_bootable(sr)[0] / "etc"
    for i in plan.kept:
        assert (etc / i.path).read_text() == "mine\n"
    for i in plan.dropped:
        assert not (etc / i.path).exists()
    for i in plan.vendor_updates:
        assert (etc / i.path).exists()


def test_plan_etc_merge_pure_edge_cases():
    def f(d, mode=0o100644):
        return EtcEntry("f", mode, 0, 0, d)

    def dr(mode=0o40755):
        return EtcEntry("d", mode, 0, 0)

    orig = {"x": f("1"), "d": dr(), "d/y": f("y")}
    modified = {"x": f("1", 0o100600), "d": dr(), "d/y": f("y"), "d/z": f("z")}
    plan = plan_etc_merge(orig, modified, orig, {"x": dr(), "d": dr(), "d/y": f("y")})
    assert plan.diff.modified == ("x",) and plan.diff.added == ("d/z",)
    assert plan.error == "Modified config file newly defaults to directory 'x', cannot merge"
    # a locally removed directory hides its children
    plan = plan_etc_merge(orig, {"x": f("1")}, orig, orig)
    assert [i.path for i in plan.items] == ["d"] and plan.items[0].action == "keep-removed"


def test_space_check_refuses_before_writing(workdir):
    sr = make_sysroot(workdir / "ours", "ours")
    tree = workdir / "tree"
    write_tree(tree, etc={"a": "1\n"})
    commit(sr, "os/one", tree, "1.0", day=1)
    ours(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", env=NAMING_1_ENV)
    write_tree(tree, etc={"a": "2\n"}, kernel=os.urandom(3 << 20))
    commit(sr, "os/one", tree, "2.0", day=2)
    before = dump(sr)
    # /boot on a 2 MiB tmpfs holding a copy of the current contents
    saved = workdir / "boot-saved"
    shutil.copytree(sr / "boot", saved, symlinks=True)
    run("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(sr / "boot"))
    try:
        run("cp", "-a", f"{saved}/.", str(sr / "boot"))
        p = ours(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", check=False, env=NAMING_1_ENV)
        assert p.returncode == 1
        assert p.stderr.startswith("error: Not enough space on /boot")
        with Sysroot(str(sr)) as s, pytest.raises(InsufficientSpaceError):
            s.check_space("os/one")
        after_boot = dump(sr / "boot", with_nlink=False)
    finally:
        run("umount", str(sr / "boot"))
    assert dump(sr) == before
    assert after_boot == dump(sr / "boot", with_nlink=False)


def test_failed_deploys_leave_state_alone(workdir):
    sr = make_sysroot(workdir / "ours", "ours")
    tree = workdir / "tree"
    write_tree(tree, etc={"a": "1\n"})
    commit(sr, "os/one", tree, "1.0", day=1)
    ours(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", env=NAMING_1_ENV)
    before = dump(sr)
    p = ours(f"--sysroot={sr}", "deploy", "--os=myos", "os/nope", check=False)
    assert p.returncode == 1 and "os/nope" in p.stderr
    assert dump(sr) == before
    p = ours(f"--sysroot={sr}", "deploy", "--os=other", "os/one", check=False)
    assert p.returncode == 1 and p.stderr == "error: No such stateroot: other\n"
    p = ours(f"--sysroot={sr}", "deploy", "os/one", check=False)
    assert "no --os= argument given" in p.stderr
    # a tree without a kernel: refused, the boot config is untouched
    shutil.rmtree(tree / "usr/lib/modules")
    commit(sr, "os/two", tree, "2.0", day=2)
    p = ours(f"--sysroot={sr}", "deploy", "--os=myos", "os/two", check=False, env=NAMING_1_ENV)
    assert p.returncode == 1
    assert p.stderr == "error: Failed to find kernel in /usr/lib/modules, /usr/lib/ostree-boot or /boot\n"
    assert loader_entries(sr) == {k: v for k, v in loader_entries(sr).items()}
    with Sysroot(str(sr)) as s:
        assert len(s.deployments) == 1
        s.cleanup()
    # the half-made deployment is gone again; boot and deployments as before
    def path(line):
        parts = line.split()
        return {"L": parts[1], "D": parts[2], "F": parts[-2]}[parts[0]]

    keep = ("boot", "ostree/deploy", "ostree/boot")
    assert [x for x in dump(sr) if path(x).startswith(keep)] == [x for x in before if path(x).startswith(keep)]
    with Sysroot(str(sr)) as s, pytest.raises(DeployError, match="Out of range deployment index 3"):
        s.undeploy(3)
