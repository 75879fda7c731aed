"""Executing static deltas into a repository: opening parts (checksummed,
xz or plain) and running their opcodes, and ``static-delta apply-offline``.

Every object a part writes goes through :meth:`Repo.write_metadata` or
:meth:`Repo.write_content` with its expected checksum, so it is hashed before
it is renamed in and a wrong one is refused.  Objects built by ``open``/
``write``/``bspatch``/``close`` are built in memory when ``open`` says they are at
most ``_SPOOL`` bytes, in an unnamed file under the repository's ``tmp/`` otherwise, so memory stays bounded
by the size of one part (the decompressed payload, as in libostree) and not by
the objects it makes.  A read source in a bare repository is its object file,
mapped; in an archive one it is inflated to an unnamed file and mapped.

apply-offline writes the to-commit (and its detached metadata) only after
every part has run: a delta that fails half-way leaves verified loose objects
but never a commit whose tree is missing.

The appliers (:func:`apply_offline_plain`, the command line's, and a pull's parts through
:func:`execute_part` and the functions it shares) work on plain data: the superblock and
part as :func:`.format.read_superblock` and :func:`.format.read_part_payload` read them,
content headers as :class:`_Header`, dirtrees, dirmetas and the commit checked by the
store's functions of their fields (what their classes' parse is): no attrs value is built
and attrs is not imported (~20 ms of a ~120 ms apply). The attrs values (:class:`PartPayload`,
:class:`ApplyResult`) are built for callers of :func:`open_part` and :func:`apply_offline`.
"""

from __future__ import annotations

import errno
import hashlib
import io
import mmap
import os
import stat

from ..._deferred import Deferred
from ...errors import ChecksumMismatchError, CorruptObjectError, OstreeError, SignatureError
from ...fsutil import unnamed_file
from ...store import objects as obj
from ...store.objects import BAREUSER_XATTR, MAX_METADATA_SIZE, ObjectType, bareuser_meta_parse
from ...store.repo import Repo, RepoMode
from . import format as fmt
from . import split
from .bsdiff import bspatch
from .format import DeltaError
from .partread import OVERSIZE, RawPart, part_files, prefetch, read_part, take

TYPE_CHECKING = False  # typing is not imported at run time (an apply's start-up)
if TYPE_CHECKING:
    from typing import BinaryIO, Callable, Dict, List, Optional, Sequence, Set, Tuple, Union

    from attrs import frozen as _result

    from ...progress import ProgressCallback
    from .format import Op, PartHeader, PartInfo, PartPayload, PayloadFields, Superblock, SuperblockInfo

    Verifier = Callable[[bytes, List[bytes]], str]

_READ = 1 << 20
_SPOOL = 4 << 20
#: read sources bigger than this are mapped, smaller ones read
_MAP_MIN = 256 << 10
#: a superblock bigger than this is refused before it is parsed (inline parts
#: make superblocks large, but not this large)
MAX_SUPERBLOCK_SIZE = 512 * 1024 * 1024


# apply-offline's results are built (attrs) when it returns one: the command line and a pull
# run parts through the functions below that return plain data (ostreepy._deferred)
_DEFERRED = Deferred(globals())

if not TYPE_CHECKING:
    _result = _DEFERRED.register


@_result
class PartResult:
    """What one part did: objects written (not already present) and opcode counts."""

    index: int
    written: int
    skipped: bool
    op_counts: Tuple[int, ...]


@_result
class ApplyResult:
    """What apply-offline did: the delta's ends, per-part results, the signature message."""
    from_checksum: Optional[str]
    to_checksum: str
    parts: Tuple[PartResult, ...]
    signature: Optional[str] = None


def open_part(source: Union[bytes, BinaryIO], expected_checksum: Optional[str],
              limit: Optional[int] = None) -> PartPayload:
    """A part file's payload; its sha256 checked against ``expected_checksum``
    unless that is None (an inline part, covered by the superblock); a payload past
    ``limit`` bytes (:func:`.format.payload_limit` of its header) refused, read no further."""
    # (not a view: the payload is bytes)
    return fmt.PartPayload(*_open_payload(source, expected_checksum, limit, view=False))  # type: ignore[arg-type]


def _open_payload(source: Union[bytes, BinaryIO], expected_checksum: Optional[str],
                  limit: Optional[int] = None, view: bool = True) -> PayloadFields:
    """:func:`open_part`'s payload as plain data (:func:`.format.read_part_payload`)."""
    stream: BinaryIO = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
    return _read_payload(read_part(stream, limit), expected_checksum, limit, view)


