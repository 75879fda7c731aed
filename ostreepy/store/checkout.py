"""Checking a commit (or part of one) out into a directory, as ostree-repo-checkout.c does.

Every name that comes from a dirtree is validated before it is used, and
everything is created relative to directory file descriptors with
O_NOFOLLOW, so a crafted repository cannot make us write outside the
destination.

An archive repository's files are copied out, except in a user-mode checkout
asking for ``uncompressed_cache`` (what ``ostree checkout`` without the newer
options does, through ostree_repo_checkout_tree): each non-empty regular file
is then unpacked once into ``REPO/uncompressed-objects-cache/XX/REST.file``
(made in the repository's ``tmp/``, renamed in whole, set-id bits dropped) and
hard-linked from there, so later checkouts of the same objects only link.
Nothing removes cache entries (``ostree`` never calls ostree_repo_checkout_gc).
"""

from __future__ import annotations

import contextlib
import enum
import errno
import os
import stat
from os import getxattr
from time import time_ns

from . import objects as obj
from .._deferred import Deferred
from ..errors import CheckoutError, OstreeError, PathNotFoundError
from .objects import BAREUSER_XATTR
from .._process import describe_status
from ..fsutil import read_all, write_all
from .repo import CHUNK, Repo, RepoMode, bareuser_symlink_target, read_xattrs

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import BinaryIO, Callable, FrozenSet, Optional

    from ..progress import FileCheckedOut, ProgressCallback
    from .objects import FileHeader, Xattrs

    #: a dirmeta as the checkout reads it: uid, gid, mode, xattrs
    _DirMetaFields = tuple[int, int, int, Xattrs]

WHITEOUT_PREFIX = ".wh."
OVERLAY_WHITEOUT_PREFIX = ".ostree-wh."
OPAQUE_WHITEOUT_NAME = ".wh..wh..opq"
UNCOMPRESSED_CACHE = "uncompressed-objects-cache"


class CheckoutMode(enum.Enum):
    """Who owns checked-out files: as recorded (``NONE``, needs root) or the caller (``USER``,
    ``ostree checkout -U``)."""

    NONE = "none"
    USER = "user"


class Overwrite(enum.Enum):
    """What a checkout does with files already in the destination (``ostree checkout --union``,
    ``--union-add``, ``--union-identical``)."""

    NONE = "none"
    UNION_FILES = "union-files"
    ADD_FILES = "add-files"
    UNION_IDENTICAL = "union-identical"


# CheckoutOptions is an attrs class built when first used (ostreepy._deferred): attrs' import
# is ~20 ms, a third of ostree's whole checkout of an OS tree, and the command line builds no
# value (see light_options)
_DEFERRED = Deferred(globals())

if TYPE_CHECKING:
    from attrs import frozen as _value
else:
    _value = _DEFERRED.register


@_value
class CheckoutOptions:
    """How to check out: ownership mode, what to do with existing files, a subpath, whiteout
    processing, hardlink or copy policy and a path filter."""

    mode: CheckoutMode = CheckoutMode.NONE
    overwrite: Overwrite = Overwrite.NONE
    subpath: Optional[str] = None
    process_whiteouts: bool = False
    no_copy_fallback: bool = False  # --require-hardlinks
    force_copy: bool = False
    bareuseronly_dirs: bool = False
    fsync: bool = False
    filter: Optional[Callable[[str, FileHeader], bool]] = None
    # ostree checkout --skip-list: paths (from the checkout's root) left out, directories too
    skip_paths: FrozenSet[str] = frozenset()
    # ``.ostree-wh.NAME`` becomes NAME, a 0:0 character device (an overlayfs whiteout),
    # as libostree's process_passthrough_whiteouts, which deployments use
    passthrough_whiteouts: bool = False
    # an archive repository's uncompressed-objects-cache, in user mode (enable_uncompressed_cache)
    uncompressed_cache: bool = False


#: CheckoutOptions as written, before the attrs build (the name is hidden at the module's end)
_LIGHT = CheckoutOptions


def light_options(**fields: object) -> CheckoutOptions:
    """Options for :func:`checkout` by CheckoutOptions' field names (the rest their defaults), as
    an instance of the class as written rather than its attrs build: for a caller that only
    hands them to :func:`checkout` (the ``ostreepy checkout`` command line), which then pays
    no attrs import for a value nobody else sees. Not a value: not frozen, hashed or compared
    by its fields; anything else takes a CheckoutOptions."""
    unknown = set(fields) - set(_LIGHT.__annotations__)
    if unknown:
        raise TypeError(f"light_options: no option {sorted(unknown)}")
    opts = object.__new__(_LIGHT)
    vars(opts).update(fields)
    return opts


def _evolve(opts: CheckoutOptions, **changes: object) -> CheckoutOptions:
    if type(opts) is _LIGHT:
        return light_options(**{**vars(opts), **changes})
    import attrs
    return attrs.evolve(opts, **changes)  # type: ignore[misc, arg-type]


