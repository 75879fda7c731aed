"""Total time limits for HTTP exchanges, which socket timeouts alone cannot give.

A socket timeout bounds one ``recv``: a server that sends a byte every few seconds, of the
headers or of the body, never trips it. Here one daemon thread (:class:`Watchdog`) keeps the
*deadlines* of the exchanges in flight; when one passes it shuts the exchange's socket down
(``shutdown(2)``, which wakes a thread blocked in ``recv`` at once, also under TLS), and the
code that ran the exchange turns whatever error that caused into
:class:`~ociclient.errors.DeadlineExceeded`.

How the watchdog finds the socket: :func:`watch` registers an entry for the calling thread;
the urllib3 connection classes of :mod:`ociclient.watched_adapter` (made by its requests
adapter, ``WatchedAdapter``) attach themselves, and the socket they open, to the current
thread's entry whenever they connect or send a request. A streamed body read later names its
connection explicitly (``watch(..., conn=...)``). A caller with its own socket sets the entry's
``sock``.

Those classes live apart because the watchdog itself needs neither requests nor urllib3: a
client that only times its own sockets (ostreepy's plain-HTTP fetcher) does not pay for
importing them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
TYPE_CHECKING = False  # typing is not imported at run time: it is start-up of every command that imports this
if TYPE_CHECKING:
    from typing import Any, Iterator, Optional, Set

from .errors import DeadlineExceeded

#: how often expired exchanges are shut down again (a connection may attach after expiry)
_POLL = 0.05


class _Entry:
    __slots__ = ("deadline", "conn", "sock", "expired")

    def __init__(self, deadline: float, conn: Any = None) -> None:
        self.deadline = deadline
        self.conn = conn
        self.sock: Optional[socket.socket] = None
        self.expired = False

    def postpone(self, deadline: float) -> None:
        """Move the deadline (a watched exchange that keeps making progress may earn more
        time, as a low-speed rule grants it); an entry already expired stays expired."""
        self.deadline = deadline
        WATCHDOG.add(self)  # wakes the watchdog if it has to come earlier


def _shutdown(sock: Any) -> None:
    if sock is None:
        return
    try:
        # the plain socket method: SSLSocket.shutdown would also drop its SSL object under
        # the feet of the thread reading from it
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except (OSError, TypeError, ValueError):
        pass


class Watchdog:
    """Shuts down the sockets of exchanges whose deadline has passed (one thread, started
    on first use)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._entries: Set[_Entry] = set()
        self._thread: Optional[threading.Thread] = None
        #: when the thread wakes up next (it recomputes then)
        self._wake = 0.0

    def add(self, entry: _Entry) -> None:
        with self._cond:
            self._entries.add(entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ociclient-deadlines", daemon=True)
                self._thread.start()
            # wake the thread only if it would sleep past this deadline: an HTTP client
            # adds an entry per request, and waking for each costs more than the request
            if entry.deadline < self._wake:
                self._cond.notify()

    def remove(self, entry: _Entry) -> None:
        with self._cond:
            self._entries.discard(entry)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                wait: Optional[float] = None
                for e in self._entries:
                    left = e.deadline - now
                    if left <= 0:
                        e.expired = True
                        _shutdown(e.sock)
                        _shutdown(getattr(e.conn, "sock", None))
                        left = _POLL
                    wait = left if wait is None else min(wait, left)
                self._wake = float("inf") if wait is None else now + wait
                self._cond.wait(wait)
                self._wake = 0.0  # awake: add() need not notify


WATCHDOG = Watchdog()
_local = threading.local()


def _attach(conn: Any, sock: Optional[socket.socket] = None) -> None:
    entry: Optional[_Entry] = getattr(_local, "entry", None)
    if entry is not None:
        entry.conn = conn
        if sock is not None:
            entry.sock = sock
        if entry.expired:  # expired before this connection existed: stop it at once
            _shutdown(sock)


@contextlib.contextmanager
def watch(deadline: Optional[float], message: str, conn: Any = None) -> Iterator[Optional[_Entry]]:
    """Run the block with a total time limit (``deadline``: a :func:`time.monotonic` time;
    ``None`` = none). If it passes, the exchange's socket is shut down and the block's error
    (or its normal end: a body cut short can look complete) becomes
    :class:`DeadlineExceeded` with ``message``. The block gets the watch's entry (``None``
    without a deadline), whose :meth:`_Entry.postpone` moves the deadline."""
    if deadline is None:
        yield None
        return
    if time.monotonic() >= deadline:
        raise DeadlineExceeded(message)
    entry = _Entry(deadline, conn)
    prev = getattr(_local, "entry", None)
    _local.entry = entry
    WATCHDOG.add(entry)
    try:
        yield entry
    except Exception as e:
        if entry.expired or time.monotonic() >= entry.deadline:
            raise DeadlineExceeded(message) from e
        raise
    finally:
        WATCHDOG.remove(entry)
        _local.entry = prev
    if entry.expired:
        raise DeadlineExceeded(message)


def remaining(deadline: Optional[float]) -> Optional[float]:
    """Seconds left until ``deadline`` (``None`` if there is none; never negative)."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())

