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

It prints the median wall time and the child's CPU seconds (user + system, os.wait4 through
benchmarks/store.py's launcher), the ratios ostreepy/ostree, and the delta sizes (sum of part
sizes from `static-delta show`). The tools take turns, alternating which goes first. On a shared
machine the CPU ratio is the steadier signal. ``--before CMD`` runs a third contender (an older
ostreepy, e.g. ``'env PYTHONPATH=OLD .venv/bin/python -P -m ostreepy'``) in the same rotation.

  .venv/bin/python benchmarks/deltas.py [--files N] [--size KB] [--repeat N] [--before CMD]
"""

from __future__ import annotations

import argparse
import os
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
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "remote"))
import servers  # noqa: E402  (nginx, as the tests run it)
import store as sb  # noqa: E402  (the launcher measuring a child's wall, CPU and RSS)


def ostreepy_cmd() -> List[str]:
    env = os.environ.get("OSTREEPY_CMD")
    if env:
        return env.split()
    script = Path(sys.executable).parent / "ostreepy"
    return [str(script)] if script.exists() else [sys.executable, "-m", "ostreepy"]


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


def run(argv: List[str]) -> Tuple[float, float]:
    """(wall seconds, the child's CPU seconds) of one checked run."""
    if sb.LAUNCHER is None:
        t = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        return time.perf_counter() - t, 0.0
    m = sb.run_checked(argv)
    return m.wall, m.cpu


def part_size(tool: List[str], repo: str, name: str) -> int:
    out = subprocess.run([*tool, "static-delta", "show", f"--repo={repo}", name], check=True,
                         capture_output=True, text=True).stdout
    m = re.search(r"^Total Part Size: (\d+)", out, re.M)
    return int(m.group(1)) if m else -1


def pull_time(tool: List[str], dst: str, url: str, src: str, frm: Optional[str], web: "servers.Nginx") -> tuple:
    """((wall, cpu) seconds, loose objects fetched) of ``tool pull`` into a fresh bare-user repo."""
    shutil.rmtree(dst, ignore_errors=True)
    subprocess.run(["ostree", "init", f"--repo={dst}", "--mode=bare-user"], check=True)
    subprocess.run(["ostree", "remote", "add", f"--repo={dst}", "--no-gpg-verify", "origin", url], check=True)
    if frm is not None:
        subprocess.run(["ostree", "pull-local", f"--repo={dst}", src, frm], check=True, capture_output=True)
        subprocess.run(["ostree", "refs", f"--repo={dst}", "--create=origin:main", frm], check=True)
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
    args = ap.parse_args(argv)
    tools: Dict[str, List[str]] = {"ostree": ["ostree"], "ostreepy": ostreepy_cmd()}
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
        for v in (1, 2):
            build(base / f"t{v}", args.files, args.size, v)
        src = str(base / "src")
        subprocess.run(["ostree", "init", f"--repo={src}", "--mode=archive"], check=True)
        for v in (1, 2):
            subprocess.run(["ostree", "commit", f"--repo={src}", "-b", "main", f"--timestamp=2020-01-0{v}T00:00Z",
                            str(base / f"t{v}")], check=True, capture_output=True)
        rev = lambda r: subprocess.run(["ostree", "rev-parse", f"--repo={src}", r], check=True,  # noqa: E731
                                       capture_output=True, text=True).stdout.strip()
        frm, to = rev("main^"), rev("main")
        results: Dict[str, Dict[str, List[Tuple[float, float]]]] = {t: {} for t in tools}
        sizes: Dict[str, Dict[str, int]] = {t: {} for t in tools}
        for rep in range(args.repeat):
            for name in (tuple(tools) if rep % 2 == 0 else tuple(reversed(tools))):
                tool = tools[name]
                repo = str(base / f"r-{name}")
                shutil.rmtree(repo, ignore_errors=True)
                shutil.copytree(src, repo, symlinks=True)
                tf = run([*tool, "static-delta", "generate", f"--repo={repo}", f"--from={frm}", f"--to={to}"])
                te = run([*tool, "static-delta", "generate", f"--repo={repo}", "--empty", f"--to={to}"])
                dst = str(base / f"d-{name}")
                shutil.rmtree(dst, ignore_errors=True)
                subprocess.run(["ostree", "init", f"--repo={dst}", "--mode=bare-user"], check=True)
                subprocess.run(["ostree", "pull-local", f"--repo={dst}", src, frm], check=True, capture_output=True)
                superblock = next(Path(repo, "deltas").glob("*/*-*"))
                ta = run([*tool, "static-delta", "apply-offline", f"--repo={dst}", str(superblock)])
                for key, val in (("generate-from", tf), ("generate-empty", te), ("apply-from", ta)):
                    results[name].setdefault(key, []).append(val)
                sizes[name]["from"] = part_size(["ostree"], repo, f"{frm}-{to}")
                sizes[name]["empty"] = part_size(["ostree"], repo, to)
        web = servers.Nginx(base / "nginx")
        web.start()
        loose: Dict[str, Dict[str, int]] = {t: {} for t in tools}
        try:
            served = web.root / "repo"
            shutil.copytree(str(base / "r-ostree"), served, symlinks=True)
            subprocess.run(["ostree", "summary", "-u", f"--repo={served}"], check=True)
            for rep in range(args.repeat):
                for name in (tuple(tools) if rep % 2 == 0 else tuple(reversed(tools))):
                    for key, start in (("pull-from", frm), ("pull-empty", None)):
                        t, n = pull_time(tools[name], str(base / f"p-{name}"), f"{web.url}/repo", src, start, web)
                        results[name].setdefault(key, []).append(t)
                        loose[name][key] = n
        finally:
            web.stop()
        print(f"tree: {args.files} files up to {args.size} KB; {args.repeat} run(s), median{note}")
        print(f"{'step':16} {'tool':9} {'wall s':>8} {'ratio':>6} {'cpu s':>7} {'cpu ratio':>9}")
        for key in ("generate-from", "generate-empty", "apply-from", "pull-from", "pull-empty"):
            base_w = statistics.median(w for w, _ in results["ostree"][key])
            base_c = statistics.median(c for _, c in results["ostree"][key])
            for name in tools:
                w = statistics.median(w for w, _ in results[name][key])
                c = statistics.median(c for _, c in results[name][key])
                extra = ""
                if key.startswith("pull"):
                    extra = f"   loose objects fetched: {loose[name][key]}"
                print(f"{key:16} {name:9} {w:8.3f} {w / base_w:5.2f}x {c:7.3f} {c / max(base_c, 1e-3):8.2f}x{extra}")
        for key in ("from", "empty"):
            a, b = sizes["ostree"][key], sizes["ostreepy"][key]
            print(f"delta size {key:6} ostree={a} ostreepy={b} ratio={b / a:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