def open_read_part(raw: RawPart, expected_checksum: Optional[str], limit: Optional[int]) -> PartPayload:
    """The payload of a part file read by :func:`.partread.read_part` (here or ahead),
    judged in libostree's order: the compression byte, then the checksum, then the
    xz stream's end; then (ours: libostree inflates to a temporary file whatever the
    header says) a payload past ``limit``."""
    # (not a view: the payload is bytes)
    return fmt.PartPayload(*_read_payload(raw, expected_checksum, limit, view=False))  # type: ignore[arg-type]


def _read_payload(raw: RawPart, expected_checksum: Optional[str], limit: Optional[int],
                  view: bool = True) -> PayloadFields:
    """:func:`open_read_part`'s payload as plain data, the payload a view of the inflated part
    (``view``: for the appliers here, which hold it while they run)."""
    if raw.comp is None:
        raise DeltaError("Reading initial compression flag byte: unexpected EOF")
    if raw.comp not in (fmt.COMPRESSION_NONE, fmt.COMPRESSION_XZ):
        raise DeltaError(f"Invalid compression type '{raw.comp}'")
    _check(raw.digest, expected_checksum)
    if raw.error == OVERSIZE or (limit is not None and raw.size > limit):
        raise DeltaError(f"Delta part payload is larger than its header allows ({limit} bytes)")
    if raw.error is not None:
        raise DeltaError(f"Decompressing delta part: {raw.error}")
    chunks = raw.chunks
    return fmt.read_part_payload(chunks[0] if len(chunks) == 1 else b"".join(chunks), view)


def _check(actual: str, expected: Optional[str]) -> None:
    if expected is not None and actual != expected:
        raise DeltaError(f"Checksum mismatch in static delta part; expected={expected} actual={actual}")


class _Header(obj.LightHeader):
    """A content object's header as the delta's ``S`` and ``o`` opcodes make it: the store's
    plain header (an apply builds no attrs value), whose checksum prefix is hashed once."""

    __slots__ = ("_hasher",)

    def __init__(self, uid: int, gid: int, mode: int, symlink_target: str, xattrs: obj.Xattrs) -> None:
        super().__init__(uid, gid, mode, symlink_target, xattrs)
        self._hasher: Optional[hashlib._Hash] = None

    def new_hasher(self) -> hashlib._Hash:
        # a part's regular files share a header or two (_Executor.file_header): the prefix is
        # serialized and hashed once, each object's hash a copy of that state
        if self._hasher is None:
            self._hasher = hashlib.sha256(self.checksum_prefix())
        return self._hasher.copy()


def _write_metadata(repo: Repo, objtype: ObjectType, data: bytes, checksum: str) -> None:
    """``repo.write_metadata(objtype, data, expected=checksum, known_absent=True)``, with a
    dirtree's or dirmeta's checks made by the store's functions of the fields (check_dirtree,
    parse_dirmeta: what their classes' parse refuses) rather than by building the value; in
    write_metadata's order (the size, the checksum, the structure), with its errors."""
    parsed: object = None
    if len(data) <= MAX_METADATA_SIZE and objtype in (ObjectType.DIR_TREE, ObjectType.DIR_META):
        actual = hashlib.sha256(data).hexdigest()
        if actual != checksum:
            raise ChecksumMismatchError(checksum, actual, f"{objtype.name_str} object")
        if objtype is ObjectType.DIR_TREE:
            # checked, not parsed: nothing here reads the entries (a third of a dirtree's cost)
            obj.check_dirtree(data)
            parsed = data
        else:
            parsed = obj.parse_dirmeta(data)
    repo.write_metadata(objtype, data, expected=checksum, known_absent=True, parsed=parsed)


