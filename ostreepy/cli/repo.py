"""The repository verbs of ``ostreepy``, those of the ``ostree`` command line
(init, config, commit, checkout, ls, cat, show, log, refs, rev-parse, fsck,
prune, export, sign, summary): each parses nothing (``ostreepy.cli.main`` builds the
parser), calls the library, and prints ostree's output from what it returns.
Errors are raised as :class:`~ostreepy.errors.OstreeError`; ``main`` prints
them. The library is imported inside the verbs, so that ``ostreepy --help``
loads none of it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

from ..errors import OstreeError
from .repoarg import UsageError, open_repo

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import Dict, List, Optional

    from ..store.commit import FileInfo
    from ..progress import ProgressCallback, ProgressEvent
    from ..store.gvariant import Variant
    from ..store.repo import Repo


def _open_repo(args: argparse.Namespace):  # noqa: ANN202 (its callers are untyped)
    return open_repo(args)


def _print(s: str = "") -> None:
    sys.stdout.write(s + "\n")


def format_timestamp(ts: int) -> str:
    # the commit's uint64 read as signed, as ostree's g_date_time_new_from_unix_utc() gets it
    if ts >= 1 << 63:
        ts -= 1 << 64
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(ts))
    except (OverflowError, ValueError, OSError):
        raise OstreeError(f"Invalid timestamp: {ts}") from None


# ------------------------------------------------------------------ init / config


def cmd_init(args: argparse.Namespace) -> int:
    from .. import porcelain
    path = getattr(args, "repo", None) or os.environ.get("OSTREE_REPO")
    if not path:
        raise UsageError("Command requires a --repo argument")
    porcelain.init(path, mode=args.mode, collection_id=args.collection_id).close()
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
    if len(rest) > (1 if action == "set" else 0):
        raise UsageError("Too many arguments given")
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
        # ostree_repo_write_config_and_reload (2025.3): a config ostree would not
        # open is refused, the file left as it was
        from ..store.repo import check_min_free_space
        repo.config.set(group, key, rest[0])
        check_min_free_space(repo.config)
        repo.write_config()
    else:
        repo.config.remove_key(group, key)
        repo.write_config()
    return 0


# ------------------------------------------------------------------ commit


def cmd_commit(args: argparse.Namespace) -> int:
    from .. import porcelain
    from ..errors import ArgumentError
    from ..store.gvariant import Variant
    from ..store.gvariant_text import parse_text
    from .timeparse import parse_datetime

    repo = _open_repo(args)
    if not args.branch and not args.orphan:
        raise UsageError("A branch must be specified with --branch, or use --orphan")
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
    sources: List[porcelain.TreeSource] = []
    specs = list(args.tree or []) + (["dir=" + args.path] if args.path else [])
    for spec in specs or ["dir=."]:
        kind, sep, value = spec.partition("=")
        if not sep:
            raise UsageError(f"Missing type in tree specification '{spec}'")
        if kind not in ("dir", "tar", "ref"):
            raise UsageError(f"Invalid tree type specification '{kind}'")
        sources.append(porcelain.TreeSource(kind, sys.stdin.buffer if (kind, value) == ("tar", "-") else value))
    timestamp: Optional[int] = parse_datetime(args.timestamp) if args.timestamp else None
    if timestamp is not None and timestamp < 0:
        # a date before 1970: ostree stores the time_t in the commit's uint64 as is
        timestamp += 1 << 64
    pathname_filter = None
    if args.tar_pathname_filter is not None:
        regex, comma, replacement = args.tar_pathname_filter.partition(",")
        if not comma:
            raise OstreeError("Missing ',' in --tar-pathname-filter")
        pathname_filter = (regex, replacement)
    body = args.body or ""
    if args.body_file and not args.body:
        with open(args.body_file, "rb") as f:
            body = f.read().decode("utf-8", "replace")
    detached: Dict[str, Variant] = {}
    for kv in args.add_detached_metadata_string or []:
        k, sep, v = kv.partition("=")
        if not sep:
            raise UsageError(f"Missing '=' in KEY=VALUE metadata '{kv}'")
        detached[k] = Variant("s", v)
    sign_type = args.sign_type or "ed25519"
    secrets: List[str] = list(args.sign or [])
    if args.sign_from_file:
        from ..store.signing import read_secret_key_file
        # read before anything is written: ostree commits, then fails on a bad key file
        secrets += [read_secret_key_file(p, sign_type) for p in args.sign_from_file]
    cfilter = _CommitFilter.from_args(args)
    from ..store.writestats import WriteStats
    stats = WriteStats() if args.table_output else None
    progress = _progress_printer("Committing") if sys.stderr.isatty() else None
    try:
        info = porcelain.commit(
            repo, sources, branch=args.branch or None, subject=args.subject or "", body=body,
            metadata=metadata, parent=args.parent or None, orphan=args.orphan, timestamp=timestamp,
            bindings=not args.no_bindings, bind_refs=args.bind_ref or (), keep_metadata=args.keep_metadata or (),
            skip_if_unchanged=args.skip_if_unchanged, owner_uid=args.owner_uid, owner_gid=args.owner_gid,
            canonical_permissions=args.canonical_permissions, no_xattrs=args.no_xattrs,
            tar_autocreate_parents=args.tar_autocreate_parents,
            generate_composefs_metadata=getattr(args, "generate_composefs_metadata", False),
            fsync=(False if args.disable_fsync else
                   args.fsync.lower() not in ("false", "0", "no") if args.fsync is not None else None),
            progress=progress, filter=cfilter.apply if cfilter else None, bootable=args.bootable,
            base=args.base, detached_metadata=detached, tree_written=cfilter.check_all_used if cfilter else None,
            generate_sizes=args.generate_sizes, tar_pathname_filter=pathname_filter,
            link_checkout_speedup=args.link_checkout_speedup, consume=args.consume, stats=stats,
            devino_canonical=args.devino_canonical)
    except ArgumentError as e:
        if e.parameter == "keep_metadata":
            raise UsageError("Either --branch or --parent must be specified when using --keep-metadata") from None
        raise
    if progress:
        sys.stderr.write("\n")
    if secrets:
        from ..store.signing import Signer, sign_commit
        # inline keys first, then each file's, as ostree's commit signs them
        with repo.transaction():
            for secret in secrets:
                sign_commit(repo, info.checksum, Signer(sign_type, secret=secret))
    if args.gpg_sign:
        from ..remote.openpgp import gpg_sign_commit
        gpg_sign_commit(repo, info.checksum, args.gpg_sign, args.gpg_homedir)
    if stats is not None:
        _print(f"Commit: {info.checksum}")
        _print(f"Metadata Total: {stats.metadata_total}")
        _print(f"Metadata Written: {stats.metadata_written}")
        _print(f"Content Total: {stats.content_total}")
        _print(f"Content Written: {stats.content_written}")
        _print(f"Content Cache Hits: {stats.devino_cache_hits}")
        _print(f"Content Bytes Written: {stats.content_bytes_written}")
    else:
        _print(info.checksum)
    return 0


class _CommitFilter:
    """ostree commit's own filter: ``--mode-ro-executables``, ``--statoverride`` (lines
    ``+MODE PATH`` adding bits, ``=MODE PATH`` replacing them, MODE in decimal as
    ostree's g_ascii_strtod reads it) and ``--skip-list`` (one path a line); a path
    named in either file and never met fails the commit before it is written."""

    def __init__(self, ro_executables: bool, adds: Dict[str, int], overrides: Dict[str, int],
                 skip: set) -> None:
        self.ro_executables = ro_executables
        self.adds, self.overrides, self.skip = adds, overrides, skip

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "Optional[_CommitFilter]":
        if not (args.mode_ro_executables or args.statoverride or args.skip_list):
            return None
        adds: Dict[str, int] = {}
        overrides: Dict[str, int] = {}
        skip: set = set()
        if args.statoverride:
            for line in _lines(args.statoverride):
                mode, sep, path = line.partition(" ")
                if not sep:
                    raise OstreeError("Malformed statoverride file (no space found)")
                if mode.startswith("="):
                    overrides[path] = _strtod_int(mode[1:])
                else:
                    adds[path] = _strtod_int(mode)
        if args.skip_list:
            skip.update(_lines(args.skip_list))
        return cls(args.mode_ro_executables, adds, overrides, skip)

    def apply(self, path: str, info: "FileInfo") -> "Optional[FileInfo]":
        import stat as st
        from ..store.commit import FileInfo
        mode = info.mode
        if self.ro_executables and st.S_ISREG(mode) and mode & 0o111:
            mode &= ~0o222
        if path in self.adds:
            mode |= self.adds.pop(path)
        elif path in self.overrides:
            mode = st.S_IFMT(mode) | self.overrides[path]
        if path in self.skip:
            self.skip.discard(path)
            return None
        return FileInfo(info.uid, info.gid, mode)

    def check_all_used(self) -> None:
        for path in sorted(self.adds):
            sys.stderr.write(f"Unmatched statoverride path: {path}\n")
        if self.adds:
            raise OstreeError("Unmatched statoverride paths")
        for path in sorted(self.skip):
            sys.stderr.write(f"Unmatched skip-list path: {path}\n")
        if self.skip:
            raise OstreeError("Unmatched skip-list paths")


def _lines(path: str) -> List[str]:
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return [line for line in f.read().split("\n") if line]


def _strtod_int(text: str) -> int:
    import re
    m = re.match(r"\s*[+-]?\d+", text)
    return int(m.group(0)) & 0xFFFFFFFF if m else 0


def _progress_printer(label: str) -> "ProgressCallback":
    """A commit's files counted on one terminal line, redrawn at most every 0.1 s."""
    state = {"n": 0, "last": 0.0}

    from ..progress import FileWritten

    def cb(ev: "ProgressEvent") -> None:
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


