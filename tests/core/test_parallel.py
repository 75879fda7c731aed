"""ostreepy.parallel.run_all: every job runs, at most max_workers at once; the first failure in
item order is raised, no job starts after a failure, the started ones end before it returns;
and no concurrent.futures (with logging) is imported for it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from ostreepy.parallel import run_all


def test_runs_every_item_at_most_max_workers_at_once():
    seen, active, peak = [], [0], [0]
    lock = threading.Lock()

    def job(i: int) -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.002)
        with lock:
            active[0] -= 1
            seen.append(i)

    run_all(job, range(40), 3, "t")
    assert sorted(seen) == list(range(40)) and 1 < peak[0] <= 3


def test_the_first_failure_in_item_order_is_raised_and_stops_the_rest():
    started, finished = [], []
    release = threading.Event()

    def job(i: int) -> None:
        started.append(i)
        if i == 0:
            release.wait(5)  # item 0 is still running when item 1 fails
            finished.append(i)
            raise ValueError("zero")
        if i == 1:
            release.set()
            raise KeyError("one")

    with pytest.raises(ValueError, match="zero"):  # item 0's, though item 1 failed first
        run_all(job, range(50), 2)
    assert finished == [0]  # the started job ended before run_all returned
    assert len(started) < 50  # none started after the failure was seen


def test_one_worker_or_one_item_runs_inline():
    names = []
    run_all(lambda i: names.append(threading.current_thread().name), [1, 2], 1)
    run_all(lambda i: names.append(threading.current_thread().name), [1], 4)
    assert names == [threading.current_thread().name] * 3


def test_imports_no_concurrent_futures():
    code = ("import sys\nfrom ostreepy.parallel import run_all\nrun_all(lambda i: None, range(8), 4)\n"
            "print('concurrent.futures' in sys.modules, 'logging' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