class _ReadSource:
    """The old object a modified file is built from, as random-access bytes.

    In a bare repository the object file is the content: it is mapped as it
    is.  An archive object is inflated into an unnamed file first.  The source
    is not hashed on the way in (as in libostree): the object built from it is
    checked against its checksum before it lands, which catches a bad source.
    """

    def __init__(self, repo: Repo, checksum: str) -> None:
        self.checksum = checksum
        self._file: Optional[BinaryIO]
        if repo.mode is not RepoMode.ARCHIVE:
            self._file = None
            if self._open_loose(repo, checksum):
                return
            # the object file itself, by descriptor (as libostree's load_file_bare): its
            # mode and size from one lstat (and the bare-user xattr), no header parsed, no
            # file object (whose open costs an fstat, an ioctl and an lseek more) kept open
            mode, size, path = repo.file_object_stat(checksum)
            if not stat.S_ISREG(mode):
                raise DeltaError(f"Read source {checksum} is not a regular file")
            self._file = None
            self.size = size
            self.data: Union[bytes, mmap.mmap] = b""
            if size:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                try:
                    self.data = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)  # holds its own descriptor
                finally:
                    os.close(fd)
                self.size = len(self.data)
            return
        header, stream = repo.load_file(checksum, verify=False)
        if not header.is_regular or stream is None:
            raise DeltaError(f"Read source {checksum} is not a regular file")
        if isinstance(stream, io.BufferedReader) and stream.tell() == 0:
            self._file = stream  # a plain object file
        else:
            self._file = unnamed_file(repo.tmp_dir)
            try:
                with stream:
                    while True:
                        chunk = stream.read(_READ)
                        if not chunk:
                            break
                        self._file.write(chunk)
                self._file.flush()
            except BaseException:
                self._file.close()
                raise
        try:
            self.size = os.fstat(self._file.fileno()).st_size
            self.data = (
                mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ) if self.size else b"")
        except BaseException:
            self._file.close()
            raise

    def _open_loose(self, repo: Repo, checksum: str) -> bool:
        """The common case of a bare repository: an object of the from-commit, in
        ``objects/``, opened there first (where :meth:`Repo.file_object_stat` looks in the
        staging directory first, then stats and reads the xattr by path, then the file is
        opened: one descriptor here serves all). False when it is not there: a staged or
        a parent repository's object takes the general way."""
        try:
            fd = os.open(f"{repo.object_dirs(checksum[:2])[0]}/{checksum[2:]}.file",
                         os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        except OSError as e:
            if e.errno == errno.ELOOP:  # bare and bare-user-only store a symlink as one
                raise DeltaError(f"Read source {checksum} is not a regular file") from None
            raise
        try:
            st = os.fstat(fd)
            mode = st.st_mode
            if repo.mode is RepoMode.BARE_USER:
                try:
                    raw = os.getxattr(fd, BAREUSER_XATTR)
                except OSError as e:
                    raise CorruptObjectError(f"Corrupted file object {checksum}: reading user.ostreemeta: {e}",
                                             checksum) from None
                mode = bareuser_meta_parse(raw)[2]
            if not stat.S_ISREG(mode) or not stat.S_ISREG(st.st_mode):
                raise DeltaError(f"Read source {checksum} is not a regular file")
            self.size = st.st_size
            if self.size > _MAP_MIN:
                self.data = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)  # (it holds a descriptor of its own)
            elif self.size:
                # a small source is read: mapping one costs a dup, an fstat, the mmap, then munmap
                # and close (most of the 20k tree's 856 sources are a few KB)
                self.data = os.pread(fd, self.size, 0)
                self.size = len(self.data)
            else:
                self.data = b""
        finally:
            os.close(fd)
        return True

    def close(self) -> None:
        if isinstance(self.data, mmap.mmap):
            self.data.close()
        if self._file is not None:
            self._file.close()


