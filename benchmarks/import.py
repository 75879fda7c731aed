#!/usr/bin/env python3
"""Image-import benchmark: `ostreepy container image pull` against `ostree commit --tree=tar=`.

The realistic OS tree of benchmarks/store.py (built or reused from its cache)
becomes one uncompressed layer tar and two single-layer OCI layouts (gzip -6,
zstd -3).  Then, alternating the tools in one run, each on a fresh bare repo:

  import-zstd   ostreepy container image pull REPO ostree-unverified-image:oci:LAYOUT:zstd
  import-gzip   ostreepy container image pull REPO ostree-unverified-image:oci:LAYOUT:gzip
  baseline      ostree commit --tree=tar=LAYER.tar --tar-autocreate-parents (what ostree-ext
                runs for each layer, on the already-decompressed tar)

It prints wall time, the child's peak RSS and the ratio ostreepy/ostree.

  .venv/bin/python benchmarks/import.py [--repeat N] [--synthetic] [--profile]

--profile runs one zstd import in-process under cProfile and prints where the time goes.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import store as sb  # noqa: E402  (the store benchmark's tree builder and launcher)

TARGET = 1.0


def make_layer_tar(tree: Path, out: Path) -> None:
    """A tar of the tree as an image layer would hold it: sorted, numeric owners, PAX xattrs."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
        for dirpath, dirnames, filenames in os.walk(tree):
            dirnames.sort()
            rel = os.path.relpath(dirpath, tree)
            for name in [""] + sorted(filenames) + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                p = os.path.join(dirpath, name) if name else dirpath
                arc = os.path.normpath(os.path.join(rel, name)) if name else rel
                if arc == ".":
                    arc = "./"
                ti = tf.gettarinfo(p, arcname=arc)
                ti.uname = ti.gname = ""
                ti.mtime = 0
                try:
                    names = os.listxattr(p, follow_symlinks=False)
                except OSError:
                    names = []
                if names:
                    ti.pax_headers = {"SCHILY.xattr." + n: os.getxattr(p, n, follow_symlinks=False)
                                      .decode("utf-8", "surrogateescape") for n in names}
                if ti.isreg():
                    with open(p, "rb") as f:
                        tf.addfile(ti, f)
                elif ti.isdir() or ti.issym():
                    tf.addfile(ti)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return "sha256:" + h.hexdigest()
            h.update(b)