def cmd_reset(args: argparse.Namespace) -> int:
    """ostree reset REF REV: REF (which must exist) is set to REV. As ostree (ot-builtin-reset.c)
    does, REV need not be in REF's history."""
    repo = _open_repo(args)
    if args.ref not in repo.list_refs():
        raise OstreeError(f"Invalid ref '{args.ref}'")
    target = repo.resolve_rev(args.rev)
    assert target is not None
    repo.set_ref(args.ref, target)
    return 0


# ------------------------------------------------------------------ read commands


def _resolve_path(repo, rev: str, path: str):
    """(kind, data) for a path in a commit: 'dir' with (tree, meta), 'file' with its checksum."""
    kind, found = repo.resolve_path(repo.resolve_rev(rev), path)
    return (kind, found) if kind == "dir" else (kind, found[0])


def cmd_ls(args: argparse.Namespace) -> int:
    from ..errors import PathNotFoundError
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
        try:
            kind, data = _resolve_path(repo, args.rev, p)
        except PathNotFoundError as e:
            raise PathNotFoundError(f"Inspecting path '{p}': {e}") from None
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
    import posixpath
    for p in args.paths:
        # ostree reads through symlinks in the commit (relative to the link's
        # directory, absolute ones from the commit's root); a directory, also one
        # reached through a link, cannot be opened
        path = p
        for _hop in range(41):
            kind, data = _resolve_path(repo, args.rev, path)
            if kind != "file":
                raise OstreeError("Can't open directory")
            header, stream = repo.load_file(data)
            if stream is not None or not header.is_symlink:
                break
            target = header.symlink_target
            path = posixpath.normpath(target if target.startswith("/")
                                      else posixpath.join(posixpath.dirname("/" + path.lstrip("/")), target))
        else:
            raise OstreeError(f"{p}: Too many levels of symbolic links")
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
    if raw:
        data = repo.load_metadata(ObjectType.COMMIT, csum)
        _print(f"commit {csum}")
        v = byteswap(COMMIT_TYPE, deserialize(COMMIT_TYPE, data))
        _print(print_value(COMMIT_TYPE, v))
        return
    from .. import porcelain
    _print_commit(porcelain.show(repo, csum))