class _Executor:
    """Runs a part's decoded instructions (:func:`.format.decode_ops`) over its payload's
    plain fields (:func:`.format.read_part_payload`)."""

    def __init__(self, repo: Repo, objects: List[Tuple[ObjectType, str]], part: PayloadFields,
                 missing: Optional[Set[Tuple[ObjectType, str]]] = None) -> None:
        self.repo = repo
        self.objects = objects
        #: the part's objects found missing just before (:func:`missing_objects`), which an
        #: opening opcode asks rather than the file system (None: it asks has_object)
        self.missing = missing
        self.modes, self.xattrs, self.payload, _ops = part
        self.view = memoryview(self.payload)
        #: a part's objects share a few modes and xattrs: one header each (they are immutable)
        self.headers: Dict[Tuple[int, int], _Header] = {}
        self.source: Optional[_ReadSource] = None
        self.out: Optional[BinaryIO] = None
        self.header: Optional[_Header] = None
        self.size = 0
        self.written = 0
        self.have_obj = False
        self.target: Optional[Tuple[ObjectType, str]] = None

    def have(self, objtype: ObjectType, checksum: str) -> bool:
        if self.missing is None:
            return self.repo.has_object(checksum, objtype)
        return (objtype, checksum) not in self.missing

    def stored(self, objtype: ObjectType, checksum: str) -> None:
        self.written += 1
        if self.missing is not None:
            self.missing.discard((objtype, checksum))

    def slice(self, offset: int, length: int) -> memoryview:
        if offset + length > len(self.payload):
            raise DeltaError(f"Invalid offset/length {offset}/{length}")
        return self.view[offset:offset + length]

    def file_header(self, mode_index: int, xattr_index: int) -> _Header:
        header = self.headers.get((mode_index, xattr_index))
        if header is None:
            try:
                uid, gid, mode = self.modes[mode_index]
                xattrs = self.xattrs[xattr_index]
            except IndexError:
                raise DeltaError(f"Invalid mode/xattr index {mode_index}/{xattr_index}") from None
            header = self.headers[mode_index, xattr_index] = _Header(uid, gid, mode, "", xattrs)
        return header

    def write_content(self, header: _Header, stream: Optional[BinaryIO], size: int, checksum: str) -> None:
        # the store's writer reads the plain header as a FileHeader (see _Header); an archive
        # repository's (whose object header is its own serialization) is given the value
        h = header if self.repo.mode is not RepoMode.ARCHIVE else obj.FileHeader(
            header.uid, header.gid, header.mode, header.symlink_target, header.xattrs)
        self.repo.write_content(h, stream, size, expected=checksum,  # type: ignore[arg-type]
                                known_absent=True)

    def run(self, ops: Sequence[Op]) -> int:
        try:
            for op in ops:
                self.dispatch(op)
        finally:
            self.unset_source()
            if self.out is not None:
                self.out.close()
        return self.written

    def dispatch(self, op: Op) -> None:
        code, args, object_index = op
        if code == fmt.OP_OPEN_SPLICE_AND_CLOSE:
            objtype, checksum = self.objects[object_index]
            if objtype.is_meta:
                length, offset = args
                data = self.slice(offset, length)
                if not self.have(objtype, checksum):
                    _write_metadata(self.repo, objtype, bytes(data), checksum)
                    self.stored(objtype, checksum)
            else:
                mode_index, xattr_index, size, offset = args
                data = self.slice(offset, size)
                header = self.file_header(mode_index, xattr_index)
                stream: Optional[BinaryIO]
                if stat.S_ISLNK(header.mode):
                    header = _Header(header.uid, header.gid, header.mode,
                                     bytes(data).decode("utf-8", "surrogateescape"), header.xattrs)
                    stream = None
                else:
                    stream = io.BytesIO(data)
                if objtype != ObjectType.FILE:
                    raise DeltaError(f"Invalid object type '{int(objtype)}' for content")
                if not self.have(ObjectType.FILE, checksum):
                    self.write_content(header, stream, size if stream is not None else 0, checksum)
                    self.stored(ObjectType.FILE, checksum)
            self.close()
        elif code == fmt.OP_OPEN:
            objtype, checksum = self.objects[object_index]
            if objtype != ObjectType.FILE:
                raise DeltaError("opcode open: not a content object")
            mode_index, xattr_index, size = args
            self.header = self.file_header(mode_index, xattr_index)
            if not self.header.is_regular:
                raise DeltaError("opcode open: not a regular file")
            self.size = size
            self.target = (objtype, checksum)
            self.have_obj = self.have(ObjectType.FILE, checksum)
            if not self.have_obj:
                # most built objects are small: built in memory; one past _SPOOL in an unnamed file in tmp/
                if size <= _SPOOL:
                    self.out = io.BytesIO()
                else:
                    self.out = unnamed_file(self.repo.tmp_dir)
        elif code == fmt.OP_WRITE:
            size, offset = args
            if self.target is None:
                raise DeltaError("opcode write: no object open")
            if self.have_obj:
                return
            assert self.out is not None
            if self.out.tell() + size > self.size:
                # (close would refuse it; an object built in memory must not grow past what open said)
                raise DeltaError(f"opcode write: object {self.target[1]} past its size {self.size}")
            if self.source is not None:
                if offset + size > self.source.size:
                    raise DeltaError(f"Unexpected EOF reading object {self.source.checksum}")
                self.out.write(self.source.data[offset:offset + size])
            else:
                self.out.write(self.slice(offset, size))
        elif code == fmt.OP_SET_READ_SOURCE:
            (offset,) = args
            self.unset_source()
            raw = bytes(self.slice(offset, 32))
            self.source = _ReadSource(self.repo, raw.hex())
        elif code == fmt.OP_UNSET_READ_SOURCE:
            self.unset_source()
        elif code == fmt.OP_CLOSE:
            self.close()
        elif code == fmt.OP_BSPATCH:
            offset, length = args
            patch = self.slice(offset, length)
            if self.target is None:
                raise DeltaError("opcode bspatch: no object open")
            if self.have_obj:
                return
            if self.source is None:
                raise DeltaError("opcode bspatch: no read source")
            assert self.out is not None
            for piece in bspatch(self.source.data, self.size, patch):
                self.out.write(piece)

    def unset_source(self) -> None:
        if self.source is not None:
            self.source.close()
            self.source = None

    def close(self) -> None:
        if self.target is not None and self.out is not None:
            assert self.header is not None
            out = self.out
            self.out = None
            try:
                if out.tell() != self.size:
                    raise DeltaError(f"opcode close: object {self.target[1]} has {out.tell()} bytes, "
                                     f"expected {self.size}")
                out.seek(0)
                self.write_content(self.header, out, self.size, self.target[1])
                self.stored(*self.target)
            finally:
                out.close()
        self.unset_source()
        self.target = None
        self.header = None
        self.have_obj = False