class _State:
    def __init__(self, repo: Repo, opts: CheckoutOptions, progress: Optional[ProgressCallback]) -> None:
        self.repo = repo
        self.opts = opts
        self.progress = progress
        self.repo_dev = os.stat(repo.path).st_dev
        user = opts.mode is CheckoutMode.USER
        repo_usermode = repo.mode in (RepoMode.BARE_USER, RepoMode.BARE_USER_ONLY)
        self.repo_usermode = repo_usermode
        self.hardlinkable = ((repo.mode is RepoMode.BARE and not user) or (repo_usermode and user))
        self.user = user
        #: (uid, gid, mode, xattrs) by dirmeta checksum: a tree has few distinct ones
        self.dirmetas: dict[str, _DirMetaFields] = {}
        self.fast_link = (self.hardlinkable and not opts.force_copy and not opts.process_whiteouts
                          and opts.filter is None and not opts.skip_paths and opts.overwrite is Overwrite.NONE)
        # libostree: only a writable repository with core.enable-uncompressed-cache (default true)
        self.cache_dir: Optional[str] = None
        #: objects/ of a repository the fast path reads (see _run_tree)
        self.objects_fd = -1
        #: bare-user: the checksum of the empty file of each user.ostreemeta met
        self.empties: dict[bytes, str] = {}
        #: whether a second process may share the linking (:func:`_may_share`)
        self.share = True
        if (opts.uncompressed_cache and user and repo.mode is RepoMode.ARCHIVE and not opts.force_copy
                and os.access(repo.path, os.W_OK)
                and repo.config.get_bool("core", "enable-uncompressed-cache", True)):
            self.cache_dir = os.path.join(repo.path, UNCOMPRESSED_CACHE)

    def dirmeta(self, checksum: str) -> _DirMetaFields:
        """A dirmeta's (uid, gid, mode, xattrs), read once a checkout."""
        fields = self.dirmetas.get(checksum)
        if fields is None:
            fields = self.dirmetas[checksum] = self.repo.load_dirmeta_fields(checksum)
        return fields


def checkout(repo: Repo, rev: str, destination: str, options: Optional[CheckoutOptions] = None,
             progress: Optional[ProgressCallback] = None, *, share: bool = True) -> None:
    """Check out ``rev`` (ref or checksum) to ``destination``. ``share`` False: never with a
    second process (:func:`_checkout_shared`), for a caller that keeps the other CPU busy."""
    opts = options or light_options()
    if repo.mode is RepoMode.BARE_USER_ONLY and opts.mode is not CheckoutMode.USER:
        # libostree forces user mode here: nothing else makes sense for this repo mode
        opts = _evolve(opts, mode=CheckoutMode.USER)
    if opts.force_copy and opts.no_copy_fallback:
        raise CheckoutError("Cannot specify both --force-copy and --require-hardlinks")
    csum = repo.resolve_rev(rev)
    assert csum is not None
    state = _State(repo, opts, progress)
    state.share = share
    parent = os.path.dirname(os.path.abspath(destination)) or "/"
    name = os.path.basename(os.path.abspath(destination))
    subpath = (opts.subpath or "/").strip("/")
    try:
        kind, found = repo.resolve_path(csum, subpath)
    except PathNotFoundError as e:
        raise CheckoutError(str(e)) from None
    if kind == "file":
        # like ostree: the destination is a directory holding the one file, made
        # when missing; an existing directory (".") is used as it is, and only the
        # file itself may clash
        try:
            os.mkdir(destination, 0o700)
        except FileExistsError:
            if not os.path.isdir(destination):
                raise CheckoutError(f"mkdirat: File exists: {destination}") from None
        dfd = os.open(destination, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            _checkout_file(state, found[0], dfd, subpath.rsplit("/", 1)[-1], "/" + subpath)
        finally:
            os.close(dfd)
        return
    tree, meta = found
    pfd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _run_tree(state, pfd, name, tree, meta)
    finally:
        os.close(pfd)


def _checkout_tree(state: _State, parent_fd: int, name: str, tree_csum: str, meta_csum: str,
                   path: str) -> None:
    repo, opts = state.repo, state.opts
    # names are validated as it is parsed; one openat by the repository's descriptor
    # where objects/ has it (the staging directory and core.parent are looked in after)
    # the entries and fields, not DirTree/DirMeta values: building none, a checkout (the
    # command line's) imports no attrs
    files, dirs = repo.load_dirtree_entries(tree_csum)
    dirmeta = state.dirmeta(meta_csum)
    opts_skip = opts.skip_paths
    is_opaque = opts.process_whiteouts and any(f == OPAQUE_WHITEOUT_NAME for f, _ in files)
    if is_opaque:
        _rm_rf_at(parent_fd, name)
    elif opts.process_whiteouts and opts.overwrite is Overwrite.UNION_FILES:
        with contextlib.suppress(FileNotFoundError):
            st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode):
                _rm_rf_at(parent_fd, name)
    dfd, did_exist = _open_dir(state, parent_fd, name, path, dirmeta)
    try:
        _place_files(state, dfd, files, path)
        for dname, t, m in dirs:
            if opts_skip and path + dname in opts_skip:
                continue
            _checkout_tree(state, dfd, dname, t, m, path + dname + "/")
        _finish_dir(state, dfd, dirmeta, did_exist)
    finally:
        if dfd >= 0:
            os.close(dfd)


