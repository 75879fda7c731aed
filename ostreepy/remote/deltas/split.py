"""A part's instructions shared with a second process (``static-delta apply-offline``).

A part is one xz stream whose instructions and framing sit at the payload's end, so
nothing can run while it inflates (~70 ms of the realistic tree's delta, in liblzma
as libostree's); after it, the instructions run on one thread (~30 ms of Python for
454 objects), which libostree runs in C. With two CPUs the second one idles then: the
process forks once the payload is whole and decoded, and each runs half of the
instructions over the memory they share (copy-on-write: nothing is sent).

The cut (:func:`plan`, pure) falls where no object is open, each object's instructions
being contiguous (open ... close, or one open-splice-and-close), at the boundary nearest
half of the estimated work (:func:`_cost`: a base per object and its bytes, bspatch's
dearer). A read source can be set before an object is opened (``R r o B c``, as
libostree's compiler emits a bsdiff'd file): one set and not unset at the cut is set
again first in the second half, so each half runs exactly what the one-process applier
would have run from that point.

Both processes write verified objects into the transaction's staging directory, each
object checked against its checksum before it is linked in (the store's writers), as
one process would. The first half runs here, the second in the child; the parent then
reads the child's record (objects written, or its error; where it left none, its exit
status), and only then goes on: the commit is written, and the transaction ends, only
after both halves succeeded. An error is the first in the instructions' order: the
parent's own, else the child's, raised here as the same exception (type, arguments,
attributes); a child that ended without a record (killed) is a :class:`.format.DeltaError`.

The last part's child then waits for the transaction's end: after its sync it renames
every other staging subdirectory into ``objects/`` (:meth:`Helper.move`, the repository's
:attr:`~ostreepy.store.repo.Repo.staged_mover`) and reports how many; what it does not
report done, the parent moves itself. A child is reaped at the apply's end (blocking only
after an error: one that said it is done is not waited for as it exits).

Where: the command line's process only (:func:`ostreepy._process.owned`: a library
caller's process is never forked), with no other thread running (the part's reader is
done; the next part's is started after the fork; a prefetch nobody took, still reading,
prevents it), two CPUs with no other task runnable (another process on the second CPU
would make the halves take turns), and work enough to pay for a fork (~1 ms). The cycle
collector is off in the child (it would touch every shared object).
"""

from __future__ import annotations

import gc
import os

from ..._process import describe_status, error_from, error_record
from ...fsutil import read_all, write_all
from . import format as fmt

TYPE_CHECKING = False  # typing is not imported at run time (an apply's start-up)
if TYPE_CHECKING:
    from typing import Callable, List, Optional, Sequence, Set, Tuple

    from ...store.repo import Repo
    from .format import Op

#: estimated work (in microseconds, measured on the realistic tree's delta) below which a
#: part runs in one process: a fork and the child's exit cost ~1-2 ms of the parent's time
SPLIT_MIN = 8000.0
#: estimated cost of one object, microseconds: a metadata object (a dirtree checked), a
#: content object spliced or built, the read source set; and per byte written or patched
_META = 35.0
_META_BYTE = 0.010
_FILE = 45.0
_FILE_BYTE = 0.0025
_SOURCE = 20.0
_PATCH_BYTE = 0.0030


def allowed(repo: Repo) -> bool:
    """Whether this process may fork to share a part (the module's docstring)."""
    from ..._process import may_fork_a_helper
    from .partread import reading
    if repo.write_stats is not None or repo.size_log is not None or reading():
        return False
    return may_fork_a_helper() and _others_running() < 1


def _others_running() -> int:
    """How many other tasks are runnable on the machine now (/proc/loadavg's count, less this
    thread): where another has the second CPU, the two halves take turns on one and a fork
    only adds its cost (at a load of one, 1.16x of ostree's wall time against 1.09x unshared)."""
    try:
        with open("/proc/loadavg", "rb") as f:
            return int(f.read().split()[3].split(b"/")[0]) - 1
    except (OSError, ValueError, IndexError):
        return 0