def _print_commit(c) -> None:  # noqa: ANN001 - a porcelain.CommitInfo
    _print(f"commit {c.checksum}")
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
    listing = (args.list_metadata_keys or args.list_detached_metadata_keys) and not (
        args.print_metadata_key or args.print_detached_metadata_key)
    if args.print_sizes and not (args.print_metadata_key or args.print_detached_metadata_key or listing):
        _print_sizes(repo, csum)
        return 0
    if listing:
        # ot-builtin-show.c's do_list_metadata_keys, v2023.1+: the keys in byte order
        keys = (_detached_metadata(repo, csum) if args.list_detached_metadata_keys
                else repo.load_commit(csum).metadata)
        for key in sorted(keys, key=lambda k: k.encode()):
            _print(key)
        return 0
    if args.print_metadata_key or args.print_detached_metadata_key:
        if args.print_metadata_key:
            key, meta = args.print_metadata_key, repo.load_commit(csum).metadata
        else:
            key, meta = args.print_detached_metadata_key, _detached_metadata(repo, csum)
        v = meta.get(key)
        if v is None:
            raise OstreeError(f"No such metadata key '{key}'")
        if args.print_hex and v.type == "ay":
            # ostree >= 2023.6 (test-composefs reads the composefs digest so)
            _print(bytes(v.value).hex())
        else:
            _print(print_value(v.type, v.value if args.no_byteswap else _byteswap(v.type, v.value)))
        return 0
    _dump_commit(repo, csum, args.raw)
    _show_gpg_signatures(repo, csum, args.gpg_homedir, args.gpg_verify_remote)
    return 0


