"""What progress events cost on the per-file paths: building and sending one
``FileWritten`` (timeit, steady even on a busy machine), then commit and checkout
of a tree of N small files, with no callback, with a callback that drops the
events, and with one that keeps them (best of R runs each; noisy when other
work shares the machine).

Usage: ``python benchmarks/progress_overhead.py [N] [R]`` (default 20000 files, 3 runs).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import timeit
from typing import Callable, List, Optional

from ostreepy.progress import FileWritten, ProgressEvent
from ostreepy.store.checkout import checkout
from ostreepy.store.commit import create_commit, write_directory_to_mtree, write_mtree
from ostreepy.store.mtree import MutableTree
from ostreepy.store.repo import Repo


def make_tree(root: str, n: int) -> None:
    for i in range(n):
        d = os.path.join(root, f"d{i // 1000:03d}")
        if i % 1000 == 0:
            os.makedirs(d)
        with open(os.path.join(d, f"f{i}"), "w") as f:
            f.write(f"file {i}\n")


def timed(fn: Callable[[], None], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="?", type=int, default=20000, help="files in the tree (20000)")
    ap.add_argument("runs", nargs="?", type=int, default=3, help="runs of each, the best kept (3)")
    args = ap.parse_args(argv)
    n, runs = args.files, args.runs
    calls = 1_000_000
    for name, cb in (("no callback", None), ("a callback", lambda ev: None)):
        t = min(timeit.repeat(lambda: cb(FileWritten("/usr/bin/x", 42)) if cb is not None else None,
                              number=calls, repeat=5))
        print(f"one FileWritten, {name:11}: {t / calls * 1e9:.0f} ns", flush=True)
    work = tempfile.mkdtemp(prefix="progress-bench-")
    try:
        tree = os.path.join(work, "tree")
        make_tree(tree, n)
        repo = Repo.init(os.path.join(work, "repo"), "bare")
        kept: List[ProgressEvent] = []
        callbacks: List[tuple] = [("none", None), ("drop", lambda ev: None), ("keep", kept.append)]
        csum = ""
        for name, cb in callbacks:
            def commit(cb: Optional[Callable[[ProgressEvent], None]] = cb) -> None:
                nonlocal csum
                kept.clear()
                with repo.transaction():
                    root, meta = write_mtree(repo, write_directory_to_mtree(repo, tree, MutableTree(), progress=cb))
                    csum = create_commit(repo, root, meta, timestamp=0)
            print(f"commit   {n} files, callback {name:4}: {timed(commit, runs):.3f} s", flush=True)
        for name, cb in callbacks:
            dest = os.path.join(work, "co")

            def co(cb: Optional[Callable[[ProgressEvent], None]] = cb) -> None:
                kept.clear()
                shutil.rmtree(dest, ignore_errors=True)
                checkout(repo, csum, dest, progress=cb)
            print(f"checkout {n} files, callback {name:4}: {timed(co, runs):.3f} s", flush=True)
        repo.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
