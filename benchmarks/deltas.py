#!/usr/bin/env python3
"""Static-delta benchmark: `ostreepy static-delta` against `ostree static-delta`.

A synthetic OS-like tree (text and binary files, symlinks) in two versions:
v2 changes a share of the files (an insertion in the middle: rollsum's case;
scattered byte edits: bsdiff's case), adds and removes some.  Both are
committed with `ostree` into an archive repo.  Timed, per tool, on copies of
that repo:

  generate-from    static-delta generate --from=v1 --to=v2
  generate-empty   static-delta generate --empty --to=v2
  apply-from       static-delta apply-offline of that tool's from-delta (bare-user repo holding v1)
  pull-from        `pull` over loopback HTTP (nginx) of ostree's from-delta into a bare-user repo
                   holding v1 (the same served repo for both tools)
  pull-empty       the same with the from-scratch delta into an empty bare-user repo

(ostree 2022.7's pull also fetches some loose objects while its delta parts run; the
count of loose objects each tool fetched is printed beside.)

``--tree DIR`` takes a given tree (one of /work/scale-trees, say: a target holds at every
scale) as v1, and as v2 that tree with ``--change-percent`` of its regular files grown by a
line (benchmarks/pull_http.py's second commit); the repositories are hard-linked copies
rather than copies, and only the from-delta is timed (generate-from, apply-from, pull-from):
a from-scratch delta of a 2 GB tree is minutes of xz for both tools, and says nothing new.

It prints the median wall time and the child's CPU seconds (user + system, os.wait4 through
benchmarks/store.py's launcher), the ratios ostreepy/ostree, the largest peak RSS of the runs
(the issue's limit: 150 MB), and the delta sizes (sum of part
sizes from `static-delta show`). The tools take turns, alternating which goes first. On a shared
machine the CPU ratio is the steadier signal. ``--before CMD`` runs a third contender (an older
ostreepy, e.g. ``'env PYTHONPATH=OLD .venv/bin/python -P -m ostreepy'``) in the same rotation.
ostreepy itself is this checkout installed as a wheel (benchmarks/store.py ``default_ostreepy``;
$OSTREEPY_CMD overrides it).

  .venv/bin/python benchmarks/deltas.py [--files N] [--size KB] [--repeat N] [--before CMD]
      [--tree DIR [--change-percent P]]
"""

from __future__ import annotations

import argparse
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "remote"))
import servers  # noqa: E402  (nginx, as the tests run it)
import store as sb  # noqa: E402  (the launcher measuring a child's wall, CPU and RSS)


