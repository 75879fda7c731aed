"""``ostreepy image build``: bootc-image-builder's job, a thin skin over
:func:`ostreepy.install.image.build_image`. A plain image name or an
``oci:``/``oci-archive:``/``docker://`` reference is taken as unverified, as
bootc-image-builder does with the image it is given; a full ostree image
reference (``ostree-unverified-registry:...``) is used as is. On a terminal a
one-line progress display follows the stages.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..progress import ImageBuildBytes, ImageBuildStage, ProgressEvent

__all__ = ["register"]


def register(sub) -> None:
    p = sub.add_parser("image", help="Build disk images from bootable container images")
    isub = p.add_subparsers(dest="image_command", metavar="COMMAND")
    q = isub.add_parser("build", help="Build a bootable disk image (raw or qcow2) without root or mounts")
    q.add_argument("--type", dest="image_type", choices=("raw", "qcow2"), default="raw")
    q.add_argument("--rootfs", default="ext4", help="Root filesystem type (ext4)")
    q.add_argument("--size", help="Disk size (e.g. 10G); default: what the image needs, at least 2 GiB root")
    q.add_argument("--config", help="bootc-image-builder config.toml (users, SSH keys, filesystem sizes)")
    q.add_argument("--stateroot", default="default")
    q.add_argument("--karg", action="append", default=[], help="Add a kernel argument")
    q.add_argument("--bootloader", choices=("grub", "systemd"), default="grub",
                   help="UEFI bootloader: GRUB (also BIOS when the image ships i386-pc) or systemd-boot")
    q.add_argument("imgref", metavar="IMGREF")
    q.add_argument("outdir", metavar="OUTDIR")
    q.set_defaults(func=cmd_build)


def ostree_imgref(text: str) -> str:
    if text.startswith("ostree-"):
        return text
    if text.startswith(("oci:", "oci-archive:", "containers-storage:", "dir:", "docker-archive:")):
        return f"ostree-unverified-image:{text}"
    if text.startswith("docker://"):
        return f"ostree-unverified-registry:{text[len('docker://'):]}"
    return f"ostree-unverified-registry:{text}"


def cmd_build(args: argparse.Namespace) -> int:
    from ..install.config import load_config, parse_size
    from ..install.image import build_image
    tty = sys.stderr.isatty()

    def show(ev: ProgressEvent) -> None:
        if isinstance(ev, ImageBuildStage):
            line = f"[{ev.index + 1}/{ev.total}] {ev.stage}"
            sys.stderr.write(("\r\x1b[K" + line) if tty else line + "\n")
        elif tty and isinstance(ev, ImageBuildBytes) and ev.total:
            sys.stderr.write(f"\r\x1b[K      {ev.partition}: {100 * ev.done // ev.total}%")
        sys.stderr.flush()

    res = build_image(ostree_imgref(args.imgref), Path(args.outdir), image_type=args.image_type,
                      size=parse_size(args.size) if args.size else None, rootfs=args.rootfs,
                      config=load_config(Path(args.config)) if args.config else None,
                      stateroot=args.stateroot, kargs=args.karg, bootloader=args.bootloader,
                      progress=show)
    if tty:
        sys.stderr.write("\r\x1b[K")
    print(f"Wrote {res.path} ({res.format}, {res.disk_size // (1024 * 1024)} MiB)")
    print(f"Deployment: {res.stateroot}/{res.deployment}")
    print(f"Root filesystem UUID: {res.root_uuid}")
    print(f"Kernel arguments: {res.kargs}")
    print(f"Bootloader: {res.bootloader} (UEFI{', BIOS' if res.bios else ''})")
    return 0
