#!/usr/bin/env python3
"""OSTree pull benchmark: ``ostreepy`` against ``ostree`` pulling between local repositories.

A synthetic tree (``--files`` files of 0-8 KiB random data in 100-file
directories) is committed once by ``ostree`` into an archive repository. Timed,
alternating the tools, into a fresh repository of each ``--modes``: ``pull origin
main`` from that archive, for each of ``--ops``:

  file            ``pull --untrusted origin main`` from a ``file://`` remote (ostreepy
                  always checks what it pulls over ``file://``)
  local           ``pull-local SRC main`` (trusted: same-mode objects are hard-linked)
  local-untrusted ``pull-local --untrusted SRC main`` (linked, and every object checked)

Both tools hard-link objects between repositories of the same mode (libostree's
``_ostree_repo_import_object``) and copy them between modes. Prints wall time and
the child's CPU time per run, the medians and the ratios. ``--tree DIR`` commits
that tree instead of the synthetic one (a generated tree of /work/scale-trees:
a target holds at every scale); ``--before CMD`` runs an older ostreepy in the
same rotation, for before/after under the same load.

Each run gets its own destination, and none is removed before the end: on this
machine's ext4 a repository created within seconds of removing another spends
seconds of system time allocating inodes (``find_inode_bit`` skips every
``recently_deleted`` one), which would penalise whichever tool comes next.

    .venv/bin/python benchmarks/ostree_pull.py [--files 10000] [--rounds 3] [--modes archive,bare-user]
        [--ops file,local,local-untrusted] [--tree DIR] [--before CMD]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shlex
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
    ap.add_argument("--ops", default="file,local,local-untrusted")
    ap.add_argument("--tree", type=Path, help="commit this tree instead of a synthetic one")
    ap.add_argument("--before", help="also run this (older) ostreepy command in the rotation")
    args = ap.parse_args(argv)
    # an installed package has its bytecode compiled; without this, a checkout run with
    # PYTHONDONTWRITEBYTECODE=1 compiles every module on every run and measures that
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import store
    note = store.compile_bytecode()
    tools = {"ostree": ["ostree"], "ostreepy": [sys.executable, "-m", "ostreepy"]}
    if args.before:
        tools["before"] = shlex.split(args.before)
    with tempfile.TemporaryDirectory(prefix="ostree-pull-bench-", dir="/var/tmp") as work:
        w = Path(work)
        tree = args.tree
        if tree is None:
            tree = w / "tree"
            build_tree(tree, args.files)
        src = w / "src"
        subprocess.run(["ostree", f"--repo={src}", "init", "--mode=archive"], check=True)
        subprocess.run(["ostree", f"--repo={src}", "commit", "-b", "main", f"--tree=dir={tree}"],
                       check=True, stdout=subprocess.DEVNULL)
        summary = []
        n = 0
        for mode in args.modes.split(","):
            for op in args.ops.split(","):
                results: dict = {t: [] for t in tools}
                for r in range(args.rounds):
                    for tool in (tuple(tools) if r % 2 == 0 else tuple(reversed(tools))):
                        n += 1
                        dst = w / f"dst-{n:04d}-{mode}-{op}-{tool}"
                        subprocess.run(["ostree", f"--repo={dst}", "init", f"--mode={mode}"], check=True)
                        subprocess.run(["ostree", f"--repo={dst}", "remote", "add", "--no-gpg-verify", "origin",
                                        f"file://{src}"], check=True)
                        if op == "file":
                            verb = ["pull", "--untrusted", "origin", "main"]
                        elif op == "local":
                            verb = ["pull-local", str(src), "main"]
                        else:
                            verb = ["pull-local", "--untrusted", str(src), "main"]
                        wall, cpu = timed([*tools[tool], f"--repo={dst}", *verb])
                        results[tool].append((wall, cpu))
                        print(f"{mode:10} {op:16} {tool:9} round {r}: {wall:6.2f} s wall {cpu:6.2f} s cpu", flush=True)
                med = {t: (statistics.median(x for x, _ in v), statistics.median(c for _, c in v))
                       for t, v in results.items()}
                for t in tools:
                    if t != "ostree":
                        summary.append(f"| {mode:10} | {op:16} | {t:8} | {med['ostree'][0]:6.2f} | {med[t][0]:6.2f} "
                                       f"| {med[t][0] / med['ostree'][0]:4.2f}x | {med['ostree'][1]:5.2f} "
                                       f"| {med[t][1]:5.2f} | {med[t][1] / med['ostree'][1]:4.2f}x |")
        print(f"\n{args.rounds} rounds, medians; tree {tree if args.tree else f'{args.files} synthetic files'}{note}")
        print("| mode       | operation        | tool     | ostree s | tool s | ratio | ostree cpu | tool cpu | cpu ratio |")
        print("|------------|------------------|----------|----------|--------|-------|------------|----------|-----------|")
        print("\n".join(summary))
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