def execute_part(repo: Repo, header: Union[PartHeader, PartInfo], part: Union[bytes, BinaryIO, PartPayload],
                 trusted: bool = False, missing: Optional[Set[Tuple[ObjectType, str]]] = None) -> int:
    """Run one part into ``repo``; returns the number of objects written.

    ``part`` is the part file (bytes or a stream, checksummed against the
    header unless ``trusted``) or an already opened payload; ``missing``, its objects that
    :func:`missing_objects` found missing (asked of the repository one at a time otherwise).
    """
    if header.version > fmt.DELTAPART_VERSION:
        raise DeltaError(f"Delta part has too new version {header.version}")
    if not header.objects_raw:
        return 0
    if isinstance(part, (bytes, bytearray, memoryview)) or hasattr(part, "read"):
        fields = _open_payload(part, None if trusted else header.checksum,  # type: ignore[arg-type]
                               fmt.payload_limit(header))
    else:  # an opened PartPayload (an instance: its class is built)
        fields = (part.modes, part.xattrs, part.payload, part.ops)  # type: ignore[union-attr]
    return _run_payload(repo, header.objects, fields, missing)


def _run_payload(repo: Repo, objects: List[Tuple[ObjectType, str]], fields: PayloadFields,
                 missing: Optional[Set[Tuple[ObjectType, str]]] = None) -> int:
    """The instructions of a part's payload (plain, :func:`.format.read_part_payload`) run."""
    return _Executor(repo, objects, fields, missing).run(fmt.decode_ops(fields[3], objects))


def _prefetcher(sb: SuperblockInfo, dirpath: str, i: int) -> Callable[[], None]:
    """What starts reading part ``i`` ahead, while the part before runs (two parts' payloads
    in memory at most): nothing for an inline part or past the last."""
    if i >= len(sb.parts) or sb.inline_part(i) is not None:
        return lambda: None
    return lambda: prefetch(os.path.join(dirpath, str(i)), fmt.payload_limit(sb.parts[i]))


def _run_ops(repo: Repo, objects: List[Tuple[ObjectType, str]], payload: PayloadFields,
             missing: Optional[Set[Tuple[ObjectType, str]]], ops: List[Op],
             started: Callable[[], None], last: bool) -> Tuple[int, Optional[split.Helper]]:
    """A part's decoded instructions run, shared with a second process where that pays
    (:mod:`.split`), ``started()`` called once they run (after the fork: no other thread
    runs in the process when it forks); the second process, if any, is returned for the caller
    to reap: the ``last`` part's waits to share the transaction's renames, another's is ending."""
    cut = split.plan(ops) if split.allowed(repo) else None
    if cut is None:
        started()
        return _Executor(repo, objects, payload, missing).run(ops), None
    return split.run_shared(lambda part: _Executor(repo, objects, payload, missing).run(part), ops, *cut,
                            started, repo if last else None)


