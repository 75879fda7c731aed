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

The image is built from the repository, not from the checkout, so where the command line
owns the process (as the checkout's sharing, ostreepy._process) a deploy writes it in a
forked process while it checks the deployment out (:func:`start_deployment_image`; the image
is ~2/3 of a deploy's CPU at 100,000 files). The configuration is then read from the commit,
where the checkout will put the same bytes, only when the commit holds plain directories and
a regular file there (else the image waits for the checkout, as before). The image goes in
once the checkout is complete, renamed over what the tree put there as the sequential write
does; its process's error is raised in the deploy with the same words, and a checkout that
fails takes the image's process down before it has touched the deployment.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
from typing import Optional, Sequence

import attrs

from .._process import describe_status, error_from, error_record
from ..errors import OstreeError
from ..fsutil import read_all, write_all
from ..store.keyfile import KeyFile
from ..store.objects import commit_root
from ..store.objtype import ObjectType
from ..store.repo import Repo
from .commit_image import Verity, write_commit_image
from .tree import ComposefsError

__all__ = ["COMPOSEFS_NAME", "RootfsConfig", "load_prepare_root_config", "rootfs_config",
           "write_deployment_image", "start_deployment_image", "DeploymentImage", "verify_deployment_image",
           "verify_signed_commit", "BINDING_KEYPATH"]

#: The image's name in a deployment directory.
COMPOSEFS_NAME = ".ostree.cfs"
PREPARE_ROOT_CONFIG = "ostree/prepare-root.conf"
#: Where ``signed`` looks for its ed25519 public keys unless ``keypath`` says otherwise.
BINDING_KEYPATH = "/etc/ostree/initramfs-root-binding.key"
_CONFIG_DIRS = ("usr/lib", "etc")
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
        return _parse_prepare_root([_read_below(fd, f"{base}/{PREPARE_ROOT_CONFIG}") for base in _CONFIG_DIRS])
    finally:
        os.close(fd)


def _parse_prepare_root(texts: Sequence[Optional[bytes]]) -> KeyFile:
    """The configuration of the files of :data:`_CONFIG_DIRS` (None: absent): the last one there."""
    config = KeyFile()
    for data in texts:
        if data is not None:
            try:
                config = KeyFile.parse(data.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                raise ComposefsError(f"Parsing prepare-root config: {e}") from None
    return config


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
        return write_commit_image(repo, checksum, COMPOSEFS_NAME, _verity(config), dir_fd=fd,
                                  enable_fsverity=config.require_verity)
    finally:
        os.close(fd)


def _verity(config: RootfsConfig) -> Verity:
    return Verity.YES if config.require_verity else Verity.MAYBE


class _NotPlain(Exception):
    """The commit's configuration path is not plain directories and a regular file."""


class _Abandoned(Exception):
    """The deploy gave the image up before it was written."""


def _commit_file(repo: Repo, tree: str, relpath: str, limit: int = 1 << 20) -> Optional[bytes]:
    """The bytes :func:`_read_below` will read at ``relpath`` of the deployment checked out from
    the dirtree ``tree``; None where there is none. _NotPlain where the checkout would not hold
    plain directories and a regular file there (a symbolic link, a file where the path goes on,
    an overlay whiteout, a directory) or the file is too large: only the checkout answers those."""
    from ..store.checkout import OVERLAY_WHITEOUT_PREFIX
    parts = relpath.split("/")
    for i, part in enumerate(parts):
        files, dirs = repo.load_dirtree_entries(tree)
        names = dict(files)
        if OVERLAY_WHITEOUT_PREFIX + part in names:
            raise _NotPlain(relpath)
        sub = next((t for n, t, _m in dirs if n == part), None)
        if i < len(parts) - 1:
            if sub is None:
                if part in names:
                    raise _NotPlain(relpath)
                return None
            tree = sub
            continue
        if sub is not None:
            raise _NotPlain(relpath)
        csum = names.get(part)
        if csum is None:
            return None
        header, stream = repo.load_file(csum, verify=False)
        if stream is None:
            raise _NotPlain(relpath)
        with stream:
            data = stream.read(limit + 1)
        if not header.is_regular or len(data) > limit:
            raise _NotPlain(relpath)
        return data
    return None  # pragma: no cover - relpath has a last part


def _commit_config(repo: Repo, checksum: str) -> Optional[RootfsConfig]:
    """The configuration :func:`write_deployment_image` will read in the deployment of
    ``checksum``, read from the commit; None where only the checkout can say (a path that is
    not plain, an error: the checkout's reading then raises it where it always did)."""
    try:
        root_tree, _ = commit_root(repo.load_metadata(ObjectType.COMMIT, checksum))
        texts = [_commit_file(repo, root_tree, f"{base}/{PREPARE_ROOT_CONFIG}") for base in _CONFIG_DIRS]
        return rootfs_config(_parse_prepare_root(texts))
    except (_NotPlain, OstreeError, OSError, ValueError):
        return None


def _may_fork() -> bool:
    """A deploy forks only in a process the command line owns, with no other thread and at
    least two CPUs to run on (as the checkout's sharing), and as root (where nothing in the
    checkout can be unreadable to the reading that the commit's stands in for)."""
    from .._process import may_fork_a_helper
    return os.geteuid() == 0 and may_fork_a_helper()


class DeploymentImage:
    """``.ostree.cfs`` being written by a forked process (:func:`start_deployment_image`):
    :meth:`checked_out` once the deployment is complete, then :meth:`finish`; or
    :meth:`abandon` where the deployment will not be."""

    def __init__(self, pid: int, go_fd: int, err_fd: int) -> None:
        self._pid = pid
        self._go = go_fd
        self._err = err_fd

    def checked_out(self) -> None:
        """The deployment is checked out: the image may go in."""
        os.write(self._go, b"1")
        os.close(self._go)
        self._go = -1

    def finish(self) -> None:
        """Wait for the image; its process's error raised here as it was
        (:func:`ostreepy._process.error_from`)."""
        assert self._go < 0, "finish() before checked_out()"
        try:
            record = read_all(self._err)
        finally:
            status = self._reap()
        if record:
            raise error_from(record)
        if status:
            # ended without a word (a signal, the OOM killer)
            raise ComposefsError(f"Writing {COMPOSEFS_NAME}: its process ended abnormally "
                                 f"({describe_status(status)})")

    def abandon(self) -> None:
        """The deployment is given up: the process ends, having written nothing if the image was
        not let in yet (it touches the deployment only after :meth:`checked_out`)."""
        if self._pid <= 0:
            return
        if self._go >= 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            os.close(self._go)
            self._go = -1
        self._reap()

    def _reap(self) -> int:
        status = os.waitpid(self._pid, 0)[1]
        self._pid = -1
        os.close(self._err)
        self._err = -1
        return status


def start_deployment_image(repo: Repo, checksum: str, deployment: str) -> Optional[DeploymentImage]:
    """Start writing the ``.ostree.cfs`` of commit ``checksum`` into ``deployment`` (not made
    yet: the caller checks it out meanwhile) in a forked process; None where the caller is to
    write it after the checkout with :func:`write_deployment_image` (see the module's text)."""
    if not _may_fork():
        return None
    config = _commit_config(repo, checksum)
    if config is None:
        return None
    go_r, go_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the image's process (its work is checked by its result)
        code = 0
        try:
            os.close(go_w)
            os.close(err_r)

            def wait_for_checkout() -> None:
                if os.read(go_r, 1) != b"1":
                    raise _Abandoned()  # the deploy ended (or died) before the checkout completed

            write_commit_image(repo, checksum, os.path.join(deployment, COMPOSEFS_NAME), _verity(config),
                               enable_fsverity=config.require_verity, before_write=wait_for_checkout)
        except _Abandoned:
            pass
        except BaseException as e:
            code = 1
            with contextlib.suppress(BaseException):
                write_all(err_w, error_record(e))
        os._exit(code)
    os.close(go_r)
    os.close(err_w)
    return DeploymentImage(pid, go_w, err_r)


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