def _open_dir(state: _State, parent_fd: int, name: str, path: str,
              dirmeta: _DirMetaFields) -> tuple[int, bool]:
    """Directory ``name`` (at ``path`` in the checkout) made in ``parent_fd``, or found there where
    the overwrite mode allows, and opened: (its descriptor, whether it existed). Its device is
    checked for a hardlink checkout and a new one gets ``dirmeta``'s xattrs (unless in user
    mode); its mode, owner and time come last (:func:`_finish_dir`)."""
    opts = state.opts
    did_exist = False
    try:
        os.mkdir(name, 0o700, dir_fd=parent_fd)
    except FileExistsError:
        if opts.overwrite is Overwrite.NONE:
            raise CheckoutError(f"mkdirat: File exists: {name}") from None
        did_exist = True
    dfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
    try:
        if opts.no_copy_fallback and (did_exist or path == "/") and os.fstat(dfd).st_dev != state.repo_dev:
            # directories we create are on their parent's device; only the top and
            # existing ones (possible mount points) need a look
            raise CheckoutError("Unable to do hardlink checkout across devices "
                                f"(src={state.repo_dev} destination={os.fstat(dfd).st_dev})")
        if not did_exist and opts.mode is not CheckoutMode.USER:
            for xname, value in dirmeta[3]:
                os.setxattr(dfd, obj.xattr_name(xname), value)
    except BaseException:
        os.close(dfd)
        raise
    return dfd, did_exist


def _place_files(state: _State, dfd: int, files: tuple[tuple[str, str], ...], path: str) -> None:
    """A directory's files (``dfd``, at ``path`` in the checkout), each linked or copied."""
    repo, opts = state.repo, state.opts
    fast = state.fast_link
    plain = fast and repo.parent is None
    plain_bare = plain and repo.mode is RepoMode.BARE
    plain_user = plain and repo.mode is RepoMode.BARE_USER
    prefix = repo._objects_prefix
    ofd = state.objects_fd
    lstat, S_ISLNK, S_ISREG, S_IRUSR = os.lstat, stat.S_ISLNK, stat.S_ISREG, stat.S_IRUSR
    passthrough = opts.passthrough_whiteouts
    progress = state.progress
    empties = state.empties
    for fname, fcsum in files:
        if fast and not (passthrough and fname.startswith(OVERLAY_WHITEOUT_PREFIX)):
            # the common deploy case, kept lean: one lstat (plus the ostreemeta
            # xattr in bare-user) and one linkat per file; anything unusual
            # (empty, unreadable, missing, corrupt, link failure) goes the long way,
            # which says what is wrong
            if plain_bare:
                # by the objects directory's descriptor: two path components to walk
                rel = f"{fcsum[:2]}/{fcsum[2:]}.file"
                linked = False
                copied = False
                try:
                    # a bare symlink object is linked like a file (its size is
                    # its target's length, never 0)
                    st = lstat(rel, dir_fd=ofd)
                    if st.st_size:
                        os.link(rel, fname, src_dir_fd=ofd, dst_dir_fd=dfd, follow_symlinks=False)
                        linked = True
                    elif S_ISREG(st.st_mode):
                        copied = _copy_empty(state, fcsum, st, rel, dfd, fname)
                except OSError:
                    pass
                if linked or copied:
                    if progress is not None:
                        progress(_file_checked_out(path + fname, linked))
                    continue
                linkable = False
            elif plain_user:
                src = f"{prefix}{fcsum[:2]}/{fcsum[2:]}.file"
                try:
                    raw = getxattr(src, BAREUSER_XATTR, follow_symlinks=False)
                except OSError:
                    raw = b""
                linkable = False
                if len(raw) == 12:  # uid, gid, mode and no xattrs: the common case
                    fmode = int.from_bytes(raw[8:], "big")
                    if fmode & _S_IFMT_RUSR == _S_IFREG_RUSR:
                        # an empty file is copied (as by ostree: one object must not
                        # collect every link); it is the one object of its header
                        # whose name is the header's own checksum, so no lstat
                        empty = empties.get(raw)
                        if empty is None:
                            empty = empties[raw] = _empty_checksum(raw)
                        linkable = fcsum != empty
                        if not linkable and _write_empty(state, dfd, fname, fmode):
                            if progress is not None:
                                progress(_file_checked_out(path + fname, False))
                            continue
                else:
                    try:
                        fmode = obj.bareuser_meta_parse(raw)[2]
                    except OstreeError:
                        fmode = 0  # the long way says what is wrong
                    if fmode & _S_IFMT_RUSR == _S_IFREG_RUSR:
                        try:
                            linkable = bool(lstat(src[len(prefix):], dir_fd=ofd).st_size)
                        except FileNotFoundError:
                            pass
                if S_ISLNK(fmode) and _user_symlink(src, raw, fcsum, dfd, fname):
                    if progress is not None:
                        progress(_file_checked_out(path + fname, False))
                    continue
            else:
                mode, size, src = repo.file_object_stat(fcsum)
                linkable = bool(size) and not (state.repo_usermode and S_ISLNK(mode)) and bool(
                    mode & S_IRUSR or not state.user)
            if linkable:
                try:
                    os.link(src, fname, dst_dir_fd=dfd, follow_symlinks=False)
                except OSError:
                    linkable = False
                if linkable:
                    if progress is not None:
                        progress(_file_checked_out(path + fname, True))
                    continue
        _checkout_file(state, fcsum, dfd, fname, path + fname)