def _detached_metadata(repo: "Repo", csum: str) -> Dict[str, "Variant"]:
    meta = repo.read_commit_detached_metadata(csum)
    if meta is None:
        raise OstreeError(f"No detached metadata for commit {csum}")
    return meta


def _print_sizes(repo: "Repo", csum: str) -> None:
    """``show --print-sizes``: the commit's ``ostree.sizes`` summed, and what of it
    this repository lacks (do_print_sizes)."""
    from ..store.prune import format_size
    from ..store.sizes import SIZES_KEY, decode_sizes
    v = repo.load_commit(csum).metadata.get(SIZES_KEY)
    if v is None:
        raise OstreeError("No metadata key ostree.sizes in commit")
    entries = decode_sizes(v)
    needed = [e for e in entries if not repo.has_object(e.checksum, e.objtype)]
    _print(f"Compressed size (needed/total): {format_size(sum(e.archived for e in needed))}/"
           f"{format_size(sum(e.archived for e in entries))}")
    _print(f"Unpacked size (needed/total): {format_size(sum(e.unpacked for e in needed))}/"
           f"{format_size(sum(e.unpacked for e in entries))}")
    _print(f"Number of objects (needed/total): {len(needed)}/{len(entries)}")


def _show_gpg_signatures(repo: "Repo", csum: str, homedir: Optional[str], remote_name: Optional[str]) -> None:
    """What ``ostree show`` prints after a commit with GPG signatures: each checked
    against the remote's keys, or those of every remote and the homedir's."""
    # the keyrings and the OpenPGP verifier (with remote.config, store.signing and their attrs
    # classes) are loaded for a commit that has signatures, not for every show
    v = (repo.read_commit_detached_metadata(csum) or {}).get("ostree.gpgsigs")  # store.signing.GPGSIGS
    if v is None or v.type != "aay":
        return
    from ..remote.config import load_remote
    from ..remote.keyring import any_remote_keyring, keyring_for
    from ..remote.openpgp import verify_detached
    from ..store.objects import ObjectType
    if remote_name:
        keyring = keyring_for(repo, load_remote(repo, remote_name))
    else:
        keyring = any_remote_keyring(repo, homedir)
    checks = verify_detached(repo.load_metadata(ObjectType.COMMIT, csum), b"".join(bytes(x) for x in v.value),
                             keyring)
    out = [f"Found {len(checks)} signature{'' if len(checks) == 1 else 's'}:\n"]
    for c in checks:
        out.append("\n" + "".join(f"  {line}\n" for line in c.describe().split("\n")))
    sys.stdout.write("".join(out))