def make_layout(layout: Path, layer_tar: Path) -> None:
    import zstandard
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    diff_id = _sha256_file(layer_tar)
    manifests = []
    for tag, mt in (("gzip", "application/vnd.oci.image.layer.v1.tar+gzip"),
                    ("zstd", "application/vnd.oci.image.layer.v1.tar+zstd")):
        tmp = layout / f"layer.{tag}"
        with open(layer_tar, "rb") as src, open(tmp, "wb") as dst:
            if tag == "gzip":
                with gzip.GzipFile(fileobj=dst, mode="wb", compresslevel=6, mtime=0) as z:
                    while True:
                        b = src.read(1 << 20)
                        if not b:
                            break
                        z.write(b)
            else:
                zstandard.ZstdCompressor(level=3).copy_stream(src, dst)
        digest = _sha256_file(tmp)
        tmp.rename(blobs / digest.split(":")[1])
        config = {"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
                  "config": {"Labels": {"containers.bootc": "1"}},
                  "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
        cdata = json.dumps(config).encode()
        cdig = "sha256:" + hashlib.sha256(cdata).hexdigest()
        (blobs / cdig.split(":")[1]).write_bytes(cdata)
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdig,
                               "size": len(cdata)},
                    "layers": [{"mediaType": mt, "digest": digest, "size": (blobs / digest.split(":")[1]).stat().st_size}]}
        mdata = json.dumps(manifest).encode()
        mdig = "sha256:" + hashlib.sha256(mdata).hexdigest()
        (blobs / mdig.split(":")[1]).write_bytes(mdata)
        manifests.append({"mediaType": manifest["mediaType"], "digest": mdig, "size": len(mdata),
                          "annotations": {"org.opencontainers.image.ref.name": tag}})
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": manifests}))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--mode", default="bare")
    args = ap.parse_args(argv)

    env_note = sb.compile_bytecode()  # before the launcher forks: it inherits the environment
    sb.LAUNCHER = sb.Launcher()
    tree = sb.get_tree(args.synthetic)
    cache = sb.CACHE / f"image-{tree.name}"
    layer_tar = cache / "layer.tar"
    layout = cache / "oci"
    if not (layout / "index.json").exists():
        cache.mkdir(parents=True, exist_ok=True)
        sb.log(f"building the layer tar and OCI layouts from {tree}")
        make_layer_tar(tree, layer_tar)
        make_layout(layout, layer_tar)
    sizes = {p.name: p.stat().st_size for p in (layout / "blobs/sha256").iterdir()}
    sb.warm_cache(cache)
    ostreepy = sb.default_ostreepy()

    work = Path(tempfile.mkdtemp(prefix="ostreepy-import-bench-"))
    if args.profile:
        import cProfile
        import pstats
        from ostreepy.container.store import pull_image
        from ostreepy.store.repo import Repo
        repo = Repo.init(str(work / "profile"), args.mode)
        cProfile.runctx("pull_image(repo, f'ostree-unverified-image:oci:{layout}:zstd')", globals(),
                        {"pull_image": pull_image, "repo": repo, "layout": layout}, str(work / "prof"))
        pstats.Stats(str(work / "prof")).sort_stats("tottime").print_stats(15)
        sb.rmtree(work)
        return 0

    results = {}
    n = 0
    for rep in range(args.repeat):
        for op in ("import-zstd", "import-gzip"):
            order = ("ostree", "ostreepy") if (rep + n) % 2 == 0 else ("ostreepy", "ostree")
            n += 1
            for tool in order:
                repo = work / f"{n:03d}-{tool}"
                init = (["ostree"] if tool == "ostree" else ostreepy) + [f"--repo={repo}", "init", f"--mode={args.mode}"]
                sb.run_checked(init)
                if tool == "ostree":
                    argv = ["ostree", f"--repo={repo}", "commit", "--orphan", "--no-bindings",
                            "--tar-autocreate-parents", f"--tree=tar={layer_tar}"]
                else:
                    tag = op.split("-")[1]
                    argv = ostreepy + ["container", "image", "pull", str(repo),
                                       f"ostree-unverified-image:oci:{layout}:{tag}"]
                m = sb.run_checked(argv)
                results.setdefault((op, tool), []).append(m)
                sb.log(f"  run {rep + 1}/{args.repeat} {op:12s} {tool:9s} {m.wall:6.2f} s {m.maxrss_mb:7.1f} MB")
                sb.rmtree(repo)
    sb.rmtree(work)
    stats = sb.tree_stats(tree)
    print()
    print(f"Tree: {tree.name} - {stats['files']} files, {stats['dirs']} dirs, {stats['symlinks']} symlinks, "
          f"{stats['bytes'] / 1e6:.1f} MB; layer tar {layer_tar.stat().st_size / 1e6:.1f} MB; "
          f"blobs {', '.join(f'{v / 1e6:.1f} MB' for k, v in sorted(sizes.items()) if v > 1e6)}; "
          f"{args.repeat} run(s), median{env_note}")
    print("| operation   | ostree s (commit --tree=tar) | ostreepy s (image pull) | ratio | target | ostree MB | ostreepy MB |")
    print("|-------------|------------------------------|-------------------------|-------|--------|-----------|-------------|")
    for op in ("import-zstd", "import-gzip"):
        a, ma = sb.summarize(results[(op, "ostree")])
        b, mb = sb.summarize(results[(op, "ostreepy")])
        target = f"<={TARGET}x" if op == "import-zstd" else "-"
        print(f"| {op:11s} | {a:28.2f} | {b:23.2f} | {b / a:4.2f}x | {target:6s} | {ma:9.1f} | {mb:11.1f} |")
    sb.LAUNCHER.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
