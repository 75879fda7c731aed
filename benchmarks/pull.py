#!/usr/bin/env python3
"""Pull benchmark: ociclient vs ``skopeo copy`` from a local registry into an OCI layout.

Builds a multi-layer image of about 250 MB of blobs (gzip and zstd layers of random-ish but
compressible data), pushes it to a docker-registry started on 127.0.0.1 (a free port, files
in a temporary directory), then pulls it into a fresh OCI layout with ``ociclient copy`` and
with ``skopeo copy``, alternating, and prints wall time and peak RSS (``wait4`` rusage of the
child process) per run, the medians and the ratio.

    python benchmarks/pull.py [--rounds 3] [--size-mb 250] [--keep]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from typing import Dict, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _HashingWriter(io.RawIOBase):
    def __init__(self, f) -> None:
        self.f = f
        self.h = hashlib.sha256()
        self.n = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.f.write(b)
        self.h.update(b)
        self.n += len(b)
        return len(b)


def _layer_data(seed: int, size: int):
    """Yield ``size`` bytes: half random, half repetitive text (compresses to roughly 55%)."""
    rnd = hashlib.sha256(str(seed).encode()).digest()
    block = 1 << 16
    done = 0
    text = (b"the quick brown fox %d jumps over the lazy dog\n" % seed) * 800
    while done < size:
        n = min(block, size - done)
        half = n // 2
        r = os.urandom(half) if seed >= 0 else rnd * (half // 32)
        yield (r + text[: n - half])[:n]
        done += n


def write_layer(blobdir: str, seed: int, size: int, compression: str) -> Tuple[Dict, str]:
    tmp = os.path.join(blobdir, f".tmp-{seed}")
    diff = hashlib.sha256()
    with open(tmp, "wb") as f:
        hw = _HashingWriter(f)
        if compression == "gzip":
            comp = gzip.GzipFile(fileobj=hw, mode="wb", compresslevel=1, mtime=0)
            close = comp.close
            write = comp.write
        else:
            import zstandard
            comp = zstandard.ZstdCompressor(level=3).stream_writer(hw, closefd=False)
            close = comp.close
            write = comp.write

        class Tee(io.RawIOBase):
            def writable(self):
                return True

            def write(self, b):
                diff.update(b)
                write(b)
                return len(b)

        tee = io.BufferedWriter(Tee(), 1 << 20)
        with tarfile.open(fileobj=tee, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            per_file = 16 << 20
            left, i = size, 0
            while left > 0:
                n = min(per_file, left)
                ti = tarfile.TarInfo(f"layer{seed}/file{i}")
                ti.size, ti.mode, ti.mtime = n, 0o644, 1700000000

                class Src(io.RawIOBase):
                    def __init__(self, gen):
                        self.gen, self.buf = gen, b""

                    def readable(self):
                        return True

                    def readinto(self, b):
                        while len(self.buf) < len(b):
                            try:
                                self.buf += next(self.gen)
                            except StopIteration:
                                break
                        k = min(len(b), len(self.buf))
                        b[:k] = self.buf[:k]
                        self.buf = self.buf[k:]
                        return k

                tf.addfile(ti, io.BufferedReader(Src(_layer_data(seed * 1000 + i, n))))
                left -= n
                i += 1
        tee.flush()
        close()
    digest = "sha256:" + hw.h.hexdigest()
    os.replace(tmp, os.path.join(blobdir, hw.h.hexdigest()))
    media = ("application/vnd.oci.image.layer.v1.tar+gzip" if compression == "gzip"
             else "application/vnd.oci.image.layer.v1.tar+zstd")
    return {"mediaType": media, "digest": digest, "size": hw.n}, "sha256:" + diff.hexdigest()


def build_image(layout: str, total_mb: int) -> str:
    blobdir = os.path.join(layout, "blobs", "sha256")
    os.makedirs(blobdir)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    nlayers = 6
    # compressed size is about 55% of the tar; aim for total_mb of blobs
    per_layer = int(total_mb * 1_000_000 / nlayers / 0.52)
    layers, diff_ids = [], []
    for i in range(nlayers):
        desc, diff = write_layer(blobdir, i + 1, per_layer, "gzip" if i % 2 == 0 else "zstd")
        layers.append(desc)
        diff_ids.append(diff)
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids},
                      "config": {"Cmd": ["/bin/sh"]}}).encode()
    ch = hashlib.sha256(cfg).hexdigest()
    with open(os.path.join(blobdir, ch), "wb") as f:
        f.write(cfg)
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                 "digest": "sha256:" + ch, "size": len(cfg)},
                      "layers": layers}).encode()
    mh = hashlib.sha256(man).hexdigest()
    with open(os.path.join(blobdir, mh), "wb") as f:
        f.write(man)
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + mh,
            "size": len(man), "annotations": {"org.opencontainers.image.ref.name": "bench"}}]}, f)
    return "sha256:" + mh


def measure(cmd: List[str], env=None) -> Tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of a child process."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode(errors="replace") if p.stderr else ""
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {err}")
    return wall, ru.ru_maxrss / 1024.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--size-mb", type=int, default=250)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    for tool in ("skopeo", "docker-registry"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed")
    work = tempfile.mkdtemp(prefix="ociclient-bench-")
    reg = None
    try:
        port = free_port()
        cfg = os.path.join(work, "registry.yml")
        with open(cfg, "w") as f:
            json.dump({"version": 0.1, "log": {"level": "error", "accesslog": {"disabled": True}},
                       "storage": {"filesystem": {"rootdirectory": os.path.join(work, "data")}},
                       "http": {"addr": f"127.0.0.1:{port}"}}, f)
        log = open(os.path.join(work, "registry.log"), "wb")
        reg = subprocess.Popen(["docker-registry", "serve", cfg], stdout=log, stderr=log)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        t0 = time.monotonic()
        layout = os.path.join(work, "src")
        digest = build_image(layout, args.size_mb)
        blob_mb = sum(os.path.getsize(os.path.join(layout, "blobs/sha256", n))
                      for n in os.listdir(os.path.join(layout, "blobs/sha256"))) / 2**20
        print(f"built image {digest} ({blob_mb:.0f} MiB of blobs, 6 layers gzip+zstd) in "
              f"{time.monotonic() - t0:.1f}s", flush=True)
        ref = f"docker://127.0.0.1:{port}/bench/img:latest"
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        py = sys.executable
        t, _ = measure([py, "-m", "ociclient.cli", "copy", "-q", "--dest-tls-verify=false",
                        f"oci:{layout}:bench", ref], env)
        print(f"pushed with ociclient in {t:.1f}s", flush=True)
        results: Dict[str, List[Tuple[float, float]]] = {"ociclient": [], "skopeo": []}
        rows = []
        for r in range(args.rounds):
            for tool in (("ociclient", "skopeo") if r % 2 == 0 else ("skopeo", "ociclient")):
                out = os.path.join(work, f"out-{tool}")
                shutil.rmtree(out, ignore_errors=True)
                if tool == "ociclient":
                    cmd = [py, "-m", "ociclient.cli", "copy", "-q", "--src-tls-verify=false", ref, f"oci:{out}:x"]
                else:
                    cmd = ["skopeo", "--insecure-policy", "copy", "-q", "--src-tls-verify=false", ref, f"oci:{out}:x"]
                wall, rss = measure(cmd, env)
                idx = json.load(open(os.path.join(out, "index.json")))
                assert idx["manifests"][0]["digest"] == digest, "digest changed"
                results[tool].append((wall, rss))
                rows.append((r + 1, tool, wall, rss))
                print(f"round {r + 1} {tool:9s} {wall:6.2f} s {rss:7.1f} MiB", flush=True)
        print()
        print("| tool | runs | median wall (s) | min wall (s) | peak RSS (MiB) |")
        print("|---|---|---|---|---|")
        med = {}
        for tool, vals in results.items():
            walls = [v[0] for v in vals]
            med[tool] = statistics.median(walls)
            print(f"| {tool} | {len(vals)} | {med[tool]:.2f} | {min(walls):.2f} | {max(v[1] for v in vals):.1f} |")
        print(f"| ratio ociclient/skopeo | | {med['ociclient'] / med['skopeo']:.2f}x | | |")
        return 0
    finally:
        if reg is not None:
            reg.send_signal(signal.SIGTERM)
            try:
                reg.wait(10)
            except subprocess.TimeoutExpired:
                reg.kill()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
