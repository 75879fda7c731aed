#!/usr/bin/env python3
"""Image build benchmark: `ostreepy image build --type=raw` against the floor of
the same disk work done by the standard tools.

The realistic OS tree of benchmarks/store.py (built or reused from its cache; it
carries a kernel and initramfs) is committed and encapsulated once, untimed,
as an OCI layout with the containers.bootc label. Timed, alternating:

  ostreepy   ostreepy image build oci:LAYOUT:latest OUT   (pull, deploy, GRUB,
             mkfs.ext4 -d of /boot and the root into their partitions of the
             disk file, the ESP, our GPT)
  floor      mkfs.ext4 -d of a checkout of the same commit (made untimed) into
             a file, then dd conv=sparse of it into a disk file at the root
             partition's offset: the part of the job no tool can skip
  unpack     the same work done by standard tools from the same image: GNU tar
             -xf of its layer blob(s) (gzip, as encapsulated) into a folder, the
             floor's mkfs.ext4 -d of that folder and dd, and the folder removed:
             what the floor leaves out (the layer's decompression and one file
             per object on the host filesystem) is in both contenders here
  before     (with --before CMD) an older ostreepy in the same rotation

It prints wall and CPU time (the child's and its children's, os.wait4), the
child's peak RSS, the ratios ostreepy/floor (target 1.3x) and ostreepy/unpack,
and from one more,
untimed, build run in-process with a progress callback: the time split by
phase (the ImageBuildStage events, the layer fetch and the import) and the
disk space the build needed at its peak (staging plus the disk file, counted
when the last filesystem is written). The work folder follows TMPDIR: on a
journal-less ext4 (this project's CI VM) every new inode costs a scan past the
inodes deleted in the last minutes (fs/ext4/ialloc.c recently_deleted), which
the floor, making no host inodes, does not pay; TMPDIR=/dev/shm shows all
contenders on a filesystem without that cost.

  .venv/bin/python benchmarks/image_build.py [--repeat N] [--synthetic] [--before CMD]
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import store as sb  # noqa: E402

TARGET = 1.3
RSS_LIMIT_MB = 150

# one build, timestamps of its progress events and the output folder's peak use
PHASES = r"""
import json, os, sys, time
from pathlib import Path
from ostreepy.install.image import build_image
from ostreepy.progress import ImageBuildStage, ImportDone, ImportStarted, LayerDone, LayerStarted
ref, out = sys.argv[1], Path(sys.argv[2])
t0 = time.perf_counter()
marks, peak = [], [0]

def used(top):
    seen, total = set(), 0
    for d, dirs, files in os.walk(top):
        for n in dirs + files:
            st = os.lstat(os.path.join(d, n))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total

def cb(ev):
    if isinstance(ev, ImageBuildStage):
        marks.append((time.perf_counter() - t0, ev.stage))
        if ev.stage == "partition":  # every filesystem written, the staging not yet removed
            t = time.perf_counter()
            peak[0] = used(out)
            globals()["t0"] += time.perf_counter() - t  # the count is no part of the build
    elif isinstance(ev, (LayerStarted, LayerDone, ImportStarted, ImportDone)):
        marks.append((time.perf_counter() - t0, type(ev).__name__))

