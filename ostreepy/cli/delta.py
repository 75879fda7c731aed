"""``ostreepy static-delta``: ostree's verbs (list, show, delete, generate,
apply-offline, verify, indexes, reindex) with its flags and output.

Registered as the ``admin`` group is (:data:`ostreepy.cli.main._EXTRA_COMMANDS`):
imported only when the command line names ``static-delta``, and even then the
delta code loads only when a verb runs. A plain ``static-delta apply-offline``
(the verb a client runs) is read without argparse (:func:`plain_apply_args`, from
:mod:`ostreepy.cli.entry`), as a plain ``pull`` is: this module imports neither.
"""

from __future__ import annotations

import sys
import types

from ..errors import OstreeError
from .run import a_path, plain_args

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    import argparse
    from typing import Callable, List, Optional

    from ..progress import ProgressEvent
    from ..store.repo import Repo
    from ..store.signing import Signer

_VERBS = {
    "list": "List static delta files",
    "show": "Dump information on a delta",
    "delete": "Remove a delta",
    "generate": "Generate static delta files",
    "apply-offline": "Apply static delta file",
    "verify": "Verify static delta signatures",
    "indexes": "List static delta indexes",
    "reindex": "Regenerate static delta indexes",
}


class _UsageError(OstreeError):
    pass


def plain_apply_args(argv: List[str]) -> Optional[types.SimpleNamespace]:
    """The namespace :func:`register`'s parser makes of a plain ``static-delta apply-offline``
    command line (``[--repo=PATH] static-delta apply-offline PATH``, ``--repo`` anywhere, once,
    its value in the same word or the next), read without importing argparse and building its
    parsers (a few milliseconds of an apply). None for anything else (help, key IDs, any other
    option, ``--``, a mistake): argparse reads that, as it reads any command line, and answers
    as it does."""
    read = plain_args(argv, (), {"--repo": a_path})
    if read is None:
        return None
    given, words = read
    if len(words) != 3 or words[:2] != ["static-delta", "apply-offline"]:
        return None
    return types.SimpleNamespace(sign_type=None, keys_file=None, keys_dir=None, repo=given.get("repo"),
                                 path=words[2], keys=[], command="static-delta", version=None,
                                 delta_verb="apply-offline", func=cmd_static_delta)


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    from .main import _add_repo_arg as add_repo_arg
    p = sub.add_parser("static-delta", help="Static delta related commands")
    add_repo_arg(p)
    verbs = p.add_subparsers(dest="delta_verb", metavar="VERB")
    for name, help_text in _VERBS.items():
        v = verbs.add_parser(name, help=help_text)
        add_repo_arg(v)
        if name in ("show", "delete"):
            v.add_argument("delta", nargs="?")
        elif name == "generate":
            v.add_argument("--from", dest="from_rev", metavar="REV")
            v.add_argument("--empty", action="store_true")
            v.add_argument("--inline", action="store_true")
            v.add_argument("--to", dest="to_rev", metavar="REV")
            v.add_argument("--disable-bsdiff", action="store_true")
            v.add_argument("-n", "--if-not-exists", action="store_true")
            v.add_argument("--set-endianness", metavar="ENDIAN")
            v.add_argument("--swap-endianness", action="store_true")
            v.add_argument("--min-fallback-size", metavar="SIZE")
            v.add_argument("--max-bsdiff-size", metavar="SIZE")
            v.add_argument("--max-chunk-size", metavar="SIZE")
            v.add_argument("--filename", metavar="FILENAME")
            v.add_argument("--sign", action="append", dest="sign_keys", metavar="KEY_ID")
            v.add_argument("--sign-type", metavar="NAME")
            v.add_argument("--keys-file", metavar="NAME")
            v.add_argument("to", nargs="?")
        elif name in ("apply-offline", "verify"):
            v.add_argument("--sign-type", metavar="NAME")
            v.add_argument("--keys-file", metavar="NAME")
            v.add_argument("--keys-dir", metavar="NAME")
            v.add_argument("path", nargs="?")
            v.add_argument("keys", nargs="*", metavar="KEY-ID")
        elif name == "reindex":
            v.add_argument("--to", dest="to_rev", metavar="REV")
    p.set_defaults(func=cmd_static_delta)


