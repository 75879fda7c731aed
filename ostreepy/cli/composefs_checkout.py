"""``checkout --composefs`` and ``--composefs-noverity``: a commit's composefs image written to
a file (:func:`ostreepy.composefs.commit_image.write_commit_image`), as ``ostree checkout`` does.

Apart from :mod:`ostreepy.cli.repo` (whose ``cmd_checkout`` hands these flags here) so that a
plain command line of this kind, read by the program's entry without argparse
(:func:`plain_checkout_args`), loads neither the parser nor the porcelain: at ~80 ms for a
5,000-file commit, upstream's whole run, their import and the parse were ~10 ms of ours. This
module imports no more than ``os``, the process settings and the command line's helpers.
"""

from __future__ import annotations

import os

from .._process import gc_paused
from .repoarg import UsageError, open_repo
from .run import a_path, plain_args

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    import argparse

    from ..store.repo import Repo

__all__ = ["plain_checkout_args", "cmd_plain_checkout", "write_checkout_image"]

_FLAGS = frozenset({"--composefs", "--composefs-noverity"})
#: the options of ``checkout`` (``cli.main._verb_checkout``) a composefs image refuses, and the
#: flags it ignores: what argparse sets when they are not given
_CHECKOUT_DEFAULTS = {"user_mode": False, "require_hardlinks": False, "force_copy": False, "union": False,
                      "union_add": False, "union_identical": False, "whiteouts": False, "subpath": None,
                      "bareuseronly_dirs": False, "fsync": None, "skip_list": None, "allow_noent": False,
                      "force_copy_zerosized": False, "process_passthrough_whiteouts": False,
                      "disable_cache": False}


class _Args:
    """The namespace argparse would give (types.SimpleNamespace without the types module)."""

    def __init__(self, **values: object) -> None:
        self.__dict__.update(values)


def plain_checkout_args(argv: list[str]) -> _Args | None:
    """The namespace :mod:`ostreepy.cli.main`'s parser makes of a plain composefs checkout
    (``[--repo=PATH] checkout --composefs[-noverity] REF [DEST]``, the options anywhere), read
    without argparse; None for anything else (another verb or option, help, an abbreviation,
    ``--``, a mistake), which argparse then reads and answers as it does."""
    read = plain_args(argv, _FLAGS, {"--repo": a_path})
    if read is None:
        return None
    given, words = read
    if not 2 <= len(words) <= 3 or words[0] != "checkout" or not given.keys() & {"composefs", "composefs_noverity"}:
        return None
    values: dict[str, object] = {"repo": None, "composefs": False, "composefs_noverity": False}
    values.update(given)
    return _Args(version=None, command="checkout", **values, **_CHECKOUT_DEFAULTS, commit=words[1],
                 destination=words[2] if len(words) > 2 else None, func="cmd_checkout")


def cmd_plain_checkout(args: argparse.Namespace) -> int:
    """``cmd_checkout`` of a plain command line (:func:`plain_checkout_args`): its repository,
    then the image."""
    # The cycle collector stays off from the store's imports on: they (attrs above all) ran it
    # ~20 times (~3 ms) for the few cycles modules make, which live to the end anyway
    with gc_paused():
        return write_checkout_image(open_repo(args), args)


def write_checkout_image(repo: Repo, args: argparse.Namespace) -> int:
    """The image of ``args.commit`` written to ``args.destination`` (the commit's name's last
    component when none is given), file digests in unless ``--composefs-noverity``."""
    if (args.union or args.union_add or args.union_identical or args.whiteouts or args.subpath
            or args.user_mode or args.require_hardlinks or args.force_copy or args.bareuseronly_dirs):
        raise UsageError("Specified options are incompatible with --composefs")
    # The cycle collector stays off from the imports to the last byte written: the library pauses
    # it in the walk and in the writing, but between them it would walk the whole new tree once
    with gc_paused():
        from ..composefs.commit_image import Verity, write_commit_image
        write_commit_image(repo, args.commit, args.destination or os.path.basename(args.commit),
                           Verity.NO if args.composefs_noverity else Verity.YES, digest=False)
    return 0
