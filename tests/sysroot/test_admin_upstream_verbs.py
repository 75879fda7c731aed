"""`admin switch`, `admin instutil set-kargs`, `admin --print-current-dir` and deployed
overlayfs whiteouts, which ostree's own admin scripts (v2022.7) use: the same commands
on the same commits give ostree 2022.7's sysroot and output."""

from __future__ import annotations

import os
import stat

from .conftest import NAMING_1_ENV, commit, dump, run, write_tree
from .test_compat import _both, _status


def test_switch_set_kargs_print_current_dir_as_ostree(workdir):
    tree = workdir / "tree"

    def steps(sr, t):
        log = []
        write_tree(tree, etc={"myconf": "a\n"})
        (tree / "usr/share/layer").mkdir(parents=True)
        (tree / "usr/share/layer/.ostree-wh.hidden").write_text("")
        commit(sr, "os/one", tree, "1.0", day=1)
        write_tree(tree, etc={"myconf": "b\n"}, kernel=b"K2\n")
        commit(sr, "os/two", tree, "2.0", day=2)
        t(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", "--karg=root=UUID=1", env=NAMING_1_ENV)
        cur = t(f"--sysroot={sr}", "--print-current-dir").stdout
        log.append(os.path.relpath(cur.strip(), sr))
        wh = os.lstat(os.path.join(cur.strip(), "usr/share/layer/hidden"))
        log.append((stat.S_ISCHR(wh.st_mode), wh.st_rdev))
        os.unlink(os.path.join(cur.strip(), "usr/share/layer/hidden"))  # dump() reads every file
        t(f"--sysroot={sr}", "instutil", "set-kargs", "FOO=BAR", "KEYWORD", env=NAMING_1_ENV)
        t(f"--sysroot={sr}", "instutil", "set-kargs", "--merge", "--append=FOO=BAZ", "--replace=KEYWORD=x",
          env=NAMING_1_ENV)
        log.append(_status(sr, t))
        log.append(t(f"--sysroot={sr}", "switch", "--os=myos", "os/two", env=NAMING_1_ENV).stdout)
        log.append(_status(sr, t))
        return log, dump(sr, with_nlink=False)

    outs = _both(workdir, steps)
    (log_o, snap_o), (log_r, snap_r) = outs["ours"], outs["real"]
    assert log_o[1] == log_r[1] == (True, 0)
    assert log_o == log_r
    assert "Deleting ref '(null):os/one'" in log_o[3]
    assert snap_o == snap_r


def _immutable(path) -> bool:
    import fcntl
    import struct
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        flags = struct.unpack("i", fcntl.ioctl(fd, 0x80086601, b"\0" * 4))[0]
    finally:
        os.close(fd)
    return bool(flags & 0x10)


def test_sysroot_debug_flags_stage_refusal_set_kargs_replace_as_ostree(workdir):
    """What ostree's admin-test.sh, test-osupdate-dtb.sh and test-admin-instutil-set-kargs.sh
    found: OSTREE_SYSROOT_DEBUG's mutable-deployments, no-dtb and test-fifreeze; staging
    refused when nothing is booted; set-kargs --replace=KEY=VALUE replacing every KEY."""
    tree = workdir / "tree"
    debug = dict(NAMING_1_ENV, OSTREE_SYSROOT_DEBUG="mutable-deployments,no-dtb")

    def steps(sr, t):
        log = []
        write_tree(tree, etc={"myconf": "a\n"})
        dtb = tree / "usr/lib/modules/6.1.0-test/dtb"
        (dtb / "overlays").mkdir(parents=True)
        (dtb / "board.dtb").write_text("a device tree\n")
        (dtb / "overlays/o.dtbo").write_text("an overlay\n")
        commit(sr, "os/one", tree, "1.0", day=1)
        t(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", env=debug)
        ddir = t(f"--sysroot={sr}", "--print-current-dir").stdout.strip()
        log.append(_immutable(ddir))
        log.append(sorted(str(p.relative_to(sr)) for p in (sr / "boot/ostree").rglob("*")))
        st = t(f"--sysroot={sr}", "deploy", "--os=myos", "--stage", "os/one", env=NAMING_1_ENV, check=False)
        log.append((st.returncode, st.stderr))
        t(f"--sysroot={sr}", "instutil", "set-kargs", "FOO=BAZ", "FOO=BIF", "K", env=NAMING_1_ENV)
        t(f"--sysroot={sr}", "instutil", "set-kargs", "--merge", "--replace=FOO=XXX", env=NAMING_1_ENV)
        fr = t(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", check=False,
               env=dict(NAMING_1_ENV, OSTREE_SYSROOT_DEBUG="test-fifreeze"))
        log.append((fr.returncode, "fifreeze watchdog was run\n" in fr.stderr,
                    "During fsfreeze-thaw: aborting due to test-fifreeze" in fr.stderr))
        # the same tree, dtb included: a bootcsum of its own, the dtb/ copied into /boot
        t(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", env=NAMING_1_ENV)
        log.append(sorted(str(p.relative_to(sr)) for p in (sr / "boot/ostree").rglob("*")))
        log.append(_status(sr, t))
        return log, dump(sr, with_nlink=False)

    outs = _both(workdir, steps)
    (log_o, snap_o), (log_r, snap_r) = outs["ours"], outs["real"]
    assert log_o[0] is False
    assert not any("dtb" in p for p in log_o[1])
    assert log_o[2] == (1, "error: Cannot stage deployment: Not currently booted into an OSTree system\n")
    assert log_o[3] == (1, True, True)
    assert any(p.endswith("dtb/overlays/o.dtbo") for p in log_o[4])
    assert log_o == log_r
    assert snap_o == snap_r
    entries = sorted((workdir / "ours/boot/loader/entries").glob("*.conf"))
    assert any("FOO=XXX K " in e.read_text() for e in entries)


def test_deploy_failing_pre_commit_leaves_a_staging_dir_gc_by_boot_id(workdir):
    """test-admin-deploy-bootid-gc.sh: the deployment refs' transaction, which writes
    no object, still leaves tmp/staging-BOOTID-* when it fails at
    OSTREE_REPO_TEST_ERROR=pre-commit (ostree_repo_prepare_transaction takes it up front);
    the next transaction of another boot removes it."""
    tree = workdir / "tree"
    old, new = "4072029c-8b10-60d1-d31b-8422eeff9b42", "5072029c-8b10-60d1-d31b-8422eeff9b42"

    def staging(sr, boot):
        return [n for n in os.listdir(sr / "ostree/repo/tmp") if n.startswith(f"staging-{boot}-")
                and not n.endswith("-lock")]

    def steps(sr, t):
        log = []
        write_tree(tree)
        commit(sr, "os/one", tree, "1.0", day=1)
        t(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", env=NAMING_1_ENV)
        for boot in (old, new):
            r = t(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", check=False,
                  env=dict(NAMING_1_ENV, OSTREE_REPO_TEST_ERROR="pre-commit", OSTREE_BOOTID=boot))
            log.append((r.returncode, "OSTREE_REPO_TEST_ERROR_PRE_COMMIT" in r.stderr, len(staging(sr, boot))))
        t(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", env=dict(NAMING_1_ENV, OSTREE_BOOTID=new))
        log.append((len(staging(sr, old)), len(staging(sr, new))))
        return log

    outs = _both(workdir, steps)
    assert outs["ours"] == outs["real"] == [(1, True, 1), (1, True, 1), (0, 0)]


def test_uboot_uenv_as_ostree(workdir):
    """test-admin-deploy-uboot.sh: with boot/uEnv.txt -> loader/uEnv.txt, each boot
    configuration gets a uEnv.txt (kernel_image, ramdisk_image, fdtdir, bootargs per
    entry, the default deployment's /usr/lib/ostree-boot/uEnv.txt after the first)."""
    tree = workdir / "tree"

    def steps(sr, t):
        run("ostree", f"--repo={sr}/ostree/repo", "config", "set", "sysroot.bootloader", "auto")
        (sr / "boot/loader.0").mkdir(parents=True, exist_ok=True)
        (sr / "boot/loader").symlink_to("loader.0")
        (sr / "boot/loader.0/uEnv.txt").write_text("")
        (sr / "boot/uEnv.txt").symlink_to("loader/uEnv.txt")
        write_tree(tree)
        commit(sr, "os/one", tree, "1.0", day=1)
        t(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", "--karg=root=LABEL=x", env=NAMING_1_ENV)
        write_tree(tree, kernel=b"K2\n")
        (tree / "usr/lib/ostree-boot").mkdir(parents=True)
        (tree / "usr/lib/ostree-boot/uEnv.txt").write_text("loadfdt=load mmc ${fdtfile}\nmmcboot=run x\n")
        (tree / "usr/lib/modules/6.1.0-test/dtb").mkdir()
        (tree / "usr/lib/modules/6.1.0-test/dtb/board.dtb").write_text("dtb\n")
        commit(sr, "os/one", tree, "2.0", day=2)
        t(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", env=NAMING_1_ENV)
        return (sr / "boot/uEnv.txt").read_text(), dump(sr, with_nlink=False)

    outs = _both(workdir, steps)
    (uenv_o, snap_o), (uenv_r, snap_r) = outs["ours"], outs["real"]
    assert "kernel_image2=/boot/ostree/myos-" in uenv_o and "fdtdir=/boot/ostree/myos-" in uenv_o
    assert "mmcboot=run x\n" in uenv_o
    assert uenv_o == uenv_r
    assert snap_o == snap_r
