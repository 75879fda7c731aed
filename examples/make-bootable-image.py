#!/usr/bin/env python3
"""Write ``examples/bootable-image/``: a tiny bootable image as an OCI image
layout, tags ``v1`` and ``v2``.

It is a plain (not ostree-encapsulated) image, as ``podman build`` makes
from a bootc Containerfile: gzip layers, label ``containers.bootc=1``, the
kernel and initramfs (text stand-ins) under ``usr/lib/modules/<kver>/``,
config in ``/etc`` (the importer moves it to ``/usr/etc``), and a bootc
``kargs.d`` file. Three layers per version: ``base`` and ``app`` are the
same blobs in both, ``release`` changes (os-release, a config edit, a new
file, one more karg), so an upgrade fetches one layer.

Everything is fixed (mtimes, owners, entry order, gzip header mtime 0, JSON
key order), so running this again rewrites the same bytes with the same
zlib. Usage: ``python3 examples/make-bootable-image.py [OUTDIR]``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
from typing import Dict, List, Optional, Tuple

KVER = "6.1.0-example"
EPOCH = 1704067200  # 2024-01-01T00:00:00Z: mtime of every entry

# (path, kind, mode, content or link target); kind d=dir f=file l=symlink
Entry = Tuple[str, str, int, str]


def d(path: str, mode: int = 0o755) -> Entry:
    return (path, "d", mode, "")


def f(path: str, text: str, mode: int = 0o644) -> Entry:
    return (path, "f", mode, text)


def ln(path: str, target: str) -> Entry:
    return (path, "l", 0o777, target)


BASE: List[Entry] = [
    d("boot"), d("dev"), d("etc"), d("proc"), d("run"), d("sys"), d("sysroot"),
    d("tmp", 0o1777), d("usr"), d("usr/bin"), d("usr/lib"), d("usr/lib/modules"),
    d(f"usr/lib/modules/{KVER}"), d("usr/share"), d("var"),
    ln("bin", "usr/bin"), ln("lib", "usr/lib"), ln("ostree", "sysroot/ostree"),
    # stand-ins: deploy copies them to /boot and points the entry at them
    f(f"usr/lib/modules/{KVER}/vmlinuz", "Example kernel stand-in (not bootable)\n" * 8),
    f(f"usr/lib/modules/{KVER}/initramfs.img", "Example initramfs stand-in (not bootable)\n" * 8),
    f("usr/bin/sh", "#!/bin/false\n# stand-in shell\n", 0o755),
    f("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
    f("etc/group", "root:x:0:\n"),
    f("etc/hostname", "example\n"),
]

APP: List[Entry] = [
    d("usr/lib/systemd"), d("usr/lib/systemd/system"), d("usr/share/example-app"),
    f("usr/bin/example-app", "#!/bin/sh\n. /etc/example-app.conf\necho \"$greeting from example-app\"\n", 0o755),
    f("usr/lib/systemd/system/example-app.service",
      "[Unit]\nDescription=Example app\n\n[Service]\nExecStart=/usr/bin/example-app\n\n"
      "[Install]\nWantedBy=multi-user.target\n"),
    f("usr/share/example-app/README", "The example app of the ostreepy bootable example image.\n"),
]


def release(version: int) -> List[Entry]:
    os_release = (f'NAME="Example OS"\nID=example\nVERSION_ID={version}\nVERSION="{version}"\n'
                  f'PRETTY_NAME="Example OS {version}"\n')
    kargs = ['"console=ttyS0,115200"'] + (['"example.debug=1"'] if version >= 2 else [])
    out = [
        d("etc"), d("usr"), d("usr/lib"), d("usr/lib/bootc"), d("usr/lib/bootc/kargs.d"),
        f("usr/lib/os-release", os_release),
        ln("etc/os-release", "../usr/lib/os-release"),
        f("etc/example-app.conf", "greeting=hello\ncolor=%s\n" % ("blue" if version == 1 else "green")),
        f("usr/lib/bootc/kargs.d/10-example.toml",
          f"# kernel arguments of the example image (bootc kargs.d)\nkargs = [{', '.join(kargs)}]\n"),
    ]
    if version >= 2:
        out += [d("etc/example-app.d"), f("etc/example-app.d/extra.conf", "log=verbose\n"),
                d("usr/share"), d("usr/share/example-app"),
                f("usr/share/example-app/NEWS", "2: greener, and more verbose logging\n")]
    return out


def tar_layer(entries: List[Entry]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        # parents first: sort by path components
        for path, kind, mode, data in sorted(entries, key=lambda e: e[0].split("/")):
            ti = tarfile.TarInfo(path)
            ti.mtime, ti.mode, ti.uid, ti.gid, ti.uname, ti.gname = EPOCH, mode, 0, 0, "", ""
            if kind == "d":
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
            elif kind == "l":
                ti.type, ti.linkname = tarfile.SYMTYPE, data
                tf.addfile(ti)
            else:
                raw = data.encode()
                ti.size = len(raw)
                tf.addfile(ti, io.BytesIO(raw))
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return buf.getvalue()


def canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Layout:
    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(os.path.join(root, "blobs/sha256"), exist_ok=True)

    def blob(self, data: bytes) -> str:
        digest = sha256(data)
        with open(os.path.join(self.root, "blobs/sha256", digest[7:]), "wb") as out:
            out.write(data)
        return digest


def image(lay: Layout, version: int, created: str) -> Dict[str, object]:
    """Write the blobs of one version; returns the manifest descriptor."""
    layers, diff_ids, history = [], [], []
    for name, entries in (("base", BASE), ("app", APP), (f"release {version}", release(version))):
        raw = tar_layer(entries)
        gz = gzip_bytes(raw)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                       "digest": lay.blob(gz), "size": len(gz)})
        diff_ids.append(sha256(raw))
        history.append({"created": created, "created_by": f"make-bootable-image.py: {name} layer"})
    labels = {
        "containers.bootc": "1",
        "org.opencontainers.image.title": "Example OS",
        "org.opencontainers.image.version": str(version),
        "org.opencontainers.image.created": created,
        "org.opencontainers.image.description": "ostreepy's bootable example image",
    }
    config = {
        "architecture": "amd64", "os": "linux", "created": created,
        "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["/usr/bin/sh"], "Labels": labels},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }
    cfg = canonical(config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": lay.blob(cfg), "size": len(cfg)},
        "layers": layers,
        "annotations": {"org.opencontainers.image.version": str(version),
                        "org.opencontainers.image.created": created},
    }
    man = canonical(manifest)
    return {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": lay.blob(man),
            "size": len(man), "annotations": {"org.opencontainers.image.ref.name": f"v{version}"}}


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = argv[0] if argv else os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootable-image")
    if os.path.exists(out):
        shutil.rmtree(out)
    lay = Layout(out)
    manifests = [image(lay, 1, "2024-01-01T00:00:00Z"), image(lay, 2, "2024-02-01T00:00:00Z")]
    with open(os.path.join(out, "oci-layout"), "wb") as fo:
        fo.write(canonical({"imageLayoutVersion": "1.0.0"}))
    with open(os.path.join(out, "index.json"), "wb") as fo:
        fo.write(canonical({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                            "manifests": manifests}))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