def _byteswap(type_: str, value: object) -> object:
    """ostree's show prints metadata values as if stored big-endian (ot_dump_variant
    runs g_variant_byteswap on little-endian hosts) unless -B, so `uint64 42` shows
    as `uint64 3026418949592973312`; as there, a script must pass -B to read a
    number a little-endian writer stored."""
    from ..store.gvariant import byteswap
    return byteswap(type_, value)


def cmd_log(args: argparse.Namespace) -> int:
    from .. import porcelain
    repo = _open_repo(args)
    history = porcelain.log(repo, args.rev)
    for c in history:
        if args.raw:
            _dump_commit(repo, c.checksum, True)
        else:
            _print_commit(c)
    if history and history[-1].parent:
        # the log stops where the parent is not in the repository
        _print("<< History beyond this commit not fetched >>")
    return 0


def _refs_collections(repo: "Repo", args: argparse.Namespace) -> int:
    """``refs --collections``: the prefixes are collection IDs, refs print as (ID, ref)."""
    if args.create is not None:
        if len(args.prefixes) != 1:
            raise UsageError("You must specify only 1 existing ref when creating a new ref")
        cid, _, ref = args.create.partition(":")
        existing = None
        with contextlib.suppress(OstreeError):
            existing = repo.resolve_rev(args.create, allow_noent=True)
        if existing is not None and not args.force:
            raise OstreeError(f"--create specified but ref {args.create} already exists")
        repo.set_collection_ref(cid, ref, repo.resolve_rev(args.prefixes[0]))
        return 0
    for prefix in args.prefixes or [None]:
        refs = repo.list_collection_refs(prefix)
        if args.delete:
            for cid, ref in refs:
                repo.set_collection_ref(cid, ref, None)
            continue
        for (cid, ref), csum in refs.items():
            _print(f"({cid}, {ref})\t{csum}" if args.revision else f"({cid}, {ref})")
    return 0


def cmd_refs(args: argparse.Namespace) -> int:
    repo = _open_repo(args)
    if not args.create and not args.prefixes and not os.path.isdir(os.path.join(repo.path, "refs/remotes")):
        # ostree lists refs/remotes whenever it lists every ref, and fails without it
        raise OstreeError("Listing refs: opendir(refs/remotes): No such file or directory")
    if args.collections:
        return _refs_collections(repo, args)
    from ..store.refalias import list_aliases, set_alias
    if args.create is not None:
        if not args.prefixes:
            raise UsageError("You must specify a revision when creating a new ref")
        if len(args.prefixes) != 1:
            raise UsageError("You must specify only 1 existing ref when creating a new ref")
        from ..store.refs import parse_refspec
        remote, ref = parse_refspec(args.create)
        replacing_alias = args.alias and args.create in list_aliases(repo)
        if not replacing_alias and repo.read_ref(args.create) is not None and not args.force:
            raise OstreeError(f"--create specified but ref {args.create} already exists")
        if args.alias:
            # ot-builtin-refs.c: an alias is local and names an existing ref
            if remote:
                raise OstreeError(f"Cannot create alias to remote ref: {remote}")
            if args.prefixes[0] not in repo.list_refs():
                raise OstreeError(f"Cannot create alias to non-existent ref: {args.prefixes[0]}")
            set_alias(repo, ref, args.prefixes[0])
            return 0
        target = repo.resolve_rev(args.prefixes[0])
        with repo.transaction():
            repo.set_ref(args.create, target)
        return 0
    if args.alias and not args.delete:
        for alias, target in list_aliases(repo).items():
            if not args.prefixes or any(alias == p or alias.startswith(p.rstrip("/") + "/") for p in args.prefixes):
                _print(f"{alias} -> {target}")
        return 0
    if args.delete:
        if not args.prefixes:
            raise UsageError("At least one PREFIX is required when deleting refs")
        # every prefix is checked before any ref goes
        doomed = [r for prefix in args.prefixes for r in repo.list_refs(prefix)]
        aliases = list_aliases(repo)
        for r in doomed:
            for alias, target in aliases.items():
                if r == target:
                    raise OstreeError(f"Ref '{r}' has an active alias: '{alias}'")
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
    if args.single:
        # ostree: -S takes no REV and names the one commit object the repository has
        if args.revs:
            raise UsageError("Cannot specify arguments with --single")
        from ..store.objects import ObjectType
        found = [c for c, _ in repo.list_objects(ObjectType.COMMIT)]
        if len(found) > 1:
            raise OstreeError("Multiple commit objects found")
        if not found:
            raise OstreeError("No commit objects found")
        _print(found[0])
        return 0
    if not args.revs:
        raise UsageError("REV must be specified")
    for rev in args.revs:
        csum = repo.resolve_rev(rev)
        if args.single and len(args.revs) > 1:
            raise UsageError("--single requires exactly one REV")
        _print(csum)
    return 0


