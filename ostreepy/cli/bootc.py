"""``ostreepy bootc`` (status, upgrade, switch, rollback) and ostree-ext's
``ostreepy container image deploy``: argument parsing over :mod:`ostreepy.bootc`.

Every verb takes ``--sysroot`` (default ``/``) and ``--booted-cmdline``: the
kernel command line of the "running" system. Without it, the default
deployment of a folder sysroot counts as booted.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Optional

from ..errors import OstreeError

if TYPE_CHECKING:
    from ..install.tofs import InstallResult

__all__ = ["register", "add_image_deploy_parser"]


class BootcUsageError(OstreeError):
    pass


def _sysroot_path(args: argparse.Namespace) -> str:
    from ..sysroot.paths import default_sysroot_path
    return default_sysroot_path(getattr(args, "sysroot", None))


def _open(args: argparse.Namespace):  # noqa: ANN202
    from ..porcelain import BOOTED_DEFAULT, open_sysroot
    cmdline = getattr(args, "booted_cmdline", None)
    # a folder sysroot has no running root: its default entry stands for it (the /
    # of a real system is found by stat in Sysroot)
    return open_sysroot(_sysroot_path(args), booted=cmdline if cmdline is not None else BOOTED_DEFAULT)


def _console(args: argparse.Namespace):  # noqa: ANN202
    from .. import bootc
    fd: Optional[int] = getattr(args, "progress_fd", None)
    return bootc.Console(jsonl=bootc.JsonlWriter(fd) if fd is not None else None,
                         tty=sys.stderr.isatty(), quiet=getattr(args, "quiet", False))


def _common(p: argparse.ArgumentParser, *, stateroot: bool = False, progress: bool = False) -> None:
    p.add_argument("--sysroot", metavar="PATH", default=None,
                   help="Path to the system root (default: $OSTREE_SYSROOT, else /)")
    p.add_argument("--booted-cmdline", metavar="CMDLINE", default=None,
                   help="Kernel command line of the running system; its ostree= names the booted "
                        "deployment (default: the default deployment counts as booted)")
    if stateroot:
        p.add_argument("--stateroot", metavar="NAME", default=None,
                       help="Stateroot (default: the booted one)")
    if progress:
        p.add_argument("--progress-fd", metavar="FD", type=int, default=None,
                       help="Write progress as JSON Lines (bootc progress-v0) to this file descriptor")
        p.add_argument("--quiet", action="store_true", help="Don't display progress")


# ---------------------------------------------------------------------- bootc verbs


def cmd_status(args: argparse.Namespace) -> int:
    from .. import bootc  # imported when used: `ostreepy` starts without it
    if args.format_version not in (None, 0, 1):
        raise BootcUsageError(f"Unsupported format version: {args.format_version}")
    fmt = args.format or ("json" if args.json else ("humanreadable" if sys.stdout.isatty() else "yaml"))
    with _open(args) as sr:
        host = bootc.host_status(sr, booted_only=args.booted)
    if fmt == "json":
        sys.stdout.write(bootc.to_canonical_json(host))
    elif fmt == "yaml":
        sys.stdout.write(bootc.to_yaml(host))
    else:
        sys.stdout.write(bootc.human_readable(host, verbose=args.verbose))
    sys.stdout.flush()
    return 0


def _check_stateroot(sr, args: argparse.Namespace) -> None:  # noqa: ANN001
    want = getattr(args, "stateroot", None)
    if want is not None and sr.booted is not None and sr.booted.osname != want:
        raise BootcUsageError(f"The booted deployment is in stateroot '{sr.booted.osname}', not '{want}'")


def cmd_upgrade(args: argparse.Namespace) -> int:
    from .. import bootc
    if args.check and (args.apply or args.download_only or args.from_downloaded):
        raise BootcUsageError("--check cannot be combined with --apply, --download-only or --from-downloaded")
    if args.download_only and (args.apply or args.from_downloaded):
        raise BootcUsageError("--download-only cannot be combined with --apply or --from-downloaded")
    console = _console(args)
    try:
        with _open(args) as sr:
            _check_stateroot(sr, args)
            bootc.upgrade(sr, console, check=args.check, download_only=args.download_only,
                          from_downloaded=args.from_downloaded, apply=args.apply, dry_run=args.dry_run)
            return 0
    finally:
        if console.jsonl is not None:
            console.jsonl.close()


def cmd_switch(args: argparse.Namespace) -> int:
    from .. import bootc
    target = bootc.imgref_for_switch(args.target, args.transport)
    if args.enforce_container_sigpolicy:
        # bootc's sigpolicy_from_opts: the containers policy applies to this pull and,
        # kept in the spec as signature: containerPolicy, to every later upgrade
        from ..container.imgref import OstreeImageReference, SigVerify
        target = OstreeImageReference(SigVerify.CONTAINER_POLICY, target.imgref)
    console = _console(args)
    try:
        with _open(args) as sr:
            _check_stateroot(sr, args)
            bootc.switch(sr, console, target, apply=args.apply, retain=args.retain, dry_run=args.dry_run)
            return 0
    finally:
        if console.jsonl is not None:
            console.jsonl.close()


def cmd_rollback(args: argparse.Namespace) -> int:
    from .. import bootc
    with _open(args) as sr:
        _check_stateroot(sr, args)
        bootc.rollback(sr, bootc.Console())
        return 0


def register(subparsers: "argparse._SubParsersAction") -> None:
    top = subparsers.add_parser("bootc", help="Deploy and update a host from bootable container images")
    sub = top.add_subparsers(dest="bootc_command", metavar="COMMAND")

    p = sub.add_parser("status", help="Display status (bootc's host schema)")
    _common(p)
    p.add_argument("--format", choices=["humanreadable", "yaml", "json"], default=None,
                   help="Output format (default: humanreadable on a terminal, else yaml)")
    p.add_argument("--format-version", type=int, default=None)
    p.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--booted", action="store_true", help="Only display status for the booted deployment")
    p.add_argument("-v", "--verbose", action="store_true", help="Include additional fields in human readable format")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("upgrade", help="Download and queue an updated container image")
    _common(p, stateroot=True, progress=True)
    p.add_argument("--check", action="store_true",
                   help="Check for an update (manifest and config only); change nothing")
    p.add_argument("--apply", action="store_true",
                   help="Apply the update now (a folder sysroot: finalize the staged deployment)")
    p.add_argument("--download-only", action="store_true",
                   help="Download the update without queueing it")
    p.add_argument("--from-downloaded", action="store_true",
                   help="Queue the update a previous --download-only fetched, without fetching")
    p.add_argument("--dry-run", action="store_true",
                   help="Fetch, print what the /etc merge will keep, drop and conflict on, then stop")
    p.set_defaults(func=cmd_upgrade)

    p = sub.add_parser("switch", help="Target a new container image reference to boot")
    _common(p, stateroot=True, progress=True)
    p.add_argument("--transport", default="registry",
                   help="The transport: registry, oci, oci-archive, containers-storage, dir (default: registry)")
    p.add_argument("--apply", action="store_true",
                   help="Apply now (a folder sysroot: finalize the staged deployment)")
    p.add_argument("--retain", action="store_true", help="Retain reference to currently booted image")
    p.add_argument("--dry-run", action="store_true",
                   help="Fetch, print what the /etc merge will keep, drop and conflict on, then stop")
    p.add_argument("--enforce-container-sigpolicy", action="store_true",
                   help="Enforce that /etc/containers/policy.json includes a default policy which requires signatures")
    p.add_argument("target", metavar="IMGREF", help="Target image, e.g. quay.io/example/os:latest")
    p.set_defaults(func=cmd_switch)

    p = sub.add_parser("rollback", help="Change the bootloader entry ordering (swap to the rollback)")
    _common(p, stateroot=True)
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("install", help="Install to a target filesystem")
    isub = p.add_subparsers(dest="install_command", metavar="COMMAND")
    q = isub.add_parser("to-filesystem", help="Install to a mounted (or folder) root filesystem")
    q.add_argument("--source-imgref", required=True, help="Image to install (an ostree image reference or oci:...)")
    q.add_argument("--target-imgref", help="Image reference written to the origin for later upgrades")
    q.add_argument("--stateroot", default="default")
    q.add_argument("--karg", action="append", default=[])
    q.add_argument("--root-mount-spec")
    q.add_argument("--boot-mount-spec")
    q.add_argument("--root-ssh-authorized-keys")
    q.add_argument("--replace", choices=("wipe", "alongside"))
    q.add_argument("--skip-fetch-check", action="store_true")
    q.add_argument("--generic-image", action="store_true",
                   help="Install for any firmware (EFI and BIOS) and leave the host's firmware boot entries alone")
    q.add_argument("--bootloader", choices=("grub", "systemd", "none"),
                   help="The bootloader to use (default: the image's install config, else grub)")
    q.add_argument("target", metavar="TARGET")
    q.set_defaults(func=cmd_install_to_filesystem)
    q = isub.add_parser("to-disk", help="Partition a disk (or an image file) and install to it")
    q.add_argument("--source-imgref", required=True)
    q.add_argument("--target-imgref")
    q.add_argument("--stateroot", default="default")
    q.add_argument("--karg", action="append", default=[])
    q.add_argument("--root-ssh-authorized-keys")
    q.add_argument("--via-loopback", action="store_true")
    q.add_argument("--wipe", action="store_true")
    q.add_argument("--filesystem", default="ext4")
    q.add_argument("--root-size")
    q.add_argument("--size", help="Size of the image file to create (with --via-loopback)")
    q.add_argument("--bootloader", default="grub", choices=("grub", "systemd", "none"))
    q.add_argument("--skip-fetch-check", action="store_true")
    q.add_argument("--generic-image", action="store_true",
                   help="Install for any firmware (EFI and BIOS) and leave the host's firmware boot entries alone")
    q.add_argument("device", metavar="DEVICE_OR_FILE")
    q.set_defaults(func=cmd_install_to_disk)


def cmd_install_to_filesystem(args: argparse.Namespace) -> int:
    from pathlib import Path
    from ..install.tofs import install_to_filesystem
    from .image import ostree_imgref
    res = install_to_filesystem(Path(args.target), ostree_imgref(args.source_imgref),
                                target_imgref=ostree_imgref(args.target_imgref) if args.target_imgref else None,
                                stateroot=args.stateroot, kargs=args.karg, root_mount_spec=args.root_mount_spec,
                                boot_mount_spec=args.boot_mount_spec,
                                root_ssh_authorized_keys=(Path(args.root_ssh_authorized_keys)
                                                          if args.root_ssh_authorized_keys else None),
                                replace=args.replace, bootloader=args.bootloader,
                                generic_image=args.generic_image)
    print(f"Bootloader: {res.bootloader}")
    _print_install(res)
    return 0


def cmd_install_to_disk(args: argparse.Namespace) -> int:
    from pathlib import Path
    from ..install.config import parse_size
    from ..install.todisk import install_to_disk
    from .image import ostree_imgref
    res = install_to_disk(Path(args.device), ostree_imgref(args.source_imgref), via_loopback=args.via_loopback,
                          wipe=args.wipe, filesystem=args.filesystem,
                          root_size=parse_size(args.root_size) if args.root_size else None,
                          bootloader=args.bootloader, size=parse_size(args.size) if args.size else None,
                          target_imgref=ostree_imgref(args.target_imgref) if args.target_imgref else None,
                          stateroot=args.stateroot, kargs=args.karg,
                          root_ssh_authorized_keys=(Path(args.root_ssh_authorized_keys)
                                                    if args.root_ssh_authorized_keys else None),
                          generic_image=args.generic_image)
    _print_install(res)
    return 0


def _print_install(res: InstallResult) -> None:
    print(f"Installed: {res.stateroot}/{res.deployment}")
    print(f"Kernel arguments: {res.kargs}")
    if res.bootloader != "none":
        print(f"Bootloader components: {', '.join(res.components) or 'none'}"
              f"{' (generic image)' if res.generic_image else ''}")
    if res.boot_entry is not None:
        print(f"Firmware boot entry: {res.boot_entry}")


# ---------------------------------------------------------------------- container image deploy


def cmd_image_deploy(args: argparse.Namespace) -> int:
    from .. import bootc
    from ..container.imgref import ImageReference, OstreeImageReference, SigVerify, Transport
    from ..porcelain import open_sysroot
    if args.imgref is None and args.image is None:
        raise BootcUsageError("Must specify either --imgref or --image")
    if args.imgref is not None and args.image is not None:
        raise BootcUsageError("--imgref conflicts with --image")
    if args.image is not None:
        oref = OstreeImageReference(SigVerify.INSECURE,
                                    ImageReference(Transport.parse(args.transport or "registry"), args.image))
    else:
        oref = OstreeImageReference.parse(args.imgref)
    target = OstreeImageReference.parse(args.target_imgref) if args.target_imgref else None
    console = _console(args)
    try:
        # booted only when a command line names a deployment (or on / itself)
        with open_sysroot(_sysroot_path(args), booted=args.booted_cmdline) as sr:
            stateroot = args.stateroot or (sr.booted.osname if sr.booted is not None else "default")
            res = bootc.deploy_image(sr, stateroot, oref, console, target=target, kargs=args.karg or [],
                                     no_imgref=args.no_imgref)
    finally:
        if console.jsonl is not None:
            console.jsonl.close()
    if args.write_commitid_to:
        with open(args.write_commitid_to, "w", encoding="utf-8") as f:
            assert res.image is not None
            f.write(res.image.merge_commit)
    return 0


def add_image_deploy_parser(image_subparsers: "argparse._SubParsersAction") -> argparse.ArgumentParser:
    """``container image deploy`` (ostree-ext's flags); the caller owns the
    ``container image`` parser."""
    p = image_subparsers.add_parser("deploy", help="Deploy a container image into a sysroot")
    p.add_argument("--sysroot", metavar="PATH", default=None,
                   help="Path to the system root (default: $OSTREE_SYSROOT, else /)")
    p.add_argument("--stateroot", metavar="NAME", default=None,
                   help="Stateroot (default: the booted one, else 'default')")
    p.add_argument("--imgref", metavar="IMGREF", default=None,
                   help="Source image reference, e.g. ostree-unverified-image:oci:/path:tag")
    p.add_argument("--image", metavar="NAME", default=None, help="Image name (with --transport)")
    p.add_argument("--transport", default=None, help="Transport of --image (default: registry)")
    p.add_argument("--no-signature-verification", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--target-imgref", metavar="IMGREF", default=None,
                   help="Reference written to the origin, for later upgrades")
    p.add_argument("--no-imgref", action="store_true", help="Do not write the image reference")
    p.add_argument("--karg", action="append", metavar="KARG", help="Add a kernel argument")
    p.add_argument("--write-commitid-to", metavar="PATH", default=None,
                   help="Write the deployed checksum to this file")
    p.add_argument("--booted-cmdline", metavar="CMDLINE", default=None,
                   help="Kernel command line naming a booted deployment (then the deploy is staged)")
    p.add_argument("--progress-fd", metavar="FD", type=int, default=None,
                   help="Write progress as JSON Lines (bootc progress-v0) to this file descriptor")
    p.set_defaults(func=cmd_image_deploy, quiet=False)
    return p
