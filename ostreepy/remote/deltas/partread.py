"""Reading a delta part file (its sha256 and its decompressed bytes), and doing it
ahead, on a thread of its own, for ``static-delta apply-offline``.

:func:`read_part` is the one reader: it hashes every byte of the file, takes the
compression byte, and inflates an xz payload (bytes after the xz stream's end are
hashed, not inflated, as libostree's converter ignores them), keeping no more payload
than a limit (:func:`ostreepy.remote.deltas.format.payload_limit` of the part's header:
a part that inflates to gigabytes is cut off there and hashed to its end, never held
whole, where libostree would inflate it whole into a temporary file).  It judges nothing: the
checksum, the compression byte and a decompression error are handed on as found
(:class:`RawPart`), and :func:`ostreepy.remote.deltas.apply.open_part` checks them in
libostree's order, whether it read the file itself or a prefetch did.

:func:`prefetch` starts that reading for a part file before the applier needs it.
A part's xz stream is much of what applying a delta costs (17 ms of ostree's 40 ms for
the 200-file benchmark tree; 75 ms for the 20k tree), and lzma and sha256 leave the
GIL while they work: started by the command line before the store is imported and the
repository opened (~30 ms), the part is ready, or nearly, when its turn comes.
:func:`take` hands a prefetched part over only if the file there is still the one
read (device, inode, size and mtime); otherwise, or if nothing was prefetched, the
caller reads it itself.  Part 0's prefetch, started before its header is read, keeps at
most :data:`PREFETCH_LIMIT` bytes.  A prefetch nobody takes (the superblock refused, the part's
objects all present) is dropped with the process (a thread of ``_thread``'s, which the
interpreter's end does not wait for).

This module imports no more than os and the built-in ``_thread`` (lzma and hashlib on the
thread; not typing, nor threading, whose import, with collections and functools, was ~1.5 ms
before the reading could start): the command line starts a prefetch before anything heavy loads.
"""

from __future__ import annotations

import _thread
import os

TYPE_CHECKING = False  # typing is not imported at run time (an apply's start-up)
if TYPE_CHECKING:
    import hashlib
    from typing import BinaryIO, Dict, List, Optional, Tuple, Union

    _FileKey = Tuple[int, int, int, int]

_READ = 1 << 20
#: a part file at most this large is read whole, and hashed on a thread while it inflates
_WHOLE = 64 << 20
#: inflated bytes asked of the xz decoder at once
_INFLATE = 4 << 20
#: RawPart.error of a payload past the limit it was read with
OVERSIZE = "payload larger than its declared size"
#: payload bytes a prefetch keeps when the caller knows no header (a part past it is read
#: again): libostree's parts come to a little under its 32 MB max-chunk-size
PREFETCH_LIMIT = 48 << 20
COMPRESSION_NONE = 0
COMPRESSION_XZ = ord("x")


class RawPart:
    """A part file as read: ``comp`` the compression byte (None for an empty file),
    ``chunks`` the payload (inflated for xz), ``digest`` the sha256 hex digest of the
    bytes read up to where reading stopped, ``error`` why inflating stopped early
    (an lzma error's text, ``"truncated xz stream"`` or :data:`OVERSIZE`), or None;
    ``size`` the payload's length."""

    __slots__ = ("comp", "chunks", "digest", "error", "size")

    def __init__(self, comp: Optional[int], chunks: List[bytes], digest: str, error: Optional[str]) -> None:
        self.comp = comp
        self.chunks = chunks
        self.digest = digest
        self.error = error
        self.size = sum(map(len, chunks))


def read_part(stream: BinaryIO, limit: Optional[int] = None) -> RawPart:
    """Read a part file from ``stream`` (see the module's docstring).

    With ``limit`` a payload that comes to more than ``limit`` bytes is not kept: the
    rest of the file is hashed (so the checksum is still judged first), not inflated,
    and the part comes back with :data:`OVERSIZE` as its error.  Inflating is asked for
    at most ``_INFLATE`` bytes at a time, so an xz stream that inflates to gigabytes
    from a megabyte read never sits whole in memory."""
    import hashlib
    h = hashlib.sha256()
    first = stream.read(1)
    if len(first) != 1:
        return RawPart(None, [], h.hexdigest(), None)
    h.update(first)
    comp = first[0]
    out: List[bytes] = []
    total = 0
    room = _INFLATE if limit is None else limit + 1
    if comp == COMPRESSION_XZ:
        import lzma
        dec = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
        whole = _read_whole(stream)
        hashed = None if whole is None else _hash_beside(h, whole)
        read = 0
        chunk: Union[bytes, memoryview]
        while True:
            if whole is None:
                chunk = stream.read(_READ)
                if chunk:
                    h.update(chunk)
            else:
                chunk = whole[read:read + _READ]
            if not chunk:
                break
            read += len(chunk)
            if dec.eof or room <= 0:
                continue
            try:
                piece = dec.decompress(chunk, min(room, _INFLATE))
                while True:
                    out.append(piece)
                    total += len(piece)
                    if limit is not None:
                        room = limit + 1 - total
                        if room <= 0:
                            out.clear()  # past the limit: only hashed from here on
                            break
                    if dec.eof or dec.needs_input:
                        break
                    piece = dec.decompress(b"", min(room, _INFLATE))
            except lzma.LZMAError as e:
                # the digest of what was read so far, as the checksum is checked at the error
                if whole is not None:
                    if hashed is not None:
                        hashed.acquire()  # (its digest is the whole file's)
                    h = hashlib.sha256(first)
                    h.update(whole[:read])  # (the file as the streaming read had read it)
                return RawPart(comp, [], h.hexdigest(), str(e))
        if hashed is not None:
            hashed.acquire()
        if room <= 0:
            return RawPart(comp, [], h.hexdigest(), OVERSIZE)
        return RawPart(comp, _whole(out), h.hexdigest(), None if dec.eof else "truncated xz stream")
    if comp != COMPRESSION_NONE:
        return RawPart(comp, [], h.hexdigest(), None)  # refused by the caller, unread
    while True:
        chunk = stream.read(_READ)
        if not chunk:
            break
        h.update(chunk)
        if room > 0:
            out.append(chunk)
            total += len(chunk)
            if limit is not None:
                room = limit + 1 - total
                if room <= 0:
                    out.clear()
    return RawPart(comp, _whole(out), h.hexdigest(), OVERSIZE if room <= 0 else None)