def build(root: Path, nfiles: int, size_kb: int, version: int) -> None:
    rnd = random.Random(42)
    for i in range(nfiles):
        kind = i % 4
        d = root / "usr" / ("lib" if kind < 2 else "share") / f"d{i % 17}"
        d.mkdir(parents=True, exist_ok=True)
        n = rnd.randint(1, size_kb) * 1024
        if kind == 0:
            data = bytes(rnd.getrandbits(8) for _ in range(n))
        else:
            data = b"".join(b"entry %d of file %d: some words here\n" % (j, i) for j in range(n // 36))
        if version == 2 and i % 5 == 0:
            mid = len(data) // 2
            data = data[:mid] + b"INSERTED" * 40 + data[mid:]
        elif version == 2 and i % 5 == 1 and data:
            b = bytearray(data)
            for k in range(0, len(b), 997):
                b[k] ^= 0x55
            data = bytes(b)
        if version == 2 and i % 23 == 7:
            continue  # removed in v2
        (d / f"f{i}.{'so' if kind < 2 else 'txt'}").write_bytes(data)
    if version == 2:
        for i in range(nfiles // 20):
            (root / "usr/share" / f"new{i}.txt").write_bytes(b"new file %d\n" % i * 100)
    (root / "lib").symlink_to("usr/lib")


def run(argv: List[str]) -> Tuple[float, float, float]:
    """(wall seconds, the child's CPU seconds, its peak RSS in MB) of one checked run."""
    if sb.LAUNCHER is None:
        t = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        return time.perf_counter() - t, 0.0, 0.0
    m = sb.run_checked(argv)
    return m.wall, m.cpu, m.maxrss_mb


def part_size(tool: List[str], repo: str, name: str) -> int:
    out = subprocess.run([*tool, "static-delta", "show", f"--repo={repo}", name], check=True,
                         capture_output=True, text=True).stdout
    m = re.search(r"^Total Part Size: (\d+)", out, re.M)
    return int(m.group(1)) if m else -1


def _copy(src: str, dst: str) -> None:
    shutil.copytree(src, dst, symlinks=True)


def _link_copy(src: str, dst: str) -> None:
    # neither tool changes an object file in place, so the copies may share them
    subprocess.run(["cp", "-al", src, dst], check=True)


def pull_time(tool: List[str], dst: str, url: str, v1: Optional[str], web: "servers.Nginx",
              copy: Callable[[str, str], None]) -> tuple:
    """((wall, cpu) seconds, loose objects fetched) of ``tool pull`` into a new bare-user repo:
    a copy of ``v1`` (holding the from-commit), or an empty one."""
    if v1 is not None:
        copy(v1, dst)
    else:
        subprocess.run(["ostree", "init", f"--repo={dst}", "--mode=bare-user"], check=True)
    subprocess.run(["ostree", "remote", "add", f"--repo={dst}", "--no-gpg-verify", "origin", url], check=True)
    if v1 is not None:
        subprocess.run(["ostree", "refs", f"--repo={dst}", "--create=origin:main", "main"], check=True)
    mark = web.mark()
    t = run([*tool, "pull", f"--repo={dst}", "--require-static-deltas", "origin", "main"])
    loose = sum(1 for e in web.entries(mark) if "/objects/" in e.path and e.status == 200)
    return t, loose


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--size", type=int, default=64, help="largest file, KB")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--before", help="also run this (older) ostreepy command in the rotation")
    ap.add_argument("--tree", type=Path, help="v1 is this tree, v2 it with --change-percent of its files changed")
    ap.add_argument("--change-percent", type=float, default=5.0)
    args = ap.parse_args(argv)
    # ostreepy as a user installs it (a wheel, not the editable .venv whose finder every start pays)
    tools: Dict[str, List[str]] = {"ostree": ["ostree"], "ostreepy": sb.default_ostreepy()}
    if args.before:
        tools["before"] = shlex.split(args.before)
    note = sb.compile_bytecode()
    sb.LAUNCHER = sb.Launcher()
    try:
        return _main(args, tools, note)
    finally:
        sb.LAUNCHER.close()


def _main(args: argparse.Namespace, tools: Dict[str, List[str]], note: str) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-deltas-") as tmp:
        base = Path(tmp)
        if args.tree is not None:
            import pull_http  # its second commit's change, so that both benchmarks change a tree alike
            trees = [args.tree, base / "t2"]
            nchanged = pull_http.changed_tree(args.tree, trees[1], args.change_percent)
            steps: Tuple[str, ...] = ("generate-from", "apply-from", "pull-from")
            label = f"tree: {args.tree.name}, v2 changes {nchanged} files ({args.change_percent:g}%)"
            copy = _link_copy
        else:
            trees = [base / "t1", base / "t2"]
            for v in (1, 2):
                build(trees[v - 1], args.files, args.size, v)
            steps = ("generate-from", "generate-empty", "apply-from", "pull-from", "pull-empty")
            label = f"tree: {args.files} files up to {args.size} KB"
            copy = _copy
        src = str(base / "src")
        subprocess.run(["ostree", "init", f"--repo={src}", "--mode=archive"], check=True)
        for v in (1, 2):
            subprocess.run(["ostree", "commit", f"--repo={src}", "-b", "main", f"--timestamp=2020-01-0{v}T00:00Z",
                            str(trees[v - 1])], check=True, capture_output=True)
        rev = lambda r: subprocess.run(["ostree", "rev-parse", f"--repo={src}", r], check=True,  # noqa: E731
                                       capture_output=True, text=True).stdout.strip()
        frm, to = rev("main^"), rev("main")
        # the bare-user repository holding v1 (as ref main) that apply-from and pull-from start from
        v1 = str(base / "v1")
        subprocess.run(["ostree", "init", f"--repo={v1}", "--mode=bare-user"], check=True)
        subprocess.run(["ostree", "pull-local", f"--repo={v1}", src, frm], check=True, capture_output=True)
        subprocess.run(["ostree", "refs", f"--repo={v1}", "--create=main", frm], check=True)
        results: Dict[str, Dict[str, List[Tuple[float, float, float]]]] = {t: {} for t in tools}
        sizes: Dict[str, Dict[str, int]] = {t: {} for t in tools}
        generated: Dict[str, str] = {}
        n = 0
        for rep in range(args.repeat):
            for name in (tuple(tools) if rep % 2 == 0 else tuple(reversed(tools))):
                n += 1
                tool = tools[name]
                # new names every run: a big repository removed just before a run slows
                # whoever runs next (see benchmarks/pull_http.py); all go with the tmp dir
                repo = str(base / f"r-{n}-{name}")
                copy(src, repo)
                t = run([*tool, "static-delta", "generate", f"--repo={repo}", f"--from={frm}", f"--to={to}"])
                results[name].setdefault("generate-from", []).append(t)
                sizes[name]["from"] = part_size(["ostree"], repo, f"{frm}-{to}")
                superblock = next(Path(repo, "deltas").glob("*/*-*"))
                if "generate-empty" in steps:
                    t = run([*tool, "static-delta", "generate", f"--repo={repo}", "--empty", f"--to={to}"])
                    results[name].setdefault("generate-empty", []).append(t)
                    sizes[name]["empty"] = part_size(["ostree"], repo, to)
                dst = str(base / f"d-{n}-{name}")
                copy(v1, dst)
                t = run([*tool, "static-delta", "apply-offline", f"--repo={dst}", str(superblock)])
                results[name].setdefault("apply-from", []).append(t)
                generated[name] = repo
        web = servers.Nginx(base / "nginx")
        web.start()
        loose: Dict[str, Dict[str, int]] = {t: {} for t in tools}
        pulls = [(k, start) for k, start in (("pull-from", v1), ("pull-empty", None)) if k in steps]
        try:
            served = web.root / "repo"
            copy(generated["ostree"], str(served))
            subprocess.run(["ostree", "summary", "-u", f"--repo={served}"], check=True)
            for rep in range(args.repeat):
                for name in (tuple(tools) if rep % 2 == 0 else tuple(reversed(tools))):
                    for key, start in pulls:
                        n += 1
                        t, got = pull_time(tools[name], str(base / f"p-{n}-{name}"), f"{web.url}/repo", start, web,
                                           copy)
                        results[name].setdefault(key, []).append(t)
                        loose[name][key] = got
        finally:
            web.stop()
        print(f"{label}; {args.repeat} run(s), median{note}")
        print(f"{'step':16} {'tool':9} {'wall s':>8} {'ratio':>6} {'cpu s':>7} {'cpu ratio':>9} {'peak MB':>8}")
        for key in steps:
            base_w = statistics.median(r[0] for r in results["ostree"][key])
            base_c = statistics.median(r[1] for r in results["ostree"][key])
            for name in tools:
                w = statistics.median(r[0] for r in results[name][key])
                c = statistics.median(r[1] for r in results[name][key])
                mb = max(r[2] for r in results[name][key])  # the largest of the runs (target: < 150)
                extra = ""
                if key.startswith("pull"):
                    extra = f"   loose objects fetched: {loose[name][key]}"
                print(f"{key:16} {name:9} {w:8.3f} {w / base_w:5.2f}x {c:7.3f} {c / max(base_c, 1e-3):8.2f}x"
                      f" {mb:8.1f}{extra}")
        for key in ("from", "empty"):
            if key in sizes["ostree"]:
                a, b = sizes["ostree"][key], sizes["ostreepy"][key]
                print(f"delta size {key:6} ostree={a} ostreepy={b} ratio={b / a:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
