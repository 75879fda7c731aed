"""``ostreepy composefs``: the composefs tools under one command, with their flags.

``create`` is ``mkcomposefs`` (a directory or, with ``--from-file``, a dump
file in; an image out), ``info`` is ``composefs-info`` (``ls``, ``dump``,
``objects``, ``missing-objects``, ``measure-file``), ``digest`` prints the
fs-verity digest of files as ``fsverity digest`` does. A thin skin over
:mod:`ostreepy.composefs`.
"""

from __future__ import annotations

import os
import sys

from ..composefs.tree import ComposefsError
from .run import a_path, plain_args

TYPE_CHECKING = False  # neither typing nor argparse is imported at run time for annotations only
if TYPE_CHECKING:
    import argparse
    from typing import Any

__all__ = ["register"]


def register(sub) -> None:
    p = sub.add_parser("composefs", help="Create and inspect composefs images")
    csub = p.add_subparsers(dest="composefs_command", metavar="COMMAND")

    q = csub.add_parser("create", help="Build a composefs image (mkcomposefs)")
    q.add_argument("--from-file", action="store_true", help="The source is a dump file, not a directory")
    q.add_argument("--min-version", type=int, default=None)
    q.add_argument("--max-version", type=int, default=None)
    q.add_argument("--print-digest", action="store_true")
    q.add_argument("--print-digest-only", action="store_true")
    q.add_argument("--use-epoch", action="store_true")
    q.add_argument("--skip-devices", action="store_true")
    q.add_argument("--skip-xattrs", action="store_true")
    q.add_argument("--user-xattrs", action="store_true")
    q.add_argument("--digest-store", metavar="PATH")
    q.add_argument("source")
    q.add_argument("image", nargs="?")
    q.set_defaults(func=cmd_create)

    q = csub.add_parser("info", help="Inspect composefs images (composefs-info)")
    q.add_argument("--basedir", help="Directory the backing files live in (for missing-objects)")
    q.add_argument("action", choices=["ls", "dump", "objects", "missing-objects", "measure-file"])
    q.add_argument("paths", nargs="+")
    q.set_defaults(func=cmd_info)

    q = csub.add_parser("fsck", help="Check the .ostree.cfs of every deployment of a sysroot")
    q.add_argument("--sysroot", default="/")
    q.set_defaults(func=cmd_fsck)

    q = csub.add_parser("digest", help="Print the fs-verity digest of files")
    q.add_argument("paths", nargs="+")
    q.set_defaults(func=cmd_digest)


_CREATE_FLAGS = ("--from-file", "--print-digest", "--print-digest-only", "--use-epoch", "--skip-devices",
                 "--skip-xattrs", "--user-xattrs")