def _read_whole(stream: BinaryIO) -> Optional[memoryview]:
    """The rest of a regular file of at most :data:`_WHOLE` bytes, read at once (to be hashed
    beside its inflating); None for anything else (read and hashed a piece at a time)."""
    try:
        st = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return None
    if not (st.st_mode & 0o170000 == 0o100000 and st.st_size <= _WHOLE):
        return None
    data = stream.read(st.st_size + 1)  # (to its end, should it have grown meanwhile)
    rest = stream.read()
    return memoryview(data + rest if rest else data)


def _hash_beside(h: hashlib._Hash, data: memoryview) -> Optional[_thread.LockType]:
    """``h`` given ``data`` on a thread of its own (sha256 leaves the GIL, as lzma does: the
    file is hashed while it inflates, where it was hashed piece by piece before each piece
    inflated, ~1.2 ms of the realistic tree's 1.4 MB part); the lock it releases when done,
    or None where no thread was to be had (hashed here, then)."""
    done = _thread.allocate_lock()
    done.acquire()

    def run() -> None:
        try:
            h.update(data)
        finally:
            done.release()
    try:
        _thread.start_new_thread(run, ())
    except RuntimeError:
        h.update(data)
        return None
    return done


def _whole(chunks: List[bytes]) -> List[bytes]:
    """The payload as one piece, joined here (on the reading thread, where a prefetch reads:
    the applier, which parses it whole, waits on it after the xz stream)."""
    return [b"".join(chunks)] if len(chunks) > 1 else chunks


class _Prefetch:
    __slots__ = ("done", "key", "result", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        #: held until the reading thread ends (what a join would wait for)
        self.done = _thread.allocate_lock()
        self.done.acquire()
        self.key: Optional[_FileKey] = None
        self.result: Optional[RawPart] = None


_lock = _thread.allocate_lock()
_pending: Dict[str, _Prefetch] = {}


def _key(st: os.stat_result) -> _FileKey:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _run(path: str, job: _Prefetch) -> None:
    try:
        with open(path, "rb") as f:
            job.key = _key(os.fstat(f.fileno()))
            job.result = read_part(f, job.limit)
    except Exception:  # the applier reads the file itself and reports what it finds
        job.result = None
    finally:
        job.done.release()


def prefetch(path: str, limit: int = PREFETCH_LIMIT) -> None:
    """Start reading the part file ``path`` on a thread (nothing if it is not a regular
    file), keeping at most ``limit`` bytes of payload: the command line starts part 0's
    before its header is read, so a hostile part is cut off here too."""
    try:
        if not os.path.isfile(path):
            return
    except OSError:
        return
    job = _Prefetch(limit)
    with _lock:
        if path in _pending:
            return
        _pending[path] = job
    try:
        _thread.start_new_thread(_run, (path, job))
    except RuntimeError:  # no thread to be had: the applier reads the part itself
        with _lock:
            del _pending[path]


def reading() -> bool:
    """Whether a prefetch's thread is still at work (one nobody took yet: a thread that
    ``threading`` does not count): no process is forked meanwhile."""
    with _lock:
        return any(job.done.locked() for job in _pending.values())


def take(path: str, limit: int) -> Optional[RawPart]:
    """The prefetched read of ``path`` if it is still the file there; None otherwise,
    or when the prefetch stopped at a smaller limit than ``limit`` (the caller reads it
    again, with its own).  A payload taken may be larger than ``limit``: the caller
    compares :attr:`RawPart.size`."""
    with _lock:
        job = _pending.pop(path, None)
    if job is None:
        return None
    job.done.acquire()  # (the reading thread has ended its work)
    if job.result is None or job.key is None:
        return None
    if job.result.error == OVERSIZE and job.limit < limit:
        return None
    try:
        if _key(os.stat(path)) != job.key:
            return None
    except OSError:
        return None
    return job.result


def part_files(path: str) -> Tuple[str, str]:
    """(the delta's directory, its superblock file) for apply-offline's PATH: a delta
    directory or its superblock file (parts are read beside it)."""
    if os.path.isdir(path):
        return path, os.path.join(path, "superblock")
    return os.path.dirname(path) or ".", path
