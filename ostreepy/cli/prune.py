"""The ``prune`` verb: ot-builtin-prune.c's checks of its options, the commits it is told to
delete, the prune (:func:`ostreepy.store.prune.prune_counts`), the static deltas to commits the
repository no longer has and the summary cache, then ostree's lines.

A prune of an OS tree's objects is short (ostree takes ~60 ms for 5,000 files on tmpfs, most of
it the kernel's unlinks), so what it imports is much of its time. A plain command line is read
without argparse (:func:`plain_prune_args`, asked by :mod:`ostreepy.cli.entry`), and the
command calls the store directly and prints the numbers it answers: it builds no attrs value
(the store's and the porcelain's result types are attrs classes), so it imports neither
argparse (~5 ms), typing, attrs nor the porcelain (~25 ms together). What
:func:`ostreepy.porcelain.prune` does beyond the store is done here the same way, the remote
room's modules imported only where there is a delta or a summary cache.
"""

from __future__ import annotations

import sys
import types

from ..errors import OstreeError
from .repoarg import UsageError, open_repo
from .run import a_path, plain_args

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    import argparse
    from typing import Dict, List, Optional


__all__ = ["cmd_prune", "plain_prune_args"]

#: ``prune``'s options without a value (``cli.main._verb_prune``), by their whole names
_FLAGS = ("--no-prune", "--refs-only", "--commit-only", "--static-deltas-only", "--verbose")


def _an_int(value: str) -> Optional[int]:
    """``--depth``'s value as argparse's ``int`` reads it, where it is plain decimal digits
    with a sign or none (argparse's other readings, ``" 5"``, ``"5_0"``, are left to it)."""
    digits = value[1:] if value[:1] in ("+", "-") else value
    return int(value) if digits.isdigit() and digits.isascii() else None


def _a_value(value: str) -> Optional[str]:
    """An option's value as :func:`plain_args` takes it: not empty, not like an option (which
    argparse would refuse as the next word)."""
    return value if value and value[:1] != "-" else None


def _appended(value: str) -> Optional[List[str]]:
    """An ``append`` option given once (twice is argparse's to read)."""
    return [value] if _a_value(value) is not None else None


_OPTIONS = {"--repo": a_path, "--depth": _an_int, "--keep-younger-than": _a_value, "--delete-commit": _appended,
            "--retain-branch-depth": _appended, "--only-branch": _appended}
#: argparse's values of the options not given
_DEFAULTS = {"repo": None, "depth": -1, "keep_younger_than": None, "delete_commit": None,
             "retain_branch_depth": None, "only_branch": None}


def plain_prune_args(argv: List[str]) -> Optional[types.SimpleNamespace]:
    """The namespace :mod:`ostreepy.cli.main`'s parser makes of a plain ``prune`` command line
    (``[--repo=PATH] prune [FLAGS] [--depth=N] ...``, options anywhere, each given once), read
    without argparse; None for anything else (help, an abbreviation, ``--``, an option given
    twice, a GLib flag with a value, a mistake), which argparse then reads and answers as it does."""
    read = plain_args(["--verbose" if w == "-v" else w for w in argv], _FLAGS, _OPTIONS)
    if read is None:
        return None
    given, positionals = read
    if positionals != ["prune"]:
        return None
    values: dict = {name[2:].replace("-", "_"): False for name in _FLAGS}
    values.update(_DEFAULTS)
    values.update(given)
    return types.SimpleNamespace(version=None, command="prune", func="prune:cmd_prune", **values)


def cmd_prune(args: argparse.Namespace) -> int:
    repo = open_repo(args)
    keep = None
    if args.keep_younger_than:
        from .timeparse import parse_datetime  # (its tables: ~2 ms of a small prune)
        keep = parse_datetime(args.keep_younger_than)
        if keep is None:
            raise OstreeError(f"Could not parse '{args.keep_younger_than}'")
    if args.delete_commit and args.no_prune:
        raise UsageError("Cannot specify both --delete-commit and --no-prune")
    if args.static_deltas_only and not args.delete_commit:
        raise OstreeError("--static-deltas-only requires --delete-commit; "
                          "see https://github.com/ostreedev/ostree/issues/1479")
    retain: Dict[str, int] = {}
    for spec in args.retain_branch_depth or ():
        branch, eq, depthstr = spec.partition("=")
        if not eq:
            raise OstreeError(f"Invalid value {spec}, must specify BRANCH=DEPTH")
        retain[branch] = _strtoll_depth(depthstr)
    from ..remote.tidy import prune_static_deltas, tidy_after_prune
    from ..store.lock import EXCLUSIVE
    from ..store.prune import delete_commit, format_size, prune_counts
    for commit in args.delete_commit or ():
        if args.static_deltas_only:
            prune_static_deltas(repo, commit)
        else:
            delete_commit(repo, commit)
    with repo.locked(EXCLUSIVE):
        total, pruned, freed = prune_counts(
            repo, refs_only=args.refs_only, depth=args.depth, no_prune=args.no_prune, keep_younger_than=keep,
            commit_only=args.commit_only, retain_branch_depth=retain, only_branches=args.only_branch or ())
        tidy_after_prune(repo, deleted=not args.no_prune)
    out = sys.stdout.write
    out(f"Total (commit only) objects: {total}\n" if args.commit_only else f"Total objects: {total}\n")
    if pruned == 0:
        out("No unreachable objects\n")
    elif args.no_prune:
        out(f"Would delete: {pruned} objects, freeing {format_size(freed)}\n")
    else:
        out(f"Deleted {pruned} objects, {format_size(freed)} freed\n")
    return 0


def _strtoll_depth(text: str) -> int:
    """A --retain-branch-depth DEPTH as ostree reads it (g_ascii_strtoll: leading
    space and sign, the digits there are; none is an error)."""
    import re
    m = re.match(r"[ \t\n\v\f\r]*([+-]?\d+)", text)
    if m is None:
        raise OstreeError(f"Invalid depth {text}")
    n = int(m.group(1))
    if not -(1 << 31) <= n < (1 << 31):
        # ostree casts the gint64 to int
        n = (n + (1 << 31)) % (1 << 32) - (1 << 31)
    return n
