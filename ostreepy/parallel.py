"""Running independent jobs on a small thread pool, all or nothing.

Layer imports and static-delta parts are independent units whose work is mostly hashing,
decompression and writes that release the GIL, so a few threads help. Both want the same rule:
the first failure stops what has not started yet and is raised to the caller as it was
(a later failure never masks it), and the call returns only when every started job has finished,
so nothing keeps writing into a transaction the caller is about to abort.

The pool is a few plain threads taking the next item in order, not a ``concurrent.futures``
executor: that module imports ``logging`` (~6 ms of the start-up of every command that runs
more than one job, a pull with a static delta or an image import) and makes a Future per job.

:class:`Pool` is the same few threads for work found as it goes (a prune hands over its
rounds of deletes as it makes them): calls are submitted one by one, every one runs, and
:meth:`Pool.join` waits for them all; what each raised is kept on its :class:`Job`. A
commit's or fsck's window of jobs takes them back in order with :meth:`Pool.wait` (one job's
value, or its error raised), and drops what has not started after a failure (``join(cancel=True)``).

Not for work of many calls of a few microseconds each (a checkout's lstat and linkat per
file, a bare repository's small objects written or checked): a second thread rarely finds the
GIL free in so short a call, so the threads take turns and add only their hand-offs."""

from __future__ import annotations

import threading
from collections import deque
TYPE_CHECKING = False  # typing is not imported at run time (a delta pull's parts run here)
if TYPE_CHECKING:
    from typing import Callable, Iterable, Optional, TypeVar

    T = TypeVar("T")


def run_all(fn: Callable[[T], object], items: Iterable[T], max_workers: int,
            thread_name_prefix: str = "ostreepy") -> None:
    """Call ``fn(item)`` for every item, at most ``max_workers`` at a time; on the first
    exception (in item order) start no more jobs and re-raise it once the started ones end."""
    todo = list(items)
    if not todo:
        return
    if max_workers <= 1 or len(todo) == 1:
        for item in todo:
            fn(item)
        return
    lock = threading.Lock()
    state = {"next": 0, "stop": False}
    failed: dict[int, BaseException] = {}

    def work() -> None:
        while True:
            with lock:
                i = state["next"]
                if state["stop"] or i >= len(todo):
                    return
                state["next"] = i + 1
            try:
                fn(todo[i])
            except BaseException as e:  # raised to the caller below, in item order
                with lock:
                    failed[i] = e
                    state["stop"] = True
                return

    threads = [threading.Thread(target=work, name=f"{thread_name_prefix}_{n}", daemon=True)
               for n in range(min(max_workers, len(todo)))]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join()
    except BaseException:
        # interrupted while waiting (KeyboardInterrupt): the started jobs still end first
        with lock:
            state["stop"] = True
        for t in threads:
            t.join()
        raise
    if failed:
        raise failed[min(failed)]


class Job:
    """One call submitted to a :class:`Pool`: ``value`` is what it returned, ``error``
    what it raised (None if it returned), known once the pool is joined (or, for this
    one call, by :meth:`Pool.wait`)."""

    __slots__ = ("fn", "args", "value", "error", "done")

    def __init__(self, fn: Callable[..., object], args: tuple) -> None:
        self.fn = fn
        self.args = args
        self.value: object = None
        self.error: Optional[BaseException] = None
        #: it has ended (set under the pool's lock; :meth:`Pool.wait` waits for it)
        self.done = False


class Pool:
    """``workers`` plain threads running submitted calls in the order submitted
    (ThreadPoolExecutor's submit and shutdown(wait=True), without concurrent.futures).

    Calls are submitted by the thread that joins the pool, not by the calls themselves:
    :meth:`join` closes it to new work, and every call submitted before runs to its end."""

    def __init__(self, workers: int, thread_name_prefix: str = "ostreepy") -> None:
        lock = threading.Lock()
        self._cond = threading.Condition(lock)
        # the same lock: a job's end is told to whoever waits for it, not to idle workers
        self._ended = threading.Condition(lock)
        # what no thread has taken yet: a taken job is the submitter's alone (its data freed with it)
        self._todo: deque[Job] = deque()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"{thread_name_prefix}_{n}", daemon=True)
                         for n in range(max(1, workers))]
        for t in self._threads:
            t.start()

    def submit(self, fn: Callable[..., object], *args: object) -> Job:
        job = Job(fn, args)
        with self._cond:
            if self._closed:
                raise RuntimeError("Pool.submit after join")
            self._todo.append(job)
            self._cond.notify()
        return job

    def _work(self) -> None:
        cond = self._cond
        job: Optional[Job] = None
        while True:
            with cond:
                if job is not None:
                    # told while taking the next one: one lock round per job, not two
                    job.done = True
                    self._ended.notify_all()
                while not self._todo and not self._closed:
                    cond.wait()
                if not self._todo:
                    return
                job = self._todo.popleft()
            try:
                job.value = job.fn(*job.args)
            except BaseException as e:  # kept for the submitter, who looks once joined
                job.error = e

    def wait(self, job: Job) -> object:
        """Wait until ``job`` (submitted here) has ended: what it returned, or raise what it raised."""
        with self._cond:
            while not job.done:
                self._ended.wait()
        if job.error is not None:
            raise job.error
        return job.value

    def join(self, cancel: bool = False) -> None:
        """Take no more calls and wait until every submitted one has ended (again: a no-op).
        ``cancel``: the calls not yet started are dropped instead (their jobs never end),
        as after a failure whose remaining work is moot."""
        with self._cond:
            self._closed = True
            if cancel:
                self._todo.clear()
            self._cond.notify_all()
        for t in self._threads:
            t.join()
