#!/usr/bin/env python3
"""composefs benchmark: ostreepy against upstream ostree 2026.4 / mkcomposefs 1.0.8 / sha256sum.

The realistic OS tree of benchmarks/store.py (built or reused from its cache) is
committed once into a bare repo. Timed, alternating the tools in one run:

  checkout-composefs           checkout --composefs REF out.cfs (fs-verity of every object, userspace)
  checkout-composefs-noverity  checkout --composefs-noverity REF out.cfs
  mkcomposefs-from-file        mkcomposefs --from-file DUMP (the dump of that image)
                               against ostreepy composefs create --from-file DUMP
  fsverity-1GiB                ostreepy composefs digest FILE against sha256sum FILE (the same 1 GiB)

The images of both tools are compared byte for byte. It prints wall time, the
child's peak RSS, CPU time (user + sys) and the ratios ostreepy/peer; targets: 1.5x and 100 MB for the
image, 1.2x of sha256sum for the digest.

``--tree DIR`` takes another tree instead (benchmarks/scale.py's generated trees, e.g.
/work/scale-trees/scale-100000-2000), to see how both sides grow with the tree. ``--before CMD``
runs an older ostreepy (e.g. ``env PYTHONPATH=/work/main .venv/bin/python -P -m ostreepy``) in the
same rotation, its image compared too; ``--only OP`` times only the operations named.

The commands run in the work directory: upstream's ``checkout --composefs`` makes its temporary
file in the current directory, not the destination's (ostree-repo-checkout.c,
glnx_open_tmpfile_linkable_at(destination_dfd, ".")), and fails with EXDEV when the two are on
different filesystems (TMPDIR=/dev/shm).

  .venv/bin/python benchmarks/composefs.py [--repeat N] [--synthetic | --tree DIR] [--skip-1g]
      [--peers /opt/peers] [--before CMD] [--only OP[,OP...]]
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import store as sb  # noqa: E402  (the store benchmark's tree builder and launcher)

REF = "bench/os"
TARGETS = {"checkout-composefs": 1.5, "checkout-composefs-noverity": 1.5, "mkcomposefs-from-file": 1.5,
           "fsverity-1GiB": 1.2}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--peers", default=os.environ.get("OSTREEPY_UPSTREAM_PEERS", "/opt/peers"))
    ap.add_argument("--tree", default=None, help="commit this tree instead of the realistic OS tree")
    ap.add_argument("--skip-1g", action="store_true", help="leave out the 1 GiB fs-verity run")
    ap.add_argument("--before", help="also run this (older) ostreepy command in the rotation")
    ap.add_argument("--only", help="only these operations (comma-separated)")
    args = ap.parse_args(argv)
    ostree = os.path.join(args.peers, "bin", "ostree")
    mkcfs = os.path.join(args.peers, "bin", "mkcomposefs")
    if not (os.access(ostree, os.X_OK) and os.access(mkcfs, os.X_OK)):
        raise SystemExit(f"needs upstream ostree 2026.4 and mkcomposefs under {args.peers} "
                         "(see ../shared/peers/README.md)")

    note = sb.compile_bytecode()
    tree = (Path(args.tree) if args.tree else sb.get_tree(args.synthetic)).resolve()
    if not tree.is_dir():
        raise SystemExit(f"{tree} is not a directory")
    sb.warm_cache(tree)
    ostreepy = sb.default_ostreepy()
    tools = {"peer": None, "ostreepy": ostreepy}
    if args.before:
        tools["before"] = shlex.split(args.before)
    work = Path(tempfile.mkdtemp(prefix="ostreepy-composefs-bench-"))
    # the launcher, whose directory the commands run in, is forked in the work directory (see above)
    cwd = os.getcwd()
    os.chdir(work)
    try:
        sb.LAUNCHER = sb.Launcher()
    finally:
        os.chdir(cwd)
    repo = work / "repo"
    results: dict = {}
    try:
        sb.run_checked(["ostree", f"--repo={repo}", "init", "--mode=bare"])
        sb.run_checked(["ostree", f"--repo={repo}", "commit", "-b", REF, "-s", "bench",
                        f"--timestamp={sb.TIMESTAMP}", str(tree)])
        dump = work / "image.dump"
        sb.run_checked([ostree, f"--repo={repo}", "checkout", "--composefs", REF, str(work / "ref.cfs")])
        m = sb.run_checked(["/opt/peers/bin/composefs-info" if args.peers == "/opt/peers" else
                            os.path.join(args.peers, "bin", "composefs-info"), "dump", str(work / "ref.cfs")])
        dump.write_bytes(m.out)
        big = work / "big.bin"
        if not args.skip_1g:
            with open(big, "wb") as f:
                chunk = os.urandom(1 << 20)
                for _ in range(1024):
                    f.write(chunk)

        # per operation: the peer's command, and ours given the ostreepy command
        ops = {
            "checkout-composefs": (
                lambda out: [ostree, f"--repo={repo}", "checkout", "--composefs", REF, out],
                lambda cmd, out: cmd + ["checkout", f"--repo={repo}", "--composefs", REF, out]),
            "checkout-composefs-noverity": (
                lambda out: [ostree, f"--repo={repo}", "checkout", "--composefs-noverity", REF, out],
                lambda cmd, out: cmd + ["checkout", f"--repo={repo}", "--composefs-noverity", REF, out]),
            "mkcomposefs-from-file": (
                lambda out: [mkcfs, "--from-file", str(dump), out],
                lambda cmd, out: cmd + ["composefs", "create", "--from-file", str(dump), out]),
        }
        if not args.skip_1g:
            ops["fsverity-1GiB"] = (lambda out: ["sha256sum", str(big)],
                                    lambda cmd, out: cmd + ["composefs", "digest", str(big)])
        if args.only:
            ops = {op: v for op, v in ops.items() if op in args.only.split(",")}
        for rep in range(args.repeat):
            for op, (peer_cmd, our_cmd) in ops.items():
                order = tuple(tools) if rep % 2 == 0 else tuple(reversed(tools))
                outs = {}
                for tool in order:
                    out = str(work / f"{op}-{tool}.cfs")
                    if os.path.exists(out):
                        os.unlink(out)
                    cmd = tools[tool]
                    m = sb.run_checked(peer_cmd(out) if cmd is None else our_cmd(cmd, out))
                    results.setdefault((op, tool), []).append(m)
                    outs[tool] = out
                    sb.log(f"  run {rep + 1}/{args.repeat} {op:28s} {tool:9s} {m.wall:6.3f} s {m.maxrss_mb:7.1f} MB")
                if op != "fsverity-1GiB" and any(Path(outs["peer"]).read_bytes() != Path(outs[t]).read_bytes()
                                                 for t in tools if t != "peer"):
                    raise SystemExit(f"{op}: the images differ")
    finally:
        sb.rmtree(work)
        sb.LAUNCHER.close()
    stats = sb.tree_stats(tree)
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    print()
    print(f"uptime at the end: {uptime}")
    print(f"Tree: {tree.name} - {stats['files']} files, {stats['dirs']} dirs, {stats['symlinks']} symlinks, "
          f"{stats['bytes'] / 1e6:.1f} MB; {args.repeat} run(s), median{note}; images identical")
    # CPU seconds (user + sys, median) as well: on a shared machine the wall time of a short run is
    # mostly waiting for a core, the CPU ratio is what the code costs
    print("| operation                   | peer s | ostreepy s | ratio | target | peer MB | ostreepy MB "
          "| peer cpu s | ostreepy cpu s | cpu ratio |")
    print("|-----------------------------|--------|------------|-------|--------|---------|-------------"
          "|------------|----------------|-----------|")
    for op, target in TARGETS.items():
        if (op, "peer") not in results:
            continue
        a, ma = sb.summarize(results[(op, "peer")])
        b, mb = sb.summarize(results[(op, "ostreepy")])
        ca = statistics.median(m.cpu for m in results[(op, "peer")])
        cb = statistics.median(m.cpu for m in results[(op, "ostreepy")])
        # three decimals: the small dumps take tens of milliseconds
        print(f"| {op:27s} | {a:6.3f} | {b:10.3f} | {b / a:4.2f}x | <={target}x | {ma:7.1f} | {mb:11.1f} "
              f"| {ca:10.3f} | {cb:14.3f} | {cb / max(ca, 0.0005):8.2f}x |")
    if "before" in tools:
        print()
        print("| operation                   | before s | ostreepy s | after/before | before/peer | before MB "
              "| before cpu s | ostreepy cpu s | cpu after/before |")
        print("|-----------------------------|----------|------------|--------------|-------------|-----------"
              "|--------------|----------------|------------------|")
        for op in TARGETS:
            if (op, "before") not in results:
                continue
            a, _ = sb.summarize(results[(op, "peer")])
            w0, m0 = sb.summarize(results[(op, "before")])
            w1, _ = sb.summarize(results[(op, "ostreepy")])
            c0 = statistics.median(m.cpu for m in results[(op, "before")])
            c1 = statistics.median(m.cpu for m in results[(op, "ostreepy")])
            print(f"| {op:27s} | {w0:8.3f} | {w1:10.3f} | {w1 / w0:11.2f}x | {w0 / a:10.2f}x | {m0:9.1f} "
                  f"| {c0:12.3f} | {c1:14.3f} | {c1 / max(c0, 0.0005):15.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