_S_IFMT_RUSR = 0o170000 | stat.S_IRUSR
_S_IFREG_RUSR = stat.S_IFREG | stat.S_IRUSR


def _file_checked_out(path: str, hardlinked: bool) -> FileCheckedOut:
    from ..progress import FileCheckedOut  # an event class built when a caller asks for events
    return FileCheckedOut(path, hardlinked)


def _empty_checksum(raw: bytes) -> str:
    """The checksum of an empty regular file whose bare-user ``user.ostreemeta`` (no
    xattrs) is ``raw``."""
    return obj.dataless_checksum(int.from_bytes(raw[:4], "big"), int.from_bytes(raw[4:8], "big"),
                                   int.from_bytes(raw[8:], "big"))


def _copy_empty(state: _State, checksum: str, st: os.stat_result, rel: str, dfd: int, name: str) -> bool:
    """A bare repository's empty regular file ``rel`` (under objects/, ``st`` its lstat) made
    at ``name`` as the long way copies it (libostree copies every empty file: one object must
    not collect every link), its checksum checked as that copy's read checks it, without a
    FileHeader. False, with nothing made, where anything is unusual, for the long way to say
    what."""
    try:
        xattrs = read_xattrs(state.repo._objects_prefix + rel)
        if obj.dataless_checksum(st.st_uid, st.st_gid, st.st_mode, "", xattrs) != checksum:
            return False
    except (OSError, OstreeError):
        return False
    _write_regular(state, dfd, name, st.st_uid, st.st_gid, st.st_mode, xattrs, None, False)
    return True


def _user_symlink(src: str, raw: bytes, checksum: str, dfd: int, name: str) -> bool:
    """A bare-user symlink object (a regular file holding the target; ``raw`` its
    ``user.ostreemeta``) made a symlink at ``name``, as the long way does it: its checksum
    checked, since the target is data no later read checks. False, with nothing made,
    where anything is unusual, for the long way to say what."""
    try:
        uid, gid, mode, xattrs = obj.bareuser_meta_parse(raw)
        target = bareuser_symlink_target(src)
        obj.validate_file_header(uid, gid, mode, target, xattrs)
    except (OSError, OstreeError):
        return False
    if obj.dataless_checksum(uid, gid, mode, target, xattrs) != checksum:
        return False
    try:
        os.symlink(target, name, dir_fd=dfd)
    except OSError:
        return False
    return True


def _finish_dir(state: _State, dfd: int, dirmeta: _DirMetaFields, did_exist: bool) -> None:
    repo, opts = state.repo, state.opts
    user = opts.mode is CheckoutMode.USER
    if not did_exist:
        uid, gid, mode = dirmeta[:3]
        if repo.mode is RepoMode.BARE_USER_ONLY or opts.bareuseronly_dirs:
            mode = (mode & 0o775) | stat.S_IFDIR
        os.fchmod(dfd, stat.S_IMODE(mode))
        if not user:
            os.fchown(dfd, uid, gid)
        if not opts.force_copy:
            os.utime(dfd, ns=(time_ns(), 0))
    if opts.fsync:
        os.fsync(dfd)