build_image(f"ostree-unverified-image:{ref}", out, progress=cb)
marks.append((time.perf_counter() - t0, "end"))
print(json.dumps({"marks": marks, "peak": peak[0]}))
"""


def phases(ref: str, out: Path) -> dict:
    p = subprocess.run([sys.executable, "-c", PHASES, ref, str(out)], capture_output=True, text=True,
                       cwd=str(HERE.parent))
    if p.returncode:
        raise SystemExit(f"phase run failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.splitlines()[-1])


def show_phases(res: dict) -> None:
    marks = res["marks"]
    names = {"start": "start (imports, checks)", "LayerStarted": "layer fetch+import (tar -> objects)",
             "ImportStarted": "commit import",
             "ImportDone": "deploy (checkout, /etc, kernel, BLS)", "deploy": "pull setup",
             "LayerDone": "layer done -> import", "partition": "partition (GPT, BIOS) + staging removal"}
    print("phases of one more build (in-process, untimed):")
    prev_t, prev_n = 0.0, "start"
    for t, n in marks:
        print(f"  {t - prev_t:6.2f} s  {names.get(prev_n, prev_n)}")
        prev_t, prev_n = t, n
    print(f"  {marks[-1][0]:6.2f} s  total")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--before", help="also run this (older) ostreepy command in the rotation")
    args = ap.parse_args(argv)

    note = sb.compile_bytecode()
    sb.LAUNCHER = sb.Launcher()
    tree = sb.get_tree(args.synthetic)
    sb.warm_cache(tree)
    tools = {"floor": None, "ostreepy": sb.default_ostreepy()}
    if args.before:
        tools["before"] = shlex.split(args.before)
    work = Path(tempfile.mkdtemp(prefix="ostreepy-image-bench-"))
    try:
        repo = work / "repo"
        sb.run_checked(["ostree", f"--repo={repo}", "init", "--mode=bare"])
        sb.run_checked(["ostree", f"--repo={repo}", "commit", "-b", "os", "-s", "bench",
                        f"--timestamp={sb.TIMESTAMP}", str(tree)])
        from ostreepy import porcelain
        porcelain.encapsulate(str(repo), "os", f"oci:{work}/oci:latest", labels={"containers.bootc": "1"})
        checkout = work / "checkout"
        sb.run_checked(["ostree", f"--repo={repo}", "checkout", "os", str(checkout)])
        used = int(subprocess.run(["du", "-sb", str(checkout)], capture_output=True, text=True).stdout.split()[0])
        fs_size = max(2 << 30, int(used * 1.5))
        offset = (1 + 1 + 512 + 1024) << 20
        floor_sh = (f"set -e; cd {work}; rm -f r.img disk; truncate -s {fs_size} r.img; "
                    f"mkfs.ext4 -q -F -d {checkout} r.img; truncate -s {offset + fs_size + (1 << 20)} disk; "
                    f"dd if=r.img of=disk bs=4M oflag=seek_bytes seek={offset} conv=sparse,notrunc status=none")
        index = json.loads((work / "oci/index.json").read_text())
        mdigest = index["manifests"][0]["digest"].split(":", 1)[1]
        manifest = json.loads((work / "oci/blobs/sha256" / mdigest).read_text())
        blobs = " ".join(str(work / "oci/blobs/sha256" / layer["digest"].split(":", 1)[1])
                         for layer in manifest["layers"])
        unpack_sh = (f"set -e; cd {work}; rm -rf r.img disk u; mkdir u; for b in {blobs}; do tar -xf $b -C u; done; "
                     f"truncate -s {fs_size} r.img; mkfs.ext4 -q -F -d u r.img; "
                     f"truncate -s {offset + fs_size + (1 << 20)} disk; "
                     f"dd if=r.img of=disk bs=4M oflag=seek_bytes seek={offset} conv=sparse,notrunc status=none; "
                     f"rm -rf u")
        tools = {"floor": None, "unpack": None, **{k: v for k, v in tools.items() if k != "floor"}}
        results = {name: [] for name in tools}
        rss = {name: 0.0 for name in tools}
        alloc = {}
        n = 0
        for i in range(args.repeat):
            for name in (tuple(tools) if i % 2 == 0 else tuple(reversed(tools))):
                n += 1
                out = work / f"out-{n}"
                if tools[name] is None:
                    m = sb.run_checked(["sh", "-c", floor_sh if name == "floor" else unpack_sh])
                else:
                    m = sb.run_checked(tools[name] + ["image", "build", f"oci:{work}/oci:latest", str(out)])
                    alloc[name] = (out / "image/disk.raw").stat().st_blocks * 512
                    sb.rmtree(out)
                results[name].append(m)
                rss[name] = max(rss[name], m.maxrss_mb)
        ph = phases(f"oci:{work}/oci:latest", work / "out-phases")

        def med(name: str, attr: str) -> float:
            return statistics.median(getattr(m, attr) for m in results[name])
        t_floor, c_floor = med("floor", "wall"), med("floor", "cpu")
        print(f"tree: {used / 1e6:.0f} MB in {tree}{note}; {args.repeat} run(s) each, medians")
        print(f"floor (mkfs.ext4 -d + sparse copy): {t_floor:.2f} s wall, {c_floor:.2f} s CPU, "
              f"peak RSS {rss['floor']:.0f} MB")
        t_unpack, c_unpack = med("unpack", "wall"), med("unpack", "cpu")
        print(f"unpack (tar -xf of the layer, mkfs.ext4 -d, sparse copy, rm): {t_unpack:.2f} s wall, "
              f"{c_unpack:.2f} s CPU, peak RSS {rss['unpack']:.0f} MB")
        for name in tools:
            if name in ("floor", "unpack"):
                continue
            t, c = med(name, "wall"), med(name, "cpu")
            label = "ostreepy image build --type=raw" if name == "ostreepy" else f"{name} ({' '.join(tools[name])})"
            print(f"{label}: {t:.2f} s wall, {c:.2f} s CPU, peak RSS {rss[name]:.0f} MB; "
                  f"ratio {t / t_floor:.2f}x wall, {c / c_floor:.2f}x CPU; against unpack {t / t_unpack:.2f}x wall, "
                  f"{c / c_unpack:.2f}x CPU; disk {alloc[name] / 1e6:.0f} MB allocated")
        ratio = med("ostreepy", "wall") / t_floor
        print(f"ratio {ratio:.2f}x (target {TARGET}x): {'OK' if ratio <= TARGET else 'OVER'}; "
              f"RSS {'OK' if rss['ostreepy'] < RSS_LIMIT_MB else 'OVER'} (limit {RSS_LIMIT_MB} MB)")
        show_phases(ph)
        print(f"disk space: {ph['peak'] / 1e6:.0f} MB used in the output folder at the build's peak "
              f"(staging sysroot + disk file), {alloc['ostreepy'] / 1e6:.0f} MB left in the disk image")
        return 0
    finally:
        sb.LAUNCHER.close()
        subprocess.run(["find", str(work), "-maxdepth", "6", "-type", "d", "-exec", "chattr", "-i", "{}", "+"],
                       capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
