"""The ``ostreepy`` command line: the ``ostree`` command line, subcommand for subcommand.

Flags and the output a script would parse (checksums, ls, log, refs,
rev-parse, prune's summary) are those of ostree, so the two can be swapped.
Errors print ``error: <message>`` and exit 1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence

from ..errors import OstreeError
from ..progress import FileWritten, FsckStarted, ObjectChecked, ProgressCallback, ProgressEvent

COMMANDS: Dict[str, Callable[[argparse.Namespace], int]] = {}


class UsageError(OstreeError):
    pass


def _add_repo_arg(p: argparse.ArgumentParser, toplevel: bool = False) -> None:
    p.add_argument("--repo", metavar="PATH", default=None if toplevel else argparse.SUPPRESS,
                   help="Path to OSTree repository (default: $OSTREE_REPO)")


def _open_repo(args: argparse.Namespace):
    from ..store.repo import Repo
    path = getattr(args, "repo", None)
    if path is None:
        # ostree_repo_new_default: the repository in the current directory, else
        # $OSTREE_REPO, else the one of the default sysroot ($OSTREE_SYSROOT or /)
        if os.path.isdir("objects") and os.path.isfile("config"):
            path = "."
        else:
            path = os.environ.get("OSTREE_REPO")
            if not path:
                from ..sysroot.sysroot import default_sysroot_path
                path = os.path.join(default_sysroot_path(), "ostree/repo")
            if not os.path.isfile(os.path.join(path, "config")):
                raise UsageError("Command requires a --repo argument")
    return Repo.open(path)


def _print(s: str = "") -> None:
    sys.stdout.write(s + "\n")


def format_timestamp(ts: int) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(ts))
    except (OverflowError, ValueError, OSError):
        raise OstreeError(f"Invalid timestamp: {ts}") from None


# ------------------------------------------------------------------ init / config


def cmd_init(args: argparse.Namespace) -> int:
    from ..store.repo import Repo
    path = getattr(args, "repo", None) or os.environ.get("OSTREE_REPO")
    if not path:
        raise UsageError("Command requires a --repo argument")
    Repo.init(path, args.mode, collection_id=args.collection_id).close()
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    repo = _open_repo(args)
    action = args.action
    if action not in ("get", "set", "unset"):
        raise UsageError(f"Unknown action '{action}'")
    if args.group:
        group, key = args.group, (args.key[0] if args.key else None)
        rest = args.key[1:]
    else:
        if not args.key:
            raise UsageError("Must specify a KEY")
        section_key = args.key[0]
        if "." not in section_key:
            raise UsageError(f"Section name '{section_key}' must contain a '.'")
        group, key = section_key.rsplit(".", 1)
        rest = args.key[1:]
    if key is None:
        raise UsageError("Must specify a KEY")
    if action == "get":
        value = repo.config.get(group, key)
        if value is None:
            if not repo.config.has_group(group):
                raise OstreeError(f"Key file does not have group “{group}”")
            raise OstreeError(f"Key file does not have key “{key}” in group “{group}”")
        _print(value)
    elif action == "set":
        if not rest:
            raise UsageError("Must specify a KEY and VALUE")
        repo.config.set(group, key, rest[0])
        repo.write_config()
    else:
        repo.config.remove_key(group, key)
        repo.write_config()
    return 0


# ------------------------------------------------------------------ commit


def cmd_commit(args: argparse.Namespace) -> int:
    from ..store.commit import (CommitModifier, create_commit, load_commit_to_mtree, write_directory_to_mtree,
                         write_mtree, write_tar_to_mtree)
    from ..store.gvariant import Variant
    from ..store.gvariant_text import parse_text
    from ..store.mtree import MutableTree
    from .timeparse import parse_datetime

    repo = _open_repo(args)
    if args.fsync is not None:
        repo.fsync = args.fsync.lower() not in ("false", "0", "no")
    if not args.branch and not args.orphan:
        raise UsageError("A branch must be specified with --branch, or use --orphan")
    modifier = CommitModifier(owner_uid=args.owner_uid, owner_gid=args.owner_gid,
                              canonical_permissions=args.canonical_permissions, no_xattrs=args.no_xattrs)
    metadata: Dict[str, Variant] = {}
    for kv in args.add_metadata_string or []:
        k, sep, v = kv.partition("=")
        if not sep:
            raise UsageError(f"Missing '=' in KEY=VALUE metadata '{kv}'")
        metadata[k] = Variant("s", v)
    for kv in args.add_metadata or []:
        k, sep, v = kv.partition("=")
        if not sep:
            raise UsageError(f"Missing '=' in KEY=VALUE metadata '{kv}'")
        metadata[k] = parse_text(v)
    parent: Optional[str] = None
    if args.parent:
        parent = None if args.parent == "none" else repo.resolve_rev(args.parent)
    elif args.branch and not args.orphan:
        parent = repo.resolve_rev(args.branch, allow_noent=True)
    if args.keep_metadata:
        if parent is None:
            raise UsageError("Either --branch or --parent must be specified when using --keep-metadata")
        pmeta = repo.load_commit(parent).metadata
        for k in args.keep_metadata:
            if k not in pmeta:
                raise OstreeError(f"Missing metadata key {k} from commit {parent}")
            metadata[k] = pmeta[k]
    if not args.no_bindings:
        bindings = sorted(set(([args.branch] if args.branch else []) + (args.bind_ref or [])))
        metadata["ostree.ref-binding"] = Variant("as", bindings)
        cid = repo.config.get("core", "collection-id")
        if cid:
            metadata["ostree.collection-binding"] = Variant("s", cid)
    timestamp: Optional[int] = parse_datetime(args.timestamp) if args.timestamp else None
    progress = _progress_printer("Committing") if sys.stderr.isatty() else None

    with repo.transaction():
        mtree = MutableTree()
        trees = list(args.tree or [])
        if args.path:
            trees.append("dir=" + args.path)
        if not trees:
            trees.append("dir=.")
        for spec in trees:
            kind, sep, value = spec.partition("=")
            if not sep:
                raise UsageError(f"Missing type in tree specification '{spec}'")
            if kind == "dir":
                write_directory_to_mtree(repo, value, mtree, modifier, progress)
            elif kind == "tar":
                if value == "-":
                    write_tar_to_mtree(repo, sys.stdin.buffer, mtree, modifier, args.tar_autocreate_parents)
                else:
                    with open(value, "rb") as f:
                        write_tar_to_mtree(repo, f, mtree, modifier, args.tar_autocreate_parents, progress)
            elif kind == "ref":
                load_commit_to_mtree(repo, value, mtree)
            else:
                raise UsageError(f"Invalid tree type specification '{kind}'")
        root_tree, root_meta = write_mtree(repo, mtree)
        if args.skip_if_unchanged and parent is not None:
            pc = repo.load_commit(parent)
            if (pc.root_tree, pc.root_meta) == (root_tree, root_meta):
                if progress:
                    sys.stderr.write("\n")
                _print(parent)
                return 0
        csum = create_commit(repo, root_tree, root_meta, subject=args.subject or "", body=args.body or "",
                             parent=parent, metadata=metadata, timestamp=timestamp)
        if args.branch:
            repo.set_ref(args.branch, csum)
    if progress:
        sys.stderr.write("\n")
    _print(csum)
    return 0


def _progress_printer(label: str) -> ProgressCallback:
    """A commit's files counted on one terminal line, redrawn at most every 0.1 s."""
    state = {"n": 0, "last": 0.0}

    def cb(ev: ProgressEvent) -> None:
        if not isinstance(ev, FileWritten):
            return
        state["n"] += 1
        now = time.monotonic()
        if now - state["last"] > 0.1:
            state["last"] = now
            sys.stderr.write(f"\r{label}: {state['n']} files")
            sys.stderr.flush()

    return cb


