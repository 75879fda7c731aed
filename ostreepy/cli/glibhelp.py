"""``--help`` in the shape ostree prints it (GLib's ``g_option_context_get_help``),
built from the argparse parsers, so no command's help text is written twice.

ostree's help is::

    Usage:
      ostree checkout [OPTION…] COMMIT [DESTINATION]

    Check out a commit into a filesystem tree

    Help Options:
      -h, --help        Show help options

    Application Options:
      --repo=PATH       Path to OSTree repository ...

and, for a command with verbs of its own, a ``Builtin "admin" Commands:`` list
(``Builtin Commands:`` at the top) that scripts read (ostree's test-help.sh
walks it). The columns are GLib's: the option column is as wide as the widest
``-s, --long=ARG`` plus 4 (at least ``-?, --help``), the command list is
ot-main.c's ``%-18s`` (``%-19s`` under ``admin``, ``%-24s`` under ``admin
instutil``, ``%-17s`` under ``static-delta``). A command with verbs run without one, or with a verb it does
not know, prints this help to stderr and ``error: No "admin" subcommand
specified`` / ``error: Unknown "admin" subcommand 'X'``, as ostree does.

Pure text: the caller (cli/main.py) finds the parser and prints.
"""

from __future__ import annotations

import argparse

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence, Tuple

__all__ = ["PROG", "command_path", "format_help", "no_command_error", "unknown_command_error"]

#: the program name in usage lines: ostreepy stands in for ``ostree`` (ostree's own
#: scripts check that ``ostree admin deploy --help`` says ``ostree admin deploy``)
PROG = "ostree"

# ot-main.c and the groups' own %-Ns
_COMMAND_WIDTH: Dict[Tuple[str, ...], int] = {(): 18, ("admin",): 19, ("admin", "instutil"): 24, ("static-delta",): 17}
# g_option_context_new's parameter string where it is not the positionals'
_PARAMETERS: Dict[Tuple[str, ...], str] = {("admin",): "--print-current-dir|COMMAND"}
_ELLIPSIS = "\u2026"


def _subparsers(parser: argparse.ArgumentParser) -> Optional[argparse._SubParsersAction]:
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            return a
    return None


def _takes_value(parser: argparse.ArgumentParser, word: str) -> bool:
    """True when option ``word`` (no ``=VALUE``) eats the next word."""
    if "=" in word or not word.startswith("-"):
        return False
    action = parser._option_string_actions.get(word)
    return action is not None and action.nargs != 0


def command_path(parser: argparse.ArgumentParser,
                 argv: Sequence[str]) -> Tuple[List[str], argparse.ArgumentParser, Optional[str]]:
    """The verbs ``argv`` names down the parser tree: (words, innermost parser, the
    first positional word after them that is not one of its verbs, if any)."""
    words: List[str] = []
    current = parser
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            break
        if word.startswith("-"):
            i += 2 if _takes_value(current, word) else 1
            continue
        sub = _subparsers(current)
        if sub is None:
            return words, current, None
        if word not in sub.choices:
            return words, current, word
        words.append(word)
        current = sub.choices[word]
        i += 1
    return words, current, None


def _summary(parent: Optional[argparse.ArgumentParser], name: str) -> Optional[str]:
    if parent is None:
        return None
    sub = _subparsers(parent)
    if sub is None:
        return None
    for ca in sub._choices_actions:
        if ca.dest == name or getattr(ca, "metavar", None) == name:
            return ca.help
    return None


def _commands(sub: argparse._SubParsersAction) -> List[Tuple[str, str]]:
    helps = {ca.dest: ca.help or "" for ca in sub._choices_actions}
    seen: List[Tuple[str, str]] = []
    names = set()
    for name, p in sub.choices.items():
        if name not in helps or id(p) in names:  # aliases are not listed
            continue
        names.add(id(p))
        seen.append((name, helps[name]))
    return seen