def _run_tree(state: _State, pfd: int, name: str, tree: str, meta: str) -> None:
    """The top of a checkout, on the calling thread alone: a file costs an lstat and a
    linkat of a few microseconds each, too short for a second thread to take the GIL in
    between, so two threads over the subtrees took turns and added only their hand-offs
    (the realistic tree on tmpfs: no faster on a quiet machine, ~4 ms more CPU and slower
    under load). Where the command line owns the process, a second process shares the
    linking (:func:`_checkout_shared`)."""
    if state.fast_link and state.repo.parent is None:
        state.objects_fd = os.open(state.repo._objects_prefix, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if not (_may_share(state) and _checkout_shared(state, pfd, name, tree, meta)):
            _checkout_tree(state, pfd, name, tree, meta, "/")
    finally:
        if state.objects_fd >= 0:
            os.close(state.objects_fd)
            state.objects_fd = -1


# Sharing a hardlink checkout with a forked process. The GIL keeps a second thread from
# linking while the first does (above), but a second process links alongside: the tree's
# top (breadth first, until it has _SHARE_UNITS subtrees or is _SHARE_DEPTH deep) is made
# by the caller, then both processes take units from a pipe holding their numbers (4-byte
# reads of a pipe are atomic: each unit is taken once), a unit being a top directory's
# files or a whole subtree below the top; the top's directories get their modes, owners and
# times once both are done, as the last of their entries is in. Only a process the command
# line owns forks (ostreepy._process), with no other thread, at least two CPUs to run on,
# and nobody to send progress to; an error of the second process is raised by the first.
_SHARE_UNITS = 48
_SHARE_DEPTH = 4
_SHARE_MIN_UNITS = 8
#: the units' numbers are written to the pipe before the fork: they must fit in its buffer
_SHARE_MAX_UNITS = 4096


def _may_share(state: _State) -> bool:
    if not (state.share and state.fast_link and state.repo.parent is None and state.progress is None):
        return False
    from .._process import may_fork_a_helper
    return may_fork_a_helper()


def _checkout_shared(state: _State, pfd: int, name: str, tree: str, meta: str) -> bool:
    """The checkout of ``tree`` at ``name`` shared with a second process (see above); False,
    with nothing made, when its top has too few (or too many) subtrees to be worth it."""
    repo = state.repo
    # the top, read first: (parent's index in top, name, files, dirmeta, path)
    top: list[tuple[int, str, tuple[tuple[str, str], ...], _DirMetaFields, str]] = []
    level = [(-1, name, tree, meta, "/")]
    depth = 0
    while level and len(level) < _SHARE_UNITS and depth < _SHARE_DEPTH:
        below: list[tuple[int, str, str, str, str]] = []
        for parent, dname, t, m, path in level:
            files, dirs = repo.load_dirtree_entries(t)
            dirmeta = state.dirmeta(m)
            top.append((parent, dname, files, dirmeta, path))
            below.extend((len(top) - 1, sub, st, sm, path + sub + "/") for sub, st, sm in dirs)
        level = below
        depth += 1
    units: list[tuple] = [("tree", *unit) for unit in level]
    units.extend(("files", i, entry[2], entry[4]) for i, entry in enumerate(top) if entry[2])
    if not _SHARE_MIN_UNITS <= len(units) <= _SHARE_MAX_UNITS:
        return False
    fds: list[int] = []
    try:
        for parent, dname, _files, dirmeta, path in top:
            # (a shared checkout overwrites nothing: each is new, or an error)
            fds.append(_open_dir(state, pfd if parent < 0 else fds[parent], dname, path, dirmeta)[0])
        _share(state, units, fds)
        for fd, (_p, _n, _f, dirmeta, _path) in zip(fds, top):
            _finish_dir(state, fd, dirmeta, False)
    finally:
        for fd in fds:
            os.close(fd)
    return True


def _share(state: _State, units: list[tuple], fds: list[int]) -> None:
    """``units`` taken by this process and a forked one, until none is left; the forked
    one's error raised here, once it has ended."""
    rfd, wfd = os.pipe()
    erfd, ewfd = os.pipe()
    try:
        os.write(wfd, b"".join(i.to_bytes(4, "little") for i in range(len(units))))
        os.close(wfd)
        wfd = -1
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the second process (its work is checked by its result)
            code = 0
            try:
                os.close(erfd)
                _take_units(state, units, fds, rfd)
            except BaseException as e:
                code = 1
                with contextlib.suppress(BaseException):
                    os.write(ewfd, _error_record(e))
            os._exit(code)
        os.close(ewfd)
        ewfd = -1
        status = 0
        try:
            _take_units(state, units, fds, rfd)
        except BaseException:
            with contextlib.suppress(OSError):
                while os.read(rfd, 65536):  # the second process takes nothing more
                    pass
            raise
        finally:
            status = os.waitpid(pid, 0)[1]
        record = read_all(erfd)
        if record:
            raise _error_from(record)
        if status:
            # ended without a word (killed: a signal, the OOM killer): its units may be half done
            raise CheckoutError(f"The checkout's second process ended abnormally ({describe_status(status)})")
    finally:
        for fd in (rfd, wfd, erfd, ewfd):
            if fd >= 0:
                os.close(fd)


def _take_units(state: _State, units: list[tuple], fds: list[int], rfd: int) -> None:
    while True:
        token = os.read(rfd, 4)
        if not token:
            return
        unit = units[int.from_bytes(token, "little")]
        if unit[0] == "files":
            _place_files(state, fds[unit[1]], unit[2], unit[3])
        else:
            _kind, parent, name, tree, meta, path = unit
            _checkout_tree(state, fds[parent], name, tree, meta, path)


def _error_record(e: BaseException) -> bytes:
    """The second process's error, as the first raises it (:func:`_error_from`)."""
    if isinstance(e, OSError) and e.errno is not None:
        return b"\x00".join((b"O", str(e.errno).encode(), (e.strerror or "").encode("utf-8", "surrogateescape"),
                             os.fsencode(e.filename) if isinstance(e.filename, str) else b""))
    return b"E\x00" + (str(e) or type(e).__name__).encode("utf-8", "surrogateescape")


def _error_from(record: bytes) -> Exception:
    kind, _, rest = record.partition(b"\x00")
    if kind == b"O":
        errno_, strerror, filename = rest.split(b"\x00", 2)
        return OSError(int(errno_), strerror.decode("utf-8", "surrogateescape"), os.fsdecode(filename) or None)
    return CheckoutError(rest.decode("utf-8", "surrogateescape"))


def _rm_rf_at(dfd: int, name: str) -> None:
    try:
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
        try:
            for child in os.listdir(sub):
                _rm_rf_at(sub, child)
        finally:
            os.close(sub)
        os.rmdir(name, dir_fd=dfd)
    else:
        os.unlink(name, dir_fd=dfd)


def _checkout_file(state: _State, checksum: str, dfd: int, name: str, path: str) -> None:
    obj.validate_filename(name)
    repo, opts = state.repo, state.opts
    header: Optional[FileHeader] = None
    stream: Optional[BinaryIO] = None
    src_path = ""
    if repo.mode is RepoMode.ARCHIVE or opts.filter is not None:
        # an archive object is always copied: open it once for both header and data
        header, stream = repo.load_file(checksum)
        mode = header.mode
        size = -1 if header.is_regular else 0
    else:
        mode, size, src_path = repo.file_object_stat(checksum)
    try:
        _place_file(state, checksum, dfd, name, path, header, stream, mode, size, src_path)
    finally:
        if stream is not None:
            stream.close()


def _place_file(state: _State, checksum: str, dfd: int, name: str, path: str, header: Optional[FileHeader],
                stream: Optional[BinaryIO], mode: int, size: int, src_path: str) -> None:
    repo, opts = state.repo, state.opts
    user = opts.mode is CheckoutMode.USER
    if opts.filter is not None and not opts.filter(path, header):  # type: ignore[arg-type]
        return
    if path in opts.skip_paths:
        return
    is_symlink = stat.S_ISLNK(mode)
    if not is_symlink and opts.passthrough_whiteouts and name.startswith(OVERLAY_WHITEOUT_PREFIX):
        _overlay_whiteout(state, checksum, dfd, name[len(OVERLAY_WHITEOUT_PREFIX):], header)
        return
    if not is_symlink and opts.process_whiteouts and name.startswith(WHITEOUT_PREFIX):
        target = name[len(WHITEOUT_PREFIX):]
        if not target:
            raise CheckoutError(f"Invalid empty whiteout '{name}'")
        if name != OPAQUE_WHITEOUT_NAME:
            obj.validate_filename(target)
            _rm_rf_at(dfd, target)
        return
    override_unreadable = user and not is_symlink and not (mode & stat.S_IRUSR)
    need_copy = True
    if size == 0 and not is_symlink or override_unreadable:
        need_copy = True
    elif not opts.force_copy:
        bare_user_symlink = state.repo_usermode and is_symlink
        if opts.no_copy_fallback and not state.hardlinkable and not bare_user_symlink:
            raise CheckoutError("User repository mode requires user checkout mode to hardlink"
                                if state.repo_usermode else
                                "Bare repository mode cannot hardlink in user checkout mode")
        if state.hardlinkable and not bare_user_symlink:
            need_copy = not _hardlink(state, src_path, dfd, name, checksum)
        elif state.cache_dir is not None and not is_symlink:
            cached = _uncompressed_cached(state, checksum, header, stream)
            if cached is not None:
                if stream is not None:
                    stream.close()
                header, stream = None, None  # spent: a copy after all reads the object again
                need_copy = not _hardlink(state, cached, dfd, name, checksum)
    if need_copy:
        if header is None:
            header, stream = repo.load_file(checksum)
        try:
            _copy_file(state, checksum, header, stream, dfd, name, override_unreadable)
        finally:
            if stream is not None:
                stream.close()
    if state.progress is not None:
        state.progress(_file_checked_out(path, not need_copy))


def _uncompressed_cached(state: _State, checksum: str, header: Optional[FileHeader],
                         stream: Optional[BinaryIO]) -> Optional[str]:
    """The object's file in the uncompressed-objects-cache, unpacked there first when
    missing; None for what the cache does not hold (empty files)."""
    assert state.cache_dir is not None
    path = os.path.join(state.cache_dir, checksum[:2], checksum[2:] + ".file")
    if os.path.lexists(path):
        return path
    repo = state.repo
    if repo.content_size(checksum) == 0:
        return None
    if header is None or stream is None:
        header, stream = repo.load_file(checksum)
    assert stream is not None
    import tempfile  # here: with its shutil and random, start-up a checkout without the cache need not pay
    fd, tmp = tempfile.mkstemp(prefix="checkout-cache-", dir=repo.tmp_dir)
    try:
        try:
            _copy_to_fd(stream, fd)
            if state.opts.fsync:
                os.fsync(fd)
            os.fchmod(fd, stat.S_IMODE(header.mode) & ~(stat.S_ISUID | stat.S_ISGID))
        finally:
            os.close(fd)
        os.makedirs(os.path.dirname(path), 0o775, exist_ok=True)
        # another checkout may have put it there meanwhile: theirs is the same bytes
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return path


def _overlay_whiteout(state: _State, checksum: str, dfd: int, target: str, header: Optional[FileHeader]) -> None:
    """_checkout_overlayfs_whiteout_at: the char device 0:0 with the object's mode, and its
    owner and xattrs unless in user mode; an existing file is replaced only by --union."""
    if not target:
        raise CheckoutError(f"Invalid empty overlayfs whiteout '{OVERLAY_WHITEOUT_PREFIX}'")
    obj.validate_filename(target)
    if header is None:
        header = state.repo.load_file_header(checksum)
    perms = stat.S_IMODE(header.mode)
    try:
        os.mknod(target, perms | stat.S_IFCHR, os.makedev(0, 0), dir_fd=dfd)
    except FileExistsError:
        if state.opts.overwrite is Overwrite.ADD_FILES:
            return
        if state.opts.overwrite is not Overwrite.UNION_FILES:
            raise CheckoutError(f"Creating whiteout char device: File exists: {target}") from None
        os.unlink(target, dir_fd=dfd)
        os.mknod(target, perms | stat.S_IFCHR, os.makedev(0, 0), dir_fd=dfd)
    if state.opts.mode is not CheckoutMode.USER:
        for xname, value in header.xattrs:
            os.setxattr(f"/proc/self/fd/{dfd}/{target}", obj.xattr_name(xname), value, follow_symlinks=False)
        os.chown(target, header.uid, header.gid, dir_fd=dfd, follow_symlinks=False)
        os.chmod(target, perms, dir_fd=dfd)


def _hardlink(state: _State, src_path: str, dfd: int, name: str, checksum: str) -> bool:
    opts = state.opts
    try:
        os.link(src_path, name, dst_dir_fd=dfd, follow_symlinks=False)
        return True
    except FileExistsError:
        if opts.overwrite is Overwrite.ADD_FILES:
            return True
        if opts.overwrite is Overwrite.UNION_IDENTICAL:
            st_src = os.lstat(src_path)
            st_dst = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            if (st_src.st_dev, st_src.st_ino) == (st_dst.st_dev, st_dst.st_ino):
                return True
            if _identical_copy(state, dfd, name, checksum, st_src, st_dst):
                return True
            raise CheckoutError(f"Hardlinking {checksum[:2]}/{checksum[2:]}.file to {name}: File exists")
        if opts.overwrite is Overwrite.UNION_FILES:
            tmp = f".ostreepy-tmp-{os.getpid()}-{name}"[:250]
            os.link(src_path, tmp, dst_dir_fd=dfd, follow_symlinks=False)
            try:
                _replace(dfd, tmp, name)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=dfd)
                raise
            return True
        raise CheckoutError(f"Hardlinking {checksum} to {name}: File exists") from None
    except OSError as e:
        if not opts.no_copy_fallback and e.errno in (errno.EMLINK, errno.EXDEV, errno.EPERM):
            return False
        raise CheckoutError(f"Hardlinking {checksum} to {name}: {e.strerror}") from None


