"""Running independent jobs on a small thread pool, all or nothing.

Layer imports and static-delta parts are independent units whose work is mostly hashing,
decompression and writes that release the GIL, so a few threads help. Both want the same rule:
the first failure stops what has not started yet and is raised to the caller as it was
(a later failure never masks it), and the call returns only when every started job has finished,
so nothing keeps writing into a transaction the caller is about to abort."""

from __future__ import annotations

from typing import Callable, Iterable, TypeVar

T = TypeVar("T")


def run_all(fn: Callable[[T], object], items: Iterable[T], max_workers: int,
            thread_name_prefix: str = "ostreepy") -> None:
    """Call ``fn(item)`` for every item, at most ``max_workers`` at a time; on the first
    exception (in item order) cancel the jobs not yet started and re-raise it."""
    todo = list(items)
    if not todo:
        return
    if max_workers <= 1 or len(todo) == 1:
        for item in todo:
            fn(item)
        return
    # imported here: concurrent.futures brings logging, start-up time for every importer
    # (a pull that finds no delta) that never runs more than one job
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(min(max_workers, len(todo)), thread_name_prefix=thread_name_prefix) as pool:
        futures = [pool.submit(fn, item) for item in todo]
        try:
            for fut in futures:
                fut.result()
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
