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
  commit-tar          `commit --tree=tar=` of a GNU tar of the tree
  deploy              `admin deploy` of the commit (ostree's) into a fresh sysroot on a tmpfs.
                      Not the same work for both: Debian's ostree 2022.7 is built without
                      composefs and writes no `.ostree.cfs`, which ours (like any ostree built
                      with composefs since 2025.1) writes into every deployment. So where the
                      upstream peer is (/opt/peers/bin/ostree, 2026.4 with composefs) it deploys
                      too, in the same rotation, and a second row, "deploy vs 2026.4", holds ours
                      against it: the same work, composefs image included
  import-1, import-50 the tree as an image of 1 and of 50 zstd layers (split by directory):
                      ours `container image pull` from an oci: layout; the peer, as Debian has
                      no ostree-ext, `commit --tree=tar=` of each zstd layer blob of that same
                      layout (libarchive decompresses it) plus, for 50, one `commit
                      --tree=ref=...` of all 50 (the union) - the nearest peer.  Both read the
                      same layer bytes; ours also checks the blob and diffID digests, which
                      ostree-ext does too and the bare commit does not
  import-1-tar        import-1 with the layer uncompressed for both: ours pulls a layout whose
                      layer blob is the plain tar (application/vnd.oci.image.layer.v1.tar, the
                      same file hardlinked), the peer commits that tar
  image-10g           (opt-in: --only image-10g) a 10 GB single-layer image from a local
                      docker-registry: ours pull + import against skopeo copy + commit --tree=tar=
                      of the zstd blob; run beside image-small, the same generator at a tenth of
                      the size, for the throughput and RSS comparison (benchmarks/bigimage.py;
                      --image-gb N scales it, and it is scaled down, saying so, when the disk
                      cannot hold one repository of it)

The commit checksums of both tools are compared (they must be identical).  The
tree is built under the work directory and removed with it unless ``--tree-dir``
names a place to keep it between runs (it is reused when its parameters match).

  .venv/bin/python benchmarks/scale.py [--quick] [--repeat N] [--only OP[,OP]]
      [--files N] [--size-mb M] [--tree-dir DIR] [--workdir DIR] [--profile OP] [--rss-log FILE]

Each run's peak RSS per row and tool is kept in ``--rss-log`` (default scale-rss.json in
``--tree-dir``) under the tree's file count; once it holds two sizes, a closing table gives
every row's RSS at the smallest and the largest and their ratio against issue 14's target
(within 10%): run the small tree and the 100k tree one after the other to see it.

``--profile OP`` runs our side of OP (commit-bare, fsck-bare, checkout-hardlink) in
this process under cProfile instead and prints the top of the profile.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

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
    "deploy": ("deploy", "bare", 1.0),
    "import-1": ("import", "bare", 1.0),
    "import-50": ("import", "bare", 1.0),
    "import-1-tar": ("import", "bare", 1.0),
}
# opt-in (--only image-10g, which brings image-small along): a local registry and disk for one
# repository of the image at a time
OPT_IN = {"image-small": ("big-image", "bare", 1.0), "image-10g": ("big-image", "bare", 1.0)}
GENERATOR_VERSION = 2  # 2: usr/etc/os-release
# the upstream ostree peer (2026.4, built with composefs): the deploy's same-work contender
UPSTREAM_OSTREE = Path(os.environ.get("OSTREEPY_UPSTREAM_PEERS") or "/opt/peers") / "bin" / "ostree"
# the operations the upstream peer also runs, and the row its figures get
UPSTREAM_OPS = {"deploy": "deploy vs 2026.4"}


def upstream_available() -> bool:
    if not os.access(UPSTREAM_OSTREE, os.X_OK):
        return False
    return subprocess.run([str(UPSTREAM_OSTREE), "--version"], capture_output=True).returncode == 0

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
    # admin deploy reads it for the boot entry's title
    (tmp / "usr/etc/os-release").write_text('NAME="Bench"\nID=bench\nPRETTY_NAME="Bench OS"\nVERSION_ID=1\n')
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


