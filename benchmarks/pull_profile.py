#!/usr/bin/env python3
"""Where an HTTP pull spends its time, per thread: `ostreepy pull` run in this process.

The realistic OS tree (benchmarks/store.py's, from its cache) is committed by `ostree` into an
archive repository under ``$TMPDIR/ostreepy-pull-profile`` (kept between runs: the commit takes
a while) and served by nginx on loopback (tests/remote/servers.py), as pull_http.py serves it.
Each run pulls ``bench/os`` into a fresh bare repository there and prints the wall and CPU
seconds of :func:`~ostreepy.remote.pull.pull_remote` alone (imports and set-up are not in them).

  .venv/bin/python benchmarks/pull_profile.py [--runs N] [--sample | --cprofile] [--top K]
      [--set NAME=VALUE ...]

``--sample`` takes a wall-clock sample of every thread's stack (``sys._current_frames()``)
each millisecond from a side thread and prints, per thread (the pull's workers together), the
lines it was found on and the functions it was found in: a worker found on a ``sendall`` or
``recv_into`` line is waiting for the server or for the GIL back. ``--cprofile`` profiles
every thread (``threading.setprofile``) and prints the workers' profiles summed. ``--set``
changes a constant of ostreepy.remote.pull first (``--set MAX_PIPELINES=8``), for A/B runs;
on this shared machine compare medians of several runs, alternated, and mostly the CPU.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "remote"))
sys.path.insert(0, str(HERE.parent))
import servers
import store as sb

REF = "bench/os"


def run(argv: list) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def served_repo(base: Path) -> Path:
    repo = base / "www" / "repo"
    if not (repo / "refs" / "heads" / REF).exists():
        shutil.rmtree(repo, ignore_errors=True)
        repo.parent.mkdir(parents=True, exist_ok=True)
        run(["ostree", f"--repo={repo}", "init", "--mode=archive"])
        sb.log("committing the tree into the served archive repo ...")
        run(["ostree", f"--repo={repo}", "commit", "-b", REF, "-s", "v1",
                        f"--timestamp={sb.TIMESTAMP}", str(sb.get_tree(False))])
        run(["ostree", f"--repo={repo}", "summary", "-u"])
    return repo


class Sampler:
    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.lines: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.funcs: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.n: collections.Counter = collections.Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._stop.is_set():
            names = {t.ident: t.name for t in threading.enumerate()}
            for tid, frame in sys._current_frames().items():
                if tid == me:
                    continue
                name = names.get(tid, str(tid))
                name = "pull workers" if name.startswith("ostreepy-pull") else name
                self.n[name] += 1
                code = frame.f_code
                self.lines[name][f"{Path(code.co_filename).name}:{frame.f_lineno} {code.co_name}"] += 1
                seen = set()
                f = frame
                while f is not None:
                    key = f"{Path(f.f_code.co_filename).name}:{f.f_code.co_name}"
                    if key not in seen:
                        seen.add(key)
                        self.funcs[name][key] += 1
                    f = f.f_back
            time.sleep(self.interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def report(self, top: int) -> None:
        for name, n in self.n.most_common():
            print(f"=== {name}: {n} samples")
            for k, v in self.lines[name].most_common(top):
                print(f"  {v:6d} {100 * v / n:5.1f}%  {k}")
            print("  -- in")
            for k, v in self.funcs[name].most_common(top):
                print(f"  {v:6d} {100 * v / n:5.1f}%  {k}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--sample", action="store_true")
    ap.add_argument("--cprofile", action="store_true")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    args = ap.parse_args(argv)
    from ostreepy.remote import pull as P
    from ostreepy.store.repo import Repo
    for s in args.set:
        name, value = s.split("=", 1)
        setattr(P, name, type(getattr(P, name))(value))
    base = Path(tempfile.gettempdir()) / "ostreepy-pull-profile"
    repo_dir = served_repo(base)
    web = servers.Nginx(base / "nginx", root=repo_dir.parent)
    walls, cpus = [], []
    try:
        web.start()
        for n in range(args.runs):
            dest = base / "dest"
            shutil.rmtree(dest, ignore_errors=True)
            run(["ostree", f"--repo={dest}", "init", "--mode=bare"])
            run(["ostree", f"--repo={dest}", "remote", "add", "--no-gpg-verify", "origin",
                            f"{web.url}/repo"])
            repo = Repo.open(str(dest))
            profiles = []
            sampler = Sampler() if args.sample else None
            if args.cprofile:
                import cProfile

                def start(frame, event, arg, profiles=profiles):  # type: ignore[no-untyped-def]
                    sys.setprofile(None)
                    p = cProfile.Profile()
                    profiles.append(p)
                    p.enable()
                threading.setprofile(start)
            if sampler is not None:
                sampler.start()
            t0, c0 = time.perf_counter(), time.process_time()
            result = P.pull_remote(repo, "origin", [REF])
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            if sampler is not None:
                sampler.stop()
            threading.setprofile(None)  # type: ignore[arg-type]
            repo.close()
            walls.append(wall)
            cpus.append(cpu)
            print(f"run {n + 1}: {wall:.2f} s wall, {cpu:.2f} s cpu; {result.status}", flush=True)
            if sampler is not None:
                sampler.report(args.top)
            if profiles:
                import pstats
                stats = pstats.Stats(profiles[0])
                for p in profiles[1:]:
                    stats.add(p)
                print("=== all threads but the main one, summed")
                stats.sort_stats("tottime").print_stats(args.top)
    finally:
        web.stop()
        shutil.rmtree(base / "dest", ignore_errors=True)
    if args.runs > 1:
        print(f"median of {args.runs}: {statistics.median(walls):.2f} s wall, {statistics.median(cpus):.2f} s cpu; "
              f"load {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
