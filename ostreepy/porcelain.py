"""The high-level API: one function per job, as ``ostree`` and ``bootc`` name
them, over the lower rooms (:mod:`ostreepy.store`, :mod:`ostreepy.container`,
:mod:`ostreepy.sysroot`, :mod:`ostreepy.bootc`), the way dulwich's
``porcelain`` sits over its object store.

Every name here is also ``ostreepy.<name>`` (loaded on first use, so
``import ostreepy`` stays cheap). The rules every function keeps:

* A repository or sysroot argument is an opened :class:`Repo` /
  :class:`Sysroot` or a path to one (``str`` or ``os.PathLike``); a path is
  opened for the call and closed after it. Anything else is an
  :class:`ArgumentError` naming the parameter.
* Results are attrs values (frozen), never printed text or exit codes; each
  result type is built on the first use of its name, as the progress events
  are, so a command pays for the one or two it returns.
* Every failure is an :class:`~ostreepy.errors.OstreeError`: a registry or
  image-transport failure during a pull is a :class:`RegistryError` whose
  ``__cause__`` (and ``oci_error``) is the :mod:`ociclient` error; a failed
  system call is a :class:`FileSystemError`, an :class:`OSError` too.
* Long work takes ``progress``, a :data:`~ostreepy.progress.ProgressCallback`
  called with each progress event.

"Booted" in a folder sysroot: there is no running system, so the functions
that need one take ``booted``: :data:`BOOTED_DEFAULT` (``"default"``, the
default) lets the default deployment stand for the booted one, as ``bootc``
does on a real host after a reboot; ``None`` means nothing is booted; any
other string is a kernel command line whose ``ostree=`` names the booted
deployment. On ``/`` itself, ``"default"`` and ``None`` find the running
deployment as ostree does (by its root directory), never by a guess.
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
import sys
from typing import (TYPE_CHECKING, BinaryIO, Callable, Dict, Iterator, List, Literal, Mapping, Optional, Sequence, Tuple,
                    Type, TypeVar, Union, cast, overload)

from .errors import ArgumentError, FileSystemError, OstreeError, PathNotFoundError, RegistryError, RepoError
from ._deferred import Deferred, Field
from .progress import ProgressCallback
from .store import gvariant
from .store.hooks import on_refs_changed
from .store.repo import Repo

if TYPE_CHECKING:
    import attrs

    from .store.gvariant import Variant

    from .store.writestats import WriteStats
    from .sysroot.sysroot import Sysroot
    from bootloader.bls import BLSEntry
    from ociclient.image import Options
    from ociclient.manifest import Platform

    from .bootc.host import Host
    from .bootc.results import DeployResult, RollbackResult, SwitchResult, UpgradeResult
    from .container.commitverify import CommitVerifier
    from .container.imgref import OstreeImageReference
    from .container.store import PreparedImport
    from .remote.config import Remote
    from .remote.publish import SummaryUpdate
    from .remote.pull import RepoPullResult
    from .sysroot.upgrader import SysrootUpgradeResult
    from .store.fsck import FsckResult
    from .store.prune import PruneResult
    from .store.commit import FilterFn


def _auto_update_summary(repo: Repo) -> None:
    # core.auto-update-summary, as ostree's library does it for every caller
    from .remote.publish import regenerate_summary
    regenerate_summary(repo)


on_refs_changed(_auto_update_summary)

#: the result types, built on the first use of their names
_DEFERRED = Deferred(globals())

if TYPE_CHECKING:
    from attrs import frozen as _result
else:
    # built all at import, the six were ~1.5 ms of every command through the porcelain,
    # which uses one or two (ostreepy._deferred)
    _result = _DEFERRED.register


if TYPE_CHECKING:
    @overload
    def _built(name: Literal["CommitInfo"]) -> Type[CommitInfo]: ...
    @overload
    def _built(name: Literal["TreeSource"]) -> Type[TreeSource]: ...
    @overload
    def _built(name: Literal["CheckoutResult"]) -> Type[CheckoutResult]: ...
    @overload
    def _built(name: Literal["PullResult"]) -> Type[PullResult]: ...
    @overload
    def _built(name: Literal["EncapsulateResult"]) -> Type[EncapsulateResult]: ...
    @overload
    def _built(name: Literal["BootLoaderEntry"]) -> Type[BootLoaderEntry]: ...
    @overload
    def _built(name: str) -> type: ...


def _built(name: str) -> type:
    """The result type ``name``, built on its first use (by any thread, once)."""
    return _DEFERRED.build(name)

__all__ = [
    "BOOTED_DEFAULT", "BootLoaderEntry", "CheckoutResult", "CommitInfo", "EncapsulateResult", "MetadataValue",
    "PullResult", "RepoPullResult", "TreeSource", "add_remote", "boot_entries", "checkout", "commit", "deploy",
    "encapsulate", "fsck", "init", "init_sysroot", "list_remotes", "log", "open_repo", "open_sysroot",
    "prepare_pull", "prune", "pull", "pull_local", "pull_ostree", "refs", "remove_remote", "rollback", "show",
    "status", "switch", "unencapsulate", "update_summary", "upgrade", "upgrade_ostree",
]

#: ``booted=BOOTED_DEFAULT``: the default deployment of a folder sysroot counts as booted
BOOTED_DEFAULT = "default"

PathArg = Union[str, "os.PathLike[str]"]
RepoArg = Union[str, "os.PathLike[str]", Repo]
SysrootArg = Union[str, "os.PathLike[str]", "Sysroot"]
ImageArg = Union[str, "OstreeImageReference"]
#: what commit metadata may hold, as Python values: str (``s``), bool (``b``), int
#: (``x``, int64), bytes (``ay``), a list of str (``as``), or a :class:`Variant` as is
MetadataValue = Union[str, bool, int, bytes, Sequence[str], "Variant"]  # (a name: Variant is built when used)


# ============================================================================ arguments


_F = TypeVar("_F", bound=Callable[..., object])


def _api(fn: _F) -> _F:
    """One error story for a public function: what it lets through from below
    becomes an :class:`OstreeError` with the same message (the command line
    prints it unchanged), the original kept as ``__cause__``: an
    :mod:`ociclient` error or a network failure a :class:`RegistryError`, an
    :class:`OSError` a :class:`FileSystemError` (still an ``OSError``)."""
    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            return fn(*args, **kwargs)
        except OstreeError:
            raise
        except OSError as e:
            if e.errno is None:
                raise FileSystemError(str(e)) from e
            raise FileSystemError(e.errno, e.strerror, e.filename) from e
        except Exception as e:
            oci = sys.modules.get("ociclient.errors")  # not imported: it cannot have raised
            requests = sys.modules.get("requests")
            if (oci is not None and isinstance(e, oci.OciError)) or \
                    (requests is not None and isinstance(e, requests.RequestException)):
                raise RegistryError(str(e), e) from e
            raise
    return cast(_F, wrapper)



def _path(value: object, param: str) -> str:
    if isinstance(value, (str, os.PathLike)):
        p = os.fspath(value)
        if isinstance(p, str):
            return p
    raise ArgumentError(f"{param}: expected a path, got {type(value).__name__}", param)


@_api
def open_repo(repo: PathArg) -> Repo:
    """Open the repository at ``repo`` (close it, or use it as a context manager).
    A missing path, a file, or a directory that is not a repository is a
    :class:`RepoError` naming the path."""
    path = _path(repo, "repo")
    try:
        return Repo.open(path)
    except RepoError:
        raise
    except OSError as e:
        raise RepoError(f"opening repo {path}: {e.strerror or e}") from e


@contextlib.contextmanager
def _repo(repo: RepoArg, param: str = "repo") -> Iterator[Repo]:
    if isinstance(repo, Repo):
        yield repo
        return
    if not isinstance(repo, (str, os.PathLike)):
        raise ArgumentError(f"{param}: expected a Repo or a path, got {type(repo).__name__}", param)
    with open_repo(repo) as r:
        yield r


@_api
def open_sysroot(sysroot: PathArg, *, booted: Optional[str] = BOOTED_DEFAULT,
                 progress: Optional[ProgressCallback] = None) -> "Sysroot":
    """Open the sysroot at ``sysroot`` (a directory holding ``ostree/`` and
    ``boot/``). ``booted`` says which deployment stands for the running
    system (see the module's documentation): ``"default"`` (the default),
    None, or a kernel command line. ``progress`` hears the sysroot's
    messages (``Copying /etc changes...``) as events."""
    from .sysroot.sysroot import Sysroot
    path = _path(sysroot, "sysroot")
    if booted is not None and not isinstance(booted, str):
        raise ArgumentError(f"booted: expected 'default', None or a kernel command line, "
                            f"got {type(booted).__name__}", "booted")
    if booted == BOOTED_DEFAULT:
        # / is a real system: its booted deployment is found by stat, never assumed
        return Sysroot(path, default_booted=os.path.realpath(path) != "/", progress=progress)
    if booted is None:
        return Sysroot(path, progress=progress)
    return Sysroot(path, booted_cmdline=booted, progress=progress)


@contextlib.contextmanager
def _sysroot(sysroot: SysrootArg, booted: Optional[str],
             progress: Optional[ProgressCallback] = None) -> Iterator["Sysroot"]:
    from .sysroot.sysroot import Sysroot
    if isinstance(sysroot, Sysroot):
        yield sysroot
        return
    if not isinstance(sysroot, (str, os.PathLike)):
        raise ArgumentError(f"sysroot: expected a Sysroot or a path, got {type(sysroot).__name__}", "sysroot")
    with open_sysroot(sysroot, booted=booted, progress=progress) as sr:
        yield sr


def _str(value: object, param: str, *, optional: bool = False) -> Optional[str]:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ArgumentError(f"{param}: expected a str, got {type(value).__name__}", param)
    return value


def _imgref(image: object, param: str = "image") -> OstreeImageReference:
    """An ``ostree-*:`` reference, parsed; a plain ``transport:name`` (``oci:/path:tag``,
    ``docker://quay.io/x``) is taken as unverified, as ``ostree-unverified-image:`` would."""
    from .container.imgref import ImageReference, OstreeImageReference, SigVerify
    if isinstance(image, OstreeImageReference):
        return image
    if not isinstance(image, str):
        raise ArgumentError(f"{param}: expected an image reference (str or OstreeImageReference), "
                            f"got {type(image).__name__}", param)
    if image.startswith("ostree-"):
        return OstreeImageReference.parse(image)
    return OstreeImageReference(SigVerify.INSECURE, ImageReference.parse(image))


# ============================================================================ the store


@_api
def init(path: PathArg, *, mode: str = "bare", collection_id: Optional[str] = None) -> Repo:
    """``ostree init``: create a repository (``mode``: ``bare``, ``bare-user``,
    ``bare-user-only`` or ``archive``) at ``path`` and return it opened; an
    existing one of the same mode is opened as it is."""
    from .store.repo import RepoMode
    p = _path(path, "path")
    try:
        repo_mode = RepoMode.from_string(_str(mode, "mode") or "")
    except RepoError as e:
        raise ArgumentError(f"mode: unknown repository mode {mode!r}", "mode") from e
    _str(collection_id, "collection_id", optional=True)
    try:
        return Repo.init(p, repo_mode, collection_id=collection_id)
    except OSError as e:
        raise RepoError(f"creating repository {p}: {e.strerror or e}") from e


@_result
class CommitInfo:
    """One commit, as :func:`commit` wrote it or :func:`log` read it."""

    checksum: str
    subject: str
    body: str
    #: seconds since the epoch (UTC)
    timestamp: int
    parent: Optional[str]
    #: the ``version`` metadata key, if any
    version: Optional[str]
    #: the commit's metadata as Python values (str, int, bool, bytes, lists, dicts...)
    metadata: Mapping[str, object]
    root_tree: str
    root_meta: str
    #: ostree's ``ContentChecksum``: a hash of the root tree and its metadata
    content_checksum: str


def _python(v: object) -> object:
    """A GVariant value as plain Python (variants unboxed, tuples of values kept)."""
    if isinstance(v, gvariant.Variant):
        return _python(v.value)
    if isinstance(v, dict):
        return {k: _python(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_python(x) for x in v]
    if isinstance(v, tuple):
        return tuple(_python(x) for x in v)
    return v


def _variant(key: str, value: object) -> Variant:
    if isinstance(value, gvariant.Variant):
        return value
    if isinstance(value, bool):
        return gvariant.Variant("b", value)
    if isinstance(value, int):
        if not -(1 << 63) <= value < (1 << 63):
            raise ArgumentError(f"metadata: {key!r}: {value} does not fit in an int64", "metadata")
        return gvariant.Variant("x", value)
    if isinstance(value, str):
        return gvariant.Variant("s", value)
    if isinstance(value, (bytes, bytearray)):
        return gvariant.Variant("ay", bytes(value))
    if isinstance(value, (list, tuple)) and all(isinstance(x, str) for x in value):
        return gvariant.Variant("as", list(value))
    raise ArgumentError(f"metadata: {key!r}: cannot store a {type(value).__name__} "
                        "(str, int, bool, bytes, a list of str or a Variant)", "metadata")


def _info(repo: Repo, checksum: str) -> CommitInfo:
    c = repo.load_commit(checksum)
    meta = {k: _python(v) for k, v in c.metadata.items()}
    version = meta.get("version")
    return _built("CommitInfo")(checksum, c.subject, c.body, c.timestamp, c.parent,
                      version if isinstance(version, str) else None, meta, c.root_tree, c.root_meta,
                      c.content_checksum)


def _known_kind(source: object, attribute: attrs.Attribute[str], kind: str) -> None:
    # attrs.validators.in_, made when used: attrs is imported when a class is built, not with
    # this module
    import attrs
    attrs.validators.in_(("dir", "tar", "ref"))(source, attribute, kind)


@_result
class TreeSource:
    """One source of a commit's tree, merged in order (``ostree commit --tree``):
    ``dir`` (a directory path), ``tar`` (a tar file's path, or a binary stream
    of one, any compression) or ``ref`` (a commit already in the repository)."""

    kind: str = Field(validator=_known_kind)
    source: Union[str, "os.PathLike[str]", BinaryIO]


def _tree_sources(tree: object) -> List[TreeSource]:
    source = _built("TreeSource")
    if isinstance(tree, source):
        return [tree]
    if isinstance(tree, (str, os.PathLike)):
        p = _path(tree, "tree")
        try:
            st = os.stat(p)
        except OSError as e:
            raise ArgumentError(f"tree: {p}: {e.strerror}", "tree") from e
        return [source("dir" if stat.S_ISDIR(st.st_mode) else "tar", p)]
    if hasattr(tree, "read"):
        return [source("tar", tree)]  # type: ignore[arg-type]
    if isinstance(tree, (list, tuple)) and tree and all(isinstance(t, source) for t in tree):
        return list(tree)
    raise ArgumentError(f"tree: expected a path, a tar stream or TreeSources, got {type(tree).__name__}", "tree")


@_api
def commit(repo: RepoArg, tree: Union[PathArg, BinaryIO, TreeSource, Sequence[TreeSource]], *,
           branch: Optional[str] = None, subject: str = "", body: str = "",
           metadata: Optional[Mapping[str, MetadataValue]] = None, parent: Optional[str] = None,
           orphan: bool = False, timestamp: Optional[int] = None, bindings: bool = True,
           bind_refs: Sequence[str] = (), keep_metadata: Sequence[str] = (), skip_if_unchanged: bool = False,
           owner_uid: Optional[int] = None, owner_gid: Optional[int] = None, canonical_permissions: bool = False,
           no_xattrs: bool = False, tar_autocreate_parents: bool = False, fsync: Optional[bool] = None,
           generate_composefs_metadata: bool = False,
           progress: Optional[ProgressCallback] = None, filter: Optional["FilterFn"] = None,
           bootable: bool = False, base: Optional[str] = None,
           detached_metadata: Optional[Mapping[str, MetadataValue]] = None,
           tree_written: Optional[Callable[[], None]] = None, generate_sizes: bool = False,
           tar_pathname_filter: Optional[Tuple[str, str]] = None, link_checkout_speedup: bool = False,
           consume: bool = False, stats: Optional["WriteStats"] = None,
           devino_canonical: bool = False) -> CommitInfo:
    """``ostree commit``: commit ``tree`` and set ``branch`` to it.

    ``tree`` is a directory or a tar file (any compression) by path, a tar
    stream, or :class:`TreeSource` s merged in order. The parent is
    ``parent`` (a rev; ``"none"``: no parent), else the branch's current
    commit unless ``orphan``. ``metadata`` values are plain Python (see
    :data:`MetadataValue`); ``keep_metadata`` copies keys from the parent. As
    ``ostree commit`` does, the commit is bound to ``branch`` and
    ``bind_refs`` (``ostree.ref-binding``) unless ``bindings`` is false, so
    the checksum is ``ostree commit``'s for the same tree, metadata and
    ``timestamp`` (default: now, or ``SOURCE_DATE_EPOCH``).
    ``skip_if_unchanged``: when the tree is the parent's, nothing is written
    and the parent is returned. ``owner_uid``, ``owner_gid``,
    ``canonical_permissions`` and ``no_xattrs`` rewrite what is committed, after
    them ``filter`` (path in the tree, its info; None skips it) as ``ostree
    commit``'s ``--statoverride``/``--skip-list``. ``base``: a rev whose tree is the
    starting point, taken as it is. ``bootable`` adds ``ostree.bootable`` and
    ``ostree.linux`` from the committed ``usr/lib/modules``. ``tree_written`` is
    called once the tree is written and before the commit is: raising there
    leaves no commit and no ref. ``detached_metadata`` is written beside it.
    ``generate_composefs_metadata`` records the tree's composefs image digest
    (``ostree.composefs.digest.v0``) as ``ostree commit`` does. ``generate_sizes``
    (archive repositories only, as in ostree) adds ``ostree.sizes``, the size of
    every file, dirtree and dirmeta the last directory or tar source wrote.
    ``tar_pathname_filter`` ``(regex, replacement)``: in tar sources, the first
    match of ``regex`` in each path is replaced (``--tar-pathname-filter``).
    ``link_checkout_speedup``: files of a hardlink checkout of this repository
    are taken as the objects they link to, unread, when nothing changes their
    metadata. ``consume``: the source directories are given up; a bare or
    bare-user-only repository takes their files in by renaming them, and they
    are deleted. ``stats`` (a :class:`~ostreepy.store.writestats.WriteStats`)
    counts the objects asked for and written, as ``--table-output`` prints them.
    ``devino_canonical`` (implies ``link_checkout_speedup``): a hardlinked file
    is its object even where the modifiers would change it."""
    from .store.commit import (CommitModifier, create_commit, load_commit_to_mtree, record_tree_sizes,
                               regex_translator, write_directory_to_mtree, write_mtree, write_tar_to_mtree)
    from .store.mtree import MutableTree
    from .store.repo import RepoMode
    from .store.sizes import SIZES_KEY, SizeLog, encode_sizes
    sources = _tree_sources(tree)
    _str(branch, "branch", optional=True)
    _str(subject, "subject")
    _str(body, "body")
    _str(parent, "parent", optional=True)
    if timestamp is not None and (isinstance(timestamp, bool) or not isinstance(timestamp, int)):
        raise ArgumentError(f"timestamp: expected an int, got {type(timestamp).__name__}", "timestamp")
    if branch is None and not orphan:
        raise ArgumentError("branch: a branch is needed unless orphan=True", "branch")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise ArgumentError(f"metadata: expected a mapping, got {type(metadata).__name__}", "metadata")
    for name, seq in (("bind_refs", bind_refs), ("keep_metadata", keep_metadata)):
        if isinstance(seq, str) or not all(isinstance(x, str) for x in seq):
            raise ArgumentError(f"{name}: expected a sequence of str", name)
    md: Dict[str, Variant] = {k: _variant(k, v) for k, v in (metadata or {}).items()}
    modifier = CommitModifier(owner_uid=owner_uid, owner_gid=owner_gid,
                              canonical_permissions=canonical_permissions, no_xattrs=no_xattrs, filter=filter,
                              consume=consume)
    detached = {k: _variant(k, v) for k, v in (detached_metadata or {}).items()}
    translate = regex_translator(*tar_pathname_filter) if tar_pathname_filter is not None else None
    with _repo(repo) as r:
        if parent is not None:
            parent_csum = None if parent == "none" else r.resolve_rev(parent)
        elif branch is not None and not orphan:
            parent_csum = r.resolve_rev(branch, allow_noent=True)
        else:
            parent_csum = None
        if keep_metadata:
            if parent_csum is None:
                raise ArgumentError("keep_metadata: there is no parent to keep metadata from "
                                    "(give branch or parent)", "keep_metadata")
            pmeta = r.load_commit(parent_csum).metadata
            for k in keep_metadata:
                if k not in pmeta:
                    raise OstreeError(f"Missing metadata key {k} from commit {parent_csum}")
                md[k] = pmeta[k]
        if bindings:
            md["ostree.ref-binding"] = gvariant.Variant("as", sorted(set(([branch] if branch else []) + list(bind_refs))))
            cid = r.config.get("core", "collection-id")
            # as ostree commit's fill_bindings: metadata given by the caller wins
            if cid and "ostree.collection-binding" not in md:
                md["ostree.collection-binding"] = gvariant.Variant("s", cid)
        saved_fsync = r.fsync
        if fsync is not None:
            r.fsync = fsync
        if link_checkout_speedup or devino_canonical:
            import attrs
            modifier = attrs.evolve(modifier, devino_cache=r.scan_hardlinks(), devino_canonical=devino_canonical)
        r.write_stats = stats
        try:
            with r.transaction():
                mtree = MutableTree()
                if base is not None:
                    load_commit_to_mtree(r, base, mtree, CommitModifier())
                sizes = SizeLog() if generate_sizes and r.mode is RepoMode.ARCHIVE else None
                for i, src in enumerate(sources):
                    # sealing early is for the last source: a later one would change what it sealed
                    last = i == len(sources) - 1
                    if sizes is not None:
                        # ostree starts its size table afresh at each source
                        # (_ostree_repo_setup_generate_sizes): only the last one's objects are listed
                        sizes.clear()
                        r.size_log = sizes
                    if src.kind == "ref":
                        rev = _str(src.source, "tree") or ""
                        load_commit_to_mtree(r, rev, mtree, modifier)
                        if sizes is not None:
                            # ostree walks the commit through its modifier, writing (and so
                            # listing) every file and dirmeta again
                            record_tree_sizes(r, rev, sizes)
                    elif src.kind == "dir":
                        write_directory_to_mtree(r, _path(src.source, "tree"), mtree, modifier, progress, seal=last)
                    elif isinstance(src.source, (str, os.PathLike)):
                        with open(src.source, "rb") as f:
                            write_tar_to_mtree(r, f, mtree, modifier, tar_autocreate_parents, progress, seal=last,
                                               translate=translate, archive_formats=True)
                    else:
                        write_tar_to_mtree(r, src.source, mtree, modifier, tar_autocreate_parents, seal=last,
                                           translate=translate, archive_formats=True)
                root_tree, root_meta = write_mtree(r, mtree)
                r.size_log = None
                if tree_written is not None:
                    tree_written()
                if skip_if_unchanged and parent_csum is not None:
                    pc = r.load_commit(parent_csum)
                    if (pc.root_tree, pc.root_meta) == (root_tree, root_meta):
                        return _info(r, parent_csum)
                if bootable:
                    # ostree commit passes the metadata through a GVariantDict here, which
                    # reorders it in GHashTable order: the checksum depends on that
                    from .store.bootmeta import metadata_for_bootable
                    from .store.glibhash import ordered
                    md = ordered(list(md.items()) + list(metadata_for_bootable(r, root_tree).items()))
                if generate_composefs_metadata:
                    from .composefs.commit_image import composefs_metadata
                    md.update(composefs_metadata(r, root_tree, root_meta))
                    if bootable:  # both went through the one GVariantDict in ostree commit
                        from .store.glibhash import ordered
                        md = ordered(list(md.items()))
                if sizes is not None and sizes.entries():
                    # added last, by ostree_repo_write_commit_with_time itself
                    md[SIZES_KEY] = encode_sizes(sizes.entries())
                csum = create_commit(r, root_tree, root_meta, subject=subject, body=body, parent=parent_csum,
                                     metadata=md, timestamp=timestamp)
                if detached:
                    r.write_commit_detached_metadata(csum, detached)
                if branch is not None:
                    r.set_ref(branch, csum)
        finally:
            r.fsync = saved_fsync
            r.size_log = None
            r.write_stats = None
        if consume:
            for src in sources:
                if src.kind == "dir":
                    _consume_dir(_path(src.source, "tree"))
        return _info(r, csum)


def _consume_dir(path: str) -> None:
    """What --consume leaves of a committed directory (its adopted files are already
    gone): nothing. The directory given as ``.`` stays, emptied, as in ostree."""
    import shutil
    if path == ".":
        for e in os.scandir(path):
            if e.is_dir(follow_symlinks=False):
                shutil.rmtree(e.path)
            else:
                os.unlink(e.path)
        return
    shutil.rmtree(path)


@_api
def show(repo: RepoArg, rev: str) -> CommitInfo:
    """``ostree show``: the commit ``rev`` (a ref, a checksum or a unique prefix of one)."""
    _str(rev, "rev")
    with _repo(repo) as r:
        csum = r.resolve_rev(rev)
        assert csum is not None
        return _info(r, csum)


@_api
def log(repo: RepoArg, rev: str) -> List[CommitInfo]:
    """``ostree log``: ``rev`` (a ref or a checksum) and its ancestors, newest
    first, stopping where the history is not in the repository."""
    from .errors import ObjectNotFoundError
    _str(rev, "rev")
    out: List[CommitInfo] = []
    with _repo(repo) as r:
        csum: Optional[str] = r.resolve_rev(rev)
        while csum:
            try:
                info = _info(r, csum)
            except ObjectNotFoundError:
                if not out:
                    raise
                break
            out.append(info)
            csum = info.parent
    return out


@_api
def refs(repo: RepoArg, prefix: Optional[str] = None) -> Dict[str, str]:
    """``ostree refs --revision``: ref name -> commit checksum (under ``prefix``, with it)."""
    _str(prefix, "prefix", optional=True)
    with _repo(repo) as r:
        return dict(r.list_refs(prefix))


RemoteOptionValue = Union[str, bool, Sequence[str]]


@_api
def add_remote(repo: RepoArg, name: str, url: str, *, options: Optional[Mapping[str, RemoteOptionValue]] = None,
               if_not_exists: bool = False, sysroot: Optional[PathArg] = None) -> "Remote":
    """``ostree remote add``: a remote ``name`` at ``url`` with ``options``
    (text, booleans, or lists of text such as ``branches``), written where
    libostree writes it: the repository config, or the deployment's
    ``/etc/ostree/remotes.d`` for the repository of ``sysroot``. Returns the
    remote as configured; an existing one is a :class:`~ostreepy.errors.OstreeError`
    unless ``if_not_exists``."""
    from .remote.config import add_remote as _add
    _str(name, "name")
    _str(url, "url")
    with _repo(repo) as r:
        return _add(r, name, url, dict(options or {}), if_not_exists=if_not_exists,
                    sysroot=_path(sysroot, "sysroot") if sysroot is not None else None)


@_api
def remove_remote(repo: RepoArg, name: str, *, if_exists: bool = False,
                  sysroot: Optional[PathArg] = None) -> bool:
    """``ostree remote delete``: remove the remote and its GPG keyring. False
    when there was none and ``if_exists`` allowed that."""
    from .remote.config import delete_remote
    _str(name, "name")
    with _repo(repo) as r:
        return delete_remote(r, name, if_exists=if_exists,
                             sysroot=_path(sysroot, "sysroot") if sysroot is not None else None)


@_api
def list_remotes(repo: RepoArg, *, sysroot: Optional[PathArg] = None) -> List["Remote"]:
    """``ostree remote list``: every remote (with its URL and options), by name."""
    from .remote.config import list_remotes as _list
    with _repo(repo) as r:
        return _list(r, _path(sysroot, "sysroot") if sysroot is not None else None)


@_api
def update_summary(repo: RepoArg, *, metadata: Optional[Mapping[str, MetadataValue]] = None,
                   sign_keys: Sequence[str] = (), sign_type: str = "ed25519",
                   gpg_key_ids: Sequence[str] = (), gpg_homedir: Optional[str] = None) -> "SummaryUpdate":
    """``ostree summary -u``: regenerate the summary (byte for byte as libostree
    would), with extra ``metadata``; signed into ``summary.sig`` with ed25519
    secret keys (base64) and/or GPG key IDs, else any old ``summary.sig`` goes.
    A repository with a collection ID also gets a new ``ostree-metadata`` commit."""
    from .remote.publish import regenerate_summary
    extra = {k: _variant(k, v) for k, v in (metadata or {}).items()}
    with _repo(repo) as r:
        return regenerate_summary(r, extra, sign_keys=list(sign_keys), sign_type=sign_type,
                                  gpg_key_ids=list(gpg_key_ids), gpg_homedir=gpg_homedir)

@_api
def checkout_composefs(repo: RepoArg, rev: str, destination: PathArg, *, verity: bool = True) -> CheckoutResult:
    """``ostree checkout --composefs`` (``verity=False``: ``--composefs-noverity``): write the
    composefs image of ``rev`` to the file ``destination``; with verity its digest must match the
    commit's ``ostree.composefs.digest.v0`` when recorded."""
    from .composefs.commit_image import Verity, write_commit_image
    _str(rev, "rev")
    dest = os.fspath(_path(destination, "destination"))
    with _repo(repo) as r:
        csum = r.resolve_rev(rev)
        assert csum is not None
        write_commit_image(r, csum, dest, Verity.YES if verity else Verity.NO, digest=False)
        return _built("CheckoutResult")(csum, dest)


@_result
class CheckoutResult:
    """Where :func:`checkout` put which commit."""

    checksum: str
    destination: str


@_api
def checkout(repo: RepoArg, rev: str, destination: PathArg, *, subpath: Optional[str] = None,
             user_mode: Optional[bool] = None, overwrite: str = "none", process_whiteouts: bool = False,
             require_hardlinks: bool = False, force_copy: bool = False, bareuseronly_dirs: bool = False,
             fsync: bool = False, progress: Optional[ProgressCallback] = None,
             skip_paths: Sequence[str] = (), allow_noent: bool = False,
             passthrough_whiteouts: bool = False, uncompressed_cache: bool = False) -> CheckoutResult:
    """``ostree checkout``: ``rev`` (a ref or a checksum) into ``destination``,
    hardlinked from the repository where its mode allows (``require_hardlinks``:
    only so; ``force_copy``: never). ``user_mode`` (``-U``: no ownership, no
    special bits) defaults to true unless running as root. ``overwrite``:
    ``none`` (existing files are an error), ``union-files``, ``add-files`` or
    ``union-identical``, as ostree's ``--union*`` flags. ``skip_paths``: paths
    (from the checked-out root, ``/a/b``) left out, as ``--skip-list``.
    ``allow_noent``: a ``subpath`` missing from the commit checks out nothing.
    ``passthrough_whiteouts``: ``.ostree-wh.NAME`` files become overlayfs whiteouts
    (NAME, a 0:0 character device). ``uncompressed_cache``: a user-mode checkout of an
    archive repository unpacks each file once into ``uncompressed-objects-cache/`` and
    hardlinks it from there, as ``ostree checkout`` does without its newer options."""
    from .store.checkout import CheckoutMode, CheckoutOptions, Overwrite
    from .store.checkout import checkout as _checkout
    _str(rev, "rev")
    dest = _path(destination, "destination")
    _str(subpath, "subpath", optional=True)
    try:
        how = Overwrite(_str(overwrite, "overwrite"))
    except ValueError:
        raise ArgumentError(f"overwrite: expected one of {[o.value for o in Overwrite]}, got {overwrite!r}",
                            "overwrite") from None
    if user_mode is None:
        user_mode = os.geteuid() != 0
    opts = CheckoutOptions(mode=CheckoutMode.USER if user_mode else CheckoutMode.NONE, overwrite=how,
                           subpath=subpath, process_whiteouts=process_whiteouts, no_copy_fallback=require_hardlinks,
                           force_copy=force_copy, bareuseronly_dirs=bareuseronly_dirs, fsync=fsync,
                           skip_paths=frozenset(skip_paths), passthrough_whiteouts=passthrough_whiteouts,
                           uncompressed_cache=uncompressed_cache)
    with _repo(repo) as r:
        csum = r.resolve_rev(rev)
        assert csum is not None
        if allow_noent and subpath:
            try:
                r.resolve_path(csum, subpath.strip("/"))
            except PathNotFoundError:
                return _built("CheckoutResult")(csum, os.path.abspath(dest))
        _checkout(r, csum, dest, opts, progress=progress)
    return _built("CheckoutResult")(csum, os.path.abspath(dest))


@_api
def fsck(repo: RepoArg, *, delete: bool = False, progress: Optional[ProgressCallback] = None) -> FsckResult:
    """``ostree fsck``: verify every object reachable from the refs; the
    result lists the problems (``ok`` when there are none). Corruption is
    reported, not raised."""
    from .store.fsck import fsck as _fsck
    with _repo(repo) as r:
        return _fsck(r, delete=delete, progress=progress)


@_api
def prune(repo: RepoArg, *, refs_only: bool = True, depth: int = -1, dry_run: bool = False,
          keep_younger_than: Optional[int] = None, commit_only: bool = False,
          delete_commits: Sequence[str] = (), static_deltas_only: bool = False,
          retain_branch_depth: Optional[Mapping[str, int]] = None, only_branches: Sequence[str] = ()) -> PruneResult:
    """``ostree prune``: delete the objects no ref reaches (``refs_only``;
    history deeper than ``depth`` commits too, when ``depth`` >= 0, and
    commits older than ``keep_younger_than``, seconds since the epoch);
    ``delete_commits`` go first (none may be a ref's); ``dry_run`` counts
    without deleting. As ostree_repo_prune, static deltas to commits the
    repository no longer has are deleted too. ``static_deltas_only``: of
    ``delete_commits`` only the deltas to them are deleted, the commits kept.
    ``retain_branch_depth``: ref -> the depth kept of it (-1: all);
    ``only_branches``: prune these refs' history, keep all of the others'."""
    from .remote.tidy import prune_static_deltas, tidy_after_prune
    from .store.lock import EXCLUSIVE
    from .store.prune import delete_commit, prune as _prune
    if isinstance(depth, bool) or not isinstance(depth, int):
        raise ArgumentError(f"depth: expected an int, got {type(depth).__name__}", "depth")
    if isinstance(delete_commits, str) or not all(isinstance(c, str) for c in delete_commits):
        raise ArgumentError("delete_commits: expected a sequence of str", "delete_commits")
    if static_deltas_only and not delete_commits:
        # ostree refuses this rather than do something misleading (its issue 1479)
        raise ArgumentError("--static-deltas-only requires --delete-commit; "
                            "see https://github.com/ostreedev/ostree/issues/1479", "static_deltas_only")
    with _repo(repo) as r:
        for c in delete_commits:
            if static_deltas_only:
                prune_static_deltas(r, c)
                continue
            delete_commit(r, c)
        with r.locked(EXCLUSIVE):
            res = _prune(r, refs_only=refs_only, depth=depth, no_prune=dry_run,
                         keep_younger_than=keep_younger_than, commit_only=commit_only,
                         retain_branch_depth=retain_branch_depth, only_branches=only_branches)
            tidy_after_prune(r, deleted=not dry_run)
        return res


# ============================================================================ container images


@_result
class PullResult:
    """What :func:`pull` imported."""

    #: the image's commit (the merge of its layers), under its ``ostree/container/image/`` ref
    merge_commit: str
    manifest_digest: str
    #: the image reference, as ``transport:name``
    image: str
    version: Optional[str]
    layers_total: int
    layers_fetched: int
    #: layers already in the repository (by digest or by diffID)
    layers_reused: int
    bytes_fetched: int
    #: nothing was fetched: the repository had this manifest already
    already_present: bool
    #: paths left out of the commit because ostree cannot hold them, counted by where they were
    filtered: Mapping[str, int] = Field(factory=dict)
    #: ``ostree-remote-*`` references: the remote's description of the ostree commit's good signatures
    verify_text: Optional[str] = None


def _remote_verifier(repo: Repo, ref: OstreeImageReference) -> Optional[CommitVerifier]:
    from .container.imgref import SigVerify
    # the bootc room (which builds the verifier) is loaded only for ostree-remote-*
    # references: a plain import's start-up is most of a small image's import
    if ref.sigverify is not SigVerify.OSTREE_REMOTE:
        return None
    from .bootc.remotesig import verifier_for
    return verifier_for(repo, ref)


@_api
def prepare_pull(repo: RepoArg, image: ImageArg, *, options: Optional[Options] = None,
                 platform: Optional[Platform] = None) -> PreparedImport:
    """The first half of :func:`pull`: the manifest and config of ``image``
    only, and which of its layers the repository lacks, for a caller that shows
    them before fetching (``ostree container image pull`` prints this table);
    give the result to :func:`pull` as ``prepared``. An ``ostree-remote-*``
    reference is checked against its remote's keys here too when nothing will
    be fetched (the image is already stored)."""
    from .container.store import prepare_image
    ref = _imgref(image)
    with _repo(repo) as r:
        return prepare_image(r, ref, options=options, platform=platform, verifier=_remote_verifier(r, ref))


@_api
def unencapsulate(repo: RepoArg, image: ImageArg, *, write_ref: Optional[str] = None,
                  options: Optional[Options] = None, progress: Optional[ProgressCallback] = None) -> str:
    """``ostree container unencapsulate``: the ostree commit an encapsulated
    image carries, without its derived layers, into ``repo``; returns the
    commit checksum. As ostree-ext, no image refs are written, only
    ``write_ref`` when given. An ``ostree-remote-*`` reference is checked
    against its remote's keys."""
    from .container.encapsulate import unencapsulate as unencap
    ref = _imgref(image)
    with _repo(repo) as r:
        return unencap(r, str(ref), write_ref=write_ref, options=options, progress=progress,
                       verifier=_remote_verifier(r, ref))


@_api
def pull(repo: RepoArg, image: ImageArg, *, options: Optional[Options] = None,
         platform: Optional[Platform] = None, legacy_paths: bool = False,
         prepared: Optional[PreparedImport] = None, progress: Optional[ProgressCallback] = None) -> PullResult:
    """``ostree container image pull``: the container image ``image``
    (``ostree-unverified-image:oci:/path:tag``, ``ostree-unverified-registry:quay.io/x:tag``,
    or plainly ``oci:/path:tag`` / ``docker://quay.io/x:tag``) into ``repo``,
    as ostree-ext stores it. ``options`` (an :class:`ociclient.Options`) has
    the credentials and TLS settings; ``legacy_paths`` keeps ostree-ext's
    older path rules; ``prepared`` is what
    :func:`ostreepy.container.prepare_image` already fetched of it.
    ``ostree-remote-image:REMOTE:...`` checks the image's ostree commit against
    the repository's remote ``REMOTE`` (its GPG keyring, ``sign-verify`` keys)."""
    from .container import store
    from .container.layers import PathRules
    ref = prepared.imgref if prepared is not None else _imgref(image)
    rules = PathRules.legacy() if legacy_paths else PathRules()
    with _repo(repo) as r:
        verifier = _remote_verifier(r, ref)
        # the fetch threads share the repository lock: take it once, here
        with r.locked():
            res = store.pull_image(r, ref, options=options, platform=platform, progress=progress, rules=rules,
                                   prepared=prepared, verifier=verifier)
    prep = res.prepared
    total = len(prep.layers) if prep is not None else res.layers_fetched
    meta = _image_version(res.config)
    return _built("PullResult")(res.merge_commit, res.manifest_digest, str(ref.imgref), meta, total, res.layers_fetched,
                      total - res.layers_fetched, res.bytes_fetched, res.already_present, dict(res.filtered),
                      res.verify_text)


# ============================================================================ ostree's own transport


def __getattr__(name: str) -> object:
    # the pull engine's result type, without importing the engine with the porcelain
    if name == "RepoPullResult":
        from .remote.pull import RepoPullResult
        return RepoPullResult
    if name in _DEFERRED:
        return _DEFERRED.build(name)
    raise AttributeError(f"module 'ostreepy.porcelain' has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))


@_api
def pull_ostree(repo: RepoArg, remote: str, refs: Sequence[str] = (), *, mirror: bool = False, depth: int = 0,
                commit_metadata_only: bool = False, subpaths: Sequence[str] = (),
                localcache_repos: Sequence[PathArg] = (), timestamp_check: bool = False, dry_run: bool = False,
                disable_verify_bindings: bool = False, progress: Optional[ProgressCallback] = None
                ) -> RepoPullResult:
    """``ostree pull REMOTE REF...``: the commits of ``refs`` (refs of the remote
    or commit checksums) and their trees from the remote ``remote`` configured
    in ``repo``, into ``refs/remotes/REMOTE/REF`` (``refs/heads/REF`` with
    ``mirror``; with no refs, ``mirror`` pulls every ref of the remote's
    summary). ``depth`` parents too (-1: all); ``commit_metadata_only`` the
    commit objects alone; ``subpaths`` only those parts of the trees;
    ``localcache_repos`` repositories to copy objects from before fetching;
    ``timestamp_check`` refuses a commit older than the ref's current one;
    ``dry_run`` resolves and checks the commits and writes nothing; a commit
    bound to other refs is refused unless ``disable_verify_bindings``. A failed
    pull moves no ref; a pull killed midway resumes where it stopped."""
    from .remote.pull import pull_remote
    name = _str(remote, "remote")
    assert name is not None
    with _repo(repo) as r:
        return pull_remote(r, name, list(refs), mirror=mirror, depth=depth,
                           commit_metadata_only=commit_metadata_only, subpaths=list(subpaths),
                           localcache_repos=[_path(p, "localcache_repos") for p in localcache_repos],
                           timestamp_check=timestamp_check, dry_run=dry_run, progress=progress,
                           disable_verify_bindings=disable_verify_bindings)


@_api
def pull_local(repo: RepoArg, src_repo: PathArg, refs: Sequence[str] = (), *, untrusted: bool = False,
               remote: Optional[str] = None, depth: int = 0, commit_metadata_only: bool = False,
               disable_verify_bindings: bool = False, progress: Optional[ProgressCallback] = None
               ) -> RepoPullResult:
    """``ostree pull-local SRC_REPO REF...``: ``refs`` (every ref of the source
    when empty) and their commits from the repository at ``src_repo`` into
    ``repo``, as ``refs/heads/REF`` (``refs/remotes/REMOTE/REF`` with
    ``remote``). Objects are copied as they are (hard-linked when the modes
    match) unless ``untrusted``, which verifies each one."""
    from .remote import pull as engine
    with _repo(repo) as r:
        return engine.pull_local(r, _path(src_repo, "src_repo"), list(refs), untrusted=untrusted,
                                 remote=_str(remote, "remote", optional=True), depth=depth,
                                 commit_metadata_only=commit_metadata_only, progress=progress,
                                 disable_verify_bindings=disable_verify_bindings)


@_api
def upgrade_ostree(sysroot: SysrootArg, *, stateroot: Optional[str] = None, override_commit: Optional[str] = None,
                   allow_downgrade: bool = False, pull_only: bool = False, deploy_only: bool = False,
                   stage: bool = False, booted: Optional[str] = BOOTED_DEFAULT,
                   progress: Optional[ProgressCallback] = None) -> "SysrootUpgradeResult":
    """``ostree admin upgrade``: pull the ref the deployment's origin follows
    (``refspec=REMOTE:REF``) and deploy it when it moved; ``pull_only`` stops
    after the pull, ``deploy_only`` does not pull; an older commit is refused
    unless ``allow_downgrade``; ``override_commit`` deploys that commit instead
    (and records it in the origin). The image-based upgrade is :func:`upgrade`."""
    from .sysroot.upgrader import upgrade as _upgrade
    _str(stateroot, "stateroot", optional=True)
    _str(override_commit, "override_commit", optional=True)
    with _sysroot(sysroot, booted, progress) as sr:
        return _upgrade(sr, stateroot, override_commit=override_commit, allow_downgrade=allow_downgrade,
                        pull_only=pull_only, deploy_only=deploy_only, stage=stage, progress=progress)


def _image_version(config: bytes) -> Optional[str]:
    import json
    try:
        labels = (json.loads(config).get("config") or {}).get("Labels") or {}
    except (ValueError, AttributeError):
        return None
    v = labels.get("org.opencontainers.image.version") or labels.get("version")
    return v if isinstance(v, str) else None


@_result
class EncapsulateResult:
    """The image :func:`encapsulate` wrote."""

    manifest_digest: str
    destination: str


@_api
def encapsulate(repo: RepoArg, rev: str, destination: str, *, labels: Optional[Mapping[str, str]] = None,
                cmd: Optional[Sequence[str]] = None, compression_fast: bool = False,
                options: Optional[Options] = None, progress: Optional[ProgressCallback] = None) -> EncapsulateResult:
    """``ostree container encapsulate``: commit ``rev`` as a one-layer OCI
    image at ``destination`` (``oci:PATH:TAG``, ``oci-archive:PATH:TAG`` or
    ``docker://NAME``); ``compression_fast`` trades size for speed."""
    from .container.encapsulate import encapsulate as _encapsulate
    _str(rev, "rev")
    _str(destination, "destination")
    with _repo(repo) as r:
        digest = _encapsulate(r, rev, destination, labels=labels, cmd=cmd, compression_fast=compression_fast,
                              options=options, progress=progress)
    return _built("EncapsulateResult")(digest, destination)


# ============================================================================ sysroots


@_api
def init_sysroot(path: PathArg, *, stateroot: str = "default", repo_mode: Optional[str] = None) -> None:
    """``ostree admin init-fs`` then ``ostree admin os-init``: an empty
    sysroot at ``path`` (created if missing) with one stateroot. Its
    repository is ``bare`` for root (real owners) and ``bare-user`` for
    anyone else, unless ``repo_mode`` says."""
    from .sysroot.sysroot import Sysroot, init_fs
    p = _path(path, "path")
    _str(stateroot, "stateroot")
    mode = _str(repo_mode, "repo_mode", optional=True) or ("bare" if os.geteuid() == 0 else "bare-user")
    os.makedirs(p, exist_ok=True)
    init_fs(p, repo_mode=mode)
    with Sysroot(p) as sr:
        sr.init_osname(stateroot)


@_api
def deploy(sysroot: SysrootArg, image: Optional[ImageArg] = None, *, commit: Optional[str] = None,
           stateroot: Optional[str] = None, kargs: Sequence[str] = (), target: Optional[ImageArg] = None,
           booted: Optional[str] = BOOTED_DEFAULT, options: Optional[Options] = None,
           progress: Optional[ProgressCallback] = None) -> DeployResult:
    """Deploy a container image (``image``: pulled first, as ostree-ext's
    ``container image deploy``) or a commit already in the sysroot's
    repository (``commit``, as ``ostree admin deploy``) into ``stateroot``
    (default: the booted one, else ``default``). When a deployment is booted
    the new one is staged for the next boot, else written as the default.
    ``target`` is the reference written to the origin for later upgrades."""
    from .bootc.results import DeployResult, Outcome
    from .bootc.verbs import deploy_image
    if (image is None) == (commit is None):
        raise ArgumentError("image: give either image or commit", "image")
    _str(stateroot, "stateroot", optional=True)
    if isinstance(kargs, str):
        raise ArgumentError("kargs: expected a sequence of str, got str", "kargs")
    with _sysroot(sysroot, booted, progress) as sr:
        osname = stateroot or (sr.booted.osname if sr.booted is not None else "default")
        if commit is not None:
            _str(commit, "commit")
            before = tuple(sr.deployments)
            d = sr.deploy(osname, commit, override_kargs=list(kargs) if kargs else None,
                          stage=sr.booted is not None)
            return DeployResult(Outcome.DEPLOYED, before, tuple(sr.deployments), deployment=d)
        ref = _imgref(image)
        tgt = _imgref(target, "target") if target is not None else None
        return deploy_image(sr, osname, ref, None, target=tgt, kargs=list(kargs), options=options,
                            progress=progress)


@_api
def upgrade(sysroot: SysrootArg, *, check: bool = False, download_only: bool = False,
            from_downloaded: bool = False, apply: bool = False, dry_run: bool = False,
            booted: Optional[str] = BOOTED_DEFAULT, options: Optional[Options] = None,
            progress: Optional[ProgressCallback] = None) -> UpgradeResult:
    """``bootc upgrade``: fetch the image the booted deployment follows and,
    when it changed, stage it. ``check`` only looks (the result's
    ``update_available``); ``download_only`` fetches without staging;
    ``from_downloaded`` stages what a download-only fetched; ``dry_run`` stops
    after the /etc merge plan; ``apply`` finalizes the staged deployment (in
    a folder sysroot, what the reboot would do)."""
    from .bootc.verbs import upgrade as _upgrade
    if check and (apply or download_only or from_downloaded):
        raise ArgumentError("check: cannot be combined with apply, download_only or from_downloaded", "check")
    if download_only and (apply or from_downloaded):
        raise ArgumentError("download_only: cannot be combined with apply or from_downloaded", "download_only")
    with _sysroot(sysroot, booted, progress) as sr:
        return _upgrade(sr, None, check=check, download_only=download_only, from_downloaded=from_downloaded,
                        apply=apply, dry_run=dry_run, options=options, progress=progress)


@_api
def switch(sysroot: SysrootArg, image: ImageArg, *, transport: str = "registry", apply: bool = False,
           retain: bool = False, dry_run: bool = False, booted: Optional[str] = BOOTED_DEFAULT,
           options: Optional[Options] = None, progress: Optional[ProgressCallback] = None) -> SwitchResult:
    """``bootc switch``: follow ``image`` from now on, pulled and staged.
    ``image`` is an image name for ``transport`` (bootc's ``switch
    --transport``; ``quay.io/x:tag`` on ``registry``, ``/path:tag`` on
    ``oci``), or a parsed / ``ostree-*:`` reference."""
    from .bootc.schema import imgref_for_switch
    from .bootc.verbs import switch as _switch
    from .container.imgref import OstreeImageReference
    if isinstance(image, OstreeImageReference) or (isinstance(image, str) and image.startswith("ostree-")):
        ref = _imgref(image)
    else:
        ref = imgref_for_switch(_str(image, "image") or "", _str(transport, "transport") or "")
    with _sysroot(sysroot, booted, progress) as sr:
        return _switch(sr, None, ref, apply=apply, retain=retain, dry_run=dry_run, options=options,
                       progress=progress)


@_api
def rollback(sysroot: SysrootArg, *, booted: Optional[str] = BOOTED_DEFAULT) -> RollbackResult:
    """``bootc rollback``: the rollback deployment boots next (or, when a
    rollback is queued already, the booted one again)."""
    from .bootc.verbs import rollback as _rollback
    with _sysroot(sysroot, booted) as sr:
        return _rollback(sr, None)


@_api
def status(sysroot: SysrootArg, *, booted: Optional[str] = BOOTED_DEFAULT, booted_only: bool = False) -> Host:
    """``bootc status``: the host document as typed values (its ``document``
    is the dict bootc prints)."""
    from .bootc.host import host_from_document
    from .bootc.status import host_status
    with _sysroot(sysroot, booted) as sr:
        return host_from_document(host_status(sr, booted_only=booted_only))


@_result
class BootLoaderEntry:
    """One Boot Loader Specification entry of a sysroot: its file name under
    ``boot/loader/entries/`` and the parsed entry."""

    filename: str
    entry: BLSEntry

    @property
    def title(self) -> Optional[str]:
        """The entry's ``title``."""
        return self.entry.get("title")

    @property
    def options(self) -> Optional[str]:
        """The kernel command line (``options``)."""
        return self.entry.get("options")


@_api
def boot_entries(sysroot: SysrootArg) -> List[BootLoaderEntry]:
    """The sysroot's boot entries in boot order (the default first), as the
    boot loader reads them."""
    from .sysroot.bootconfig import read_loader_entries
    with _sysroot(sysroot, None) as sr:
        return [_built("BootLoaderEntry")(name, entry) for name, entry in read_loader_entries(sr.path, sr.bootversion)]


# the result types are built on first use; until then the module holds only their plain classes
_DEFERRED.hide()
