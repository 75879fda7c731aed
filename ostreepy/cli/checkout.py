"""The ``checkout`` verb: ot-builtin-checkout.c's checks of its options, then the checkout, by
:func:`ostreepy.store.checkout.checkout` (``--composefs``: the image, by
:func:`ostreepy.composefs.commit_image.write_commit_image`).

A checkout of an OS tree is short (ostree takes ~50 ms for a Debian minbase on tmpfs), so what it
imports is much of its time. A plain command line is read without argparse
(:func:`plain_checkout_args`, asked by :mod:`ostreepy.cli.entry`), and the options go to the store
as :func:`~ostreepy.store.checkout.light_options`: the command builds no attrs value (the
porcelain's result and options are attrs classes), so it imports neither argparse (~5 ms) nor
attrs with the porcelain (~25 ms).
"""

from __future__ import annotations

import os
import types

from .._process import gc_paused
from ..errors import OstreeError, PathNotFoundError
from .repoarg import UsageError
from .repoarg import open_repo as _open_repo
from .run import a_path, plain_args

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    import argparse
    from typing import List, Optional

    from ..store.repo import Repo

__all__ = ["cmd_checkout", "plain_checkout_args"]

#: ``checkout``'s options without a value (``cli.main._verb_checkout``) by their whole names, with
#: the destination argparse stores them under
_FLAGS = {
    "--user-mode": "user_mode", "--require-hardlinks": "require_hardlinks", "--force-copy": "force_copy",
    "--union": "union", "--union-add": "union_add", "--union-identical": "union_identical",
    "--whiteouts": "whiteouts", "--process-whiteouts": "whiteouts", "--bareuseronly-dirs": "bareuseronly_dirs",
    "--composefs": "composefs", "--composefs-noverity": "composefs_noverity", "--allow-noent": "allow_noent",
    "--force-copy-zerosized": "force_copy_zerosized",
    "--process-passthrough-whiteouts": "process_passthrough_whiteouts", "--disable-cache": "disable_cache"}
#: the one-letter spellings of some of them, each a word of its own (``-UH`` is argparse's to read)
_SHORT = {"-U": "--user-mode", "-H": "--require-hardlinks", "-C": "--force-copy", "-M": "--bareuseronly-dirs",
          "-z": "--force-copy-zerosized"}
_OPTIONS = {"--repo": a_path, "--subpath": lambda v: v, "--fsync": lambda v: v, "--skip-list": a_path}


def plain_checkout_args(argv: List[str]) -> Optional[types.SimpleNamespace]:
    """The namespace :mod:`ostreepy.cli.main`'s parser makes of a plain ``checkout`` command
    line (``[--repo=PATH] checkout [FLAGS] COMMIT [DESTINATION]``, options anywhere), read
    without argparse; None for anything else (help, an abbreviation, ``--``, a flag given twice
    as a value, a mistake), which argparse then reads and answers as it does."""
    words = [_SHORT.get(w, w) for w in argv]
    read = plain_args(words, frozenset(_FLAGS), _OPTIONS)
    if read is None:
        return None
    given, positionals = read
    if not 2 <= len(positionals) <= 3 or positionals[0] != "checkout":
        return None
    values: dict = {dest: False for dest in _FLAGS.values()}
    for name, value in given.items():
        # plain_args names a flag by its own words: --process-whiteouts is stored as whiteouts
        values[_FLAGS.get("--" + name.replace("_", "-"), name)] = value
    for dest in ("repo", "subpath", "fsync", "skip_list"):
        values.setdefault(dest, None)
    return types.SimpleNamespace(version=None, command="checkout", commit=positionals[1],
                                 destination=positionals[2] if len(positionals) == 3 else None,
                                 func="checkout:cmd_checkout", **values)


def cmd_checkout(args: argparse.Namespace) -> int:
    if args.composefs or args.composefs_noverity:
        # The cycle collector stays off from the store's imports to the image's last byte: the
        # library pauses it in the walk and in the writing, but between them (and in the imports)
        # it ran ~20 times (~3 ms) over the new tree and the modules' few cycles
        with gc_paused():
            return _write_image(_open_repo(args), args)
    repo = _open_repo(args)
    # ot-builtin-checkout.c's checks, in its order
    for a, b, names in ((args.union, args.union_add, "--union and --union-add"),
                        (args.union, args.union_identical, "--union and --union-identical"),
                        (args.union_add, args.union_identical, "--union-add and --union-identical"),
                        (args.require_hardlinks, args.force_copy, "--require-hardlinks and --force-copy")):
        if a and b:
            raise OstreeError(f"Cannot specify both {names}")
    if args.union_identical and not args.require_hardlinks:
        raise OstreeError("--union-identical requires --require-hardlinks")
    from ..store.checkout import CheckoutMode, Overwrite, checkout, light_options
    overwrite = Overwrite.NONE
    if args.union:
        overwrite = Overwrite.UNION_FILES
    elif args.union_add:
        overwrite = Overwrite.ADD_FILES
    elif args.union_identical:
        overwrite = Overwrite.UNION_IDENTICAL
    dest = args.destination or os.path.basename(args.commit)
    # ot-builtin-checkout.c's new_options_set: any of these takes ostree_repo_checkout_at,
    # which leaves the uncompressed-objects-cache alone; without them, checkout_tree uses it
    newer = (args.disable_cache or args.whiteouts or args.require_hardlinks or args.union_add or args.force_copy
             or args.force_copy_zerosized or args.bareuseronly_dirs or args.union_identical or args.skip_list
             or args.process_passthrough_whiteouts)
    csum = repo.resolve_rev(args.commit)
    assert csum is not None
    if args.allow_noent and args.subpath:
        try:
            repo.resolve_path(csum, args.subpath.strip("/"))
        except PathNotFoundError:
            return 0
    options = light_options(
        mode=CheckoutMode.USER if args.user_mode else CheckoutMode.NONE, overwrite=overwrite, subpath=args.subpath,
        process_whiteouts=args.whiteouts, no_copy_fallback=args.require_hardlinks, force_copy=args.force_copy,
        bareuseronly_dirs=args.bareuseronly_dirs, fsync=(args.fsync or "false").lower() == "true",
        skip_paths=frozenset(_skip_list(args.skip_list)) if args.skip_list else frozenset(),
        passthrough_whiteouts=args.process_passthrough_whiteouts, uncompressed_cache=not newer)
    checkout(repo, csum, dest, options)
    return 0


def _write_image(repo: Repo, args: argparse.Namespace) -> int:
    """``--composefs[-noverity]``: the image of ``args.commit`` written to ``args.destination``
    (the commit's name's last component when none is given), file digests in unless
    ``--composefs-noverity``; the image hashed only where a recorded digest is checked."""
    if (args.union or args.union_add or args.union_identical or args.whiteouts or args.subpath
            or args.user_mode or args.require_hardlinks or args.force_copy or args.bareuseronly_dirs):
        raise UsageError("Specified options are incompatible with --composefs")
    from ..composefs.commit_image import Verity, write_commit_image
    write_commit_image(repo, args.commit, args.destination or os.path.basename(args.commit),
                       Verity.NO if args.composefs_noverity else Verity.YES, digest=False)
    return 0


def _skip_list(path: str) -> List[str]:
    from .repo import _lines  # (with argparse, which the plain checkout does not import)
    return _lines(path)