def _replace(dfd: int, tmp: str, name: str) -> None:
    try:
        os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
    except IsADirectoryError:
        _rm_rf_at(dfd, name)
        os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
    # rename() between two links of one inode succeeds and does nothing (POSIX):
    # a second union checkout of the same hardlinked object would leave tmp behind
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp, dir_fd=dfd)


def _copy_file(state: _State, checksum: str, header: FileHeader, stream: Optional[BinaryIO], dfd: int,
               name: str, override_unreadable: bool) -> None:
    opts = state.opts
    user = opts.mode is CheckoutMode.USER
    existing = _exists(dfd, name)
    if existing and opts.overwrite is Overwrite.NONE:
        raise CheckoutError(f"Copy checkout of {checksum} to {name}: File exists")
    if existing and opts.overwrite is Overwrite.ADD_FILES:
        return
    target_name = name
    if existing:
        target_name = f".ostreepy-tmp-{os.getpid()}-{name}"[:250]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target_name, dir_fd=dfd)
    if header.is_symlink:
        os.symlink(header.symlink_target, target_name, dir_fd=dfd)
        if not user:
            os.chown(target_name, header.uid, header.gid, dir_fd=dfd, follow_symlinks=False)
            for xname, value in header.xattrs:
                os.setxattr(f"/proc/self/fd/{dfd}/{target_name}", obj.xattr_name(xname), value,
                            follow_symlinks=False)
    else:
        assert stream is not None
        _write_regular(state, dfd, target_name, header.uid, header.gid, header.mode, header.xattrs, stream,
                       override_unreadable)
    if existing:
        if opts.overwrite is Overwrite.UNION_IDENTICAL:
            same = _same_content(dfd, target_name, name)
            os.unlink(target_name, dir_fd=dfd)
            if not same:
                raise CheckoutError(f"File exists: {name}")
            return
        _replace(dfd, target_name, name)