def _cost(ops: Sequence[Op]) -> Tuple[List[int], List[float]]:
    """The boundaries where no object is open (op indices, each the start of what follows)
    and the estimated work done before each."""
    cuts: List[int] = []
    done: List[float] = []
    acc = 0.0
    size = 0
    splice, opened, patch, source, close, write = (fmt.OP_OPEN_SPLICE_AND_CLOSE, fmt.OP_OPEN, fmt.OP_BSPATCH,
                                                   fmt.OP_SET_READ_SOURCE, fmt.OP_CLOSE, fmt.OP_WRITE)
    for i, (code, args, _index) in enumerate(ops):
        if code == write:
            continue
        if code == splice:
            # (decode_ops gives a metadata object's two operands, a content object's four)
            acc += _META + args[0] * _META_BYTE if len(args) == 2 else _FILE + args[2] * _FILE_BYTE
            cuts.append(i + 1)
            done.append(acc)
        elif code == opened:
            size = args[2]
            acc += _FILE + size * _FILE_BYTE
        elif code == patch:
            acc += size * _PATCH_BYTE
        elif code == source:
            acc += _SOURCE
        elif code == close:
            cuts.append(i + 1)
            done.append(acc)
    return cuts, done


def plan(ops: Sequence[Op], minimum: Optional[float] = None) -> Optional[Tuple[int, Optional[Op]]]:
    """Where to cut ``ops`` (decoded, :func:`.format.decode_ops`) in two: (the first op of
    the second half, the set-read-source op to run before it or None); None when the
    estimated work is below ``minimum`` (:data:`SPLIT_MIN`) or there is no boundary inside."""
    cuts, done = _cost(ops)
    if not cuts or done[-1] < (SPLIT_MIN if minimum is None else minimum):
        return None
    half = done[-1] / 2
    best = min(range(len(cuts)), key=lambda k: abs(done[k] - half))
    cut = cuts[best]
    if not 0 < cut < len(ops):
        return None
    return cut, source_at(ops, cut)


def source_at(ops: Sequence[Op], cut: int) -> Optional[Op]:
    """The set-read-source op in force before ``ops[cut]``: the last one not unset since by
    an unset-read-source, a close or an open-splice-and-close (which close, and so unset,
    as the applier's close does)."""
    for k in range(cut - 1, -1, -1):
        code = ops[k][0]
        if code == fmt.OP_SET_READ_SOURCE:
            return ops[k]
        if code in (fmt.OP_UNSET_READ_SOURCE, fmt.OP_CLOSE, fmt.OP_OPEN_SPLICE_AND_CLOSE):
            return None
    return None


class Helper:
    """The second process as its parent sees it: :meth:`result` is its half's outcome; one
    that lingers (the last part's) then takes half of the transaction's renames
    (:meth:`move`, a :attr:`Repo.staged_mover`) before it ends; :meth:`close` ends it in
    any case (it exits at the end of its pipe) and reaps it."""

    __slots__ = ("pid", "rfd", "wfd", "repo", "reaped", "status")

    def __init__(self, pid: int, rfd: int, wfd: int, repo: Optional[Repo]) -> None:
        self.pid = pid
        self.rfd = rfd
        self.wfd = wfd
        self.repo = repo
        self.reaped = False
        self.status = ""

    def result(self, raise_error: bool = True) -> int:
        """The objects the child wrote; its error raised as it was (``raise_error``), or a
        :class:`.format.DeltaError` when it ended without a word."""
        record = _read_record(self.rfd)
        if record is not None and record[:1] == b"W":
            return int(record[1:])
        self.close()  # (it has ended, or ends at the end of its pipe: reaped)
        if not raise_error:
            return 0
        if record is not None and record[:1] == b"E":
            raise error_from(record[1:])
        raise fmt.DeltaError(f"the second process applying the part ended abnormally ({self.status})")

    def move(self, staging: str, subs: List[str], made: Set[str]) -> List[int]:
        """:meth:`Repo.move_staged` shared: every other subdirectory renamed by the child,
        after the transaction's sync; what it does not report done is moved here (whatever
        of it is left), so that the renames' outcome is this process's."""
        repo = self.repo
        assert repo is not None
        theirs = subs[1::2]
        mine = subs[0::2]
        message = "\0".join([staging, *(("1" if sub in made else "0") + sub for sub in theirs)])
        try:
            write_all(self.wfd, message.encode("utf-8", "surrogateescape"))
            os.close(self.wfd)
            self.wfd = -1
            sent = True
        except OSError:
            sent = False
        counts = dict(zip(mine, repo.move_staged(staging, mine, made)))
        record = _read_record(self.rfd) if sent else None
        if record is not None and record[:1] == b"M" and len(record) == 1 + 4 * len(theirs):
            counts.update(zip(theirs, (int.from_bytes(record[k:k + 4], "little") for k in range(1, len(record), 4))))
        else:
            # each left for this process's own renames; the directories synced as if moved
            counts.update(zip(theirs, (max(1, n) for n in repo.move_staged(staging, theirs, made))))
        # reaped by close(), after the transaction's end: its exit (~0.7 ms) meanwhile
        self._close_pipes()
        return [counts[sub] for sub in subs]

    def _close_pipes(self) -> None:
        for fd in (self.rfd, self.wfd):
            if fd >= 0:
                os.close(fd)
        self.rfd = self.wfd = -1

    def close(self, wait: bool = True) -> None:
        """The pipes closed (a child still waiting for renames ends) and the child reaped;
        without ``wait``, only if it has ended: one whose record said it is done, ending as
        its parent goes on (its exit, ~0.7 ms, would only be waited for), is otherwise left
        to the end of this process, the command line's, which owns it and ends next."""
        self._close_pipes()
        if not self.reaped:
            pid, status = os.waitpid(self.pid, 0 if wait else os.WNOHANG)
            if pid:
                self.reaped = True
                self.status = describe_status(status)


