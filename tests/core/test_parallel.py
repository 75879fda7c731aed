"""ostreepy.parallel.run_all: every job runs, at most max_workers at once; the first failure in
item order is raised, no job starts after a failure, the started ones end before it returns;
and no concurrent.futures (with logging) is imported for it. ostreepy.parallel.Pool: every call
submitted runs, its value or error kept, all of them joined."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from ostreepy.parallel import Pool, run_all


class _Counted:
    """A job that notes the items it ran and the most it ran at once; raises ValueError(i)
    for the items ``fails`` names."""

    def __init__(self, fails=lambda i: False) -> None:
        self.done: list[int] = []
        self.active = self.peak = 0
        self.fails = fails
        self.lock = threading.Lock()

    def __call__(self, i: int) -> None:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(0.002)
        with self.lock:
            self.active -= 1
            self.done.append(i)
        if self.fails(i):
            raise ValueError(i)


def test_runs_every_item_at_most_max_workers_at_once():
    job = _Counted()
    run_all(job, range(40), 3, "t")
    assert sorted(job.done) == list(range(40)) and 1 < job.peak <= 3


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


def test_a_pool_runs_every_call_submitted_keeps_what_each_raised_and_joins_them_all():
    job = _Counted(fails=lambda i: i % 7 == 3)
    pool = Pool(2, "t")
    jobs = [pool.submit(job, i) for i in range(30)]
    pool.join()
    assert sorted(job.done) == list(range(30)) and job.peak == 2   # a failure stops nothing
    assert [j.error.args[0] for j in jobs if j.error is not None] == [3, 10, 17, 24]
    assert all(isinstance(j.error, ValueError) == (i % 7 == 3) for i, j in enumerate(jobs))
    assert [j.value for j in jobs[:3]] == [None, None, None]
    other = Pool(2)
    power = other.submit(pow, 2, 10)
    other.join()
    assert power.value == 1024
    pool.join()   # again: nothing
    with pytest.raises(RuntimeError):
        pool.submit(job, 0)



def test_pool_wait_gives_one_job_value_or_error_before_the_join():
    """Pool.wait: one job's value (or what it raised), while later jobs still run; the pool
    keeps no taken job (its data goes with the submitter's reference)."""
    pool = Pool(2)
    gate = threading.Event()
    slow = pool.submit(gate.wait, 5)
    first = pool.submit(lambda: 42)
    bad = pool.submit(_Counted(fails=lambda i: True), 7)
    assert pool.wait(first) == 42
    with pytest.raises(ValueError) as e:
        pool.wait(bad)
    assert e.value.args == (7,)
    assert not slow.done
    gate.set()
    assert pool.wait(slow) is True
    assert not pool._todo
    pool.join()


def test_pool_join_cancel_drops_what_has_not_started():
    pool = Pool(1)
    running, gate = threading.Event(), threading.Event()

    def first() -> bool:
        running.set()
        return gate.wait(5)

    ran: list[int] = []
    started = pool.submit(first)
    later = [pool.submit(ran.append, i) for i in range(5)]
    assert running.wait(5)
    threading.Timer(0.05, gate.set).start()
    pool.join(cancel=True)  # while the first one runs: the rest are dropped
    assert started.done and started.value is True
    assert ran == [] and not any(job.done for job in later)
