#!/usr/bin/env python3
"""HTTP pull benchmark: `ostreepy pull` against `ostree pull`, from nginx on loopback.

The realistic OS tree of benchmarks/store.py (built or reused from its cache) is committed by
`ostree` into an archive repository (with a summary, no static deltas) that Debian's nginx
serves on 127.0.0.1 (tests/remote/servers.py starts it). Timed, alternating which tool goes
first, each into a fresh bare repository with the remote added by `ostree remote add`:

  pull-first    `pull origin bench/os` of the whole commit
  pull-second   then, into the same repository, the next commit of the ref, in which
                --change-percent (5) of the regular files changed
  pull-noop     then the same pull again: nothing to fetch (the fixed cost of a pull:
                start-up, the summary, the commit's detached metadata, the transaction)

It prints wall time and the child's peak RSS per run (os.wait4 rusage via the launcher of
benchmarks/store.py), the medians, the ratio ostreepy/ostree, and for the second pull the
objects each tool fetched, counted from nginx's access log (both should fetch only what changed).
No destination is removed before the end: on this machine's ext4 a pull started within seconds
of removing a 6,000-file repository spends seconds of system time allocating inodes (the kernel's
``find_inode_bit`` skips every ``recently_deleted`` inode), which penalised whichever tool ran next.

  .venv/bin/python benchmarks/pull_http.py [--repeat N] [--synthetic] [--change-percent P]
      [--tree DIR] [--before CMD]

``--tree`` pulls another tree (a generated one of /work/scale-trees, say: a target holds at
every scale). ``--before CMD`` runs a third contender in the same rotation (an older ostreepy,
e.g. ``'env PYTHONPATH=OLD .venv/bin/python -P -m ostreepy'``), so before/after ratios come
from the same load. The child's CPU seconds (user + system) are shown beside wall time: on a
shared machine they move far less from run to run.

Without the pull engine (ostreepy/remote/pull.py) it prints "pull engine not present" and exits 0.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import shlex
import statistics
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "remote"))
import store as sb  # noqa: E402  (the store benchmark's tree builder and launcher)
import servers  # noqa: E402  (nginx, as the tests run it)

REF = "bench/os"
TARGET = 1.0


def engine_present() -> bool:
    try:
        return importlib.util.find_spec("ostreepy.remote.pull") is not None
    except ImportError:
        return False


def changed_tree(tree: Path, dest: Path, percent: float) -> int:
    """``dest``: ``tree`` with ``percent`` of its regular files changed (hard links for the
    rest, so it costs little); returns how many files changed."""
    if subprocess.run(["cp", "-al", str(tree), str(dest)], capture_output=True).returncode:
        # another filesystem (TMPDIR=/dev/shm): a copy, as hard links cannot cross it
        shutil.rmtree(dest, ignore_errors=True)
        subprocess.run(["cp", "-a", str(tree), str(dest)], check=True)
    files = sorted(p for p in dest.rglob("*") if p.is_file() and not p.is_symlink())
    rng = random.Random(5)
    chosen = rng.sample(files, max(1, int(len(files) * percent / 100)))
    for p in chosen:
        data = p.read_bytes()
        mode = p.stat().st_mode
        p.unlink()  # break the hard link: the original tree stays as it is
        p.write_bytes(data + b"\n# changed for the second commit\n")
        os.chmod(p, mode & 0o7777)
    return len(chosen)


def object_requests(entries: List[servers.LogEntry]) -> Tuple[int, int]:
    objs = [e for e in entries if e.status == 200 and "/objects/" in e.path]
    return len(objs), sum(e.body_bytes for e in objs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--change-percent", type=float, default=5.0)
    ap.add_argument("--tree", type=Path, help="pull this tree instead of the realistic OS tree")
    ap.add_argument("--before", help="also run this (older) ostreepy command in the rotation")
    args = ap.parse_args(argv)
    if not engine_present():
        print("pull engine not present")
        return 0

    note = sb.compile_bytecode()
    sb.LAUNCHER = sb.Launcher()
    tree = args.tree if args.tree is not None else sb.get_tree(args.synthetic)
    ostreepy = sb.default_ostreepy()
    work = Path(tempfile.mkdtemp(prefix="ostreepy-pull-http-bench-"))
    web = servers.Nginx(work / "nginx")
    tools = {"ostree": ["ostree"], "ostreepy": ostreepy}
    if args.before:
        tools["before"] = shlex.split(args.before)
    results: Dict[Tuple[str, str], list] = {}
    fetched: Dict[Tuple[str, str], List[Tuple[int, int]]] = {}
    try:
        web.start()
        served = web.root / "repo"
        sb.run_checked(["ostree", f"--repo={served}", "init", "--mode=archive"])
        sb.log("committing the tree into the served archive repo ...")
        sb.run_checked(["ostree", f"--repo={served}", "commit", "-b", REF, "-s", "v1",
                        f"--timestamp={sb.TIMESTAMP}", str(tree)])
        sb.run_checked(["ostree", f"--repo={served}", "summary", "-u"])
        v1 = subprocess.run(["ostree", f"--repo={served}", "rev-parse", REF], check=True,
                            capture_output=True, text=True).stdout.strip()
        tree2 = work / "tree2"
        nchanged = changed_tree(tree, tree2, args.change_percent)
        # a second served repo holding v1 and v2; each run pulls v1 from the first, v2 from it
        served2 = web.root / "repo2"
        subprocess.run(["cp", "-a", str(served), str(served2)], check=True)
        sb.run_checked(["ostree", f"--repo={served2}", "commit", "-b", REF, "-s", "v2",
                        f"--timestamp={sb.TIMESTAMP}", str(tree2)])
        sb.run_checked(["ostree", f"--repo={served2}", "summary", "-u"])
        sb.warm_cache(served2)
        n = 0
        for rep in range(args.repeat):
            order = tuple(tools) if rep % 2 == 0 else tuple(reversed(tools))
            for tool in order:
                n += 1
                dest = work / f"{n:03d}-{tool}"
                sb.run_checked(["ostree", f"--repo={dest}", "init", "--mode=bare"])
                for op, url in (("pull-first", f"{web.url}/repo"), ("pull-second", f"{web.url}/repo2"),
                                ("pull-noop", f"{web.url}/repo2")):
                    subprocess.run(["ostree", f"--repo={dest}", "remote", "delete", "--if-exists", "origin"],
                                   check=True)
                    sb.run_checked(["ostree", f"--repo={dest}", "remote", "add", "--no-gpg-verify",
                                    "origin", url])
                    mark = web.mark()
                    m = sb.run_checked(tools[tool] + [f"--repo={dest}", "pull", "origin", REF])
                    got = object_requests(web.entries(mark))
                    results.setdefault((op, tool), []).append(m)
                    fetched.setdefault((op, tool), []).append(got)
                    sb.log(f"  run {rep + 1}/{args.repeat} {op:11s} {tool:9s} {m.wall:6.2f} s {m.cpu:6.2f} s cpu "
                           f"{m.maxrss_mb:7.1f} MB  {got[0]} objects {got[1] / 1e6:.1f} MB")
                rev = subprocess.run(["ostree", f"--repo={dest}", "rev-parse", f"origin:{REF}"],
                                     check=True, capture_output=True, text=True).stdout.strip()
                if rev == v1:
                    raise SystemExit(f"{tool}: the second pull did not move the ref")
    finally:
        web.stop()
        sb.rmtree(work)
        sb.LAUNCHER.close()
    stats = sb.tree_stats(tree)
    print()
    print(f"Tree: {tree.name} - {stats['files']} files, {stats['dirs']} dirs, {stats['symlinks']} symlinks, "
          f"{stats['bytes'] / 1e6:.1f} MB; second commit changes {nchanged} files "
          f"({args.change_percent:g}%); {args.repeat} run(s), median{note}")
    print("| operation   | tool     | wall s | ratio | cpu s | cpu ratio | target | peak MB | objects |")
    print("|-------------|----------|--------|-------|-------|-----------|--------|---------|---------|")
    for op in ("pull-first", "pull-second", "pull-noop"):
        base = statistics.median(m.wall for m in results[(op, "ostree")])
        base_cpu = statistics.median(m.cpu for m in results[(op, "ostree")])
        for tool in tools:
            w = statistics.median(m.wall for m in results[(op, tool)])
            c = statistics.median(m.cpu for m in results[(op, tool)])
            mb = max(m.maxrss_mb for m in results[(op, tool)])
            objs = max(n for n, _ in fetched[(op, tool)])
            target = "" if tool == "ostree" or op == "pull-noop" else f"<={TARGET}x"
            print(f"| {op:11s} | {tool:8s} | {w:6.3f} | {w / base:4.2f}x | {c:5.3f} | {c / base_cpu:8.2f}x "
                  f"| {target:6s} | {mb:7.1f} | {objs:7d} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
