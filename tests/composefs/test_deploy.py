"""``.ostree.cfs`` in deployments, against upstream ``ostree admin deploy`` (sysroot on a tmpfs:
ostree freezes the filesystem holding /boot, and on a tmpfs the freeze is refused and it only syncs)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ostreepy import porcelain
from ostreepy.composefs.deploy import rootfs_config, load_prepare_root_config
from ostreepy.composefs.commit_image import Verity
from ostreepy.composefs.tree import ComposefsError
from ostreepy.store.keyfile import KeyFile

import upstream_peer


def run(*args: str) -> subprocess.CompletedProcess:
    p = subprocess.run(list(args), capture_output=True, text=True)
    assert p.returncode == 0, f"{args} failed:\n{p.stdout}\n{p.stderr}"
    return p


def write_tree(root: Path) -> None:
    """A tiny bootable tree (the sysroot tests' layout)."""
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/lib").mkdir()
    (root / "usr/bin/true").write_text("bin\n")
    (root / "usr/bin/true").chmod(0o755)
    (root / "usr/lib/os-release").write_text('NAME="My OS"\nID=myos\nVERSION_ID=1\n')
    m = root / "usr/lib/modules/6.1.0-test"
    m.mkdir(parents=True)
    (m / "vmlinuz").write_bytes(b"FAKEKERNEL\n")
    (m / "initramfs.img").write_bytes(b"FAKEINITRD\n")
    (root / "usr/etc").mkdir()
    (root / "usr/etc/os-release").symlink_to("../usr/lib/os-release")
    for dirpath, _, _ in os.walk(root):
        os.chmod(dirpath, 0o755)

# `ostree admin deploy` (2026.4) of the commit below (its `commit --generate-composefs-metadata` of the
# tree of write_tree): the SHA-256 of the deployment's .ostree.cfs
CFS_SHA256 = {
    "yes": "ac90ee88f5c94af6a2dd8d5e21c427b3e9501d1543e21b81b377da82ce849b53",
    "verity": "484b52e2dea4e2373f3b962a38f09c67df5be3bece302cc412a31b169b247616",
    "no": "3bb42a1b12400a70ce53c8ce791168224330a345d4446344c8e5fd6fc748ffba",
    "absent": "e956001c61e1872978f7603828aa7c63bd3a86e71fdd5742629a389f5092c198",
}
COMMITS = {
    "yes": "e375c288dd655c7440532c1835662e8db0f919bcb20e5a8d0bd6653c95c9220e",
    "verity": "137714a862fc3f01b6d5715477cd73d80155b37bea9b54824352e51739e14e29",
    "no": "8e32286268bf0d87a61eea731272a6916a445f8c65a42a31cd1229a3fd252544",
    "absent": "8803090a1fa0711c812dee6617bfbc47fb87b579d4c0de1188280b2172a0cfcd",
}


def _tree(base: Path, enabled: str) -> Path:
    tree = base / "tree"
    write_tree(tree)
    if enabled == "absent":
        return tree
    (tree / "usr/lib/ostree").mkdir(parents=True, exist_ok=True)
    (tree / "usr/lib/ostree/prepare-root.conf").write_text(f"[composefs]\nenabled = {enabled}\n")
    return tree


def _deploy(base: Path, tree: Path, name: str, ostree: str | None) -> tuple[str, bytes]:
    sr = base / name
    sr.mkdir()
    admin = [ostree, "admin"] if ostree else [sys.executable, "-m", "ostreepy", "admin"]
    run(*admin, "init-fs", str(sr))
    run(*admin, f"--sysroot={sr}", "os-init", "myos")
    repo = f"{sr}/ostree/repo"
    if ostree:
        run(ostree, f"--repo={repo}", "config", "set", "sysroot.bootloader", "none")
        csum = run(ostree, f"--repo={repo}", "commit", "-b", "os/one", "--generate-composefs-metadata",
                   "--timestamp=2024-01-01 00:00:00 +0000", str(tree)).stdout.strip()
    else:
        run(sys.executable, "-m", "ostreepy", f"--repo={repo}", "config", "set", "sysroot.bootloader", "none")
        csum = porcelain.commit(repo, str(tree), branch="os/one", timestamp=1704067200,
                                generate_composefs_metadata=True).checksum
    # the repository has no ex-integrity.composefs (libostree's composefs_wanted: NO)
    assert "ex-integrity" not in Path(repo, "config").read_text()
    run(*admin, f"--sysroot={sr}", "deploy", "--os=myos", "os/one")
    (cfs,) = (sr / "ostree/deploy/myos/deploy").glob("*.0/.ostree.cfs")
    return csum, cfs.read_bytes()


@pytest.mark.parametrize("enabled", ["yes", "verity", "no", "absent"])
def test_deploy_writes_ostree_cfs(tmpfs, enabled: str) -> None:
    """The image whatever the configuration says: with composefs `enabled = no` too (the
    blob is made "even if it's explicitly runtime disabled", test-admin-deploy-composefs),
    and with no prepare-root.conf at all in a repository without ``ex-integrity.composefs``:
    an ostree built with composefs writes it unconditionally (checkout_deployment_tree calls
    ostree_repo_checkout_composefs under ``#ifdef HAVE_COMPOSEFS`` alone; the configuration
    and the repository's key only decide the verity mode, since ostree 20ff0865, 2025-01)."""
    tree = _tree(tmpfs, enabled)
    csum, ours = _deploy(tmpfs, tree, "ours", None)
    if upstream_peer.available():
        pcsum, theirs = _deploy(tmpfs, tree, "peer", upstream_peer.peer_bin("ostree"))
        assert pcsum == csum
        assert theirs == ours
    assert csum == COMMITS[enabled]
    assert hashlib.sha256(ours).hexdigest() == CFS_SHA256[enabled]
    # fsck: both sysroots' images check out; a flipped byte does not
    fsck = [sys.executable, "-m", "ostreepy", "composefs", "fsck"]
    assert "no errors found" in run(*fsck, f"--sysroot={tmpfs / 'ours'}").stdout
    (cfs,) = (tmpfs / "ours/ostree/deploy/myos/deploy").glob("*.0/.ostree.cfs")
    data = bytearray(cfs.read_bytes())
    data[-1] ^= 1
    cfs.write_bytes(bytes(data))
    p = subprocess.run(fsck + [f"--sysroot={tmpfs / 'ours'}"], capture_output=True, text=True)
    assert p.returncode == 1 and "is not the composefs image of commit" in p.stderr


def test_prepare_root_config_read_as_ostree(tmp_path) -> None:
    tree = tmp_path / "t"
    for text, expected in (("", Verity.NO), ("[composefs]\nenabled = no\n", Verity.NO),
                           ("[composefs]\nenabled = maybe\n", Verity.MAYBE),
                           ("[composefs]\nenabled = true\n", Verity.YES)):
        assert rootfs_config(KeyFile.parse(text)).enabled is expected
    c = rootfs_config(KeyFile.parse("[composefs]\nenabled = signed\n"))
    assert (c.enabled, c.require_verity, c.signed) == (Verity.YES, True, True)
    with pytest.raises(ComposefsError, match="Invalid tri-state value"):
        rootfs_config(KeyFile.parse("[composefs]\nenabled = sometimes\n"))
    # /etc replaces /usr/lib whole; a symlinked config is refused rather than followed
    (tree / "usr/lib/ostree").mkdir(parents=True)
    (tree / "etc/ostree").mkdir(parents=True)
    (tree / "usr/lib/ostree/prepare-root.conf").write_text("[composefs]\nenabled = yes\n")
    (tree / "etc/ostree/prepare-root.conf").write_text("[other]\nx = 1\n")
    assert rootfs_config(load_prepare_root_config(str(tree))).enabled is Verity.NO
    os.unlink(tree / "etc/ostree/prepare-root.conf")
    os.symlink("/etc/passwd", tree / "etc/ostree/prepare-root.conf")
    with pytest.raises(ComposefsError, match="symbolic link"):
        load_prepare_root_config(str(tree))