def _version(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() else None


_CREATE_VALUES = {"--min-version": _version, "--max-version": _version, "--digest-store": a_path}


class _Args:
    """The namespace argparse would give (types.SimpleNamespace without the types module:
    start-up of the small images this path is for)."""

    def __init__(self, **values: object) -> None:
        self.__dict__.update(values)

    if TYPE_CHECKING:   # typed as argparse.Namespace is (its attributes are what the parser made)
        def __getattr__(self, name: str) -> Any: ...


def plain_create_args(argv: list[str], ends_process: bool = False) -> _Args | None:
    """``create``'s arguments (those after ``composefs create``) as :func:`register`'s parser
    reads them, when they are plain: whole option names, versions in digits, one or two
    positionals; ``ends_process``: the process ends when the command returns (main() is the
    program's entry). None for anything else (help, an abbreviation, ``--``, a mistake): argparse
    then reads them, as it reads any command line, and answers as it does."""
    read = plain_args(argv, _CREATE_FLAGS, _CREATE_VALUES)
    if read is None:
        return None
    given, positionals = read
    values: dict[str, object] = {"from_file": False, "min_version": None, "max_version": None,
                                 "print_digest": False, "print_digest_only": False, "use_epoch": False,
                                 "skip_devices": False, "skip_xattrs": False, "user_xattrs": False,
                                 "digest_store": None}
    values.update(given)
    if not 1 <= len(positionals) <= 2:
        return None
    return _Args(command="composefs", composefs_command="create", repo=None, version=None, **values,
                 source=positionals[0], image=positionals[1] if len(positionals) > 1 else None,
                 func=cmd_create, ends_process=ends_process)


def cmd_create(args: argparse.Namespace) -> int:
    import gc

    # The cycle collector stays off from the parse to the last byte written (the library pauses
    # it in each, but re-enabled between them it would walk the whole new tree once); and when
    # the process ends with the command, the tree, whose parent links make cycles, is frozen
    # rather than walked and freed by the interpreter's exit (~4 ms of a 7k-line dump)
    was = gc.isenabled()
    gc.disable()
    try:
        return _create(args)
    finally:
        if getattr(args, "ends_process", False):
            gc.freeze()
        if was:
            gc.enable()


def _create(args: argparse.Namespace) -> int:
    from ..composefs.erofs import write_image

    # as mkcomposefs: naming one bound sets the other to 0 unless named too
    if args.min_version is None and args.max_version is None:
        lo, hi = 0, 1
    else:
        lo, hi = args.min_version or 0, args.max_version or 0
    if args.print_digest_only:
        if args.image:
            raise ComposefsError("Cannot specify destination path with --print-digest-only")
    elif not args.image:
        raise ComposefsError("No destination path specified")
    if args.from_file:
        from ..composefs.dumpfile import parse_dump
        strict = os.environ.get("CFS_PARSE_STRICT") is not None
        if args.source == "-":
            root = parse_dump(sys.stdin.buffer, strict=strict)
        else:
            with open(args.source, "rb") as f:
                root = parse_dump(f, strict=strict)
    else:
        # only here: it loads hashlib, which a dump file in and no digest out do without
        from ..composefs.fromdir import fill_digest_store, tree_from_directory
        root = tree_from_directory(args.source, use_epoch=args.use_epoch, skip_xattrs=args.skip_xattrs,
                                   user_xattrs=args.user_xattrs, skip_devices=args.skip_devices)
        if args.digest_store:
            fill_digest_store(root, args.source, args.digest_store)
    want = args.print_digest or args.print_digest_only   # else not hashed (as mkcomposefs)
    if args.print_digest_only:
        digest = write_image(root, None, min_version=lo, max_version=hi, consume=True, digest=want)
    elif args.image == "-":
        digest = write_image(root, sys.stdout.buffer.write, min_version=lo, max_version=hi, consume=True, digest=want)
        sys.stdout.buffer.flush()
    else:
        tmp = f"{args.image}.tmp-{os.getpid()}"
        try:
            with open(tmp, "wb") as f:
                digest = write_image(root, f.write, min_version=lo, max_version=hi, consume=True, digest=want)
            os.rename(tmp, args.image)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    if want:
        print(digest.hex())
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from ..composefs.dumpfile import dump_lines
    from ..composefs.fsverity import fsverity_digest_of_stream
    from ..composefs.reader import ls_lines, object_paths, read_image

    out = sys.stdout.buffer
    if args.action == "measure-file":
        for path in args.paths:
            with open(path, "rb") as f:
                out.write(fsverity_digest_of_stream(f).hex().encode() + b"\n")
        return 0
    objects: set[bytes] = set()
    for path in args.paths:
        with open(path, "rb") as f:
            root = read_image(f.read())
        if args.action == "ls":
            out.writelines(ls_lines(root))
        elif args.action == "dump":
            out.writelines(dump_lines(root))
        else:
            for obj in object_paths(root):
                if args.action == "missing-objects" and args.basedir and \
                        os.path.lexists(os.path.join(args.basedir, os.fsdecode(obj).lstrip("/"))):
                    continue
                objects.add(obj)
    for obj in sorted(objects):
        out.write(obj + b"\n")
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    from ..composefs.fsverity import fsverity_digest_of_stream
    for path in args.paths:
        with open(path, "rb") as f:
            print(f"sha256:{fsverity_digest_of_stream(f).hex()} {path}")
    return 0


def cmd_fsck(args: argparse.Namespace) -> int:
    from ..composefs.deploy import COMPOSEFS_NAME, verify_deployment_image
    from ..errors import OstreeError
    from ..store.repo import Repo

    base = os.path.join(args.sysroot, "ostree", "deploy")
    problems = 0
    checked = 0
    with Repo.open(os.path.join(args.sysroot, "ostree", "repo")) as repo:
        for osname in sorted(os.listdir(base)) if os.path.isdir(base) else []:
            ddir = os.path.join(base, osname, "deploy")
            for name in sorted(os.listdir(ddir)) if os.path.isdir(ddir) else []:
                path = os.path.join(ddir, name)
                csum, dot, serial = name.partition(".")
                if not dot or not serial.isdigit() or not os.path.isdir(path) or os.path.islink(path):
                    continue
                try:
                    digest = verify_deployment_image(repo, csum, path)
                except OstreeError as e:
                    problems += 1
                    sys.stderr.write(f"error: {e}\n")
                    continue
                if digest is not None:
                    checked += 1
                    print(f"{osname}/{name}/{COMPOSEFS_NAME}: {digest.hex()} ok")
    if problems:
        raise ComposefsError(f"{problems} deployment(s) with a bad composefs image")
    print(f"composefs images of {checked} deployment(s) checked - no errors found.")
    return 0
