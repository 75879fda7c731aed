"""The GRUB menu regenerated with each new boot version (ostree's grub2
backend, ``ostree-bootloader-grub2.c``): placed in ``boot/loader.N/grub.cfg``
as ``ostree admin deploy`` with ``sysroot.bootloader=grub2`` places it, the
same menuentries as the peer's ``grub2-generate``, accepted by
``grub-script-check``, its entry 0 the new default through deploy, rollback
and undeploy; an ``image build`` config converted to the loader link."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest

from ostreepy.install.image import grub_config
from ostreepy.sysroot import grubcfg
from ostreepy.sysroot.bootconfig import FAULT_EXIT_CODE
from ostreepy.sysroot.sysroot import Sysroot

from .conftest import NAMING_1_ENV, commit, make_sysroot, ours, real, run, write_tree

BOOT_UUID = uuid.UUID("0b0e0b0e-1234-4abc-8def-0123456789ab")


def _titles(cfg: str):
    return re.findall(r"^menuentry '([^']*)'", cfg, re.M)


def _menu(cfg: str) -> str:
    return cfg[cfg.index("menuentry "):]


def _check(path: Path) -> None:
    run("grub-script-check", str(path))


def _deploy(t, sr: Path, *extra: str):
    return t(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", *extra, env=NAMING_1_ENV).stdout


def test_deploy_writes_loader_grub_cfg_like_ostree(workdir):
    """Both with sysroot.bootloader=grub2: the peer runs its generator
    (OSTREE_GRUB2_EXEC, not grub2-mkconfig, so not chrooted) into
    loader.N/grub.cfg; ours writes the same menu to the same place."""
    gen = workdir / "gen.sh"
    # the builtin-generator calling convention: `<exec> -o <file>`, bootversion in the environment
    gen.write_text("#!/bin/sh\nexec ostree admin instutil --sysroot=\"$SR\" grub2-generate "
                   "\"$_OSTREE_GRUB2_BOOTVERSION\" > \"$2\"\n")
    gen.chmod(0o755)
    tree = workdir / "tree"
    out = {}
    for which, t in (("ours", ours), ("real", real)):
        sr = make_sysroot(workdir / which, which)
        run("ostree", f"--repo={sr}/ostree/repo", "config", "set", "sysroot.bootloader", "grub2")
        env = {"OSTREE_GRUB2_EXEC": str(gen), "SR": str(sr), "GRUB2_BOOT_DEVICE_ID": "ostree",
               "GRUB2_PREPARE_ROOT_CACHE": "", **NAMING_1_ENV}
        write_tree(tree)
        commit(sr, "os/one", tree, "1.0", day=1)
        msg1 = t(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", "--karg=root=UUID=1234", env=env).stdout
        write_tree(tree, kernel=b"FAKEKERNEL2\n")
        commit(sr, "os/one", tree, "2.0", day=2)
        msg2 = t(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", env=env).stdout
        assert os.readlink(sr / "boot/loader") == "loader.0"
        present = sorted(str(p.relative_to(sr)) for p in (sr / "boot").glob("loader*/grub.cfg"))
        out[which] = (msg1, msg2, present, (sr / "boot/loader.0/grub.cfg").read_text())
    (m1o, m2o, po, cfg_o), (m1r, m2r, pr, cfg_r) = out["ours"], out["real"]
    assert (m1o, m2o) == (m1r, m2r)
    assert "Transaction complete; bootconfig swap: yes" in m2r  # grub2 on BIOS paths counts as atomic
    assert po == pr == ["boot/loader.0/grub.cfg", "boot/loader/grub.cfg"]
    assert _menu(cfg_o) == cfg_r
    assert _titles(cfg_o) == ["My OS 1 2.0 (ostree:0)", "My OS 1 1.0 (ostree:1)"]
    _check(workdir / "ours/boot/loader.0/grub.cfg")


def test_image_config_follows_deploy_rollback_undeploy_kargs(workdir):
    """A sysroot carrying the plain grub.cfg `image build` writes: the next
    deploy turns it into the loader link; entry 0 is always the default."""
    sr = make_sysroot(workdir / "ours", "ours")
    run("ostree", f"--repo={sr}/ostree/repo", "config", "set", "sysroot.bootloader", "auto")
    tree = workdir / "tree"
    write_tree(tree)
    commit(sr, "os/one", tree, "1.0", day=1)
    _deploy(ours, sr, "--karg=root=UUID=1234")
    (sr / "boot/grub").mkdir()
    first = grub_config(sr, BOOT_UUID)
    (sr / "boot/grub/grub.cfg").write_text(first)
    assert grubcfg.parse_settings(first).boot_device_id == str(BOOT_UUID)
    cfg = sr / "boot/grub/grub.cfg"

    write_tree(tree, kernel=b"FAKEKERNEL2\n")
    commit(sr, "os/one", tree, "2.0", day=2)
    assert "Transaction complete" in _deploy(ours, sr)
    assert os.readlink(cfg) == "../loader/grub.cfg"
    text = cfg.read_text()
    assert _titles(text) == ["My OS 1 2.0 (ostree:0)", "My OS 1 1.0 (ostree:1)"]
    # the image's header and its boot-filesystem search survive regeneration
    assert text.startswith(first[:first.index("menuentry ")])
    assert f"'ostree-0-{BOOT_UUID}'" in text and f"search --no-floppy --fs-uuid --set=root {BOOT_UUID}" in text
    assert sorted(p.name for p in (sr / "boot").iterdir() if p.name.startswith("loader")) == ["loader", "loader.0"]
    _check(cfg)

    with Sysroot(str(sr)) as s:
        s.load()
        s.rollback_now()
    assert _titles(cfg.read_text()) == ["My OS 1 1.0 (ostree:0)", "My OS 1 2.0 (ostree:1)"]
    assert os.readlink(sr / "boot/loader") == "loader.1"
    _check(cfg)

    ours(f"--sysroot={sr}", "kargs", "edit-in-place", "--append-if-missing=quiet")
    linux0 = [ln for ln in _menu(cfg.read_text()).split("menuentry ")[1].splitlines() if ln.startswith("linux ")]
    assert linux0[0].split()[2] == "root=UUID=1234" and linux0[0].split()[-1] == "quiet"

    ours(f"--sysroot={sr}", "undeploy", "1")
    text = cfg.read_text()
    assert _titles(text) == ["My OS 1 1.0 (ostree:0)"]
    assert "2.0" not in text
    _check(cfg)


def test_foreign_or_absent_config_left_alone(workdir):
    """auto without a grub.cfg: no menu; a grub.cfg we did not write is not
    replaced by a link (ostree never touches it either)."""
    sr = make_sysroot(workdir / "ours", "ours")
    run("ostree", f"--repo={sr}/ostree/repo", "config", "set", "sysroot.bootloader", "auto")
    tree = workdir / "tree"
    write_tree(tree)
    commit(sr, "os/one", tree, "1.0", day=1)
    assert "Bootloader updated" in _deploy(ours, sr)
    assert not list((sr / "boot").glob("loader*/grub.cfg"))
    (sr / "boot/grub2").mkdir()
    (sr / "boot/grub2/grub.cfg").write_text("set timeout=5\n")
    write_tree(tree, kernel=b"FAKEKERNEL2\n")
    commit(sr, "os/one", tree, "2.0", day=2)
    _deploy(ours, sr)
    assert (sr / "boot/grub2/grub.cfg").read_text() == "set timeout=5\n"
    assert _titles((sr / "boot/loader/grub.cfg").read_text()) == ["My OS 1 2.0 (ostree:0)", "My OS 1 1.0 (ostree:1)"]


def _image_sysroot(workdir: Path) -> Path:
    sr = make_sysroot(workdir / "ours", "ours")
    run("ostree", f"--repo={sr}/ostree/repo", "config", "set", "sysroot.bootloader", "auto")
    tree = workdir / "tree"
    write_tree(tree)
    commit(sr, "os/one", tree, "1.0", day=1)
    _deploy(ours, sr, "--karg=root=UUID=1234")
    (sr / "boot/grub").mkdir()
    (sr / "boot/grub/grub.cfg").write_text(grub_config(sr, BOOT_UUID))
    write_tree(tree, kernel=b"FAKEKERNEL2\n")
    commit(sr, "os/one", tree, "2.0", day=2)
    return sr


@pytest.mark.parametrize("step", ["grub-config", "loader-swap"])
def test_killed_deploy_leaves_a_whole_menu(workdir, step):
    """Stopped around the menu write: GRUB reads either the old menu or the
    new one, never a dangling link or a half file."""
    sr = _image_sysroot(workdir)
    p = ours(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", check=False,
             env={**NAMING_1_ENV, "OSTREEPY_FAULT": step})
    assert p.returncode == FAULT_EXIT_CODE, p.stderr
    cfg = sr / "boot/grub/grub.cfg"
    titles = _titles(cfg.read_text())
    new = ["My OS 1 2.0 (ostree:0)", "My OS 1 1.0 (ostree:1)"]
    assert titles == (new if step == "loader-swap" else ["My OS 1 1.0 (ostree:0)"]), step
    _check(cfg)
    if step != "loader-swap":
        _deploy(ours, sr)
    assert _titles(cfg.read_text()) == new


def test_grub_reads_the_menu_through_the_loader_link(workdir):
    """GRUB's own ext2 driver (grub-fstest) on an ext4 /boot made from the
    sysroot's: /grub/grub.cfg -> ../loader/grub.cfg -> loader.N resolves to
    the menu whose entry 0 is the new deployment."""
    sr = _image_sysroot(workdir)
    _deploy(ours, sr)
    img = workdir / "boot.img"
    run("mkfs.ext4", "-q", "-d", str(sr / "boot"), "-U", str(BOOT_UUID), str(img), "8M")
    seen = run("grub-fstest", str(img), "cat", "/grub/grub.cfg").stdout
    assert seen == (sr / "boot/grub/grub.cfg").read_text()
    assert _titles(seen)[0] == "My OS 1 2.0 (ostree:0)"
    kernel = re.search(r"^linux (\S+)", _menu(seen), re.M).group(1)
    assert run("grub-fstest", str(img), "cat", kernel).stdout == "FAKEKERNEL2\n"