def cmd_fsck(args: argparse.Namespace) -> int:
    from ..porcelain import fsck
    repo = _open_repo(args)
    from ..store.bindings import verify_back_refs, verify_refs_bindings
    # as ot-builtin-fsck.c: --verify-back-refs turns --verify-bindings on only once
    # the refs are validated, so it does not check them
    for collections, text in ((False, "Validating refs..."), (True, "Validating refs in collections...")):
        if not args.quiet:
            _print(text)
            sys.stdout.flush()
        if args.verify_bindings:
            verify_refs_bindings(repo, collections)
    if not args.quiet:
        _print("Enumerating commits...")
    if args.verify_back_refs:
        verify_back_refs(repo)
    bar = _ItemsProgress("fsck objects")

    from ..progress import FsckStarted, ObjectChecked

    def on_progress(ev: "ProgressEvent") -> None:
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
    # ot-builtin-fsck.c: without --delete or --all the first corrupt object is the error
    # itself ("error: In commits ...", which scripts grep); ostreepy still lists the others
    first = None if args.delete or args.all else next((p for p in result.problems if not p.missing), None)
    for p in result.problems:
        if p is not first:
            sys.stderr.write(p.message + "\n")
    for c in result.marked_partial:
        sys.stderr.write(f"Marking commit as partial: {c}\n")
    if args.add_tombstones:
        from ..store.fsck import add_tombstones
        for c in add_tombstones(repo):
            _print(f"Adding tombstone for commit {c}")
    elif result.n_partial:
        _print(f"{result.n_partial} partial commits not verified")
    if first is not None:
        raise OstreeError(first.message)
    if result.problems or result.ref_errors:
        raise OstreeError("Repository corruption encountered")
    if result.n_fsck_partial:
        raise OstreeError(f"{result.n_partial} partial commits from fsck-detected corruption")
    # ostree prints this, and the objects' progress, also with --quiet
    _print(f"object fsck of {result.n_commits} commits completed successfully - no errors found.")
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


