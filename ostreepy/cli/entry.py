"""The program's entry point: the ``ostreepy`` console script and ``python -m ostreepy``.

A plain ``composefs create`` command line (mkcomposefs's, whose small images are mostly
start-up) runs from here without importing argparse, the command-line parser or its help
(:func:`ostreepy.cli.composefs.plain_create_args` reads it) and, when this is the program's
entry, ends the process as the command returns, without the interpreter's teardown; nor does
a plain ``pull`` (:func:`ostreepy.cli.pull.plain_pull_args`) or ``checkout --composefs[-noverity]``
(:func:`ostreepy.cli.composefs_checkout.plain_checkout_args`). Every other command line is
:func:`ostreepy.cli.main.main`'s. Either way the command runs through
:func:`ostreepy.cli.run.run`.
"""

from __future__ import annotations

import os
import sys

from .run import claim_process, register_hooks, run

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:2] == ["composefs", "create"]:
        from .composefs import plain_create_args
        # argv None: the program's entry, whose process ends when the command returns
        args = plain_create_args(words[2:], ends_process=argv is None)
        if args is not None:
            claim_process()
            code = run(args.func, args)
            # Nothing is left to do but the interpreter's teardown (its modules, the tree the
            # collector was told to keep): ~3 ms of a 7k-line dump's ~40
            return _end_process(code) if args.ends_process else code
    if "--composefs-noverity" in words or "--composefs" in words:
        from .composefs_checkout import cmd_plain_checkout, plain_checkout_args
        checkout_args = plain_checkout_args(words)
        if checkout_args is not None:
            claim_process()
            register_hooks()
            code = run(cmd_plain_checkout, checkout_args)  # type: ignore[arg-type]  # (argparse's, in kind)
            # the image is written, renamed and closed: the teardown would only free the modules
            return _end_process(code) if argv is None else code
    if "pull" in words:
        from .pull import cmd_pull, plain_pull_args
        pull_args = plain_pull_args(words)
        if pull_args is not None:
            claim_process()
            register_hooks()
            code = run(cmd_pull, pull_args)  # type: ignore[arg-type]  # (argparse's namespace, in kind)
            # the teardown of a pull (its modules, the walk's sets and trees) was ~5-10 ms of a
            # second pull's ~150: its objects and refs are in and synced, its threads joined
            return _end_process(code) if argv is None else code
    from .main import main as parse_and_run
    return parse_and_run(argv)


def _end_process(code: int) -> int:
    """End the process with ``code`` without the interpreter's teardown, once the output,
    written and closed, is flushed from Python's buffers, as the teardown would do."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        code = code or 120   # what the interpreter's exit answers when its flush fails
    os._exit(code)
