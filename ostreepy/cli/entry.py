"""The program's entry point: the ``ostreepy`` console script and ``python -m ostreepy``.

A plain ``composefs create`` command line (mkcomposefs's, whose small images are mostly
start-up) runs from here without importing argparse, the command-line parser or its help
(:func:`ostreepy.cli.composefs.plain_create_args` reads it) and, when this is the program's
entry, ends the process as the command returns, without the interpreter's teardown; nor does
a plain ``pull`` (:func:`ostreepy.cli.pull.plain_pull_args`), ``checkout``
(:func:`ostreepy.cli.checkout.plain_checkout_args`) or ``static-delta apply-offline``
(:func:`ostreepy.cli.delta.plain_apply_args`). Every other command line is
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

#: the command lines read without argparse: a word each holds; the module (of ostreepy.cli)
#: with its reader, which answers None for a line argparse is to read, and its command; and
#: whether the store's hooks are registered (commands that may move refs)
_PLAIN = (("pull", "pull", "plain_pull_args", "cmd_pull", True),
          ("checkout", "checkout", "plain_checkout_args", "cmd_checkout", False),
          ("apply-offline", "delta", "plain_apply_args", "cmd_static_delta", True))


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
    for word, module, reader, command, hooks in _PLAIN:
        if word not in words:
            continue
        # (__import__, not importlib.import_module: the importlib package brings warnings,
        # ~0.5 ms of every plain command's start-up)
        mod = getattr(__import__(f"{__package__}.{module}"), "cli").__dict__[module]
        args = getattr(mod, reader)(words)
        if args is None:
            continue
        claim_process()
        if hooks:
            register_hooks()
        code = run(getattr(mod, command), args)
        # its objects and refs are in and synced, its threads joined, its directories
        # closed: the interpreter's teardown (its modules, a pull walk's sets and trees) was
        # ~5-10 ms of a second pull's ~150
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
