"""A sysroot: the physical root holding ``ostree/repo``, the deployments of
each stateroot, and ``boot/`` with their kernels and boot entries.

This is the thin filesystem layer over the pure rules of
:mod:`ostreepy.sysroot.deployment`, :mod:`ostreepy.sysroot.etcmerge`, :mod:`ostreepy.sysroot.kernel`
and :mod:`ostreepy.sysroot.bootconfig`, following libostree's ``ostree-sysroot*.c``
step by step so that a sysroot written here is one ``ostree admin`` reads and
keeps managing, and the other way round.

A deploy is two halves, as in libostree: :meth:`Sysroot.deploy_tree` makes
the deployment directory (hardlink checkout, ``/etc`` from ``/usr/etc`` and
the three-way merge, shared ``/var``, origin file) and
:meth:`Sysroot.write_deployments` makes a list of deployments the boot
configuration, atomically. :meth:`Sysroot.deploy` does both the way
``ostree admin deploy`` does. The origin is any keyfile, so a container
image origin (``container-image-reference``) deploys the same way as a
refspec.

"Booted" in a folder sysroot: nothing is booted unless the caller says so,
either with a kernel command line whose ``ostree=`` names a deployment
(``booted_cmdline``), or with ``default_booted=True`` (the first
deployment counts as booted).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import attrs

from bootloader.bls import BLSEntry
from bootloader.kargs import KernelArgs
from bootloader.naming import (DeploymentBoot, deployment_entry, parse_bls_append, parse_os_release,
                               parse_sysroot_opts, show_osname, SYSROOT_OPT_BOOTLOADER_NAMING_1)

from . import bootconfig as bc
from . import grubcfg
from ..store.checkout import CheckoutMode, CheckoutOptions, Overwrite, checkout
from .debugflags import DEBUG_ENV, MUTABLE_DEPLOYMENTS, NO_DTB, TEST_FIFREEZE, sysroot_debug_flags
from .deployment import (ORIGIN_TRANSIENT_GROUP, Deployment, StatusRow, allocate_deployserial,
                         assign_bootserials, merge_deployment_of, needs_new_bootversion,
                         origin_from_refspec, ostree_arg_of, parse_bootlink, parse_deploy_name,
                         query_pending_rollback, simple_write_list)
from ..errors import DeployError, OstreeError, SysrootError
from .etcmerge import (EtcDiff, EtcMergePlan, apply_etc_merge, plan_etc_merge, snapshot_commit_dir,
                       snapshot_dir)
from .kernel import KernelLayout, commit_kernel_size, find_kernel, install_kernel
from ..store.keyfile import KeyFile
from ..progress import DeploymentCheckoutStarted, KernelInstallStarted, Message, ProgressCallback, emit
from ..store.repo import Repo, RepoMode

__all__ = ["Sysroot", "InsufficientSpaceError", "StagedError", "init_fs"]

STAGED_PATH = "run/ostree/staged-deployment"
SPACE_MARGIN = 1 << 20  # EARLY_PRUNE_SAFETY_MARGIN_SIZE


class InsufficientSpaceError(DeployError):
    """/boot or the repository's filesystem cannot hold the new deployment."""


class StagedError(DeployError):
    """A staged deployment that cannot be used as asked."""


def init_fs(path: str, modern: bool = False, repo_mode: str = "bare", *, epoch: int = 0) -> None:
    """``ostree admin init-fs``: the top-level directories and a ``bare``
    (or ``repo_mode``) repository in ``ostree/repo``. The directory must exist.

    ``epoch`` as ostree's ``--epoch``: 0 the traditional top-level directories,
    1 (``modern``) only ``boot/`` and ``ostree/``, 2 as 1 with ``ostree/`` 0700
    (no access for unprivileged code)."""
    if not os.path.isdir(path):
        raise SysrootError(f"opendir({path}): No such file or directory")
    os.makedirs(os.path.join(path, "boot"), 0o755, exist_ok=True)
    if epoch < 0:
        raise SysrootError(f"Invalid epoch: {epoch}")
    if modern and epoch == 0:
        epoch = 1
    if epoch == 2:
        # made before anything beneath it, so the mode is not widened by makedirs
        os.makedirs(os.path.join(path, "ostree"), 0o700, exist_ok=True)
    if epoch == 0:
        for d in ("boot", "dev", "home", "proc", "run", "sys"):
            os.makedirs(os.path.join(path, d), 0o755, exist_ok=True)
        os.makedirs(os.path.join(path, "root"), 0o700, exist_ok=True)
        os.makedirs(os.path.join(path, "tmp"), 0o1777, exist_ok=True)
        os.chmod(os.path.join(path, "tmp"), 0o1777)
    os.makedirs(os.path.join(path, "ostree/repo"), 0o755, exist_ok=True)
    os.makedirs(os.path.join(path, "ostree/deploy"), 0o755, exist_ok=True)
    Repo.init(os.path.join(path, "ostree/repo"), repo_mode).close()
    os.makedirs(os.path.join(path, "ostree/repo/tmp/cache"), 0o755, exist_ok=True)


def _legacy_var_init(var: str) -> None:
    # _ostree_sysroot_stateroot_legacy_var_init
    os.makedirs(os.path.join(var, "tmp"), 0o777, exist_ok=True)
    os.chmod(os.path.join(var, "tmp"), 0o1777)
    os.makedirs(os.path.join(var, "lib"), 0o777, exist_ok=True)
    os.makedirs(os.path.join(var, "log"), 0o755, exist_ok=True)
    if not os.path.lexists(os.path.join(var, "run")):
        os.symlink("../run", os.path.join(var, "run"))
    if not os.path.lexists(os.path.join(var, "lock")):
        os.symlink("../run/lock", os.path.join(var, "lock"))


@attrs.frozen
class SpaceNeed:
    """What a deployment needs before anything is written."""

    boot_bytes: int
    boot_free: int
    repo_bytes: int
    repo_free: int




def _one_line(text: Optional[str]) -> Optional[str]:
    """A version from image metadata goes into a BLS title line: control characters
    (a newline would start a new key) become spaces."""
    if text is None:
        return None
    return "".join(" " if ord(c) < 0x20 or c == "\x7f" else c for c in text)