def missing_objects(repo: Repo, objects: Sequence[Tuple[ObjectType, str]]) -> Set[Tuple[ObjectType, str]]:
    """Those of a part's objects (:attr:`.format.PartHeader.objects`) not in ``repo``, asked all
    at once, with the staging directories they will be written to made (in a transaction):
    the appliers ask while the part's payload is read and inflated on another thread (lzma
    and sha256 leave the GIL), where they would wait, rather than as each object is opened.
    An object another writer adds meanwhile is built all the same, and the store keeps its own."""
    missing = {(t, c) for t, c in objects if not repo.has_object(c, t)}
    repo.prepare_staging(c for _, c in missing)
    return missing


def part_have_all_objects(repo: Repo, header: Union[PartHeader, PartInfo]) -> bool:
    """True when every object a part writes is already in the repository."""
    return all(repo.has_object(c, t) for t, c in header.objects)


def read_superblock_file(path: str) -> bytes:
    """A superblock file's bytes, refusing one past :data:`MAX_SUPERBLOCK_SIZE`."""
    with open(path, "rb") as f:
        data = f.read(MAX_SUPERBLOCK_SIZE + 1)
    if len(data) > MAX_SUPERBLOCK_SIZE:
        raise DeltaError(f"Static delta superblock {path} is too large")
    return data


def verify_signature(sb: Union[Superblock, SuperblockInfo], verifier: Verifier, sign_type: str = "ed25519") -> str:
    """Check a signed superblock with ``verifier(data, signatures)`` (e.g.
    :meth:`ostreepy.store.signing.Signer.verify`); returns its message."""
    key = f"ostree.sign.{sign_type}"
    if sb.signatures is None:
        raise SignatureError("no signatures in static-delta")
    v = sb.signatures.get(key)
    if v is None or v.type != "aay":
        raise SignatureError(f"no signature for '{key}' in static-delta superblock")
    return verifier(sb.raw, [bytes(s) for s in v.value])


def write_commit(repo: Repo, commit: bytes, checksum: str) -> None:
    """Store a delta's to-commit, whose bytes the caller has hashed to ``checksum``: checked as
    ``write_metadata`` checks a commit (:func:`.format.check_commit`, which is Commit.parse's
    checks without the value), in its order (a commit past the size it allows is refused by it)."""
    parsed: object = None
    if len(commit) <= MAX_METADATA_SIZE:
        fmt.check_commit(commit)
        parsed = commit  # (checked and hashed: write_metadata need not parse it again)
    repo.write_metadata(ObjectType.COMMIT, commit, expected=checksum, parsed=parsed)


def apply_offline(repo: Repo, path: str, verifier: Optional[Verifier] = None,
                  sign_type: str = "ed25519", skip_validation: bool = False,
                  progress: Optional[ProgressCallback] = None) -> ApplyResult:
    """``ostree static-delta apply-offline PATH``: PATH is a delta directory or
    its superblock file; parts are read beside it."""
    frm, to, parts, message = apply_offline_plain(repo, path, lambda: verifier, sign_type, skip_validation,
                                                  progress)
    part_result = _DEFERRED.build("PartResult")
    return _DEFERRED.build("ApplyResult")(frm, to, tuple(part_result(*p) for p in parts),  # type: ignore[no-any-return]
                                          message)


