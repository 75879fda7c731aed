#!/usr/bin/env python3
"""Scale benchmark: ostreepy against the real `ostree` on a generated 100,000-file tree.

The tree is generated deterministically (a seeded random.Random: the same
parameters give byte-identical trees, so runs on different days compare):
``--files`` files (default 100,000) in files/50 directories shaped like an OS
(usr/bin, usr/lib/..., usr/share/doc/<pkg>/..., deep and shallow), one symlink
for every ten files, a few hardlinks and setuid files, sizes drawn from a
small/medium/large lognormal mix scaled so the total is ``--size-mb`` (default
2,000 MB), half compressible text and half random bytes, plus the kernel and
initramfs that make it bootable.  ``--quick`` is 20,000 files and 200 MB.

Each operation runs with both tools in one run, alternating which goes first,
each on a fresh repo or destination (the launcher and the measuring come from
benchmarks/store.py: wall time, and the child's own peak RSS from os.wait4):

  commit-bare         `commit -b bench --timestamp=... TREE` into a new bare repo
  checkout-hardlink   `checkout --require-hardlinks bench DEST`
  fsck-bare           `fsck`
  prune               `refs --delete bench` (untimed), then `prune --refs-only --depth=0`,
                      which deletes every object of the commit

The commit checksums of both tools are compared (they must be identical).  The
tree is built under the work directory and removed with it unless ``--tree-dir``
names a place to keep it between runs (it is reused when its parameters match).

  .venv/bin/python benchmarks/scale.py [--quick] [--repeat N] [--only OP[,OP]]
      [--files N] [--size-mb M] [--tree-dir DIR] [--workdir DIR] [--profile OP]

``--profile OP`` runs our side of OP (commit-bare, fsck-bare, checkout-hardlink) in
this process under cProfile instead and prints the top of the profile.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import store as sb  # noqa: E402  (the store benchmark's launcher, measuring and Bench)

OPS = {
    "commit-bare": ("commit", "bare", 1.0),
    "checkout-hardlink": ("checkout", "bare", 1.0),
    "fsck-bare": ("fsck", "bare", 1.0),
    "prune": ("prune", "bare", 1.0),
    # the tar path every container layer import takes (ostree commit --tree=tar=)
    "commit-tar": ("commit-tar", "bare", 1.0),
}
GENERATOR_VERSION = 1

_WORDS = sb._WORDS
_TOP = ["usr/bin", "usr/sbin", "usr/lib/x86_64-linux-gnu", "usr/share/doc", "usr/share/locale",
        "usr/share/man/man1", "usr/share/zoneinfo", "usr/lib/python3/dist-packages", "usr/etc",
        "usr/include", "usr/share/perl5", "usr/lib/systemd/system", "usr/share/icons", "usr/lib/firmware",
        "usr/share/fonts", "usr/lib/modules", "var/lib/dpkg/info"]


def generate(dest: Path, files: int, size_mb: int, seed: int = 20260101) -> None:
    """Writes the tree into ``dest`` (which must not exist); deterministic in its arguments."""
    t0 = time.perf_counter()
    rng = random.Random(seed)
    tmp = dest.with_name(dest.name + ".partial")
    sb.rmtree(tmp)
    tmp.mkdir(parents=True)
    text = " ".join(rng.choice(_WORDS) for _ in range(1_600_000)).encode()  # ~8 MB compressible
    binary = rng.randbytes(8 << 20)

    dirs = []
    for t in _TOP:
        (tmp / t).mkdir(parents=True, exist_ok=True)
        dirs.append(t)
    ndirs = max(len(_TOP), files // 50)
    while len(dirs) < ndirs:
        parent = rng.choice(dirs)
        if parent.count("/") > 9:
            continue
        d = f"{parent}/d{len(dirs)}-{rng.choice(_WORDS)}"
        (tmp / d).mkdir()
        dirs.append(d)

    # sizes first, then scaled to the budget, so --size-mb holds whatever --files is
    kernel = (8 << 20) + (30 << 20)
    raw = []
    for _ in range(files):
        r = rng.random()
        if r < 0.55:
            raw.append(rng.lognormvariate(6.5, 1.3))       # small text (~1 KB)
        elif r < 0.95:
            raw.append(rng.lognormvariate(9.5, 1.2))       # medium (~15 KB)
        else:
            raw.append(rng.lognormvariate(12.5, 1.0))      # large (~300 KB)
    budget = max(0, size_mb * 1_000_000 - kernel)
    scale = budget / sum(raw) if raw else 0
    sizes = [min(int(s * scale), 8 << 20) for s in raw]

    names = []
    exts = ["so", "txt", "gz", "py", "pm", "conf", "h", "mo", "png", ""]
    for i, size in enumerate(sizes):
        d = rng.choice(dirs)
        src = text if rng.random() < 0.5 else binary
        header = f"file {i}\n".encode()
        if size <= len(header):
            data = header[:size] if size else b""
        else:
            body = size - len(header)
            off = rng.randrange(0, len(src) - body) if body < len(src) else 0
            data = header + src[off:off + body]
        p = f"{d}/f{i}.{rng.choice(exts)}"
        fd = os.open(tmp / p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755 if "bin" in d or rng.random() < 0.1
                     else 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        names.append(p)
    for p in rng.sample(names, min(len(names), 20)):
        os.chmod(tmp / p, 0o4755)
    for i, p in enumerate(rng.sample(names, min(len(names), 20))):
        os.link(tmp / p, tmp / f"{p}.hl{i}")
    for i in range(files // 10):
        d = rng.choice(dirs)
        target = rng.choice(names)
        tgt = "/" + target if rng.random() < 0.5 else os.path.relpath(target, d)
        os.symlink(tgt, tmp / d / f"link{i}")
    for d in ("bin", "sbin", "lib"):
        os.symlink(f"usr/{d}", tmp / d)
    for d in ("dev", "proc", "sys", "run", "tmp", "home", "root", "var/tmp", "boot", "mnt", "opt", "srv"):
        (tmp / d).mkdir(parents=True, exist_ok=True)
    os.chmod(tmp / "tmp", 0o1777)
    sb.make_ostree_ready(tmp)  # adds usr/lib/modules/<kver>/{vmlinuz,initramfs.img}
    os.rename(tmp, dest)
    sb.log(f"generated {dest} in {time.perf_counter() - t0:.1f} s")


def get_tree(base: Path, files: int, size_mb: int) -> Path:
    """The tree for these parameters under ``base``, generated unless a matching one is there."""
    tree = base / f"scale-{files}-{size_mb}"
    stamp = base / f"scale-{files}-{size_mb}.json"
    want = {"files": files, "size_mb": size_mb, "generator": GENERATOR_VERSION}
    if tree.is_dir() and stamp.is_file() and json.loads(stamp.read_text()) == want:
        return tree
    sb.rmtree(tree)
    generate(tree, files, size_mb)
    stamp.write_text(json.dumps(want))
    return tree


class ScaleBench(sb.Bench):
    def run(self, op: str, tool: str) -> sb.Measurement:
        kind, mode, _ = OPS[op]
        if kind == "prune":
            repo = self.repo_for(tool, mode)
            sb.run_checked(self.tools[tool] + [f"--repo={repo}", "refs", "--delete", "bench"])
            m = sb.run_checked(self.tools[tool] + [f"--repo={repo}", "prune", "--refs-only", "--depth=0"])
            del self.committed[(tool, mode)]  # emptied: the next op commits again
            sb.rmtree(repo)
            return m
        if kind == "commit-tar":
            tar = self.work / "tree.tar"
            if not tar.exists():  # made once, untimed (GNU tar, numeric owners as a layer has them)
                subprocess.run(["tar", "-C", str(self.tree), "--numeric-owner", "-cf", str(tar), "."],
                               check=True)
            repo = self.new_repo(tool, mode)
            m = sb.run_checked(self.tools[tool] + [f"--repo={repo}", "commit", "-b", "bench", "-s", "bench",
                                                   f"--timestamp={sb.TIMESTAMP}", f"--tree=tar={tar}"])
            self.checksums[(tool, "tar")] = m.out.decode().strip()
            sb.rmtree(repo)
            return m
        # store.py's Bench knows the commit, checkout and fsck runs
        sb.OPS.setdefault(op, OPS[op])
        return super().run(op, tool)


def profile(op: str, tree: Path, work: Path) -> None:
    """Our side of ``op`` in this process under cProfile: where the time goes."""
    import cProfile
    import pstats
    from ostreepy.store.repo import Repo
    from ostreepy.store import checkout as co
    from ostreepy.store import fsck as fk
    from ostreepy.store.commit import create_commit, write_directory_to_mtree, write_mtree
    from ostreepy.store.mtree import MutableTree

    repo = Repo.init(str(work / "profile-repo"), "bare")

    def do_commit() -> str:
        with repo.transaction():
            mt = write_directory_to_mtree(repo, str(tree), MutableTree())
            root, meta = write_mtree(repo, mt)
            csum = create_commit(repo, root, meta, subject="bench", timestamp=0)
            repo.set_ref("bench", csum)
        return csum

    prof = cProfile.Profile()
    if op == "commit-bare":
        t = time.perf_counter()
        prof.runcall(do_commit)
    else:
        csum = do_commit()
        t = time.perf_counter()
        if op == "fsck-bare":
            prof.runcall(fk.fsck, repo)
        elif op == "checkout-hardlink":
            prof.runcall(co.checkout, repo, csum, str(work / "profile-co"),
                            co.CheckoutOptions(no_copy_fallback=True))
        else:
            raise SystemExit(f"--profile knows commit-bare, fsck-bare, checkout-hardlink, not {op}")
    sb.log(f"{op} in-process: {time.perf_counter() - t:.2f} s (under cProfile)")
    pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)


def _before_cells(runs: list, ostree_wall: float) -> tuple:
    w, rss = sb.summarize(runs)
    return f"{w:.2f}", f"{w / ostree_wall:.2f}x", f"{rss:.1f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=1, help="runs per operation and tool (median is shown)")
    ap.add_argument("--only", action="append", default=[], help="operation(s): " + ", ".join(OPS))
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--size-mb", type=int, default=2_000)
    ap.add_argument("--quick", action="store_true", help="20,000 files, 200 MB")
    ap.add_argument("--tree-dir", default=None, help="keep the generated tree here between runs")
    ap.add_argument("--workdir", default=None, help="where repos go (default: a temporary dir under /tmp)")
    ap.add_argument("--ostreepy", default=None, help="ostreepy command (default: the venv's console script)")
    ap.add_argument("--before", default=None, metavar="CMD",
                    help="also run this ostreepy command in the same rotation, for before/after under the same "
                         "load; e.g. a `git archive` of the old commit in DIR: 'env PYTHONPATH=DIR "
                         ".venv/bin/python -P -m ostreepy' (-P: not the current directory's package)")
    ap.add_argument("--profile", default=None, metavar="OP", help="profile our side of OP in-process instead")
    args = ap.parse_args(argv)
    if args.quick:
        args.files, args.size_mb = 20_000, 200

    ops = [o for spec in args.only for o in spec.split(",") if o] or list(OPS)
    for o in ops:
        if o not in OPS:
            ap.error(f"unknown operation {o!r}; known: {', '.join(OPS)}")
    import shlex
    tools = {"ostree": ["ostree"],
             "ostreepy": shlex.split(args.ostreepy) if args.ostreepy else sb.default_ostreepy()}
    if args.before:
        tools["before"] = shlex.split(args.before)
    note = sb.compile_bytecode()
    sb.LAUNCHER = sb.Launcher()  # first, while this process is small
    floor = sb.measure(["true"]).maxrss_mb

    work = Path(tempfile.mkdtemp(prefix="ostreepy-scale-", dir=args.workdir))
    try:
        tree_base = Path(args.tree_dir) if args.tree_dir else work
        tree_base.mkdir(parents=True, exist_ok=True)
        tree = get_tree(tree_base, args.files, args.size_mb)
        stats = sb.tree_stats(tree)
        sb.log(f"tree {tree}: {stats['files']} files, {stats['dirs']} dirs, {stats['symlinks']} symlinks, "
               f"{stats['bytes'] / 1e6:.1f} MB")
        sb.warm_cache(tree)
        if args.profile:
            profile(args.profile, tree, work)
            return 0
        results = {op: {t: [] for t in tools} for op in ops}
        bench = ScaleBench(tools, tree, work)
        for r in range(args.repeat):
            for i, op in enumerate(ops):
                order = list(tools) if (r + i) % 2 == 0 else list(reversed(tools))
                for tool in order:
                    m = bench.run(op, tool)
                    results[op][tool].append(m)
                    sb.log(f"  run {r + 1}/{args.repeat} {op:18s} {tool:8s} {m.wall:7.2f} s "
                           f"{m.maxrss_mb:7.1f} MB  (load {os.getloadavg()[0]:.2f})")
        cs = bench.checksums
        # per source (the directory commits, the tar commits): both tools' checksums equal
        mismatched = any(len({v for (_t, k), v in cs.items() if k == kind}) > 1 for kind in {k for _, k in cs})
    finally:
        sb.rmtree(work)

    print()
    print(f"Tree: {args.files} files + {stats['symlinks']} symlinks, {stats['dirs']} dirs, "
          f"{stats['bytes'] / 1e6:.1f} MB; {args.repeat} run(s) each, median shown; "
          f"load average {os.getloadavg()[0]:.2f} at the end{note}")
    before = "before" in tools
    hdr = ("operation", "ostree s", "ostreepy s", "ratio", "target", "ostree MB", "ostreepy MB",
           "us/file ostree", "us/file ostreepy", "verdict") + (("before s", "before ratio", "before MB")
                                                               if before else ())
    rows = []
    for op in ops:
        wa, ra = sb.summarize(results[op]["ostree"])
        wb, rb = sb.summarize(results[op]["ostreepy"])
        target = OPS[op][2]
        ratio = wb / wa if wa > 0 else float("inf")
        ok = ratio <= target and rb < sb.RSS_TARGET_MB
        rows.append((op, f"{wa:.2f}", f"{wb:.2f}", f"{ratio:.2f}x", f"<={target:.1f}x", f"{ra:.1f}", f"{rb:.1f}",
                     f"{wa / args.files * 1e6:.0f}", f"{wb / args.files * 1e6:.0f}", "ok" if ok else "MISSED")
                    + (_before_cells(results[op]["before"], wa) if before else ()))
    widths = [max(len(str(x)) for x in col) for col in zip(hdr, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    print(line(hdr))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))
    print(f"(peak RSS is os.wait4's ru_maxrss; the launcher's floor is {floor:.1f} MB)")
    sb.LAUNCHER.close()
    if mismatched:
        print("WARNING: commit checksums differ between ostree and ostreepy")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