def _write_empty(state: _State, dfd: int, name: str, mode: int) -> bool:
    """A user-mode checkout's empty regular file of ``mode`` (its object's header known from its
    name: see the caller), as the long way copies it; False, with nothing made, on failure,
    for the long way to say what."""
    try:
        _write_regular(state, dfd, name, 0, 0, mode, (), None, False)
    except OSError:
        return False
    return True


def _write_regular(state: _State, dfd: int, name: str, uid: int, gid: int, mode: int,
                   xattrs: tuple[tuple[bytes, bytes], ...], stream: Optional[BinaryIO],
                   override_unreadable: bool) -> None:
    """A new regular file ``name`` with ``stream``'s bytes (None: empty), its owner and xattrs
    unless in user mode, its mode last; removed again if anything fails."""
    user = state.opts.mode is CheckoutMode.USER
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dfd)
    try:
        if stream is not None:
            try:
                _copy_to_fd(stream, fd)
            finally:
                stream.close()
        if not user:
            os.fchown(fd, uid, gid)
            for xname, value in xattrs:
                os.setxattr(fd, obj.xattr_name(xname), value)
        mode = stat.S_IMODE(mode)
        if user:
            mode &= ~(stat.S_ISUID | stat.S_ISGID)
        if override_unreadable:
            mode |= stat.S_IRUSR
        os.fchmod(fd, mode)
        if state.opts.fsync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=dfd)
        raise
    os.close(fd)