def _print(s: str = "") -> None:
    sys.stdout.write(s + "\n")


def _strtoull(text: str) -> int:
    # g_ascii_strtoull: leading digits, 0 when there are none
    digits = ""
    for c in text.strip():
        if not c.isdigit():
            break
        digits += c
    return int(digits) if digits else 0


def _signer(args: argparse.Namespace, type_: str) -> "Signer":
    from ..store.signing import Signer, load_public_keys
    keys: List[str] = list(args.keys)
    if keys and not args.keys_file:
        return Signer(type_, public=tuple(keys))
    loaded = load_public_keys(type_, args.keys_file,
                              (args.keys_dir,) if args.keys_dir else ("/etc/ostree", "/usr/share/ostree"))
    return Signer(type_, public=tuple(loaded.public) + tuple(keys), revoked=loaded.revoked)


def _check_delta_name(name: str) -> None:
    """_ostree_parse_delta_name's errors (FROM-TO or TO, each a checksum), which
    scripts grep: ``Invalid rev X``, ``Invalid character 'N' in rev 'X'``."""
    for part in name.split("-", 1):
        if len(part.encode("utf-8", "surrogateescape")) != 64:
            # quash_string_for_error_message: at most 64 bytes, newlines as spaces
            shown = part.encode("utf-8", "surrogateescape")[:64].decode("utf-8", "replace").replace("\n", " ")
            raise OstreeError(f"Invalid rev {shown}")
        bad = next((c for c in part.encode("utf-8", "surrogateescape") if c not in b"0123456789abcdef"), None)
        if bad is not None:
            raise OstreeError(f"Invalid character '{bad if bad < 128 else bad - 256}' in rev '{part}'")


def cmd_static_delta(args: argparse.Namespace) -> int:
    if getattr(args, "delta_verb", None) == "apply-offline":
        from .._process import gc_paused

        # The cycle collector stays off through an apply, as through a pull: its imports, the
        # part's instructions and the objects built ran it ~33 times (~5 ms CPU of the realistic
        # tree's delta) for little cyclic garbage
        with gc_paused():
            return _static_delta(args)
    return _static_delta(args)


def _static_delta(args: argparse.Namespace) -> int:
    verb = getattr(args, "delta_verb", None)
    if verb is None:
        raise _UsageError("No command specified")
    if verb == "apply-offline" and args.path:
        # part 0 read and inflated on a thread while the store loads and the repository
        # opens: apply_offline takes it if the superblock wants it (partread's docstring)
        import os

        from ..remote.deltas import partread
        partread.prefetch(os.path.join(partread.part_files(args.path)[0], "0"))
    from .repoarg import open_repo as _open_repo  # (not cli.repo's, which imports argparse)
    repo = _open_repo(args)
    if verb == "apply-offline":
        return _apply_offline(repo, args)
    # (apply-offline, the verb a client runs, does not load the deltas/ directory code)
    from ..remote.deltas import store
    if verb in ("list", "indexes"):
        names = store.list_deltas(repo) if verb == "list" else store.list_indexes(repo)
        for n in names or ["(No static deltas)" if verb == "list" else "(No static deltas indexes)"]:
            _print(n)
        return 0
    if verb == "reindex":
        to = repo.resolve_rev(args.to_rev) if args.to_rev else None
        store.reindex(repo, to)
        return 0
    if verb in ("show", "delete"):
        if not args.delta:
            raise _UsageError("DELTA must be specified")
        if "/" not in args.delta:
            _check_delta_name(args.delta)
        if verb == "show":
            for line in store.show_lines(repo, args.delta):
                _print(line)
        else:
            store.delete_delta(repo, args.delta)
        return 0
    if verb == "generate":
        return _generate(repo, args)
    if verb == "verify":
        if not args.path:
            raise _UsageError("DELTA must be specified")
        from ..remote.deltas.apply import verify_signature
        type_ = args.sign_type or "ed25519"
        sb, _ = store.load_superblock(repo, args.path)
        try:
            if not sb.signed:
                raise _UsageError("no signatures in static-delta")
            verify_signature(sb, _signer(args, type_).verify, type_)
        except OstreeError:
            _print("Verification fails")
            raise
        _print("Verification OK")
        return 0
    raise _UsageError(f'Unknown "static-delta" subcommand \'{verb}\'')


