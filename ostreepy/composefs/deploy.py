"""composefs in deployments: ``prepare-root.conf`` and the ``.ostree.cfs`` image.

libostree reads ``ostree/prepare-root.conf`` from the new deployment's
``usr/lib`` then ``etc`` (a later file replaces an earlier one whole, as
``g_key_file_load_from_data`` does). ``[composefs] enabled`` is a tristate
(``yes``/``no``/``maybe``, booleans accepted) or ``verity``/``signed``, which
also require fs-verity. An ostree built with composefs writes ``.ostree.cfs``
into every deployment right after the checkout, whatever the configuration says
("We generate the blob now, even if it's explicitly runtime disabled":
ostree-sysroot-deploy.c, checkout_deployment_tree; test-admin-deploy-composefs),
and so does ostreepy, which lists ``composefs`` in ``--version``. The image carries
a file's fs-verity digest when the kernel already knows it or, for
``verity``/``signed``, always, and then its digest must be the commit's
``ostree.composefs.digest.v0`` when the commit records one; for those two,
fs-verity is also turned on for the objects and the image where the filesystem
supports it. Where it does not, the deploy goes on with computed digests, as
upstream ostree 2026.4 does (the boot then refuses it, not the deploy).

The files are opened below the deployment without following symlinks, so a
hostile tree cannot make the deploy read outside it.
"""

from __future__ import annotations

import errno
import os
from typing import Optional, Sequence

import attrs

from ..store.keyfile import KeyFile
from ..store.repo import Repo
from .commit_image import Verity, write_commit_image
from .tree import ComposefsError

__all__ = ["COMPOSEFS_NAME", "RootfsConfig", "load_prepare_root_config", "rootfs_config",
           "write_deployment_image", "verify_deployment_image", "verify_signed_commit", "BINDING_KEYPATH"]

#: The image's name in a deployment directory.
COMPOSEFS_NAME = ".ostree.cfs"
PREPARE_ROOT_CONFIG = "ostree/prepare-root.conf"
#: Where ``signed`` looks for its ed25519 public keys unless ``keypath`` says otherwise.
BINDING_KEYPATH = "/etc/ostree/initramfs-root-binding.key"
_TRUE = ("1", "yes", "true")
_FALSE = ("0", "no", "false")


@attrs.frozen
class RootfsConfig:
    """The composefs part of ``prepare-root.conf``."""

    enabled: Verity  # NO, MAYBE or YES (composefs itself, not fs-verity)
    require_verity: bool = False
    signed: bool = False
    keypath: str = BINDING_KEYPATH


def _read_below(root_fd: int, relpath: str, limit: int = 1 << 20) -> Optional[bytes]:
    """The bytes of ``relpath`` under ``root_fd``, no symlink followed; None when absent."""
    parts = relpath.split("/")
    fd = os.dup(root_fd)
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | (0 if last else os.O_DIRECTORY)
            try:
                nfd = os.open(part, flags, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ENOENT, errno.ENOTDIR):
                    return None
                if e.errno == errno.ELOOP:
                    raise ComposefsError(f"{relpath}: is a symbolic link") from None
                raise
            os.close(fd)
            fd = nfd
        data = os.read(fd, limit + 1)
        if len(data) > limit:
            raise ComposefsError(f"{relpath}: too large")
        return data
    finally:
        os.close(fd)


