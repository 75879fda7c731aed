"""How a parsed command runs (:func:`run`): ``ostree``'s error lines and exit codes, an error
being one ``error: MSG`` line and exit code 1. Shared by the program's entry
(:mod:`ostreepy.cli.entry`) and the command-line parser (:mod:`ostreepy.cli.main`).
"""

from __future__ import annotations

import sys

from ..errors import OstreeError

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping

__all__ = ["claim_process", "plain_args", "register_hooks", "run"]


def plain_args(argv: list[str], flags: Collection[str], options: Mapping[str, Callable[[str], object]]
               ) -> tuple[dict[str, object], list[str]] | None:
    """A plain command line read without argparse (whose import, parsers and parse are a few ms
    of a short command; see :mod:`ostreepy.cli.entry`): ``flags`` by their whole names without a
    value (True); ``options`` by their whole names, the value in the same word after ``=`` or
    the next, turned into what argparse stores by the option's function (None: not plain),
    each at most once; a lone ``-`` is a positional, as argparse has it. Returns (values by
    dest, positionals), or None for anything else (help, an abbreviation, ``--``, an option
    given twice, a mistake): argparse reads that and answers as it does."""
    values: dict[str, object] = {}
    positionals: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        i += 1
        if a[:1] != "-" or a == "-":
            positionals.append(a)
            continue
        name, eq, value = a.partition("=")
        dest = name[2:].replace("-", "_")
        if name in flags and not eq:
            values[dest] = True
            continue
        convert = options.get(name)
        if convert is None or dest in values:
            return None
        if not eq:
            if i >= len(argv):
                return None
            value = argv[i]
            i += 1
        converted = convert(value)
        if converted is None:
            return None
        values[dest] = converted
    return values, positionals


def a_path(value: str) -> str | None:
    """An option's path as :func:`plain_args` takes it: not empty, not like an option."""
    return value if value and value[:1] != "-" else None


def claim_process() -> None:
    """The command line owns its process (ostreepy._process): the deep recursion trees need,
    and process-wide settings such as glibc's malloc arenas for an image import."""
    from .. import _process
    _process.claim()
    # trees are walked recursively; a legal path can be thousands of directories deep
    # (Python >= 3.11 keeps such recursion off the C stack)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))


def register_hooks() -> None:
    """What a command that runs (not ``--help``) registers with the store, before it runs."""
    from ..store.hooks import on_refs_changed
    on_refs_changed(_auto_update_summary)


def _auto_update_summary(repo: object) -> None:
    # core.auto-update-summary: ostree_repo_regenerate_summary (unsigned) after refs changed
    from ..remote.publish import regenerate_summary
    regenerate_summary(repo)  # type: ignore[arg-type]


def run(func: Callable[[object], int | None], args: object) -> int:
    """``func(args)``'s exit code; an error is one ``error: MSG`` line and exit code 1 (130 for
    an interrupt)."""
    try:
        return func(args) or 0
    except BrokenPipeError:
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    except OSError as e:  # also the library's FileSystemError, an OstreeError too
        sys.stdout.flush()
        sys.stderr.write(f"error: {e.strerror or e}{': ' + str(e.filename) if e.filename else ''}\n")
        return 1
    except OstreeError as e:
        sys.stdout.flush()
        sys.stderr.write(f"error: {e}\n")
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