def cmd_gpg_sign(args: argparse.Namespace) -> int:
    from ..remote.openpgp import gpg_delete_signatures, gpg_sign_commit
    repo = _open_repo(args)
    if not args.commit:
        raise UsageError("Need a COMMIT to sign")
    if not args.keys:
        raise UsageError("Need at least one GPG KEY-ID to sign with")
    if args.delete:
        _print(f"Signatures deleted: {gpg_delete_signatures(repo, args.commit, args.keys, args.gpg_homedir)}")
        return 0
    gpg_sign_commit(repo, args.commit, args.keys, args.gpg_homedir)
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    from ..store.signing import Signer, load_public_keys, read_key_file, sign_commit, verify_commit
    repo = _open_repo(args)
    type_ = args.sign_type or "ed25519"
    if args.verify:
        keys = list(args.keys)
        if keys and not args.keys_file:
            # as ot-builtin-sign.c: each key on its own, its failure dropped; none good is
            # "No valid signatures found" (also when the sign type refuses to run)
            from ..errors import OstreeError, SignatureError
            for key in keys:
                try:
                    message = verify_commit(repo, args.commit, Signer(type_, public=(key,)))
                except OstreeError:
                    continue
                _print(message)
                return 0
            raise SignatureError("No valid signatures found")
        else:
            signer = load_public_keys(type_, args.keys_file,
                                      (args.keys_dir,) if args.keys_dir else ("/etc/ostree", "/usr/share/ostree"))
            signer = Signer(type_, public=tuple(signer.public) + tuple(keys), revoked=signer.revoked)
        _print(verify_commit(repo, args.commit, signer))
        return 0
    secrets = list(args.keys) + (read_key_file(args.keys_file, type_, secret=True) if args.keys_file else [])
    if not secrets:
        raise UsageError("Need at least one KEY-ID to sign with")
    with repo.transaction():
        for secret in secrets:
            sign_commit(repo, args.commit, Signer(type_, secret=secret))
    return 0


def _summary_signatures(data: bytes, sig: Optional[bytes], homedir: Optional[str]) -> str:
    """What ``summary --view`` prints after the summary (ostree >= 2026.3, d180a0e5): its
    GPG signatures checked against the global keyrings and ``--gpg-homedir``'s, as
    ostree_repo_verify_local_summary does; nothing for a summary.sig without them."""
    if sig is None:
        return "Summary is unsigned\n"
    from ..remote.keyring import global_keyring_files, keyring_dir_files, keyring_from_files
    from ..remote.openpgp import OpenPGPError, verify_detached
    from ..store import gvariant
    from ..store.objects import COMMITMETA_TYPE, parse_commitmeta
    from ..store.signing import GPGSIGS
    v = parse_commitmeta(gvariant.normal_form(COMMITMETA_TYPE, sig)).get(GPGSIGS)
    if v is None or v.type != "aay":
        return ""
    keyring = keyring_from_files(global_keyring_files() + (keyring_dir_files(homedir) if homedir else []))
    try:
        checks = verify_detached(data, b"".join(bytes(x) for x in v.value), keyring)
    except OpenPGPError as e:
        raise OstreeError(f"GPG: {e}") from None
    out = [f"\nFound {len(checks)} signature{'' if len(checks) == 1 else 's'} on the summary:\n"]
    out += ["\n" + "".join(f"  {line}\n" for line in c.describe().split("\n")) for c in checks]
    return "".join(out)


def cmd_summary(args: argparse.Namespace) -> int:
    from .summary import format_summary, metadata_keys, metadata_value, parse_add_metadata
    repo = _open_repo(args)
    if args.update:
        from ..remote.publish import regenerate_summary
        from ..store.signing import read_key_file
        keys = list(args.sign or [])
        if args.keys_file:
            keys += read_key_file(args.keys_file, args.sign_type or "ed25519", secret=True)
        regenerate_summary(repo, parse_add_metadata(args.add_metadata or []), sign_keys=keys,
                           sign_type=args.sign_type or "ed25519", gpg_key_ids=args.gpg_sign or (),
                           gpg_homedir=args.gpg_homedir)
        return 0
    if not (args.view or args.raw or args.list_metadata_keys or args.print_metadata_key):
        raise UsageError("No option specified; use -u to update summary")
    from ..remote.publish import read_summary
    data, _sig = read_summary(repo)
    if args.view or args.raw:
        sys.stdout.write(format_summary(data, raw=args.raw))
        if not args.raw:
            sys.stdout.write(_summary_signatures(data, _sig, args.gpg_homedir))
    elif args.list_metadata_keys:
        sys.stdout.write("".join(k + "\n" for k in metadata_keys(data)))
    else:
        sys.stdout.write(metadata_value(data, args.print_metadata_key))
    return 0
