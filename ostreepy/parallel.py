"""Running independent jobs on a small thread pool, all or nothing.

Layer imports and static-delta parts are independent units whose work is mostly hashing,
decompression and writes that release the GIL, so a few threads help. Both want the same rule:
the first failure stops what has not started yet and is raised to the caller as it was
(a later failure never masks it), and the call returns only when every started job has finished,
so nothing keeps writing into a transaction the caller is about to abort.

The pool is a few plain threads taking the next item in order, not a ``concurrent.futures``
executor: that module imports ``logging`` (~6 ms of the start-up of every command that runs
more than one job, a pull with a static delta or an image import) and makes a Future per job."""

from __future__ import annotations

import threading
from typing import Callable, Iterable, TypeVar

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