def _apply_offline(repo: "Repo", args: argparse.Namespace) -> int:
    if not args.path:
        raise _UsageError("PATH must be specified")
    from ..remote.deltas.apply import apply_offline_plain
    type_ = args.sign_type or "ed25519"
    given = _signer(args, type_).verify if args.keys or args.keys_file or args.keys_dir else None

    def load_verifier() -> Optional[Callable[[bytes, List[bytes]], str]]:
        if given is not None:
            return given
        # the system's keys (ostree.sign and its modules loaded) only for a signed superblock
        signer = _signer(args, type_)
        return signer.verify if signer.public else None

    apply_offline_plain(repo, args.path, load_verifier, type_)
    return 0


def _generate(repo: "Repo", args: argparse.Namespace) -> int:
    from ..progress import Message
    from ..remote.deltas.compile import GenerateOptions, generate
    from ..remote.deltas.format import delta_name
    from ..store.signing import read_key_file
    to_rev = args.to_rev or args.to
    if not to_rev:
        raise _UsageError("TO revision must be specified")
    from_source: Optional[str]
    if args.empty:
        if args.from_rev:
            raise _UsageError("Cannot specify both --empty and --from=REV")
        from_source = None
    elif args.from_rev is None:
        from_source = to_rev + "^"
    else:
        from_source = args.from_rev
    from_resolved = repo.resolve_rev(from_source) if from_source else None
    to_resolved = repo.resolve_rev(to_rev)
    assert to_resolved is not None  # resolve_rev raises for a missing rev
    if args.if_not_exists:
        from ..remote.deltas.store import query_exists
        name = delta_name(from_resolved, to_resolved)
        if query_exists(repo, name):
            _print(f"Delta {name} already exists.")
            return 0
    if args.set_endianness not in (None, "l", "B"):
        raise _UsageError(f"Invalid endianness '{args.set_endianness}'")
    big_endian = args.set_endianness == "B"  # the host (x86, arm64) is little-endian
    if args.swap_endianness:
        big_endian = not big_endian
    sign = None
    keys = list(args.sign_keys or [])
    if args.keys_file:
        keys += read_key_file(args.keys_file)
    if keys:
        sign = (args.sign_type or "ed25519", tuple(keys))
    opts = GenerateOptions(
        min_fallback_size=_strtoull(args.min_fallback_size) if args.min_fallback_size else 4,
        max_bsdiff_size=_strtoull(args.max_bsdiff_size) if args.max_bsdiff_size else 128,
        max_chunk_size=_strtoull(args.max_chunk_size) if args.max_chunk_size else 32,
        bsdiff=not args.disable_bsdiff, inline=args.inline, filename=args.filename, sign=sign,
        big_endian=big_endian)
    _print("Generating static delta:")
    _print(f"  From: {from_resolved or 'empty'}")
    _print(f"  To:   {to_resolved}")
    sys.stdout.flush()

    def log(ev: "ProgressEvent") -> None:
        if isinstance(ev, Message):
            sys.stderr.write(ev.text + "\n")

    generate(repo, from_resolved, to_resolved, opts, progress=log)
    return 0
