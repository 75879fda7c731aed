"""A container image's ``.ostree.cfs``: an ``oci:`` layout (built with the container tests' layer
helpers and umoci) imported by ``ostreepy container image pull`` and deployed by ``ostreepy admin
deploy`` with composefs enabled in the image's ``prepare-root.conf``, against upstream ostree
2026.4's ``admin deploy`` of the same commit (pulled into its own sysroot with ``pull-local``).

The image's tree has what an import rewrites (``/etc`` to ``/usr/etc``), a hard link, a symlink,
user xattrs and a file past the inline limit. The commit's checksum is not fixed (umoci stamps the
layer's history with the time it was added, so the manifest, and the commit's metadata with it,
differ per build), but the image is built from the tree alone: its SHA-256 is a fixed vector,
checked also where the peer is missing."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import upstream_peer
from container.conftest import Layer, build_image

# SHA-256 of the .ostree.cfs both deploys wrote (upstream ostree 2026.4, `admin deploy` of the commit
# `ostreepy container image pull` made of the image below), per `[composefs] enabled`
CFS_SHA256 = {
    "yes": "0bde5d93e4181d92a7003a557ece79a606c1156f1bd5cebf036211e3956245cc",
    "verity": "3edb5253425fe24fd4aa1995ca8f9154970a1209f41eb7499c7ed42d96cc068f",
}


def run(*args: str) -> subprocess.CompletedProcess:
    p = subprocess.run(list(args), capture_output=True, text=True)
    assert p.returncode == 0, f"{args} failed:\n{p.stdout}\n{p.stderr}"
    return p


def _layer(enabled: str) -> bytes:
    return (Layer().dir("usr").dir("usr/bin").dir("usr/lib").dir("usr/lib/ostree").dir("usr/lib/modules")
            .dir("usr/lib/modules/6.1.0-test").dir("etc")
            .file("usr/bin/tool", b"#!/bin/sh\necho tool\n", mode=0o755)
            .hardlink("usr/bin/tool-link", "usr/bin/tool")
            .symlink("usr/bin/sh-link", "tool")
            .file("usr/lib/os-release", b'NAME="Test"\nID=test\nVERSION_ID=1\n')
            .file("usr/lib/modules/6.1.0-test/vmlinuz", b"FAKEKERNEL\n")
            .file("usr/lib/modules/6.1.0-test/initramfs.img", b"FAKEINITRD\n")
            .file("usr/lib/ostree/prepare-root.conf", f"[composefs]\nenabled = {enabled}\n".encode())
            .file("usr/lib/big", bytes(range(256)) * 40, xattrs={"user.one": b"1"})
            .file("etc/app.conf", b"v1\n")
            .bytes())


def _sysroot(sr: Path, ostree: list[str]) -> str:
    sr.mkdir()
    run(*ostree, "admin", "init-fs", str(sr))
    run(*ostree, "admin", "os-init", f"--sysroot={sr}", "myos")
    repo = f"{sr}/ostree/repo"
    run(*ostree, f"--repo={repo}", "config", "set", "sysroot.bootloader", "none")
    return repo


def _image(sr: Path) -> bytes:
    (cfs,) = (sr / "ostree/deploy/myos/deploy").glob("*.0/.ostree.cfs")
    return cfs.read_bytes()


@pytest.mark.parametrize("enabled", ["yes", "verity"])
def test_pulled_image_deploys_with_peers_cfs(tmpfs: Path, enabled: str) -> None:
    if not Path("/usr/bin/umoci").exists():
        pytest.skip("umoci not installed: apt-get install umoci (scripts/install-peers.sh)")
    build_image(tmpfs / "oci", "v1", [_layer(enabled)], tmpfs, {"containers.bootc": "1"})
    ours = [sys.executable, "-m", "ostreepy"]
    repo = _sysroot(tmpfs / "ours", ours)
    out = run(*ours, "container", "image", "pull", repo, f"ostree-unverified-image:oci:{tmpfs / 'oci'}:v1").stdout
    commit = re.search(r"=> ([0-9a-f]{64})$", out, re.M).group(1)  # type: ignore[union-attr]
    run(*ours, "admin", "deploy", f"--sysroot={tmpfs / 'ours'}", "--os=myos", commit)
    image = _image(tmpfs / "ours")
    if upstream_peer.available():
        ostree = upstream_peer.peer_bin("ostree")
        peer_repo = _sysroot(tmpfs / "peer", [ostree])
        run(ostree, f"--repo={peer_repo}", "pull-local", repo, commit)
        run(ostree, "admin", "deploy", f"--sysroot={tmpfs / 'peer'}", "--os=myos", commit)
        assert _image(tmpfs / "peer") == image
    assert hashlib.sha256(image).hexdigest() == CFS_SHA256[enabled]