class _ItemsProgress:
    """``TEXT (i/n) P%`` on stdout as ostree prints it (libglnx's
    ``glnx_console_progress_n_items``): off a terminal a line per update, at
    most one a second, on one a bar redrawn at most five times a second; the
    first update and the one at 100% always shown."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tty = sys.stdout.isatty()
        self.locked = False
        self.last = -1e9  # libglnx starts from 0 ms of the monotonic clock: the first update shows

    def update(self, current: int, total: int) -> None:
        if total <= 0:
            return
        if not self.locked:
            self.locked = True
            if self.tty:
                sys.stdout.write("\x1b7")  # the cursor saved: each update redraws from there
        pct = 100 if current == total else int(current / total * 100)
        now = time.monotonic()
        if pct != 100 and now - self.last < (0.2 if self.tty else 1.0):
            return
        self.last = now
        text = f"{self.text} ({current}/{total})"
        if not self.tty:
            sys.stdout.write(f"{text} {pct}%\n")
        else:
            try:
                columns = min(os.get_terminal_size(sys.stdout.fileno()).columns or 80, 256)
            except OSError:
                columns = 80
            if columns < 10:
                return
            text = text[:columns - 10]
            # a bar of at most 20 columns, braces and " NNN%" included
            inner = max(0, min(20, columns - len(text) - 1) - 7)
            eq = int(inner * pct / 100)
            sys.stdout.write(f"\x1b8{text + ' ' if text else ''}[{'=' * eq}{' ' * (inner - eq)}] {pct:3d}%")
        sys.stdout.flush()

    def close(self) -> None:
        if self.locked and self.tty:
            sys.stdout.write("\n")
        self.locked = False


# ------------------------------------------------------------------ checkout


def cmd_checkout(args: argparse.Namespace) -> int:
    from ..store.checkout import CheckoutMode, CheckoutOptions, Overwrite, checkout
    repo = _open_repo(args)
    overwrite = Overwrite.NONE
    if args.union:
        overwrite = Overwrite.UNION_FILES
    elif args.union_add:
        overwrite = Overwrite.ADD_FILES
    elif args.union_identical:
        overwrite = Overwrite.UNION_IDENTICAL
    dest = args.destination or os.path.basename(args.commit)
    opts = CheckoutOptions(
        mode=CheckoutMode.USER if args.user_mode else CheckoutMode.NONE,
        overwrite=overwrite, subpath=args.subpath, process_whiteouts=args.whiteouts,
        no_copy_fallback=args.require_hardlinks, force_copy=args.force_copy,
        bareuseronly_dirs=args.bareuseronly_dirs, fsync=(args.fsync or "false").lower() == "true")
    checkout(repo, args.commit, dest, opts)
    return 0


# ------------------------------------------------------------------ read commands


def _resolve_path(repo, rev: str, path: str):
    """(kind, data) for a path in a commit: 'dir' with (tree, meta), 'file' with its checksum."""
    kind, found = repo.resolve_path(repo.resolve_rev(rev), path)
    return (kind, found) if kind == "dir" else (kind, found[0])


def cmd_ls(args: argparse.Namespace) -> int:
    from ..store.gvariant import print_value
    repo = _open_repo(args)
    paths = args.paths or ["/"]

    def fmt_line(kind: str, path: str, mode: int, uid: int, gid: int, size: int, csums: List[str],
                 xattrs, target: Optional[str]) -> str:
        type_c = {"file": "-", "dir": "d", "symlink": "l"}[kind]
        line = f"{type_c}0{mode & 0o7777:04o} {uid} {gid} {size:6d} "
        if args.checksum:
            line += "".join(c + " " for c in csums)
        if args.xattrs:
            line += "{ " + print_value("a(ayay)", list(xattrs)) + " } "
        line += path
        if target is not None:
            line += " -> " + target
        return line

    def print_file(path: str, fcsum: str) -> None:
        h = repo.load_file_header(fcsum)
        size = 0
        if h.is_regular:
            size = repo.content_size(fcsum)
        kind = "symlink" if h.is_symlink else "file"
        _print(fmt_line(kind, path, h.mode, h.uid, h.gid, size, [fcsum], h.xattrs,
                        h.symlink_target if h.is_symlink else None))

    def print_dir(path: str, tree: str, meta: str) -> None:
        m = repo.load_dirmeta(meta)
        _print(fmt_line("dir", path, m.mode, m.uid, m.gid, 0, [tree, meta], m.xattrs, None))

    def recurse(path: str, tree: str, depth: int) -> None:
        if depth == 0:
            return
        dt = repo.load_dirtree(tree)
        base = "" if path == "/" else path
        for n, fc in dt.files:
            print_file(base + "/" + n, fc)
        for n, t, m in dt.dirs:
            print_dir(base + "/" + n, t, m)
            recurse(base + "/" + n, t, depth - 1 if depth > 0 else -1)

    for p in paths:
        kind, data = _resolve_path(repo, args.rev, p)
        norm = "/" + "/".join(c for c in p.split("/") if c and c != ".")
        if kind == "file":
            print_file(norm, data)
            continue
        tree, meta = data
        print_dir(norm, tree, meta)
        if args.recursive:
            recurse(norm, tree, -1)
        elif not args.dironly:
            recurse(norm, tree, 1)
    return 0


def cmd_cat(args: argparse.Namespace) -> int:
    repo = _open_repo(args)
    out = sys.stdout.buffer
    for p in args.paths:
        kind, data = _resolve_path(repo, args.rev, p)
        if kind != "file":
            raise OstreeError(f"{p} is a directory")
        header, stream = repo.load_file(data)
        if stream is None:
            raise OstreeError(f"{p} is not a regular file")
        # verify the whole object before printing any of it (ostree would print
        # corrupt data); a spooled file keeps big objects out of memory
        import shutil
        import tempfile
        with tempfile.SpooledTemporaryFile(max_size=64 << 20) as spool:
            with stream:
                shutil.copyfileobj(stream, spool, 1 << 20)
            spool.seek(0)
            shutil.copyfileobj(spool, out, 1 << 20)
    out.flush()
    return 0


def _dump_commit(repo, csum: str, raw: bool) -> None:
    from ..store.gvariant import byteswap, deserialize, print_value
    from ..store.objects import COMMIT_TYPE, ObjectType
    data = repo.load_metadata(ObjectType.COMMIT, csum)
    _print(f"commit {csum}")
    if raw:
        v = byteswap(COMMIT_TYPE, deserialize(COMMIT_TYPE, data))
        _print(print_value(COMMIT_TYPE, v))
        return
    from ..store.objects import Commit
    c = Commit.parse(data)
    if c.parent:
        _print(f"Parent:  {c.parent}")
    _print(f"ContentChecksum:  {c.content_checksum}")
    _print(f"Date:  {format_timestamp(c.timestamp)}")
    if c.version:
        _print(f"Version: {c.version}")
    if c.subject:
        _print()
        _dump_indented(c.subject)
    else:
        _print("(no subject)")
    if c.body:
        _print()
        _dump_indented(c.body)
    _print()


def _dump_indented(text: str) -> None:
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if i == len(lines) - 1 and line == "":
            break
        sys.stdout.write("    " + line + "\n")


def cmd_show(args: argparse.Namespace) -> int:
    from ..store.gvariant import print_value
    repo = _open_repo(args)
    csum = repo.resolve_rev(args.rev)
    if args.print_metadata_key:
        c = repo.load_commit(csum)
        v = c.metadata.get(args.print_metadata_key)
        if v is None:
            raise OstreeError(f"No such metadata key '{args.print_metadata_key}'")
        _print(print_value(v.type, v.value))
        return 0
    if args.print_detached_metadata_key:
        meta = repo.read_commit_detached_metadata(csum) or {}
        v = meta.get(args.print_detached_metadata_key)
        if v is None:
            raise OstreeError(f"No such metadata key '{args.print_detached_metadata_key}'")
        _print(print_value(v.type, v.value))  # type: ignore[attr-defined]
        return 0
    _dump_commit(repo, csum, args.raw)
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    from ..errors import ObjectNotFoundError
    repo = _open_repo(args)
    csum = repo.resolve_rev(args.rev)
    first = True
    while csum:
        try:
            c = repo.load_commit(csum)
        except ObjectNotFoundError:
            if first:
                raise
            _print("<< History beyond this commit not fetched >>")
            break
        _dump_commit(repo, csum, args.raw)
        first = False
        csum = c.parent
    return 0


def cmd_refs(args: argparse.Namespace) -> int:
    repo = _open_repo(args)
    if args.create is not None:
        if not args.prefixes:
            raise UsageError("You must specify a revision when creating a new ref")
        if len(args.prefixes) != 1:
            raise UsageError("You must specify only 1 existing ref when creating a new ref")
        from ..store.refs import parse_refspec
        parse_refspec(args.create)
        target = repo.resolve_rev(args.prefixes[0])
        if repo.read_ref(args.create) is not None and not args.force:
            raise OstreeError(f"--create specified but ref {args.create} already exists")
        with repo.transaction():
            repo.set_ref(args.create, target)
        return 0
    if args.delete:
        if not args.prefixes:
            raise UsageError("At least one PREFIX is required when deleting refs")
        # every prefix is checked before any ref goes
        doomed = [r for prefix in args.prefixes for r in repo.list_refs(prefix)]
        with repo.transaction():
            for r in doomed:
                repo.set_ref(r, None)
        return 0
    for prefix in args.prefixes or [None]:
        refs = repo.list_refs(prefix, cut_prefix=not args.list, include_mirrors=args.collections)
        for r, csum in refs.items():
            _print(f"{r}\t{csum}" if args.revision else r)
    return 0


def cmd_rev_parse(args: argparse.Namespace) -> int:
    repo = _open_repo(args)
    for rev in args.revs:
        csum = repo.resolve_rev(rev)
        if args.single and len(args.revs) > 1:
            raise UsageError("--single requires exactly one REV")
        _print(csum)
    return 0


def cmd_fsck(args: argparse.Namespace) -> int:
    from ..store.fsck import fsck
    repo = _open_repo(args)
    if not args.quiet:
        _print("Validating refs...")
        _print("Validating refs in collections...")
        _print("Enumerating commits...")
    bar = _ItemsProgress("fsck objects")

    def on_progress(ev: ProgressEvent) -> None:
        if isinstance(ev, ObjectChecked):
            bar.update(ev.done, ev.total)
        elif isinstance(ev, FsckStarted) and not args.quiet:
            _print(f"Verifying content integrity of {ev.commits} commit objects...")

    try:
        result = fsck(repo, delete=args.delete, progress=on_progress)
    finally:
        bar.close()
    for e in result.ref_errors:
        sys.stderr.write(e + "\n")
    for p in result.problems:
        sys.stderr.write(p.message + "\n")
    for c in result.marked_partial:
        sys.stderr.write(f"Marking commit as partial: {c}\n")
    if result.n_partial:
        _print(f"{result.n_partial} partial commits not verified")
    if result.problems or result.ref_errors:
        raise OstreeError("Repository corruption encountered")
    if result.n_fsck_partial:
        raise OstreeError(f"{result.n_partial} partial commits from fsck-detected corruption")
    # ostree prints this, and the objects' progress, also with --quiet
    _print(f"object fsck of {result.n_commits} commits completed successfully - no errors found.")
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from ..store.prune import format_size, prune
    from .timeparse import parse_datetime
    repo = _open_repo(args)
    keep = parse_datetime(args.keep_younger_than) if args.keep_younger_than else None
    if args.keep_younger_than and keep is None:
        raise OstreeError(f"Could not parse '{args.keep_younger_than}'")
    for c in args.delete_commit or []:
        csum = repo.resolve_rev(c)
        from ..store.objects import ObjectType
        for r, v in repo.list_refs().items():
            if v == csum:
                raise OstreeError(f"Commit '{c}' is referenced by ref '{r}'")
        repo.delete_object(csum, ObjectType.COMMIT)
    res = prune(repo, refs_only=args.refs_only, depth=args.depth, no_prune=args.no_prune,
                keep_younger_than=keep, commit_only=args.commit_only)
    if args.commit_only:
        _print(f"Total (commit only) objects: {res.n_objects_total}")
    else:
        _print(f"Total objects: {res.n_objects_total}")
    if res.n_objects_pruned == 0:
        _print("No unreachable objects")
    elif args.no_prune:
        _print(f"Would delete: {res.n_objects_pruned} objects, freeing {format_size(res.freed_bytes)}")
    else:
        _print(f"Deleted {res.n_objects_pruned} objects, {format_size(res.freed_bytes)} freed")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..store.tarexport import export_commit
    repo = _open_repo(args)
    if not args.output:
        if sys.stdout.isatty():
            raise UsageError("No --output specified and standard output is a terminal")
        export_commit(repo, args.commit, sys.stdout.buffer, subpath=args.subpath, prefix=args.prefix,
                      xattrs=not args.no_xattrs)
        return 0
    tmp = args.output + ".tmp"
    try:
        with open(tmp, "wb") as f:
            export_commit(repo, args.commit, f, subpath=args.subpath, prefix=args.prefix,
                          xattrs=not args.no_xattrs)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.replace(tmp, args.output)
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    from ..store.signing import Signer, load_public_keys, read_key_file, sign_commit, verify_commit
    repo = _open_repo(args)
    type_ = args.sign_type or "ed25519"
    if args.verify:
        keys = list(args.keys)
        if keys and not args.keys_file:
            signer = Signer(type_, public=tuple(keys))
        else:
            signer = load_public_keys(type_, args.keys_file,
                                      (args.keys_dir,) if args.keys_dir else ("/etc/ostree", "/usr/share/ostree"))
            signer = Signer(type_, public=tuple(signer.public) + tuple(keys), revoked=signer.revoked)
        _print(verify_commit(repo, args.commit, signer))
        return 0
    secrets = list(args.keys) + (read_key_file(args.keys_file) if args.keys_file else [])
    if not secrets:
        raise UsageError("Need at least one KEY-ID to sign with")
    with repo.transaction():
        for secret in secrets:
            sign_commit(repo, args.commit, Signer(type_, secret=secret))
    return 0


# ------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    from .._version import __version__
    parser = argparse.ArgumentParser(prog="ostreepy", description="A pure-Python ostree")
    parser.add_argument("--version", action="version", version=f"ostreepy {__version__}")
    _add_repo_arg(parser, toplevel=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("init", help="Initialize a new empty repository")
    _add_repo_arg(p)
    p.add_argument("--mode", default="bare", choices=["bare", "bare-user", "bare-user-only", "archive", "archive-z2"])
    p.add_argument("--collection-id", default=None)
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("config", help="Change repo configuration settings")
    _add_repo_arg(p)
    p.add_argument("--group", default=None)
    p.add_argument("action")
    p.add_argument("key", nargs="*")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("commit", help="Commit a new revision")
    _add_repo_arg(p)
    p.add_argument("-s", "--subject")
    p.add_argument("-m", "--body")
    p.add_argument("-b", "--branch")
    p.add_argument("--parent")
    p.add_argument("--orphan", action="store_true")
    p.add_argument("--tree", action="append", metavar="dir=PATH|tar=TARFILE|ref=COMMIT")
    p.add_argument("--add-metadata-string", action="append", metavar="KEY=VALUE")
    p.add_argument("--add-metadata", action="append", metavar="KEY=VALUE")
    p.add_argument("--keep-metadata", action="append", metavar="KEY")
    p.add_argument("--timestamp")
    p.add_argument("--owner-uid", type=int)
    p.add_argument("--owner-gid", type=int)
    p.add_argument("--canonical-permissions", action="store_true")
    p.add_argument("--no-xattrs", action="store_true")
    p.add_argument("--skip-if-unchanged", action="store_true")
    p.add_argument("--tar-autocreate-parents", action="store_true")
    p.add_argument("--no-bindings", action="store_true")
    p.add_argument("--bind-ref", action="append")
    p.add_argument("--fsync", metavar="POLICY")
    p.add_argument("path", nargs="?")
    p.set_defaults(func=cmd_commit)

    p = sub.add_parser("checkout", help="Check out a commit into a filesystem tree")
    _add_repo_arg(p)
    p.add_argument("-U", "--user-mode", action="store_true")
    p.add_argument("-H", "--require-hardlinks", action="store_true")
    p.add_argument("-C", "--force-copy", action="store_true")
    p.add_argument("--union", action="store_true")
    p.add_argument("--union-add", action="store_true")
    p.add_argument("--union-identical", action="store_true")
    p.add_argument("--whiteouts", action="store_true")
    p.add_argument("--process-whiteouts", dest="whiteouts", action="store_true")
    p.add_argument("--subpath")
    p.add_argument("-M", "--bareuseronly-dirs", action="store_true")
    p.add_argument("--fsync", metavar="POLICY")
    p.add_argument("commit")
    p.add_argument("destination", nargs="?")
    p.set_defaults(func=cmd_checkout)

    p = sub.add_parser("ls", help="List file paths")
    _add_repo_arg(p)
    p.add_argument("-R", "--recursive", action="store_true")
    p.add_argument("-C", "--checksum", action="store_true")
    p.add_argument("-X", "--xattrs", action="store_true")
    p.add_argument("-d", "--dironly", action="store_true")
    p.add_argument("rev")
    p.add_argument("paths", nargs="*")
    p.set_defaults(func=cmd_ls)

    p = sub.add_parser("cat", help="Concatenate contents of files")
    _add_repo_arg(p)
    p.add_argument("rev")
    p.add_argument("paths", nargs="+")
    p.set_defaults(func=cmd_cat)

    p = sub.add_parser("show", help="Output a metadata object")
    _add_repo_arg(p)
    p.add_argument("--raw", action="store_true")
    p.add_argument("--print-metadata-key")
    p.add_argument("--print-detached-metadata-key")
    p.add_argument("rev")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("log", help="Show log starting at commit or ref")
    _add_repo_arg(p)
    p.add_argument("--raw", action="store_true")
    p.add_argument("rev")
    p.set_defaults(func=cmd_log)

    p = sub.add_parser("refs", help="List refs")
    _add_repo_arg(p)
    p.add_argument("--delete", action="store_true")
    p.add_argument("--list", action="store_true")
    p.add_argument("--create", metavar="NEWREF")
    p.add_argument("--force", action="store_true")
    p.add_argument("-r", "--revision", action="store_true")
    p.add_argument("-c", "--collections", action="store_true")
    p.add_argument("prefixes", nargs="*")
    p.set_defaults(func=cmd_refs)

    p = sub.add_parser("rev-parse", help="Output the target of a rev")
    _add_repo_arg(p)
    p.add_argument("-S", "--single", action="store_true")
    p.add_argument("revs", nargs="+")
    p.set_defaults(func=cmd_rev_parse)

    p = sub.add_parser("fsck", help="Check the repository for consistency")
    _add_repo_arg(p)
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("--delete", action="store_true")
    p.set_defaults(func=cmd_fsck)

    p = sub.add_parser("prune", help="Search for unreachable objects")
    _add_repo_arg(p)
    p.add_argument("--no-prune", action="store_true")
    p.add_argument("--refs-only", action="store_true")
    p.add_argument("--depth", type=int, default=-1)
    p.add_argument("--keep-younger-than", metavar="DATE")
    p.add_argument("--delete-commit", action="append")
    p.add_argument("--commit-only", action="store_true")
    p.set_defaults(func=cmd_prune)

    p = sub.add_parser("export", help="Stream COMMIT to stdout in tar format")
    _add_repo_arg(p)
    p.add_argument("--no-xattrs", action="store_true")
    p.add_argument("--output", "-o")
    p.add_argument("--subpath")
    p.add_argument("--prefix")
    p.add_argument("commit")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("sign", help="Sign a commit, or verify its signatures")
    _add_repo_arg(p)
    p.add_argument("-s", "--sign-type", default=None, help="ed25519 (default) or dummy")
    p.add_argument("--verify", action="store_true")
    p.add_argument("--keys-file", help="Read keys from this file (one base64 key per line)")
    p.add_argument("--keys-dir", help="Use this directory instead of /etc/ostree and /usr/share/ostree")
    p.add_argument("commit")
    p.add_argument("keys", nargs="*", metavar="KEY-ID")
    p.set_defaults(func=cmd_sign)

    for name, register in _EXTRA_PARSERS:
        register(sub)
    return parser


_EXTRA_PARSERS: List = []


_EXTRA_COMMANDS = {"admin": "ostreepy.cli.admin", "container": "ostreepy.cli.container",
                   "bootc": "ostreepy.cli.bootc"}


def _register_extras(argv: Optional[Sequence[str]] = None) -> None:
    """The admin, container and bootc verbs live in their own modules, which pull in
    the sysroot, bootloader and image code; they are imported only when the command
    line names them (or asks for help), so `ostreepy checkout` starts as fast as it can."""
    words = set(argv if argv is not None else sys.argv[1:])
    wanted = [m for c, m in _EXTRA_COMMANDS.items() if c in words]
    if not wanted and (not words or words & {"-h", "--help"}):
        wanted = list(_EXTRA_COMMANDS.values())
    _EXTRA_PARSERS.clear()
    for modname in wanted:
        try:
            mod = __import__(modname, fromlist=["register"])
        except ImportError:
            continue
        _EXTRA_PARSERS.append((modname, mod.register))


def main(argv: Optional[Sequence[str]] = None) -> int:
    # trees are walked recursively; a legal path can be thousands of directories deep
    # (Python >= 3.11 keeps such recursion off the C stack)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))
    _register_extras(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 1
    try:
        return args.func(args) or 0
    except OstreeError as e:
        sys.stdout.flush()
        sys.stderr.write(f"error: {e}\n")
        return 1
    except BrokenPipeError:
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    except OSError as e:
        sys.stdout.flush()
        sys.stderr.write(f"error: {e.strerror or e}{': ' + str(e.filename) if e.filename else ''}\n")
        return 1
    except Exception as e:  # foreign errors (ociclient, bootloader) still get one line
        root = _package_error_roots()
        if root and isinstance(e, root):
            sys.stderr.write(f"error: {e}\n")
            return 1
        raise


def _package_error_roots() -> tuple:
    roots = []
    for modname, clsname in (("ociclient.errors", "OciError"), ("bootloader.errors", "BootloaderError")):
        mod = sys.modules.get(modname)
        if mod is not None and hasattr(mod, clsname):
            roots.append(getattr(mod, clsname))
    return tuple(roots)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