def make_layers(tree: Path, out: Path, n: int) -> List[Path]:
    """``n`` uncompressed layer tars of ``tree``, split by directory as a chunked image splits by
    package: the files, symlinks and hardlinks of a directory all go to one layer (crc32 of its
    path mod n), and a layer carries the entries of the directories above what it holds.  One
    sorted walk, PAX format, numeric owners, mtime 0 (as import.py's single layer)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"layer{i:02d}.tar" for i in range(n)]
    tfs = [tarfile.open(p, "w", format=tarfile.PAX_FORMAT) for p in paths]
    emitted: List[set] = [set() for _ in range(n)]

    def add(k: int, fs: str, arc: str) -> None:
        ti = tfs[k].gettarinfo(fs, arcname=arc)
        ti.uname = ti.gname = ""
        ti.mtime = 0
        if ti.isreg():
            with open(fs, "rb") as f:
                tfs[k].addfile(ti, f)
        else:
            tfs[k].addfile(ti)

    def ensure_dir(k: int, rel: str) -> None:
        chain = []
        while rel not in emitted[k]:
            chain.append(rel)
            if rel == ".":
                break
            rel = os.path.dirname(rel) or "."
        for d in reversed(chain):
            add(k, str(tree / d) if d != "." else str(tree), d if d != "." else "./")
            emitted[k].add(d)

    try:
        for dirpath, dirnames, filenames in os.walk(tree):
            dirnames.sort()
            rel = os.path.relpath(dirpath, tree)
            k = zlib.crc32(rel.encode()) % n
            ensure_dir(k, rel)
            for name in sorted(filenames) + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                add(k, os.path.join(dirpath, name), os.path.normpath(os.path.join(rel, name)))
    finally:
        for tf in tfs:
            tf.close()
    return paths


def make_layout(layout: Path, layers: List[Path]) -> None:
    """An OCI layout (tag "latest") of the layer tars, each zstd -3 compressed, as import.py's."""
    import hashlib
    import zstandard

    def sha256_file(path: Path) -> str:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while True:
                b = f.read(1 << 20)
                if not b:
                    return "sha256:" + h.hexdigest()
                h.update(b)

    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    descs, diff_ids = [], []
    for tar in layers:
        diff_ids.append(sha256_file(tar))
        tmp = layout / "layer.tmp"
        with open(tar, "rb") as src, open(tmp, "wb") as dst:
            zstandard.ZstdCompressor(level=3).copy_stream(src, dst)
        digest = sha256_file(tmp)
        size = tmp.stat().st_size
        tmp.rename(blobs / digest.split(":")[1])
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": digest, "size": size})

    def blob(obj: dict) -> dict:
        data = json.dumps(obj).encode()
        dig = "sha256:" + hashlib.sha256(data).hexdigest()
        (blobs / dig.split(":")[1]).write_bytes(data)
        return {"digest": dig, "size": len(data)}

    config = {"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
              "config": {"Labels": {"containers.bootc": "1"}},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    c = blob(config)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **c}, "layers": descs}
    m = blob(manifest)
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": manifest["mediaType"], **m, "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}))


