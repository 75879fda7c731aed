"""ostreepy.parallel.run_all: every job runs, at most max_workers at once; the first failure in
item order is raised, no job starts after a failure, the started ones end before it returns;
and no concurrent.futures (with logging) is imported for it."""

from __future__ import annotations

import os
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


def test_a_pool_runs_every_call_submitted_keeps_what_each_raised_and_joins_them_all():
    from ostreepy.parallel import Pool
    done, active, peak = [], [0], [0]
    lock = threading.Lock()

    def job(i: int) -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.002)
        with lock:
            active[0] -= 1
            done.append(i)
        if i % 7 == 3:
            raise ValueError(i)

    pool = Pool(2, "t")
    jobs = [pool.submit(job, i) for i in range(30)]
    pool.join()
    assert sorted(done) == list(range(30)) and peak[0] == 2   # a failure stops nothing
    assert [j.error.args[0] for j in jobs if j.error is not None] == [3, 10, 17, 24]
    assert all(isinstance(j.error, ValueError) == (i % 7 == 3) for i, j in enumerate(jobs))
    assert [j.value for j in jobs[:3]] == [None, None, None]
    assert [j.value for j in [_joined(Pool(2), pow, 2, 10)]] == [1024]
    pool.join()   # again: nothing
    with pytest.raises(RuntimeError):
        pool.submit(job, 0)


def _joined(pool, fn, *args):
    job = pool.submit(fn, *args)
    pool.join()
    return job


def test_a_checkout_imports_no_concurrent_futures(tmp_path):
    """A fresh checkout spreads its subtrees over two threads of ostreepy.parallel.Pool:
    concurrent.futures (with logging, ~4 ms) is not imported for it."""
    src = tmp_path / "t"
    for i in range(3):
        for j in range(3):
            (src / f"d{i}" / f"e{j}").mkdir(parents=True)
            (src / f"d{i}" / f"e{j}" / "f").write_text(f"{i}{j}")
    repo = tmp_path / "r"
    ostreepy = [sys.executable, "-m", "ostreepy", f"--repo={repo}"]
    subprocess.run(ostreepy + ["init", "--mode=bare-user"], check=True)
    subprocess.run(ostreepy + ["commit", "-b", "m", f"--tree=dir={src}"], check=True, capture_output=True)
    p = subprocess.run(ostreepy + ["checkout", "-U", "m", str(tmp_path / "out")], check=True,
                       capture_output=True, text=True, env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
    assert (tmp_path / "out" / "d2" / "e1" / "f").read_text() == "21"
    mods = {line.rsplit("|", 1)[1].strip() for line in p.stderr.splitlines() if line.startswith("import time:")}
    assert "ostreepy.store.checkout" in mods and "concurrent.futures" not in mods, mods