def run_shared(run: Callable[[Sequence[Op]], int], ops: Sequence[Op], cut: int, source: Optional[Op],
               started: Callable[[], None], repo: Optional[Repo] = None) -> Tuple[int, Helper]:
    """``run(ops)`` shared: ``ops[:cut]`` here, ``ops[cut:]`` (after ``source``, when one is
    in force there) in a forked process; ``started()`` called here just after the fork.
    Returns the objects both wrote and the child, for the caller to close (reap): with
    ``repo`` it waits to share the transaction's renames (:meth:`Helper.move`), without it
    it is ending; raises the first error in the instructions' order."""
    up_r, up_w = os.pipe()  # child to parent: its records
    down_r, down_w = os.pipe()  # parent to child: the renames it takes, or nothing
    try:
        pid = os.fork()
    except BaseException:
        for fd in (up_r, up_w, down_r, down_w):
            os.close(fd)
        raise
    if pid == 0:  # pragma: no cover - the second process (its work is checked by its record)
        try:
            os.close(up_r)
            os.close(down_w)
            _child(run, [source, *ops[cut:]] if source is not None else ops[cut:], up_w, down_r, repo)
        finally:
            os._exit(3)  # never back into the parent's stack, whatever happened (no record: abnormal)
    os.close(up_w)
    os.close(down_r)
    helper = Helper(pid, up_r, down_w, repo)
    try:
        try:
            started()
            written = run(ops[:cut])
        except BaseException:
            helper.result(raise_error=False)  # waited for; its error comes after ours
            raise
        written += helper.result()
    except BaseException:
        helper.close()
        raise
    if repo is None:
        # done: its pipes closed, and it reaped by the caller's close (it exits meanwhile)
        helper._close_pipes()
    return written, helper


def _child(run: Callable[[Sequence[Op]], int], ops: Sequence[Op], wfd: int, rfd: int,
           repo: Optional[Repo]) -> None:  # pragma: no cover - the second process
    code = 0
    try:
        gc.disable()
        record = b"W" + str(run(ops)).encode()
    except BaseException as e:
        code = 1
        record = b"E" + error_record(e)
    try:
        _write_record(wfd, record)
        if code == 0 and repo is not None:
            # the renames it is given, once the parent's transaction has synced: a message,
            # or the end of the pipe (nothing to do: an error, or no staged objects)
            message = read_all(rfd)
            if message:
                staging, *given = message.decode("utf-8", "surrogateescape").split("\0")
                subs = [g[1:] for g in given]
                counts = repo.move_staged(staging, subs, {g[1:] for g in given if g[0] == "1"})
                for sub in subs:
                    # emptied: removed here rather than listed again by the parent's end
                    try:
                        os.rmdir(f"{staging}/{sub}")
                    except OSError:
                        pass
                _write_record(wfd, b"M" + b"".join(n.to_bytes(4, "little") for n in counts))
        os.close(wfd)
    except BaseException:
        code = 2
    os._exit(code)


def _write_record(fd: int, record: bytes) -> None:
    write_all(fd, len(record).to_bytes(4, "little") + record)


def _read_exactly(fd: int, n: int) -> Optional[bytes]:
    chunks: List[bytes] = []
    while n > 0:
        chunk = os.read(fd, n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _read_record(fd: int) -> Optional[bytes]:
    """A record (its length, then it), or None at the end of the pipe (the writer gone)."""
    if fd < 0:
        return None
    head = _read_exactly(fd, 4)
    if head is None:
        return None
    return _read_exactly(fd, int.from_bytes(head, "little"))