def tar_layout(layers: List[Path], zstd_layout: Path) -> Path:
    """The image of ``zstd_layout`` with its layers uncompressed, beside it: the same config
    (its diffIDs are the tars' digests), each layer blob the layer tar itself (hardlinked), so
    the plain-tar import reads exactly the bytes the peer's `commit --tree=tar=` reads."""
    import hashlib
    out = zstd_layout.parent / "oci-tar"
    index = json.loads((zstd_layout / "index.json").read_text())
    zblobs = zstd_layout / "blobs" / "sha256"
    manifest = json.loads((zblobs / index["manifests"][0]["digest"].split(":")[1]).read_text())
    config_digest = manifest["config"]["digest"]
    diff_ids = json.loads((zblobs / config_digest.split(":")[1]).read_text())["rootfs"]["diff_ids"]
    sb.rmtree(out)
    blobs = out / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    (out / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    shutil.copyfile(zblobs / config_digest.split(":")[1], blobs / config_digest.split(":")[1])
    manifest["layers"] = []
    for tar, diff_id in zip(layers, diff_ids):
        os.link(tar, blobs / diff_id.split(":")[1])
        manifest["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": diff_id,
                                   "size": tar.stat().st_size})
    data = json.dumps(manifest).encode()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (blobs / digest.split(":")[1]).write_bytes(data)
    (out / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": manifest["mediaType"], "digest": digest, "size": len(data),
         "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}))
    return out


def layer_blobs(layout: Path) -> List[Path]:
    """The layer blobs of the layout's one image, in order."""
    index = json.loads((layout / "index.json").read_text())
    blobs = layout / "blobs" / "sha256"
    manifest = json.loads((blobs / index["manifests"][0]["digest"].split(":")[1]).read_text())
    return [blobs / d["digest"].split(":")[1] for d in manifest["layers"]]


def get_image(tree: Path, base: Path, n: int) -> Tuple[List[Path], Path]:
    """The layer tars and OCI layout of ``tree`` in ``n`` layers, made once under ``base``."""
    d = base / f"{tree.name}-image{n}"
    stamp = d / "done.json"
    want = {"tree": tree.name, "layers": n, "generator": GENERATOR_VERSION}
    if stamp.is_file() and json.loads(stamp.read_text()) == want:
        return sorted(d.glob("layer*.tar")), d / "oci"
    sb.rmtree(d)
    t0 = time.perf_counter()
    layers = make_layers(tree, d, n)
    make_layout(d / "oci", layers)
    stamp.write_text(json.dumps(want))
    sb.log(f"made the {n}-layer image of {tree.name} in {time.perf_counter() - t0:.1f} s")
    return layers, d / "oci"


@contextlib.contextmanager
def tmpfs(where: Path, size: str = "12g") -> Iterator[Path]:
    """A tmpfs mounted at ``where`` for the block (a sysroot there costs no disk sync)."""
    where.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
        with contextlib.suppress(OSError):
            where.rmdir()


class ScaleBench(sb.Bench):
    def __init__(self, tools: dict, tree: Path, work: Path, images: Optional[Dict[int, Tuple[List[Path], Path]]] = None):
        super().__init__(tools, tree, work)
        self.images = images or {}
        self.tar_layouts: Dict[int, Path] = {}
        self.big: Dict[str, Tuple[str, str]] = {}  # image-small/image-10g -> (registry ref, layer digest)
        self.cleanups: List = []

    def run(self, op: str, tool: str) -> sb.Measurement:
        kind, mode, _ = OPS.get(op) or OPT_IN[op]
        if kind == "big-image":
            return self.big_image(op, tool)
        if kind == "deploy":
            return self.deploy(tool)
        if kind == "import":
            n = int(op.split("-")[1])
            if op.endswith("-tar"):
                return self.import_image(n, tool, self.tar_layouts[n])
            return self.import_image(n, tool)
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


    def deploy(self, tool: str) -> sb.Measurement:
        """`admin deploy` of the peer's commit (so both deploy the same) into a fresh sysroot on a
        tmpfs; the sysroot set-up and pull-local are untimed, as in benchmarks/deploy.py."""
        template = self.repo_for("ostree", "bare")
        cmd = self.tools[tool]
        with tmpfs(self.fresh(f"deploy-{tool}")) as sr:
            sb.run_checked(cmd + ["admin", "init-fs", str(sr)])
            sb.run_checked(cmd + ["admin", f"--sysroot={sr}", "os-init", "bench"])
            sb.run_checked(["ostree", f"--repo={sr}/ostree/repo", "config", "set", "sysroot.bootloader", "none"])
            sb.run_checked(["ostree", f"--repo={sr}/ostree/repo", "pull-local", str(template), "bench"])
            return sb.run_checked(cmd + ["admin", f"--sysroot={sr}", "deploy", "--os=bench", "bench",
                                         "--karg=root=UUID=1234", "--karg=rw"])

    def big_image(self, op: str, tool: str) -> sb.Measurement:
        """Ours: `container image pull` from the registry.  The peer: skopeo copies the image
        into an oci: directory and `commit --tree=tar=` reads the zstd layer blob in it (what
        ostree-ext's pull + import does, in the tools Debian has)."""
        ref, layer_digest = self.big[op]
        repo = self.new_repo(tool, "bare")
        if tool == "ostree":
            oci = self.fresh("skopeo-oci")
            blob = oci / "blobs" / "sha256" / layer_digest.split(":")[1]
            m = sb.run_checked(["sh", "-c", "set -e\n"
                                f"skopeo --insecure-policy copy -q --src-tls-verify=false docker://{ref} oci:{oci}:x\n"
                                f"ostree --repo={repo} commit --orphan --no-bindings --tar-autocreate-parents "
                                f"--tree=tar={blob} >/dev/null\n"])
            sb.rmtree(oci)
        else:
            m = sb.run_checked(self.tools[tool] + ["container", "image", "pull", "--insecure-skip-tls-verification",
                                                   str(repo), f"ostree-unverified-registry:{ref}"])
        sb.rmtree(repo)
        return m

    def import_image(self, n: int, tool: str, layout: Optional[Path] = None) -> sb.Measurement:
        """Ours: `container image pull` of the OCI layout (every layer imported, then merged).
        The peer (Debian's ostree has no ostree-ext): `commit --tree=tar=` of each layer blob of
        the same layout, as ostree-ext does per layer, then for several layers one `commit
        --tree=ref=` of all of them (the union; ostree-ext checks the layers out and commits that).
        ``layout``: another layout of the same image (the uncompressed one); default the zstd one."""
        layout = layout or self.images[n][1]
        layers = layer_blobs(layout)
        repo = self.new_repo(tool, "bare")
        if tool != "ostree":
            m = sb.run_checked(self.tools[tool] + ["container", "image", "pull", str(repo),
                                                   f"ostree-unverified-image:oci:{layout}:latest"])
        elif n == 1:
            m = sb.run_checked(["ostree", f"--repo={repo}", "commit", "--orphan", "--no-bindings",
                                "--tar-autocreate-parents", f"--tree=tar={layers[0]}"])
        else:
            script = "set -e\n"
            for i, tar in enumerate(layers):
                script += (f"ostree --repo={repo} commit -b layer/{i} --no-bindings --tar-autocreate-parents "
                           f"--tree=tar={tar} >/dev/null\n")
            script += (f"ostree --repo={repo} commit -b merged --no-bindings "
                       + " ".join(f"--tree=ref=layer/{i}" for i in range(len(layers))) + "\n")
            m = sb.run_checked(["sh", "-c", script])
        sb.rmtree(repo)
        return m


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


def _median_cpu(runs: list) -> float:
    import statistics
    return statistics.median(m.cpu for m in runs)


def _before_cells(runs: list, ostree_wall: float) -> tuple:
    w, rss = sb.summarize(runs)
    return f"{w:.2f}", f"{w / ostree_wall:.2f}x", f"{rss:.1f}", f"{_median_cpu(runs):.2f}"


def _print_big_image_rates(results: dict, info: dict, tools: dict) -> None:
    """image-10g's targets: its rate (MB/s of uncompressed layer) within 10% of image-small's,
    and peak RSS flat (within 10%) between the two."""
    print()
    print("| tool | image-small MB/s | image-10g MB/s | rate 10g/small | RSS small MB | RSS 10g MB | verdict |")
    print("|---|---|---|---|---|---|---|")
    for tool in tools:
        ws, rs = sb.summarize(results["image-small"][tool])
        wb, rb = sb.summarize(results["image-10g"][tool])
        rate_s = info["image-small"]["tar_bytes"] / 1e6 / ws
        rate_b = info["image-10g"]["tar_bytes"] / 1e6 / wb
        ok = rate_b >= 0.9 * rate_s and rb <= 1.1 * rs
        print(f"| {tool} | {rate_s:.1f} | {rate_b:.1f} | {rate_b / rate_s:.2f} | {rs:.1f} | {rb:.1f} | "
              f"{'ok' if ok else 'MISSED'} |")


FLAT = 1.10  # issue 14: a row's peak RSS at the largest tree within 10% of the smallest's


def record_rss(path: Path, files: int, results: dict) -> dict:
    """This run's peak RSS (MB) per row and tool, added to the log at ``path`` under the tree's
    file count (replacing that size's earlier figures for the same row and tool); the whole log."""
    log = json.loads(path.read_text()) if path.is_file() else {}
    entry = log.setdefault(str(files), {})
    for op, by_tool in results.items():
        for tool, runs in by_tool.items():
            if runs:
                entry.setdefault(op, {})[tool] = round(sb.summarize(runs)[1], 1)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(log, indent=1, sort_keys=True))
    tmp.rename(path)
    return log