def _identical_copy(state: _State, dfd: int, name: str, checksum: str, st_src: os.stat_result,
                    st_dst: os.stat_result) -> bool:
    """--union-identical over a file that is no hardlink of the object: the same object
    all the same when the stat fields agree (_ostree_stbuf_equal) and the file hashes to
    it, xattrs and owner counted as the repository does (ostree's "last resort")."""
    if (st_src.st_mode != st_dst.st_mode or st_src.st_uid != st_dst.st_uid or st_src.st_gid != st_dst.st_gid
            or (stat.S_ISREG(st_src.st_mode) and st_src.st_size != st_dst.st_size)):
        return False
    from .pathsum import checksum_path
    repo = state.repo
    buo = repo.mode is RepoMode.BARE_USER_ONLY
    canonical = buo and stat.S_ISREG(st_dst.st_mode)
    actual = checksum_path(f"/proc/self/fd/{dfd}/{name}", st=st_dst,
                           ignore_xattrs=buo or repo.config.get_bool("core", "disable-xattrs", False),
                           uid=0 if canonical else None, gid=0 if canonical else None)
    return actual == checksum


def _exists(dfd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dfd, follow_symlinks=False)
        return True
    except FileNotFoundError:
        return False


def _same_content(dfd: int, a: str, b: str) -> bool:
    sa = os.stat(a, dir_fd=dfd, follow_symlinks=False)
    sb = os.stat(b, dir_fd=dfd, follow_symlinks=False)
    if stat.S_IFMT(sa.st_mode) != stat.S_IFMT(sb.st_mode):
        return False
    if stat.S_ISLNK(sa.st_mode):
        return os.readlink(a, dir_fd=dfd) == os.readlink(b, dir_fd=dfd)
    if sa.st_size != sb.st_size:
        return False
    fa = os.open(a, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dfd)
    fb = os.open(b, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dfd)
    try:
        while True:
            ca, cb = os.read(fa, CHUNK), os.read(fb, CHUNK)
            if ca != cb:
                return False
            if not ca:
                return True
    finally:
        os.close(fa)
        os.close(fb)


def _copy_to_fd(stream: BinaryIO, fd: int) -> None:
    """Every byte of ``stream`` into ``fd``, a chunk at a time (flat memory for any size)."""
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return
        write_all(fd, chunk)


_DEFERRED.hide()


def __getattr__(name: str) -> type:
    return _DEFERRED.build(name)