def validate_osname(osname: str) -> str:
    """A stateroot name becomes a path component under ostree/deploy and /boot/ostree."""
    if (not osname or "/" in osname or osname in (".", "..")
            or any(c in osname for c in "\x00\n\r\t ")):
        raise SysrootError(f"Invalid stateroot name '{osname}'")
    return osname

class Sysroot:
    """An opened sysroot directory. Call :meth:`load` (done on open) after
    outside changes; every writing method reloads when it is done."""

    def __init__(self, path: str, *, booted_cmdline: Optional[str] = None,
                 default_booted: bool = False, opts: Optional[Sequence[str]] = None,
                 message: Optional[Callable[[str], None]] = None,
                 progress: Optional[ProgressCallback] = None) -> None:
        self.path = os.path.abspath(path)
        self.booted_cmdline = booted_cmdline
        self.default_booted = default_booted
        env_opts = parse_sysroot_opts(os.environ.get("OSTREE_SYSROOT_OPTS"))
        self.opts = frozenset(env_opts | frozenset(opts or ()))
        self.debug_flags = sysroot_debug_flags(os.environ.get(DEBUG_ENV))
        self._message = message
        self.progress = progress
        self._repo: Optional[Repo] = None
        self._lock_fd = -1
        self.bootversion = 0
        self.subbootversion = 0
        self.deployments: List[Deployment] = []
        self.booted: Optional[Deployment] = None
        self.staged: Optional[Deployment] = None
        self._staged_data: Optional[dict] = None
        #: (commit, store.prune.walk_commit of it, store.prune.list_objects_ahead) for the
        #: next cleanup's prune (_initialize_deployment)
        self._ahead: Optional[Tuple[str, object, object]] = None
        if not os.path.isdir(self.path):
            raise SysrootError(f"opendir({path}): No such file or directory")
        self.load()

    # ------------------------------------------------------------------ basics
    @property
    def repo(self) -> Repo:
        if self._repo is None:
            self._repo = Repo.open(os.path.join(self.path, "ostree/repo"))
        return self._repo

    def close(self) -> None:
        if self._repo is not None:
            self._repo.close()
            self._repo = None
        self.unlock()

    def __enter__(self) -> "Sysroot":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def message(self, text: str) -> None:
        """What ostree sends to the journal and prints (``Copying /etc changes...``)."""
        emit(self.progress, Message(text))
        if self._message is not None:
            self._message(text)

    @property
    def naming_1(self) -> bool:
        return SYSROOT_OPT_BOOTLOADER_NAMING_1 in self.opts

    def abspath(self, rel: str) -> str:
        return os.path.join(self.path, rel)

    def deployment_dir(self, d: Deployment) -> str:
        return self.abspath(d.dirpath)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """``ostree_sysroot_lock``: an exclusive flock on ``ostree/lock``, then a
        reload, so that every writer decides from the state it holds the lock on."""
        if self._lock_fd >= 0:
            yield
            return
        os.makedirs(self.abspath("ostree"), 0o755, exist_ok=True)
        while True:
            fd = os.open(self.abspath("ostree/lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
            # as glnx_make_lock_file: the previous holder may have unlinked the file
            # while we waited; a lock on a deleted inode excludes nobody
            if os.fstat(fd).st_nlink > 0:
                break
            os.close(fd)
        self._lock_fd = fd
        try:
            # as ostree_sysroot_lock + reload: what was loaded before the lock may
            # be stale; another writer may have changed the deployments meanwhile
            self.load()
            yield
        finally:
            self.unlock()

    def unlock(self) -> None:
        if self._lock_fd >= 0:
            # glnx_release_lock_file: the holder of the exclusive lock removes the file
            with contextlib.suppress(OSError):
                os.unlink(self.abspath("ostree/lock"))
            os.close(self._lock_fd)
            self._lock_fd = -1

    def commit_version(self, csum: str) -> Optional[str]:
        try:
            return self.repo.load_commit(csum).version
        except OstreeError:
            return None

    def _commit_source_title(self, csum: str) -> Optional[str]:
        try:
            v = self.repo.load_commit(csum).metadata.get("ostree.source-title")
        except OstreeError:
            return None
        return v.value if v is not None and v.type == "s" else None

    # ------------------------------------------------------------------ loading
    def _read_origin(self, osname: str, name: str) -> Optional[str]:
        p = self.abspath(f"ostree/deploy/{osname}/deploy/{name}.origin")
        try:
            with open(p, "r", encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            return None
        try:
            KeyFile.parse(text)
        except OstreeError as e:
            raise SysrootError(f"Parsing {name}.origin: {e}") from None
        return text

    def _deployment_from_entry(self, filename: str, entry: BLSEntry) -> Deployment:
        arg = ostree_arg_of(entry.get("options"))
        if arg is None:
            raise SysrootError("No ostree= kernel argument found")
        _bv, osname, bootcsum, bootserial = parse_bootlink(arg)
        link = self.abspath(arg.lstrip("/"))
        try:
            target = os.readlink(link)
            os.stat(link)
        except OSError as e:
            raise SysrootError(f"Parsing deployment {arg} in stateroot '{osname}': "
                               f"{e.strerror}: {arg.lstrip('/')}") from None
        csum, serial = parse_deploy_name(os.path.basename(target))
        return Deployment(osname=osname, csum=csum, deployserial=serial, bootcsum=bootcsum,
                          bootserial=bootserial, bootconfig=entry,
                          origin_text=self._read_origin(osname, f"{csum}.{serial}"),
                          entry_filename=filename)

    def load(self) -> None:
        """Read the boot version, the entries and the deployments behind them."""
        self.bootversion = bc.read_bootversion(self.path)
        self.subbootversion = bc.read_subbootversion(self.path, self.bootversion)
        deps = [self._deployment_from_entry(n, e)
                for n, e in bc.read_loader_entries(self.path, self.bootversion)]
        self.staged, self._staged_data = self._load_staged()
        if self.staged is not None:
            deps.insert(0, self.staged)
        self.deployments = [attrs.evolve(d, index=i) for i, d in enumerate(deps)]
        if self.staged is not None:
            self.staged = self.deployments[0]
        self.booted = self._find_booted()

    def _find_booted(self) -> Optional[Deployment]:
        nonstaged = [d for d in self.deployments if not d.staged]
        if os.path.realpath(self.path) == "/" and self.booted_cmdline is None:
            # the running system: the deployment whose directory is our root, as
            # ostree finds it, never a guess (cleanup must not delete the live root)
            try:
                root = os.stat("/")
            except OSError:
                return None
            for d in nonstaged:
                try:
                    st = os.stat(self.deployment_dir(d))
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) == (root.st_dev, root.st_ino):
                    return d
            return None
        if self.booted_cmdline is not None:
            arg = ostree_arg_of(" ".join(KernelArgs.parse(self.booted_cmdline).to_list()))
            if arg is None:
                return None
            link = self.abspath(arg.lstrip("/"))
            try:
                real = os.path.realpath(link)
            except OSError:
                return None
            for d in nonstaged:
                if os.path.realpath(self.deployment_dir(d)) == real:
                    return d
            raise SysrootError(f"Unexpected state: kernel command line ostree={arg} found, "
                               "but no deployment matches it")
        if self.default_booted and nonstaged:
            return nonstaged[0]
        return None

    def _load_staged(self) -> Tuple[Optional[Deployment], Optional[dict]]:
        p = self.abspath(STAGED_PATH)
        try:
            with open(p, "r", encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return None, None
        except (ValueError, OSError) as e:
            raise StagedError(f"Loading staged deployment: {e}") from None
        t = data.get("target") or {}
        try:
            csum, serial = parse_deploy_name(t["name"])
            osname, bootcsum = t["osname"], t["bootcsum"]
        except (KeyError, TypeError):
            raise StagedError("Loading staged deployment: Missing key") from None
        if not os.path.isdir(self.abspath(f"ostree/deploy/{osname}/deploy/{csum}.{serial}")):
            raise StagedError(f"Loading staged deployment: missing deployment {csum}.{serial}")
        kargs = data.get("kargs")
        bootconfig = BLSEntry([("options", " ".join(kargs))]) if kargs is not None else BLSEntry()
        d = Deployment(osname=osname, csum=csum, deployserial=serial, bootcsum=bootcsum,
                       bootconfig=bootconfig, origin_text=self._read_origin(osname, f"{csum}.{serial}"),
                       staged=True, finalization_locked=bool(data.get("locked", False)))
        return d, data

    # ------------------------------------------------------------------ queries
    def get_merge_deployment(self, osname: Optional[str]) -> Optional[Deployment]:
        return merge_deployment_of(self.deployments, osname, self.booted)

    def query_deployments_for(self, osname: Optional[str]
                              ) -> Tuple[Optional[Deployment], Optional[Deployment]]:
        """(pending, rollback) of ``osname`` around the booted deployment."""
        return query_pending_rollback(self.deployments, osname, self.booted)

    @property
    def rollback(self) -> Optional[Deployment]:
        if self.booted is None:
            return None
        return self.query_deployments_for(None)[1]

    def status_rows(self) -> List[StatusRow]:
        pending = rollback = None
        if self.booted is not None:
            pending, rollback = self.query_deployments_for(None)
        return [StatusRow(d, self.commit_version(d.csum), self._commit_source_title(d.csum),
                          booted=d.same(self.booted), pending=d.same(pending),
                          rollback=d.same(rollback)) for d in self.deployments]

    def list_deployment_dirs(self, osname: str) -> List[Tuple[str, int]]:
        """``(csum, serial)`` of every deploy directory of a stateroot."""
        d = self.abspath(f"ostree/deploy/{osname}/deploy")
        out = []
        try:
            ents = list(os.scandir(d))
        except FileNotFoundError:
            return []
        for ent in ents:
            if not ent.is_dir(follow_symlinks=False):
                continue
            out.append(parse_deploy_name(ent.name))
        return out

    # ------------------------------------------------------------------ stateroots
    def init_osname(self, osname: str, legacy_var: bool = True) -> None:
        """``ostree admin os-init``: ``ostree/deploy/<os>/var`` with the
        directories ostree 2022.7 creates there; without ``legacy_var`` an empty
        ``var``, as ostree 2024.3+ makes it (the first deployment's /var then fills
        it: :meth:`_prepare_var`)."""
        validate_osname(osname)
        with self.locked():
            d = self.abspath(f"ostree/deploy/{osname}")
            try:
                os.mkdir(d, 0o777)
            except FileExistsError:
                raise SysrootError(f"Creating ostree/deploy/{osname}: File exists") from None
            except OSError as e:
                raise SysrootError(f"Creating ostree/deploy/{osname}: {e.strerror}") from None
            os.mkdir(os.path.join(d, "var"), 0o777)
            if legacy_var:
                _legacy_var_init(os.path.join(d, "var"))
            self._bump_mtime()

    def _require_stateroot(self, osname: str) -> None:
        validate_osname(osname)
        if not os.path.exists(self.abspath(f"ostree/deploy/{osname}")):
            raise DeployError(f"No such stateroot: {osname}")

    def _bump_mtime(self) -> None:
        with contextlib.suppress(OSError):
            os.utime(self.abspath("ostree/deploy"))

    # ------------------------------------------------------------------ space
    def space_needed(self, revision: str) -> SpaceNeed:
        """Bytes the deployment of ``revision`` needs on /boot (its kernel
        files) and on the repository's filesystem (the /etc copy), and what
        is free there."""
        csum = self.repo.resolve_rev(revision)
        assert csum is not None
        boot = self.abspath("boot")
        sb = os.statvfs(boot)
        sr = os.statvfs(self.abspath("ostree/repo"))
        boot_bytes, etc_bytes = commit_kernel_size(self.repo, csum, sb.f_bsize)
        return SpaceNeed(boot_bytes, sb.f_bavail * sb.f_frsize, etc_bytes, sr.f_bavail * sr.f_frsize)

    def check_space(self, revision: str) -> SpaceNeed:
        """Refuse, before anything is written, when /boot or the repository's
        filesystem cannot take the deployment of ``revision``."""
        need = self.space_needed(revision)
        if need.boot_bytes + SPACE_MARGIN > need.boot_free:
            raise InsufficientSpaceError(
                f"Not enough space on /boot ({self.abspath('boot')}): the new kernel and initramfs need "
                f"{need.boot_bytes + SPACE_MARGIN} bytes, {need.boot_free} available")
        if need.repo_bytes + SPACE_MARGIN > need.repo_free:
            raise InsufficientSpaceError(
                f"Not enough space on the repository's filesystem ({self.abspath('ostree/repo')}): "
                f"the new deployment needs {need.repo_bytes + SPACE_MARGIN} bytes, "
                f"{need.repo_free} available")
        return need

    # ------------------------------------------------------------------ /etc preview
    def preview_etc_merge(self, revision: str, osname: Optional[str] = None,
                          merge: Optional[Deployment] = None) -> EtcMergePlan:
        """What deploying ``revision`` will do to /etc, computed without
        writing anything: the merge deployment's local changes (kept,
        dropped) against the vendor change from its commit to ``revision``
        (conflicts)."""
        csum = self.repo.resolve_rev(revision)
        assert csum is not None
        if merge is None:
            merge = self.get_merge_deployment(osname)
        new_vendor = snapshot_commit_dir(self.repo, csum, "usr/etc")
        if merge is None:
            return plan_etc_merge({}, {}, {}, new_vendor)
        ddir = self.deployment_dir(merge)
        orig = snapshot_dir(os.path.join(ddir, "usr/etc"))
        modified = snapshot_dir(os.path.join(ddir, "etc"))
        old_vendor = snapshot_commit_dir(self.repo, merge.csum, "usr/etc")
        return plan_etc_merge(orig, modified, old_vendor, new_vendor)

    # ------------------------------------------------------------------ deploy: directory
    def _checkout_options(self) -> CheckoutOptions:
        user = self.repo.mode in (RepoMode.BARE_USER, RepoMode.BARE_USER_ONLY) or os.geteuid() != 0
        # overlayfs whiteouts become devices, as in libostree's checkout_deployment_tree
        return CheckoutOptions(mode=CheckoutMode.USER if user else CheckoutMode.NONE, passthrough_whiteouts=True)

    def _prepare_etc(self, ddir: str, csum: str) -> None:
        # prepare_deployment_etc
        etc = os.path.join(ddir, "etc")
        usretc = os.path.join(ddir, "usr/etc")
        state = "none"
        if os.path.isdir(etc) and not os.path.islink(etc):
            state = "populated" if os.listdir(etc) else "empty"
        usretc_exists = os.path.lexists(usretc)
        if state == "empty" and usretc_exists:
            os.rmdir(etc)
            state = "none"
        elif state == "populated":
            if usretc_exists:
                raise DeployError("Preparing /etc: Tree contains both /etc and /usr/etc")
            os.rename(etc, usretc)
            state, usretc_exists = "none", True
        if usretc_exists:
            opts = attrs.evolve(self._checkout_options(), subpath="/usr/etc", force_copy=True)
            checkout(self.repo, csum, etc, opts)

    def _prepare_var(self, d: Deployment, ddir: str) -> None:
        # prepare_deployment_var: fill an empty stateroot /var once from the commit
        if not os.path.isdir(os.path.join(ddir, "var")):
            return
        var = self.abspath(f"ostree/deploy/{d.osname}/var")
        if os.listdir(var):
            return
        opts = attrs.evolve(self._checkout_options(), subpath="/var", force_copy=True,
                            overwrite=Overwrite.UNION_FILES)
        checkout(self.repo, d.csum, var, opts)
        if not os.path.lexists(os.path.join(ddir, "usr/lib/tmpfiles.d")):
            _legacy_var_init(var)

    def _initialize_deployment(self, osname: str, csum: str, origin: Optional[KeyFile],
                               override_kargs: Optional[Sequence[str]], prune: bool = False) -> Deployment:
        self._require_stateroot(osname)
        serial = allocate_deployserial(self.list_deployment_dirs(osname), csum)
        osdeploy = self.abspath(f"ostree/deploy/{osname}/deploy")
        os.makedirs(osdeploy, 0o775, exist_ok=True)
        name = f"{csum}.{serial}"
        target = os.path.join(osdeploy, name)
        bc.rm_rf(target)  # leftovers of an interrupted checkout
        emit(self.progress, DeploymentCheckoutStarted(osname, name, csum))
        from ..composefs.deploy import start_deployment_image, write_deployment_image
        # the composefs image in a second process through the checkout and the steps below, as
        # their errors would have come after its own (composefs.deploy); else after the checkout
        image = start_deployment_image(self.repo, csum, target)
        try:
            try:
                checkout(self.repo, csum, target, self._checkout_options(), progress=self.progress,
                         share=image is None)
            except OstreeError as e:
                raise DeployError(f"Checking out deployment tree: {e}") from e
            bc.fault_point("checkout")
        except BaseException:
            if image is not None:
                image.abandon()
            raise
        if image is None:
            self._composefs(lambda: write_deployment_image(self.repo, csum, target))
        else:
            image.checked_out()
        try:
            layout = find_kernel(target, no_dtb=NO_DTB in self.debug_flags)
            if override_kargs is not None:
                bootconfig = BLSEntry([("options", str(KernelArgs(list(override_kargs))))])
            else:
                bootconfig = BLSEntry()
            d = Deployment(osname=osname, csum=csum, deployserial=serial, bootcsum=layout.bootcsum,
                           bootconfig=bootconfig,
                           origin_text=origin.to_text() if origin is not None else None)
            self._prepare_etc(target, csum)
            self._prepare_var(d, target)
            if image is not None and prune:
                # the cleanup's prune walks the new commit (a deployment ref names it then) and
                # reads objects/: both done here, while the image's process takes longer than
                # this one's part (what to delete is still decided under the prune's lock)
                from ..store.prune import list_objects_ahead, walk_commit
                self._ahead = (csum, walk_commit(self.repo, csum), list_objects_ahead(self.repo))
        finally:
            if image is not None:
                self._composefs(image.finish)  # (its error first: it came first)
        bc.fault_point("etc-prepare")
        return d

    @staticmethod
    def _composefs(write: Callable[[], object]) -> None:
        try:
            write()
        except OstreeError as e:
            raise DeployError(f"composefs: {e}") from e

    def _write_origin(self, d: Deployment) -> None:
        if d.origin_text is None:
            return
        p = self.abspath(d.origin_relpath)
        tmp = p + f".tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(d.origin_text)
            f.flush()
            os.fsync(f.fileno())  # origins of live deployments are rewritten in place
        os.chmod(tmp, 0o644)
        os.rename(tmp, p)

    def _finalize_deployment(self, d: Deployment, merge: Optional[Deployment]) -> Deployment:
        ddir = self.deployment_dir(d)
        if merge is not None and (d.bootconfig is None or d.bootconfig.get("options") is None):
            opts = merge.bootconfig.get("options") if merge.bootconfig is not None else None
            if opts is not None:
                d = attrs.evolve(d, bootconfig=BLSEntry([("options", opts)]))
        if merge is not None:
            diff = apply_etc_merge(self.deployment_dir(merge), ddir)
            self.message(diff.message())
        bc.fault_point("etc-merge")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(ddir, "etc/.updated"))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.abspath(f"ostree/deploy/{d.osname}/var/.updated"))
        stamp = self.abspath(f"ostree/deploy/{d.osname}/var/.ostree-selabeled")
        if not os.path.lexists(stamp):
            self.message("Relabeling /var (no stamp file 'var/.ostree-selabeled' found)")
            with open(stamp, "wb"):
                pass
            os.chmod(stamp, 0o644)
        self._write_origin(d)
        bc.fault_point("origin")
        if MUTABLE_DEPLOYMENTS not in self.debug_flags:
            bc.set_immutable(ddir, True)
        return d

    def deploy_tree(self, osname: str, revision: str, origin: Optional[KeyFile] = None,
                    merge: Optional[Deployment] = None,
                    override_kargs: Optional[Sequence[str]] = None) -> Deployment:
        """``ostree_sysroot_deploy_tree``: make the deployment directory of
        ``revision`` in stateroot ``osname`` with /etc merged from ``merge``;
        the boot configuration is not touched (see :meth:`write_deployments`).
        ``override_kargs`` None inherits the merge deployment's kargs."""
        with self.locked():
            csum = self.repo.resolve_rev(revision)
            assert csum is not None
            try:
                d = self._initialize_deployment(osname, csum, origin, override_kargs)
                return self._finalize_deployment(d, merge)
            except OSError as e:
                raise DeployError(f"Deploying tree: {e}") from e

    # ------------------------------------------------------------------ deploy: boot config
    def _os_release(self, ddir: str) -> Dict[str, str]:
        for p in ("usr/lib/os-release", "etc/os-release"):
            full = os.path.join(ddir, p)
            if os.path.exists(full):
                with open(full, "r", encoding="utf-8", errors="surrogateescape") as f:
                    return parse_os_release(f.read())
        raise DeployError("Installing kernel: Reading /etc/os-release: No such file or directory")

    def _install_deployment_kernel(self, d: Deployment, new_bootversion: int, n: int,
                                   shown: bool) -> None:
        ddir = self.deployment_dir(d)
        layout = find_kernel(ddir, compute_checksum=False, no_dtb=NO_DTB in self.debug_flags)
        if not layout.bootcsum:
            layout = attrs.evolve(layout, bootcsum=d.bootcsum)
        install_kernel(layout, self.abspath("boot"), d.osname)
        cfg = self.repo.config
        tries = cfg.get("sysroot", "boot-counting-tries")
        boot = DeploymentBoot(
            osname=d.osname, bootcsum=d.bootcsum, bootserial=d.bootserial,
            kernel=layout.kernel_name, initramfs=layout.initramfs_name,
            devicetree=layout.devicetree_name,
            devicetree_dir=layout.devicetree_src if layout.devicetree_src and not layout.devicetree_name else None,
            aboot=layout.aboot_name, deployment_dirpath=d.dirpath,
            os_release=self._os_release(ddir), commit_version=_one_line(self.commit_version(d.csum)))
        name, entry = deployment_entry(
            boot, index=d.index, n_deployments=n, bootversion=new_bootversion, kargs=None,
            base=d.bootconfig or BLSEntry(), bootprefix=cfg.get_bool("sysroot", "bootprefix", False),
            show_osname=shown, bls_append=parse_bls_append(cfg.get("sysroot", "bls-append-except-default")),
            naming_1=self.naming_1, boot_counting_tries=int(tries) if tries else 0,
            previous_filename=d.entry_filename)
        bc.write_entry(self.path, new_bootversion, name, entry)

    def _grub2(self) -> bool:
        return grubcfg.detect(self.path, self.repo.config.get("sysroot", "bootloader"))

    def _uboot(self) -> bool:
        """ostree's uboot backend: configured, or (auto) ``boot/uEnv.txt`` present
        where neither syslinux nor grub2 was found first."""
        opt = self.repo.config.get("sysroot", "bootloader") or "auto"
        if opt != "auto":
            return opt == "uboot"
        return (os.path.lexists(self.abspath("boot/uEnv.txt"))
                and not os.path.exists(self.abspath("boot/syslinux/syslinux.cfg")))

    def _write_uenv(self, bootversion: int) -> None:
        """``_ostree_bootloader_uboot_write_config``: ``loader.<B>/uEnv.txt``, which
        the ``boot/uEnv.txt -> loader/uEnv.txt`` link shows once ``loader`` swaps."""
        from bootloader.errors import BootloaderError
        from bootloader.uboot import generate_uenv

        def system_uenv(dpath: str) -> Optional[str]:
            try:
                with open(self.abspath(f"{dpath}/usr/lib/ostree-boot/uEnv.txt"), encoding="utf-8") as f:
                    return f.read()
            except FileNotFoundError:
                return None

        entries = [e for _, e in bc.read_loader_entries(self.path, bootversion)]
        try:
            text = generate_uenv(entries, system_uenv)
        except BootloaderError as e:
            raise DeployError(str(e)) from e
        p = self.abspath(f"boot/loader.{bootversion}/uEnv.txt")
        with open(p + ".tmp", "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.rename(p + ".tmp", p)

    def _links(self, deployments: Sequence[Deployment]) -> List[Tuple[str, str, int, str]]:
        return [(d.osname, d.bootcsum, d.bootserial, d.name) for d in deployments]

    def _sync(self) -> None:
        if "skip-sync" in self.opts:
            return
        if TEST_FIFREEZE in self.debug_flags:
            # ostree's freeze/thaw watchdog child says it ran, then the parent gives up
            sys.stderr.write("fifreeze watchdog was run\n")
            raise DeployError("Full sync: During fsfreeze-thaw: aborting due to test-fifreeze")
        bc.syncfs(self.abspath("ostree/repo"))
        bc.syncfs(self.abspath("boot"))

    def write_deployments(self, new_deployments: Sequence[Deployment], *, postclean: bool = True) -> None:
        """``ostree_sysroot_write_deployments``: make ``new_deployments`` (in
        boot order, default first) the boot configuration, atomically."""
        with self.locked():
            self._write_deployments(list(new_deployments), postclean)

    def _drop_staged(self) -> None:
        assert self.staged is not None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.abspath(STAGED_PATH))
        self._rmrf_deployment(self.staged)
        self.deployments = [d for d in self.deployments if not d.staged]
        self.staged = None

    def _write_deployments(self, new: List[Deployment], postclean: bool) -> None:
        removed_staged = self.staged is not None
        if new and new[0].staged:
            removed_staged = False
        new = [d for d in new if not d.staged]
        if removed_staged:
            self._drop_staged()
        current = [d for d in self.deployments if not d.staged]
        new = assign_bootserials(new)
        versions = {d.csum: self.commit_version(d.csum) for d in list(current) + new}
        requires_new = needs_new_bootversion(current, new, versions)
        if not requires_new and all(c.same(n) and c.bootserial == n.bootserial
                                    for c, n in zip(current, new)):
            if removed_staged:
                self._finish()
            return
        for d in new:
            if not os.path.isdir(self.deployment_dir(d)):
                raise DeployError(f"Unable to find expected deployment root: {self.deployment_dir(d)}")
        if self.booted is not None and not any(d.same(self.booted) for d in new):
            raise DeployError("Attempting to remove booted deployment")
        if not requires_new:
            new_sub = 1 - self.subbootversion
            bc.create_bootlinks(self.path, self.bootversion, new_sub, self._links(new))
            bc.fault_point("bootlinks")
            self._sync()
            bc.fault_point("sync")
            subbootdir = bc.swap_bootlinks(self.path, self.bootversion, new_sub)
            bc.fault_point("bootlinks-swap")
            head = "Transaction complete"
        else:
            new_bv = 1 - self.bootversion
            entries = self.abspath(f"boot/loader.{new_bv}/entries")
            bc.rm_rf(entries)
            os.makedirs(entries, 0o755, exist_ok=True)
            shown = show_osname([d.osname for d in new])
            for i, d in enumerate(new):
                emit(self.progress, KernelInstallStarted(i, d.osname, d.name))
                self._install_deployment_kernel(d, new_bv, len(new), shown)
                if i == 0:
                    bc.fault_point("kernel")
            bc.fault_point("entries")
            new_sub = 1 - bc.read_subbootversion(self.path, new_bv)
            bc.create_bootlinks(self.path, new_bv, new_sub, self._links(new))
            bc.fault_point("bootlinks")
            subbootdir = bc.swap_bootlinks(self.path, new_bv, new_sub)
            bc.fault_point("bootlinks-swap")
            if self._grub2():
                grubcfg.write_config(self.path, new_bv, self.bootversion)
                bc.fault_point("grub-config")
                head = "Transaction complete"  # ostree: grub2 (BIOS) is an atomic bootloader
            else:
                if self._uboot():
                    self._write_uenv(new_bv)
                head = "Bootloader updated"
            bc.prepare_loader_link(self.path, new_bv)
            bc.fault_point("loader-link")
            self._sync()
            bc.fault_point("sync")
            bc.swap_loader(self.path)
            if "skip-sync" not in self.opts:
                bc.syncfs(self.abspath("boot"))
            bc.fault_point("loader-swap")
        n_before = len(self.deployments)
        self.message(f"{head}; bootconfig swap: {'yes' if requires_new else 'no'}; "
                     f"bootversion: {subbootdir}, deployment count change: {len(new) - n_before}")
        self._finish()
        if postclean:
            self._cleanup(prune=True)

    def _finish(self) -> None:
        self._bump_mtime()
        self.load()

    def simple_write_deployment(self, osname: Optional[str], new: Deployment,
                                merge: Optional[Deployment], *, retain: bool = False,
                                retain_pending: bool = False, retain_rollback: bool = False,
                                make_default: bool = True, postclean: bool = True) -> None:
        """``ostree_sysroot_simple_write_deployment``: ``new`` first (or after
        the booted/merge one), keeping pinned, other stateroots, booted and
        merge deployments, and what ``retain*`` asks for."""
        with self.locked():
            current = [d for d in self.deployments if not d.staged]
            lst = simple_write_list(current, new, osname, merge, self.booted, retain=retain,
                                    retain_pending=retain_pending, retain_rollback=retain_rollback,
                                    make_default=make_default)
            self._write_deployments(lst, postclean)

    def deploy(self, osname: Optional[str], revision: str, origin: Optional[KeyFile] = None, *,
               override_kargs: Optional[Sequence[str]] = None, merge: bool = True,
               retain: bool = False, retain_pending: bool = False, retain_rollback: bool = False,
               make_default: bool = True, stage: bool = False, prune: bool = True,
               check_space: bool = True) -> Deployment:
        """``ostree admin deploy``: deploy commit ``revision`` (ref or
        checksum) with ``origin`` (default ``refspec=<revision>``) as the new
        default of stateroot ``osname`` (None: the booted one). With
        ``stage`` the boot configuration is left for :meth:`finalize_staged`.
        Returns the new deployment as listed afterwards."""
        # (no Repo.dirtree_cache around it: the commit's parsed dirtrees were 21 MB of a 100,000-file
        # deploy's peak, which must not grow with the files; parsing them again in the space check,
        # the checkout, the composefs image and the prune costs ~0.1 s CPU there, within the noise)
        with self.locked():
            if osname is None:
                if self.booted is None:
                    raise DeployError("Looking for booted deployment: Not currently booted into an "
                                      "OSTree system and no --os= argument given")
                osname = self.booted.osname
            if stage and self.booted is None:
                # ostree_sysroot_stage_tree: finalization runs at the shutdown of the
                # booted system; a sysroot nothing booted from would never finish it
                raise StagedError("Cannot stage deployment: Not currently booted into an OSTree system")
            self._require_stateroot(osname)
            csum = self.repo.resolve_rev(revision)
            assert csum is not None
            if origin is None:
                origin = origin_from_refspec(revision)
            merge_dep = self.get_merge_deployment(osname) if merge else None
            if check_space:
                self.check_space(csum)
            self._cleanup(prune=False, faults=False)  # leftovers of earlier failures
            if stage:
                if retain_pending or retain_rollback:
                    raise StagedError("--stage cannot currently be combined with --retain arguments")
                if not make_default:
                    raise StagedError("--stage cannot currently be combined with --not-as-default")
                new = self._stage(osname, csum, origin, merge_dep, override_kargs)
                return new
            new = self._initialize_deployment(osname, csum, origin, override_kargs, prune=prune)
            new = self._finalize_deployment(new, merge_dep)
            current = [d for d in self.deployments if not d.staged]
            lst = simple_write_list(current, new, osname, merge_dep, self.booted, retain=retain,
                                    retain_pending=retain_pending, retain_rollback=retain_rollback,
                                    make_default=make_default)
            self._write_deployments(lst, postclean=False)
            self._cleanup(prune=prune)
            return next(d for d in self.deployments if d.same(new))

    # ------------------------------------------------------------------ staging
    def _stage(self, osname: str, csum: str, origin: Optional[KeyFile], merge: Optional[Deployment],
               override_kargs: Optional[Sequence[str]]) -> Deployment:
        d = self._initialize_deployment(osname, csum, origin, override_kargs)
        self._write_origin(d)
        data: Dict[str, object] = {"target": {"name": d.name, "osname": d.osname, "bootcsum": d.bootcsum}}
        if merge is not None:
            data["merge-deployment"] = {"name": merge.name, "osname": merge.osname,
                                        "bootcsum": merge.bootcsum}
        if override_kargs is not None:
            data["kargs"] = KernelArgs(list(override_kargs)).to_list()
        old = self.staged
        self._write_staged(data)
        if old is not None and not old.same(d):
            self._rmrf_deployment(old)
        self._finish()
        self._cleanup(prune=False)
        assert self.staged is not None
        return self.staged

    def _write_staged(self, data: Dict[str, object]) -> None:
        p = self.abspath(STAGED_PATH)
        os.makedirs(os.path.dirname(p), 0o755, exist_ok=True)
        tmp = p + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, sort_keys=True)
        os.rename(tmp, p)

    def finalize_staged(self) -> Optional[Deployment]:
        """Finish a staged deployment as ostree does at shutdown: the /etc
        merge from the merge deployment, then the boot configuration.
        Returns None when nothing is staged or finalization is locked."""
        with self.locked():
            staged, data = self.staged, self._staged_data
            if staged is None or data is None:
                return None
            if staged.finalization_locked:
                return None
            merge = None
            mv = data.get("merge-deployment")
            if mv:
                mcsum, mserial = parse_deploy_name(mv["name"])
                for d in self.deployments:
                    if not d.staged and d.key == (mv["osname"], mcsum, mserial):
                        merge = d
                        break
                if merge is None:
                    raise StagedError(f"Failed to find merge deployment {mcsum}.{mserial} for staged")
            os.unlink(self.abspath(STAGED_PATH))
            self.staged = None
            self._staged_data = None
            self.deployments = [d for d in self.deployments if not d.staged]
            new = attrs.evolve(staged, staged=False, index=-1)
            new = self._finalize_deployment(new, merge)
            lst = simple_write_list(self.deployments, new, new.osname, merge, self.booted)
            self._write_deployments(lst, postclean=False)
            self._cleanup(prune=False)
            return next(d for d in self.deployments if d.same(new))

    # ------------------------------------------------------------------ cleanup
    def cleanup(self, prune: bool = True) -> None:
        """``ostree admin cleanup``: other boot versions, unreferenced
        deployment directories and kernels, deployment refs, then a prune."""
        with self.locked():
            self._cleanup(prune)

    def _rmrf_deployment(self, d: Deployment) -> None:
        ddir = self.deployment_dir(d)
        bc.set_immutable(ddir, False)
        bc.rm_rf(self.abspath(f"ostree/deploy/{d.osname}/backing/{d.name}"))
        bc.rm_rf(self.abspath(d.origin_relpath))
        bc.rm_rf(ddir)

    def _cleanup(self, prune: bool, faults: bool = True) -> None:
        ahead, self._ahead = self._ahead, None
        other_bv, other_sub = 1 - self.bootversion, 1 - self.subbootversion
        for rel in (f"boot/loader.{other_bv}", f"ostree/boot.{other_bv}", f"ostree/boot.{other_bv}.0",
                    f"ostree/boot.{other_bv}.1", f"ostree/boot.{self.bootversion}.{other_sub}"):
            bc.rm_rf(self.abspath(rel))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.abspath("boot/loader.tmp"))
        active = {(d.osname, d.name) for d in self.deployments}
        deploy_root = self.abspath("ostree/deploy")
        for osname in sorted(os.listdir(deploy_root)) if os.path.isdir(deploy_root) else []:
            if not os.path.isdir(os.path.join(deploy_root, osname)):
                continue
            for csum, serial in self.list_deployment_dirs(osname):
                if (osname, f"{csum}.{serial}") not in active:
                    self._rmrf_deployment(Deployment(osname=osname, csum=csum, deployserial=serial))
        bootcsums = {d.bootcsum for d in self.deployments}
        bootdir = self.abspath("boot/ostree")
        if os.path.isdir(bootdir):
            for ent in os.scandir(bootdir):
                if not ent.is_dir(follow_symlinks=False):
                    continue
                dash = ent.name.rfind("-")
                c = ent.name[dash + 1:] if dash >= 0 else ""
                if dash < 0 or len(c) != 64 or any(ch not in "0123456789abcdef" for ch in c):
                    continue
                if c not in bootcsums:
                    bc.rm_rf(ent.path)
        if faults:
            bc.fault_point("cleanup")
        self._generate_deployment_refs()
        if faults:
            bc.fault_point("refs")
        if prune:
            from ..store.prune import format_size, prune as do_prune
            # the walk ahead of the prune (_initialize_deployment) of a commit a deployment ref names
            if ahead is not None and any(d.csum == ahead[0] for d in self.deployments):
                res = do_prune(self.repo, refs_only=True, depth=0, walked=ahead[1],  # type: ignore[arg-type]
                               listed=ahead[2])  # type: ignore[arg-type]
            else:
                res = do_prune(self.repo, refs_only=True, depth=0)
            if res.freed_bytes > 0:
                size = format_size(res.freed_bytes)
                if not size.endswith(("byte", "bytes")):
                    size = size.replace(" ", "\u00a0")  # g_format_size puts a no-break space before units
                self.message(f"Freed objects: {size}")

    def _generate_deployment_refs(self) -> None:
        repo = self.repo
        bv, sub = self.bootversion, self.subbootversion
        for b, s in ((1 - bv, 0), (1 - bv, 1), (bv, 1 - sub)):
            for ref in repo.list_refs(prefix=f"ostree/{b}/{s}"):
                repo.set_ref(ref, None)
        with repo.transaction():
            for i, d in enumerate(self.deployments):
                repo.set_ref(f"ostree/{bv}/{sub}/{i}", d.csum)

    # ------------------------------------------------------------------ edits
    def write_origin_file(self, d: Deployment, origin: KeyFile) -> Deployment:
        """``ostree_sysroot_write_origin_file``: replace a deployment's origin."""
        with self.locked():
            nd = attrs.evolve(d, origin_text=origin.to_text())
            self._write_origin(nd)
            self._bump_mtime()
            self.load()
            return next((x for x in self.deployments if x.same(d)), nd)

    def set_pinned(self, d: Deployment, pinned: bool) -> Deployment:
        """``ostree_sysroot_deployment_set_pinned``."""
        if d.pinned == pinned:
            return d
        if d.staged:
            raise DeployError("Cannot pin staged deployment")
        origin = d.origin or KeyFile()
        if pinned:
            origin.set_bool(ORIGIN_TRANSIENT_GROUP, "pinned", True)
        else:
            origin.remove_key(ORIGIN_TRANSIENT_GROUP, "pinned")  # the empty group stays, as in ostree
        return self.write_origin_file(d, origin)

    def set_kargs_in_place(self, d: Deployment, kargs: str) -> None:
        """``ostree_sysroot_deployment_set_kargs_in_place``: rewrite the
        entry of ``d`` in the current boot version (or the staged kargs)."""
        with self.locked():
            if d.staged:
                assert self._staged_data is not None
                data = dict(self._staged_data)
                data["kargs"] = KernelArgs.parse(kargs).to_list()
                self._write_staged(data)
            else:
                if d.bootconfig is None or d.entry_filename is None:
                    raise DeployError(f"Deployment {d.name} has no boot entry")
                n = len([x for x in self.deployments if not x.staged])
                from bootloader.naming import entry_filename
                tries = self.repo.config.get("sysroot", "boot-counting-tries")
                name = entry_filename(d.index - (1 if self.staged is not None else 0), n, d.osname,
                                     naming_1=self.naming_1, boot_counting_tries=int(tries) if tries else 0,
                                     previous_filename=d.entry_filename)
                bc.write_entry(self.path, self.bootversion, name, d.bootconfig.with_value("options", kargs))
                if self._grub2():
                    # ostree leaves the menu stale here; without blscfg GRUB would never see the edit
                    grubcfg.write_config(self.path, self.bootversion, self.bootversion)
            self.load()

    def set_kargs(self, d: Deployment, kargs: Sequence[str]) -> None:
        """``ostree_sysroot_deployment_set_kargs``: ``d`` with these kernel arguments
        replaces itself in a new boot configuration (not in place)."""
        if d.bootconfig is None:
            raise DeployError(f"Deployment {d.name} has no boot entry")
        new_d = attrs.evolve(d, bootconfig=d.bootconfig.with_value("options", " ".join(kargs)))
        self.write_deployments([new_d if x.same(d) else x for x in self.deployments])

    def undeploy(self, index: int) -> Deployment:
        """``ostree admin undeploy INDEX``; returns the removed deployment."""
        with self.locked():
            d = self.indexed(index)
            if d.same(self.booted):
                raise DeployError(f"Cannot undeploy currently booted deployment {index}")
            lst = [x for x in self.deployments if not x.same(d)]
            # ostree_sysroot_write_deployments: with the post-clean (and prune)
            self._write_deployments(lst, postclean=True)
            return d

    def set_default(self, index: int) -> Deployment:
        """``ostree admin set-default INDEX``: deployment INDEX moves first, the rest keep
        their order (ot-admin-builtin-set-default.c); returns it."""
        with self.locked():
            d = self.indexed(index)
            lst = [d] + [x for i, x in enumerate(self.deployments) if i != index]
            self._write_deployments(lst, postclean=True)
            return d

    def rollback_deployments(self) -> List[Deployment]:
        """The list ``rollback`` writes (bootc / rpm-ostree): the rollback
        deployment first, then the booted one and the rest; without a
        booted deployment, the first two of the list swap."""
        nonstaged = [d for d in self.deployments if not d.staged]
        if self.booted is not None:
            rb = self.rollback
            if rb is None:
                raise DeployError("No rollback deployment found")
            return [rb] + [d for d in nonstaged if not d.same(rb)]
        if len(nonstaged) < 2:
            raise DeployError("No rollback deployment found")
        return [nonstaged[1], nonstaged[0]] + nonstaged[2:]

    def rollback_now(self) -> None:
        """Make the rollback deployment the default."""
        with self.locked():
            self._write_deployments(self.rollback_deployments(), postclean=False)

    def indexed(self, index: int) -> Deployment:
        if index < 0:
            raise DeployError(f"Invalid index {index}")
        if index >= len(self.deployments):
            raise DeployError(f"Out of range deployment index {index}, expected < {len(self.deployments)}")
        return self.deployments[index]

    def kernel_layout(self, d: Deployment) -> KernelLayout:
        return find_kernel(self.deployment_dir(d), no_dtb=NO_DTB in self.debug_flags)

    def etc_diff(self, d: Deployment) -> EtcDiff:
        """``ostree admin config-diff``: the local /etc changes of ``d``."""
        ddir = self.deployment_dir(d)
        from .etcmerge import diff_snapshots
        return diff_snapshots(snapshot_dir(os.path.join(ddir, "usr/etc")),
                              snapshot_dir(os.path.join(ddir, "etc")))

