#!/usr/bin/env python3
"""OSTree pull benchmark: ``ostreepy pull`` against ``ostree pull --untrusted`` over ``file://``.

A synthetic tree (``--files`` files of 0-8 KiB random data in 100-file
directories) is committed once by ``ostree`` into an archive repository. Timed,
alternating the tools, into a fresh repository of each ``--modes``: ``pull origin
main`` from that archive. ostree reads a ``file://`` remote as a local repository
(importing objects, checking each with ``--untrusted``); ostreepy fetches and
verifies every ``.filez`` through its fetcher as it would over HTTP. Prints wall
time and the child's CPU time per run, the medians and the ratio.

Each run gets its own destination, and none is removed before the end: on this
machine's ext4 a repository created within seconds of removing another spends
seconds of system time allocating inodes (``find_inode_bit`` skips every
``recently_deleted`` one), which would penalise whichever tool comes next.

    .venv/bin/python benchmarks/ostree_pull.py [--files 10000] [--rounds 3] [--modes archive,bare-user]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build_tree(dest: Path, n: int) -> None:
    rnd = random.Random(1)
    for i in range(n):
        d = dest / f"d{i // 100:04d}" / ("sub" if i % 3 == 0 else "")
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:06d}").write_bytes(rnd.randbytes(rnd.randint(0, 8000)))


def timed(argv: list) -> tuple:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    wall = time.monotonic() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main(argv: list = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--modes", default="archive,bare-user")
    args = ap.parse_args(argv)
    ostreepy = [sys.executable, "-m", "ostreepy"]
    with tempfile.TemporaryDirectory(prefix="ostree-pull-bench-", dir="/var/tmp") as work:
        w = Path(work)
        build_tree(w / "tree", args.files)
        src = w / "src"
        subprocess.run(["ostree", f"--repo={src}", "init", "--mode=archive"], check=True)
        subprocess.run(["ostree", f"--repo={src}", "commit", "-b", "main", f"--tree=dir={w / 'tree'}"],
                       check=True, stdout=subprocess.DEVNULL)
        for mode in args.modes.split(","):
            results: dict = {"ostree": [], "ostreepy": []}
            for r in range(args.rounds):
                for tool in (("ostree", "ostreepy") if r % 2 == 0 else ("ostreepy", "ostree")):
                    dst = w / f"dst-{mode}-{r}-{tool}"
                    subprocess.run(["ostree", f"--repo={dst}", "init", f"--mode={mode}"], check=True)
                    subprocess.run(["ostree", f"--repo={dst}", "remote", "add", "--no-gpg-verify", "origin",
                                    f"file://{src}"], check=True)
                    cmd = (["ostree", f"--repo={dst}", "pull", "--untrusted", "origin", "main"] if tool == "ostree"
                           else [*ostreepy, f"--repo={dst}", "pull", "origin", "main"])
                    wall, cpu = timed(cmd)
                    results[tool].append((wall, cpu))
                    print(f"{mode:15} {tool:9} round {r}: {wall:6.2f} s wall {cpu:6.2f} s cpu", flush=True)
            med = {t: statistics.median(w for w, _ in v) for t, v in results.items()}
            print(f"{mode:15} median: ostree {med['ostree']:.2f} s, ostreepy {med['ostreepy']:.2f} s,"
                  f" ratio {med['ostreepy'] / med['ostree']:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