def _metavar(action: argparse.Action) -> str:
    if action.metavar is not None:
        return action.metavar if isinstance(action.metavar, str) else " ".join(action.metavar)
    return action.dest.upper().replace("_", "-")


def _parameters(parser: argparse.ArgumentParser) -> str:
    out = []
    for a in parser._actions:
        if a.option_strings or a.help == argparse.SUPPRESS:
            continue
        if isinstance(a, argparse._SubParsersAction):
            out.append("COMMAND")
            continue
        m = _metavar(a)
        if any(c in m for c in " []|"):  # a parameter string of its own
            out.append(m)
        elif a.nargs == "?":
            out.append(f"[{m}]")
        elif a.nargs == "*":
            out.append(f"[{m}...]")
        elif a.nargs == "+":
            out.append(f"{m}...")
        else:
            out.append(m)
    return " ".join(out)


def _option_entries(parser: argparse.ArgumentParser) -> List[Tuple[Optional[str], str, Optional[str], str]]:
    """(short, long, arg, description) of each visible option, as GOptionEntry."""
    out = []
    for a in parser._actions:
        if not a.option_strings or a.help == argparse.SUPPRESS or isinstance(a, argparse._HelpAction):
            continue
        short = next((o[1:] for o in a.option_strings if len(o) == 2 and o[0] == "-" and o[1] != "-"), None)
        long = next((o[2:] for o in a.option_strings if o.startswith("--")), None)
        if long is None:  # GLib has no short-only options; show the short one alone
            long = ""
        arg = None if a.nargs == 0 else _metavar(a)
        out.append((short, long, arg, a.help or ""))
    return out


def _options_block(title: str, entries: Sequence[Tuple[Optional[str], str, Optional[str], str]],
                   width: int) -> List[str]:
    lines = [f"{title}:"]
    for short, long, arg, desc in entries:
        if short and long:
            s = f"  -{short}, --{long}"
        elif short:
            s = f"  -{short}"
        else:
            s = f"  --{long}"
        if arg:
            s += f"={arg}"
        lines.append(f"{s}{' ' * max(0, width + 4 - len(s))} {desc}".rstrip())
    return lines + [""]


def format_help(words: Sequence[str], parser: argparse.ArgumentParser,
                parent: Optional[argparse.ArgumentParser] = None) -> str:
    """The help of the command ``words`` (``[]``: ostree itself; ``["admin",
    "deploy"]``) whose parser is ``parser`` and whose parent parser is ``parent``."""
    key = tuple(words)
    prog = " ".join([PROG, *words])
    params = _PARAMETERS.get(key) or _parameters(parser)
    lines = ["Usage:", f"  {prog} [OPTION{_ELLIPSIS}]" + (f" {params}" if params else ""), ""]
    summary = _summary(parent, words[-1]) if words else None
    if summary:
        lines += [summary, ""]
    sub = _subparsers(parser)
    if sub is not None:
        width = _COMMAND_WIDTH.get(key, 18)
        title = "Builtin Commands:" if not words else f'Builtin "{" ".join(words)}" Commands:'
        lines.append(title)
        for name, desc in _commands(sub):
            lines.append(f"  {name:<{width}}{desc}".rstrip())
        lines.append("")
    entries = _option_entries(parser)
    width = len("-?, --help")
    for short, long, arg, _desc in entries:
        width = max(width, len(long) + (4 if short else 0) + (1 + len(arg) if arg else 0))
    width += 4  # GLib's "bit of padding"
    lines += _options_block("Help Options", [("h", "help", None, "Show help options")], width)
    if entries:
        lines += _options_block("Application Options", entries, width)
    return "\n".join(lines) + "\n"


def no_command_error(words: Sequence[str]) -> str:
    return "No command specified" if not words else f'No "{" ".join(words)}" subcommand specified'


def unknown_command_error(words: Sequence[str], name: str) -> str:
    return f"Unknown command '{name}'" if not words else f"Unknown \"{' '.join(words)}\" subcommand '{name}'"
