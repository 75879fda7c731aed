"""ostreepy: a pure-Python, OSTree-compatible object store, deployments and boot entries.

The high-level API is here, one function per job (``ostreepy.commit``,
``ostreepy.pull``, ``ostreepy.deploy``, ``ostreepy.upgrade``,
``ostreepy.status``...; see :mod:`ostreepy.porcelain`), with the types its
results and errors come in. Every failure is an :class:`OstreeError`.

Importing this package stays cheap: the names below are loaded on first use
(a module ``__getattr__``), and requests and cryptography are imported only
by the modules that talk to registries or verify signatures.
"""

from __future__ import annotations

from ._version import __version__

# typing is not imported at run time: `import ostreepy` stays a few milliseconds
TYPE_CHECKING = False

__all__ = [
    # the high-level functions and their results (ostreepy.porcelain)
    "BOOTED_DEFAULT", "BootLoaderEntry", "CheckoutResult", "CommitInfo", "EncapsulateResult", "MetadataValue",
    "PullResult", "RepoPullResult", "TreeSource", "add_remote", "boot_entries", "checkout", "commit", "deploy",
    "encapsulate", "fsck", "init", "init_sysroot", "list_remotes", "log", "open_repo", "open_sysroot",
    "prepare_pull", "prune", "pull", "pull_local", "pull_ostree", "refs", "remove_remote", "rollback", "show",
    "status", "switch", "unencapsulate", "update_summary", "upgrade", "upgrade_ostree",
    # the errors
    "OstreeError", "ArgumentError", "RegistryError", "RepoError", "RepoLockedError", "RefNotFoundError",
    "ObjectNotFoundError", "CorruptObjectError", "ChecksumMismatchError", "PathNotFoundError", "CheckoutError",
    "TarError", "SignatureError", "DeployError", "BootcError", "SysrootError", "FileSystemError",
    # the objects the functions take and return
    "Repo", "Sysroot", "Deployment", "EtcMergePlan", "FsckResult", "PruneResult", "OstreeImageReference",
    "Remote", "SummaryUpdate",
    "ProgressCallback", "ProgressEvent",
    "Outcome", "Fetched", "VerbResult", "UpgradeResult", "SwitchResult", "RollbackResult", "DeployResult",
    "Host", "HostSpec", "HostStatus", "BootEntry", "ImageStatus", "ImageReference",
    "__version__",
]

_PORCELAIN = __all__[:__all__.index("OstreeError")]
_ERRORS = __all__[__all__.index("OstreeError"):__all__.index("Repo")]
# name -> the module that defines it (imported when the name is first used)
_LAZY: dict[str, str] = {
    **{name: "ostreepy.porcelain" for name in _PORCELAIN},
    **{name: "ostreepy.errors" for name in _ERRORS},
    "Repo": "ostreepy.store.repo",
    "Sysroot": "ostreepy.sysroot.sysroot",
    "Deployment": "ostreepy.sysroot.deployment",
    "EtcMergePlan": "ostreepy.sysroot.etcmerge",
    "FsckResult": "ostreepy.store.fsck",
    "PruneResult": "ostreepy.store.prune",
    "OstreeImageReference": "ostreepy.container.imgref",
    "Remote": "ostreepy.remote.config",
    "SummaryUpdate": "ostreepy.remote.publish",
    "ProgressCallback": "ostreepy.progress",
    "ProgressEvent": "ostreepy.progress",
    **{name: "ostreepy.bootc.results" for name in (
        "Outcome", "Fetched", "VerbResult", "UpgradeResult", "SwitchResult", "RollbackResult", "DeployResult")},
    **{name: "ostreepy.bootc.host" for name in (
        "Host", "HostSpec", "HostStatus", "BootEntry", "ImageStatus", "ImageReference")},
}

if TYPE_CHECKING:
    from .bootc.host import BootEntry, Host, HostSpec, HostStatus, ImageReference, ImageStatus
    from .bootc.results import (DeployResult, Fetched, Outcome, RollbackResult, SwitchResult, UpgradeResult,
                                VerbResult)
    from .container.imgref import OstreeImageReference
    from .errors import (ArgumentError, BootcError, CheckoutError, ChecksumMismatchError, CorruptObjectError,
                         DeployError, FileSystemError, ObjectNotFoundError, OstreeError, PathNotFoundError,
                         RefNotFoundError, RegistryError, RepoError, RepoLockedError, SignatureError, SysrootError,
                         TarError)
    from .porcelain import (BOOTED_DEFAULT, BootLoaderEntry, CheckoutResult, CommitInfo, EncapsulateResult,
                            MetadataValue, PullResult, TreeSource, add_remote, boot_entries, checkout, commit, deploy,
                            encapsulate, fsck, init, init_sysroot, list_remotes, log, open_repo, open_sysroot,
                            prepare_pull, prune, pull, pull_local, pull_ostree, refs, remove_remote, rollback, show,
                            status, switch, unencapsulate, update_summary, upgrade, upgrade_ostree, RepoPullResult)
    from .remote.config import Remote
    from .remote.publish import SummaryUpdate
    from .progress import ProgressCallback, ProgressEvent
    from .store.fsck import FsckResult
    from .store.prune import PruneResult
    from .store.repo import Repo
    from .sysroot.deployment import Deployment
    from .sysroot.etcmerge import EtcMergePlan
    from .sysroot.sysroot import Sysroot


def __getattr__(name: str) -> object:
    try:
        modname = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'ostreepy' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(modname), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
