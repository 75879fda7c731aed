#!/usr/bin/env python3
"""Deploy benchmark: `ostreepy admin deploy` against `ostree admin deploy`.

The realistic OS tree of benchmarks/store.py (built or reused from its cache; it
carries a kernel and initramfs in usr/lib/modules/<kver>/) is committed once
into a template repo.  For every run, untimed: a fresh folder sysroot
(`admin init-fs`, `os-init bench`, `sysroot.bootloader=none`) whose repo gets
the commit by `ostree pull-local`.  Timed, alternating the tools in one run:

  deploy-first    admin deploy --os=bench bench/os --karg=root=UUID=1234 --karg=rw
  deploy-second   the same again on the same sysroot (a /etc merge and a second deployment)

It prints wall time, the child's peak RSS and the ratio ostreepy/ostree.

  .venv/bin/python benchmarks/deploy.py [--repeat N] [--synthetic]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import store as sb  # noqa: E402  (the store benchmark's tree builder and launcher)

TARGET = 1.0
REF = "bench/os"


def unimmutable(sysroot: Path) -> None:
    dep = sysroot / "ostree" / "deploy"
    if dep.exists():
        subprocess.run(["find", str(dep), "-maxdepth", "3", "-type", "d", "-exec", "chattr", "-i", "{}", "+"],
                       capture_output=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--synthetic", action="store_true")
    args = ap.parse_args(argv)

    note = sb.compile_bytecode()  # before the launcher forks: it inherits the environment
    sb.LAUNCHER = sb.Launcher()
    tree = sb.get_tree(args.synthetic)
    sb.warm_cache(tree)
    ostreepy = sb.default_ostreepy()
    work = Path(tempfile.mkdtemp(prefix="ostreepy-deploy-bench-"))
    template = work / "template"
    sb.run_checked(["ostree", f"--repo={template}", "init", "--mode=bare"])
    sb.run_checked(["ostree", f"--repo={template}", "commit", "-b", REF, "-s", "bench",
                    "--add-metadata-string=version=1", f"--timestamp={sb.TIMESTAMP}", str(tree)])
    tools = {"ostree": ["ostree"], "ostreepy": ostreepy}
    results = {}
    n = 0
    try:
        for rep in range(args.repeat):
            order = ("ostree", "ostreepy") if rep % 2 == 0 else ("ostreepy", "ostree")
            for tool in order:
                n += 1
                sr = work / f"{n:03d}-{tool}"
                sr.mkdir()
                cmd = tools[tool]
                sb.run_checked(cmd + ["admin", "init-fs", str(sr)])
                sb.run_checked(cmd + ["admin", f"--sysroot={sr}", "os-init", "bench"])
                sb.run_checked(["ostree", f"--repo={sr}/ostree/repo", "config", "set", "sysroot.bootloader", "none"])
                sb.run_checked(["ostree", f"--repo={sr}/ostree/repo", "pull-local", str(template), REF])
                deploy = cmd + ["admin", f"--sysroot={sr}", "deploy", "--os=bench", REF,
                                "--karg=root=UUID=1234", "--karg=rw"]
                for op in ("deploy-first", "deploy-second"):
                    m = sb.run_checked(deploy)
                    results.setdefault((op, tool), []).append(m)
                    sb.log(f"  run {rep + 1}/{args.repeat} {op:14s} {tool:9s} {m.wall:6.2f} s {m.maxrss_mb:7.1f} MB")
                unimmutable(sr)
                sb.rmtree(sr)
    finally:
        unimmutable(work)
        sb.rmtree(work)
        sb.LAUNCHER.close()
    stats = sb.tree_stats(tree)
    print()
    print(f"Tree: {tree.name} - {stats['files']} files, {stats['dirs']} dirs, {stats['symlinks']} symlinks, "
          f"{stats['bytes'] / 1e6:.1f} MB; {args.repeat} run(s), median{note}")
    print("| operation     | ostree s | ostreepy s | ratio | target | ostree MB | ostreepy MB |")
    print("|---------------|----------|------------|-------|--------|-----------|-------------|")
    for op in ("deploy-first", "deploy-second"):
        a, ma = sb.summarize(results[(op, "ostree")])
        b, mb = sb.summarize(results[(op, "ostreepy")])
        print(f"| {op:13s} | {a:8.2f} | {b:10.2f} | {b / a:4.2f}x | <={TARGET}x | {ma:9.1f} | {mb:11.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