def load_prepare_root_config(deployment: str) -> KeyFile:
    """The deployment's ``prepare-root.conf`` as libostree reads it (empty when there is none)."""
    fd = os.open(deployment, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        config = KeyFile()
        for base in ("usr/lib", "etc"):
            data = _read_below(fd, f"{base}/{PREPARE_ROOT_CONFIG}")
            if data is not None:
                try:
                    config = KeyFile.parse(data.decode("utf-8"))
                except (UnicodeDecodeError, ValueError) as e:
                    raise ComposefsError(f"Parsing prepare-root config: {e}") from None
        return config
    finally:
        os.close(fd)


def rootfs_config(config: KeyFile) -> RootfsConfig:
    """The ``[composefs]`` settings of a ``prepare-root.conf`` (``otcore_load_rootfs_config``)."""
    value = config.get("composefs", "enabled")
    keypath = config.get("composefs", "keypath") or BINDING_KEYPATH
    if value == "signed":
        return RootfsConfig(Verity.YES, True, True, keypath)
    if value == "verity":
        return RootfsConfig(Verity.YES, True, False, keypath)
    if value is None:
        return RootfsConfig(Verity.NO, keypath=keypath)
    v = value.strip()
    if v == "maybe":
        return RootfsConfig(Verity.MAYBE, keypath=keypath)
    if v.lower() in _TRUE:
        return RootfsConfig(Verity.YES, keypath=keypath)
    if v.lower() in _FALSE:
        return RootfsConfig(Verity.NO, keypath=keypath)
    raise ComposefsError(f"Reading rootfs config: Invalid tri-state value: {v}")


def write_deployment_image(repo: Repo, checksum: str, deployment: str,
                           config: Optional[RootfsConfig] = None) -> bytes:
    """Write ``.ostree.cfs`` into a checked-out deployment (the configuration, read and
    so checked even when composefs is off, says only whether fs-verity is required);
    return the image's fs-verity digest."""
    if config is None:
        config = rootfs_config(load_prepare_root_config(deployment))
    fd = os.open(deployment, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return write_commit_image(repo, checksum, COMPOSEFS_NAME,
                                  Verity.YES if config.require_verity else Verity.MAYBE, dir_fd=fd,
                                  enable_fsverity=config.require_verity)
    finally:
        os.close(fd)


def verify_deployment_image(repo: Repo, checksum: str, deployment: str) -> Optional[bytes]:
    """fsck of a deployment's ``.ostree.cfs``: it must read back cleanly and be the image of
    ``checksum`` as a deploy writes it (with per-file digests or without; with them, its digest
    must be the commit's ``ostree.composefs.digest.v0`` when recorded). Returns the image's
    digest; None when there is no image and the configuration does not ask for one."""
    from .commit_image import DIGEST_KEY_V0, _tree
    from .erofs import image_bytes
    from .fsverity import fsverity_digest
    from .reader import read_image

    config = rootfs_config(load_prepare_root_config(deployment))
    fd = os.open(deployment, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        data = _read_below(fd, COMPOSEFS_NAME, limit=1 << 30)
    finally:
        os.close(fd)
    if data is None:
        if config.enabled is Verity.NO:
            return None
        raise ComposefsError(f"{deployment}: composefs is enabled but {COMPOSEFS_NAME} is missing")
    read_image(data)
    digest = fsverity_digest(data)
    commit = repo.load_commit(checksum)
    modes = (Verity.YES,) if config.require_verity else (Verity.MAYBE, Verity.NO, Verity.YES)
    for mode in modes:
        expected, _ = image_bytes(_tree(repo, commit.root_tree, commit.root_meta, mode))
        if expected == data:
            break
    else:
        raise ComposefsError(f"{deployment}: {COMPOSEFS_NAME} is not the composefs image of commit {checksum}")
    if config.signed:
        fd = os.open(deployment, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            keys = _read_below(fd, config.keypath.lstrip("/"))
        finally:
            os.close(fd)
        if keys is None:
            raise ComposefsError(f"{deployment}: composefs is signed but {config.keypath} is missing")
        pubkeys = [ln.strip() for ln in keys.decode("ascii", "replace").splitlines()
                   if ln.strip() and not ln.lstrip().startswith("#")]
        expected = verify_signed_commit(repo, checksum, pubkeys)
        if expected != digest:
            raise ComposefsError(f"{deployment}: {COMPOSEFS_NAME} digest {digest.hex()} is not the signed "
                                 f"commit's {expected.hex()}")
    recorded = commit.metadata.get(DIGEST_KEY_V0)
    if config.require_verity and recorded is not None and bytes(recorded.value) != digest:
        raise ComposefsError(f"{deployment}: {COMPOSEFS_NAME} digest {digest.hex()} is not the commit's "
                             f"{bytes(recorded.value).hex()}")
    return digest


def verify_signed_commit(repo: Repo, checksum: str, pubkeys: Sequence[str]) -> bytes:
    """What ``ostree-prepare-root`` checks for ``enabled = signed``: an ed25519 signature (keys:
    base64, one a line, as in ``initramfs-root-binding.key``) of the commit, or, for a bootc
    commit without detached metadata, of its base (parent) commit; returns the signed commit's
    ``ostree.composefs.digest.v0``, the digest the image must have."""
    from ..errors import OstreeError
    from ..store.objects import ObjectType
    from ..store.signing import ED25519, Signer, commit_signatures
    from .commit_image import DIGEST_KEY_V0

    signed = checksum
    meta = repo.read_commit_detached_metadata(checksum)
    if meta is None:
        commit = repo.load_commit(checksum)
        base = commit.parent if "ostree.container.image-config" in commit.metadata else None
        if base is not None and repo.has_object(base, ObjectType.COMMIT) and \
                repo.read_commit_detached_metadata(base) is not None:
            signed = base
        else:
            raise ComposefsError(f"No commitmeta for deploy {checksum}")
    sigs = commit_signatures(repo, signed, ED25519)
    if not sigs:
        raise ComposefsError("Signature validation requested, but no signatures in commit")
    try:
        Signer(ED25519, public=tuple(pubkeys)).verify(repo.load_metadata(ObjectType.COMMIT, signed), sigs)
    except OstreeError as e:
        raise ComposefsError(f"Checking commit signature: {e}") from None
    value = repo.load_commit(signed).metadata.get(DIGEST_KEY_V0)
    if value is None or value.type != "ay" or len(bytes(value.value)) != 32:
        raise ComposefsError("Signature validation requested, but no valid digest in commit")
    return bytes(value.value)
