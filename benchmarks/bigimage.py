"""The image-10g operation of benchmarks/scale.py: one big single-layer image, pulled from a local
docker-registry and imported, ours against skopeo + ``ostree commit --tree=tar=``.

The layer is generated, not read from a tree: ``--image-gb`` GB of files (files of 2 KB to
1.5 MB cycling and every 2,100th file, about one a GB, of 256 MiB; 500 to a directory), each unique
(its own first line) but cut from one 4 MiB random block, so zstd with long-distance matching in
an 8 MiB window (what a decompressor holds anyway) shrinks 10 GB to a blob of a few MB.  The
registry and the blob cost almost no disk; the repositories hold every byte (ostree dedups
nothing here), one tool's at a time.  The small image is the same generator at a tenth of the
size, so the two rates compare like with like: the target is throughput within 10% of the
small image's, and peak RSS flat (within 10%).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Iterator, Tuple

import store as sb

BLOCK = 4 << 20
BIG_FILE = 256 << 20
SIZES = (2_000, 30_000, 300_000, 1_500_000, 8_000, 120_000, 700_000)
PER_DIR = 500


def _files(total: int) -> Iterator[Tuple[str, int]]:
    """(path, size) of the generated files, ``total`` bytes in all; deterministic."""
    done = i = 0
    while done < total:
        if i % 2100 == 1050:  # one big file a GB or so
            size = min(BIG_FILE, total - done)
        else:
            size = min(SIZES[i % len(SIZES)], total - done)
        yield f"usr/share/big/d{i // PER_DIR:04d}/f{i}.bin", size
        done += size
        i += 1


class _Sink:
    """The tar stream's writer: sha256 (the diffID) and zstd into the blob file, sha256 of that."""

    def __init__(self, out) -> None:
        import zstandard
        self.diff = hashlib.sha256()
        self.size = 0
        self._out = out
        params = zstandard.ZstdCompressionParameters.from_level(1, window_log=23, enable_ldm=True)
        self._z = zstandard.ZstdCompressor(compression_params=params).stream_writer(self, closefd=False)
        self.blob = hashlib.sha256()
        self.blob_size = 0

    # the compressor writes here
    def write(self, b) -> int:
        self._out.write(b)
        self.blob.update(b)
        self.blob_size += len(b)
        return len(b)

    def tar_write(self, b) -> None:
        self.diff.update(b)
        self.size += len(b)
        self._z.write(b)

    def close(self) -> None:
        self._z.flush(__import__("zstandard").FLUSH_FRAME)


def make_big_image(layout: Path, gb: float) -> dict:
    """An OCI layout (tag "latest") of one zstd layer of ``gb`` GB of generated files; made once
    (a stamp in ``layout`` says for what size)."""
    stamp = layout / "done.json"
    want = {"gb": gb, "version": 1}
    if stamp.is_file() and json.loads(stamp.read_text()).get("want") == want:
        return json.loads(stamp.read_text())
    sb.rmtree(layout)
    t0 = time.perf_counter()
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    block = random.Random(10).randbytes(BLOCK)
    total = int(gb * 1_000_000_000)
    tmp = layout / "layer.tmp"
    nfiles = 0
    with open(tmp, "wb") as out:
        sink = _Sink(out)
        dirs = set()
        for path, size in _files(total):
            parent = os.path.dirname(path)
            parts = parent.split("/")
            for k in range(1, len(parts) + 1):
                d = "/".join(parts[:k])
                if d not in dirs:
                    dirs.add(d)
                    ti = tarfile.TarInfo(d)
                    ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                    sink.tar_write(ti.tobuf(tarfile.GNU_FORMAT))
            ti = tarfile.TarInfo(path)
            ti.size, ti.mode = size, 0o644
            sink.tar_write(ti.tobuf(tarfile.GNU_FORMAT))
            head = f"file {nfiles}\n".encode()[:size]
            sink.tar_write(head)
            left, off = size - len(head), (nfiles * 7919) % BLOCK
            while left:
                n = min(left, BLOCK - off)
                sink.tar_write(block[off:off + n])
                left -= n
                off = 0
            if size % 512:
                sink.tar_write(b"\0" * (512 - size % 512))
            nfiles += 1
        sink.tar_write(b"\0" * 1024)
        sink.close()
    digest = sink.blob.hexdigest()
    tmp.rename(blobs / digest)

    def blob(obj: dict) -> dict:
        data = json.dumps(obj).encode()
        dig = hashlib.sha256(data).hexdigest()
        (blobs / dig).write_bytes(data)
        return {"digest": "sha256:" + dig, "size": len(data)}

    config = blob({"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
                   "config": {"Labels": {"containers.bootc": "1"}},
                   "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sink.diff.hexdigest()]}})
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd",
                            "digest": "sha256:" + digest, "size": sink.blob_size}]}
    m = blob(manifest)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": manifest["mediaType"], **m, "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}))
    info = {"want": want, "files": nfiles, "tar_bytes": sink.size, "blob_bytes": sink.blob_size}
    stamp.write_text(json.dumps(info))
    sb.log(f"made the {gb} GB image ({nfiles} files, {sink.size / 1e9:.2f} GB of tar, "
           f"{sink.blob_size / 1e6:.1f} MB of blob) in {time.perf_counter() - t0:.1f} s")
    return info


def disk_gb_needed(gb: float) -> float:
    """What one run holds at its peak: one repository of the image (objects round up to 4 KB
    blocks) and a little for the blobs and the registry."""
    return gb * 1.1 + 1


def fit_to_disk(where: Path, gb: float) -> float:
    """``gb``, or the largest size the free space under ``where`` holds (with 5 GB spare)."""
    st = os.statvfs(where)
    free = st.f_bavail * st.f_frsize / 1e9 - 5
    if disk_gb_needed(gb) <= free:
        return gb
    return max(0.1, round((free - 1) / 1.1, 1))


class Registry:
    """A docker-registry on 127.0.0.1 (a free port), its storage under ``root``."""

    def __init__(self, root: Path) -> None:
        if not shutil.which("docker-registry"):
            raise SystemExit("image-10g needs docker-registry (apt-get install docker-registry)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        root.mkdir(parents=True, exist_ok=True)
        cfg = root / "registry.yml"
        cfg.write_text(json.dumps({"version": 0.1, "log": {"level": "error", "accesslog": {"disabled": True}},
                                   "storage": {"filesystem": {"rootdirectory": str(root / "data")}},
                                   "http": {"addr": f"127.0.0.1:{self.port}"}}))
        self.log = open(root / "registry.log", "wb")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(cfg)], stdout=self.log, stderr=self.log)
        for _ in range(400):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("docker-registry did not start")

    def push(self, ociclient: list, layout: Path, name: str) -> str:
        ref = f"127.0.0.1:{self.port}/bench/{name}:latest"
        sb.run_checked(ociclient + ["copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:latest", f"docker://{ref}"])
        return ref

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
