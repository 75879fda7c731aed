#!/usr/bin/env python3
"""Image build benchmark: `ostreepy image build --type=raw` against the floor of
the same disk work done by the standard tools.

The realistic OS tree of benchmarks/store.py (built or reused from its cache; it
carries a kernel and initramfs) is committed and encapsulated once, untimed,
as an OCI layout with the containers.bootc label. Timed, alternating:

  ostreepy   ostreepy image build oci:LAYOUT:latest OUT   (pull, deploy, GRUB,
             mkfs.ext4 -d of /boot and the root, the ESP, our GPT, sparse copy)
  floor      mkfs.ext4 -d of a checkout of the same commit (made untimed) into
             a file, then dd conv=sparse of it into a disk file at the root
             partition's offset: the part of the job no tool can skip

It prints wall time, the child's peak RSS, the ratio ostreepy/floor (target
1.3x) and the disk space the build needed (peak: staging + filesystem files).

  .venv/bin/python benchmarks/image_build.py [--repeat N] [--synthetic]
"""

from __future__ import annotations

import argparse
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--synthetic", action="store_true")
    args = ap.parse_args(argv)

    note = sb.compile_bytecode()
    sb.LAUNCHER = sb.Launcher()
    tree = sb.get_tree(args.synthetic)
    sb.warm_cache(tree)
    ostreepy = sb.default_ostreepy()
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
        results = {"ostreepy": [], "floor": []}
        rss = {"ostreepy": 0.0, "floor": 0.0}
        for i in range(args.repeat):
            for name in ("floor", "ostreepy"):
                out = work / "out"
                sb.rmtree(out)
                if name == "floor":
                    m = sb.run_checked(["sh", "-c", floor_sh])
                else:
                    m = sb.run_checked(ostreepy + ["image", "build", f"oci:{work}/oci:latest", str(out)])
                results[name].append(m.wall)
                rss[name] = max(rss[name], m.maxrss_mb)
        disk = work / "out/image/disk.raw"
        alloc = disk.stat().st_blocks * 512
        t_ours, t_floor = statistics.median(results["ostreepy"]), statistics.median(results["floor"])
        ratio = t_ours / t_floor
        print(f"tree: {used / 1e6:.0f} MB in {tree}{note}")
        print(f"floor (mkfs.ext4 -d + sparse copy): {t_floor:.2f} s, peak RSS {rss['floor']:.0f} MB")
        print(f"ostreepy image build --type=raw:    {t_ours:.2f} s, peak RSS {rss['ostreepy']:.0f} MB")
        print(f"ratio {ratio:.2f}x (target {TARGET}x): {'OK' if ratio <= TARGET else 'OVER'}; "
              f"RSS {'OK' if rss['ostreepy'] < RSS_LIMIT_MB else 'OVER'} (limit {RSS_LIMIT_MB} MB)")
        print(f"disk image: {alloc / 1e6:.0f} MB allocated; the build needs about "
              f"{2 * alloc / 1e6:.0f} MB free beside the output (staging sysroot + filesystem files)")
        return 0
    finally:
        sb.LAUNCHER.close()
        subprocess.run(["find", str(work), "-maxdepth", "6", "-type", "d", "-exec", "chattr", "-i", "{}", "+"],
                       capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