def apply_offline_plain(repo: Repo, path: str, load_verifier: Callable[[], Optional[Verifier]],
                        sign_type: str = "ed25519", skip_validation: bool = False,
                        progress: Optional[ProgressCallback] = None
                        ) -> Tuple[Optional[str], str, List[Tuple[int, int, bool, Tuple[int, ...]]], Optional[str]]:
    """:func:`apply_offline` as plain data (the command line's: no attrs value is built, nor
    attrs imported): (from, to, (index, written, skipped, opcode counts) of each part, the
    signature's message). ``load_verifier`` gives the verifier, or None, when the superblock
    is signed: the command line's keys are read (ostree.sign's modules loaded) only then."""
    dirpath, sbpath = part_files(path)
    try:
        data = read_superblock_file(sbpath)
    except FileNotFoundError:
        raise DeltaError(f"openat({os.path.basename(sbpath)}): No such file or directory") from None
    sb = fmt.read_superblock(data)
    message = None
    if sb.signed:
        verifier = load_verifier()
        verify_deltas = repo.config.get_bool("core", "sign-verify-deltas", False)
        if verify_deltas and verifier is None:
            raise SignatureError("Key is mandatory to check delta signature")
        if verifier is not None:
            try:
                message = verify_signature(sb, verifier, sign_type)
            except SignatureError:
                raise
            except OstreeError as e:
                raise SignatureError(f"Delta signature verification failed: {e}") from None
    if sb.from_checksum is not None and not repo.has_object(sb.from_checksum, ObjectType.COMMIT):
        raise DeltaError(f"Commit {sb.from_checksum}, which is the delta source, is not in repository")
    if hashlib.sha256(sb.commit).hexdigest() != sb.to_checksum:
        raise DeltaError(f"Static delta superblock: the commit does not match {sb.to_checksum}")
    if sb.fallbacks:
        raise DeltaError("Cannot execute delta offline: contains nonempty http fallback entries")
    results: List[Tuple[int, int, bool, Tuple[int, ...]]] = []
    if repo.fsync:
        # the transaction's syncfs (the C library's, through _ctypes: not ctypes itself, ~3 ms
        # CPU more) made ready now, while the first part is read and inflated on the other
        # thread, not after its objects are written
        from ...store.repo import preload_syncfs
        preload_syncfs()
    helpers: List[split.Helper] = []
    done = False
    try:
        with repo.transaction():
            for i, header in enumerate(sb.parts):
                if header.version > fmt.DELTAPART_VERSION:
                    raise DeltaError(f"Delta part has too new version {header.version}")
                objects = header.objects  # (unpacked once: a part's list is ~30 bytes an object)
                # asked before the payload is taken, while it is read ahead (part 0's from the
                # command line on, each next one beside the part before)
                missing = missing_objects(repo, objects)
                if not missing:
                    results.append((i, 0, True, ()))
                    if progress is not None:
                        from ...progress import built_event
                        progress(built_event("DeltaPartApplied")(i, len(sb.parts), 0, True))
                    continue
                inline = sb.inline_part(i)
                limit = fmt.payload_limit(header)
                try:
                    if inline is not None:
                        payload = _open_payload(inline, None, limit)
                    else:
                        part_path = os.path.join(dirpath, str(i))
                        raw = take(part_path, limit)  # read ahead (the command line starts part 0's)
                        if raw is None:
                            try:
                                f = open(part_path, "rb")
                            except FileNotFoundError:
                                raise DeltaError(f"Opening deltapart '{i}': No such file or directory") from None
                            with f:
                                raw = read_part(f, limit)
                        payload = _read_payload(raw, None if skip_validation else header.checksum, limit)
                        del raw
                    ops = fmt.decode_ops(payload[3], objects)
                    written, helper = _run_ops(repo, objects, payload, missing, ops,
                                               _prefetcher(sb, dirpath, i + 1), i + 1 == len(sb.parts))
                    if helper is not None:
                        helpers.append(helper)  # (reaped at the end)
                        if i + 1 == len(sb.parts):
                            # the last part's second process renames half of the staged
                            # objects in at the transaction's end, after its sync
                            repo.staged_mover = helper.move
                except DeltaError as e:
                    raise DeltaError(f"Executing delta part {i}: {e}") from None
                results.append((i, written, False, fmt.count_ops(ops)))
                if progress is not None:
                    from ...progress import built_event
                    progress(built_event("DeltaPartApplied")(i, len(sb.parts), written, False))
            if not repo.has_object(sb.to_checksum, ObjectType.COMMIT):
                detached = sb.detached_metadata()
                if detached is not None:
                    repo.write_commit_detached_metadata(sb.to_checksum, detached)
                write_commit(repo, sb.commit, sb.to_checksum)
        done = True
    finally:
        repo.staged_mover = None
        for helper in helpers:
            # ended, or ends at the end of its pipe (an error, or no renames): waited for
            # unless all is done (it said so in its records)
            helper.close(wait=not done)
    return sb.from_checksum, sb.to_checksum, results, message


__all__ = ["MAX_SUPERBLOCK_SIZE", "PartResult", "ApplyResult", "open_part", "open_read_part", "execute_part",
           "missing_objects", "part_have_all_objects", "read_superblock_file", "verify_signature", "write_commit",
           "apply_offline", "apply_offline_plain"]

# the results are built on first use; until then the module holds only their plain classes
_DEFERRED.hide()


def __getattr__(name: str) -> type:
    return _DEFERRED.build(name)


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))