def print_flatness(log: dict, ops: list[str], tools: list[str], source: Path) -> None:
    """Per row and tool, peak RSS at the smallest and the largest tree the log holds and their
    ratio, against the 10% target; nothing when the log has one tree size."""
    sizes = sorted(int(k) for k in log)
    if len(sizes) < 2:
        return
    small, big = log[str(sizes[0])], log[str(sizes[-1])]
    print()
    print(f"RSS flatness, {sizes[0]} -> {sizes[-1]} files (target: within {FLAT - 1:.0%}; "
          f"each size's latest run, from {source}):")
    print("| operation | tool | MB small | MB large | ratio | verdict |")
    print("|---|---|---|---|---|---|")
    for op in ops:
        for tool in tools:
            a, b = small.get(op, {}).get(tool), big.get(op, {}).get(tool)
            if a is None or b is None:
                continue
            print(f"| {op} | {tool} | {a:.1f} | {b:.1f} | {b / a:.2f}x | {'flat' if b <= FLAT * a else 'GROWS'} |")


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
    ap.add_argument("--rss-log", default=None, metavar="FILE",
                    help="peak RSS per row, tool and tree size kept here across runs, and the flatness between the "
                         "smallest and largest size printed (default: scale-rss.json in --tree-dir, if given)")
    ap.add_argument("--image-gb", type=float, default=10.0, help="size of image-10g's image (image-small: a tenth)")
    args = ap.parse_args(argv)
    if args.quick:
        args.files, args.size_mb = 20_000, 200

    ops = [o for spec in args.only for o in spec.split(",") if o] or list(OPS)
    for o in ops:
        if o not in OPS and o not in OPT_IN:
            ap.error(f"unknown operation {o!r}; known: {', '.join(list(OPS) + list(OPT_IN))}")
    if "image-10g" in ops and "image-small" not in ops:
        ops.insert(ops.index("image-10g"), "image-small")  # the rate image-10g is held to
    import shlex
    tools = {"ostree": ["ostree"],
             "ostreepy": shlex.split(args.ostreepy) if args.ostreepy else sb.default_ostreepy()}
    if args.before:
        tools["before"] = shlex.split(args.before)
    # the tools each operation runs: the upstream peer only where it is the same-work contender
    op_tools = {op: list(tools) for op in ops}
    if any(op in UPSTREAM_OPS for op in ops) and upstream_available():
        tools["upstream"] = [str(UPSTREAM_OSTREE)]
        for op in ops:
            if op in UPSTREAM_OPS:
                op_tools[op].append("upstream")
    note = sb.compile_bytecode()
    sb.LAUNCHER = sb.Launcher()  # first, while this process is small
    floor = sb.measure(["true"]).maxrss_mb

    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ostreepy-scale-", dir=args.workdir))
    try:
        tree_base = Path(args.tree_dir) if args.tree_dir else work
        tree_base.mkdir(parents=True, exist_ok=True)
        tree = get_tree(tree_base, args.files, args.size_mb)
        stats = sb.tree_stats(tree)
        sb.log(f"tree {tree}: {stats['files']} files, {stats['dirs']} dirs, {stats['symlinks']} symlinks, "
               f"{stats['bytes'] / 1e6:.1f} MB")
        if any(o in OPS for o in ops):
            sb.warm_cache(tree)
        if args.profile:
            profile(args.profile, tree, work)
            return 0
        images = {}
        for op in ops:
            if op in OPS and OPS[op][0] == "import":
                n = int(op.split("-")[1])
                images[n] = get_image(tree, tree_base, n)
                sb.warm_cache(images[n][1])
        bench = ScaleBench(tools, tree, work, images)
        for op in ops:
            if op.startswith("import-") and op.endswith("-tar"):
                n = int(op.split("-")[1])
                bench.tar_layouts[n] = tar_layout(*images[n])
                sb.warm_cache(bench.tar_layouts[n])
        big_info = {}
        if "image-10g" in ops:
            import bigimage
            gb = bigimage.fit_to_disk(work, args.image_gb)
            if gb < args.image_gb:
                sb.log(f"image-10g: the disk holds no {args.image_gb} GB repository; scaled down to {gb} GB")
            registry = bigimage.Registry(work / "registry")
            bench.cleanups.append(registry.close)
            ociclient = [sys.executable, "-m", "ociclient.cli"]
            for op, size in (("image-small", gb / 10), ("image-10g", gb)):
                layout = tree_base / f"bigimage-{size:g}gb"
                info = bigimage.make_big_image(layout, size)
                ref = registry.push(ociclient, layout, op)
                index = json.loads((layout / "index.json").read_text())
                manifest = json.loads((layout / "blobs" / "sha256" / index["manifests"][0]["digest"].split(":")[1])
                                      .read_text())
                bench.big[op] = (ref, manifest["layers"][0]["digest"])
                big_info[op] = info
        results = {op: {t: [] for t in op_tools[op]} for op in ops}
        for r in range(args.repeat):
            for i, op in enumerate(ops):
                order = op_tools[op] if (r + i) % 2 == 0 else list(reversed(op_tools[op]))
                for tool in order:
                    m = bench.run(op, tool)
                    results[op][tool].append(m)
                    sb.log(f"  run {r + 1}/{args.repeat} {op:18s} {tool:8s} {m.wall:7.2f} s "
                           f"{m.maxrss_mb:7.1f} MB  {m.cpu:6.2f} s CPU  (load {os.getloadavg()[0]:.2f})")
        cs = bench.checksums
        # per source (the directory commits, the tar commits): both tools' checksums equal
        mismatched = any(len({v for (_t, k), v in cs.items() if k == kind}) > 1 for kind in {k for _, k in cs})
    finally:
        for cleanup in bench.cleanups if "bench" in locals() else ():
            cleanup()
        sb.rmtree(work)

    print()
    print(f"Tree: {args.files} files + {stats['symlinks']} symlinks, {stats['dirs']} dirs, "
          f"{stats['bytes'] / 1e6:.1f} MB; {args.repeat} run(s) each, median shown; "
          f"load average {os.getloadavg()[0]:.2f} at the end{note}")
    before = "before" in tools
    hdr = ("operation", "ostree s", "ostreepy s", "ratio", "target", "ostree MB", "ostreepy MB",
           "us/file ostree", "us/file ostreepy", "verdict", "CPU s ostree", "CPU s ostreepy", "CPU ratio") + (
               ("before s", "before ratio", "before MB", "before CPU s") if before else ())
    rows = []
    for op, peer in [(op, "ostree") for op in ops] + [(op, "upstream") for op in ops
                                                       if "upstream" in results[op]]:
        wa, ra = sb.summarize(results[op][peer])
        wb, rb = sb.summarize(results[op]["ostreepy"])
        # CPU seconds (user + system, the child and what it waited for): steadier than wall
        # time on a loaded machine, where the wall ratio mostly measures the neighbours
        ca, cb = _median_cpu(results[op][peer]), _median_cpu(results[op]["ostreepy"])
        target = (OPS.get(op) or OPT_IN[op])[2]
        nfiles = big_info[op]["files"] if op in big_info else args.files
        ratio = wb / wa if wa > 0 else float("inf")
        ok = ratio <= target and rb < sb.RSS_TARGET_MB
        rows.append((op if peer == "ostree" else UPSTREAM_OPS[op], f"{wa:.2f}", f"{wb:.2f}", f"{ratio:.2f}x", f"<={target:.1f}x", f"{ra:.1f}", f"{rb:.1f}",
                     f"{wa / nfiles * 1e6:.0f}", f"{wb / nfiles * 1e6:.0f}", "ok" if ok else "MISSED",
                     f"{ca:.2f}", f"{cb:.2f}", f"{cb / ca:.2f}x" if ca > 0 else "-")
                    + (_before_cells(results[op]["before"], wa) if before else ()))
    widths = [max(len(str(x)) for x in col) for col in zip(hdr, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    print(line(hdr))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))
    print(f"(peak RSS is os.wait4's ru_maxrss; the launcher's floor is {floor:.1f} MB)")
    if "deploy" in ops:
        print("(deploy: the ostree column is Debian's ostree 2022.7, built without composefs: it writes no "
              ".ostree.cfs, which ours writes into every deployment"
              + (f"; in \"deploy vs 2026.4\" it is {UPSTREAM_OSTREE} 2026.4, built with composefs, which "
                 "writes .ostree.cfs as ours does: the same work)" if "upstream" in results["deploy"] else
                 f"; {UPSTREAM_OSTREE}, the same-work peer, is not here)"))
    if "image-10g" in big_info:
        _print_big_image_rates(results, big_info, tools)
    rss_log = Path(args.rss_log) if args.rss_log else (tree_base / "scale-rss.json" if args.tree_dir else None)
    if rss_log is not None:
        print_flatness(record_rss(rss_log, args.files, results), ops, list(tools), rss_log)
    sb.LAUNCHER.close()
    if mismatched:
        print("WARNING: commit checksums differ between ostree and ostreepy")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
