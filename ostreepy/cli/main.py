"""The ``ostreepy`` command line: the ``ostree`` command line, subcommand for subcommand.

Flags and the output a script would parse (checksums, ls, log, refs,
rev-parse, prune's summary) are those of ostree, so the two can be swapped.
Errors print ``error: <message>`` and exit 1.

This module is the entry point and the parser only: the repository verbs are
in :mod:`ostreepy.cli.repo`, the other command groups in their own modules.
"""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import Any, Callable, List, Optional, Sequence

__all__ = ["FEATURES", "build_parser", "main"]


def _add_repo_arg(p: argparse.ArgumentParser, toplevel: bool = False) -> None:
    p.add_argument("--repo", metavar="PATH", default=None if toplevel else argparse.SUPPRESS,
                   help="Path to OSTree repository (default: $OSTREE_REPO)")


# ------------------------------------------------------------------ parser


def build_parser(only: Optional[str] = None) -> argparse.ArgumentParser:
    """The whole parser; with ``only``, every verb is listed (the overall help needs
    no more) but only the parser of the verb ``only`` names gets its options (``""``:
    none): adding the options of forty verbs is most of a short command's parsing."""
    from .._version import __version__
    # every subparser is made by the subparsers action as one of its parent's class
    parser = _Parser(prog="ostreepy", description="A pure-Python ostree")
    # ostree's YAML, which scripts grep for features ("- sign-ed25519"): only what
    # ostreepy really does is listed (FEATURES)
    parser.add_argument("--version", action=_VersionAction, nargs=0,
                        help=f"Print version information (ostreepy {__version__}) and exit")
    _add_repo_arg(parser, toplevel=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    table = _VerbTable()
    sub._name_parser_map = sub.choices = table

    for name, (help_text, fill) in _VERBS.items():
        if only is None or only == name:
            fill(sub.add_parser(name, help=help_text))
        else:
            table.unbuilt(sub, name, help_text, fill)

    for name, register in _EXTRA_PARSERS:
        register(sub)
    for command, help_text in _EXTRA_HELP.items():
        if all(modname != _EXTRA_COMMANDS[command] for modname, _ in _EXTRA_PARSERS):
            # listed in the overall help without importing the group: its own
            # parser is built when the command line names it
            table.unbuilt(sub, command, help_text, lambda p: None)
    return parser


def _terminal_columns() -> int:
    """shutil.get_terminal_size().columns, the width argparse formats to, found as shutil
    finds it (a positive $COLUMNS, else the terminal's, else 80)."""
    import os
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
        columns = columns or 80
    return columns


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, its width found without importing shutil (and with it bz2 and
    lzma): argparse makes one for every option added, so the first import was start-up
    every command paid (~2 ms); the text is the same."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: Optional[int] = None) -> None:
        super().__init__(prog, indent_increment, max_help_position,
                         _terminal_columns() - 2 if width is None else width)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)


class _VerbTable(dict):  # of str -> argparse.ArgumentParser
    """The top-level subparsers' verb -> parser table, where a verb the command line
    does not name is listed (its name and help line: all the overall help shows) and
    its parser made only if something looks it up: an ArgumentParser costs some 80 us
    to create, and there are forty verbs. Iterating gives the placeholders as they are."""

    def unbuilt(self, sub: "argparse._SubParsersAction[Any]", name: str, help_text: str,
                fill: Callable[[argparse.ArgumentParser], None]) -> None:
        # what add_parser(name, help=...) records, without the parser
        sub._choices_actions.append(sub._ChoicesPseudoAction(name, (), help_text))
        dict.__setitem__(self, name, _Unbuilt(sub, name, fill))  # type: ignore[assignment,misc]

    def __getitem__(self, name: str) -> argparse.ArgumentParser:
        value: object = dict.__getitem__(self, name)
        if isinstance(value, _Unbuilt):
            parser = value.sub._parser_class(prog=f"{value.sub._prog_prefix} {name}")
            value.fill(parser)
            dict.__setitem__(self, name, parser)
            return parser
        return value  # type: ignore[return-value]

    def get(self, name: str, default: object = None) -> object:  # type: ignore[override]
        return self[name] if name in self else default


class _Unbuilt:
    __slots__ = ("sub", "name", "fill")

    def __init__(self, sub: "argparse._SubParsersAction[Any]", name: str,
                 fill: Callable[[argparse.ArgumentParser], None]) -> None:
        self.sub, self.name, self.fill = sub, name, fill


_EXTRA_PARSERS: List = []


def _verb_init(p: argparse.ArgumentParser) -> None:
    _add_repo_arg(p)
    p.add_argument("--mode", default="bare", choices=["bare", "bare-user", "bare-user-only", "archive", "archive-z2"])
    p.add_argument("--collection-id", default=None)
    # ostree init ignores its positionals (basic-test.sh runs `init init --mode=archive`)
    p.add_argument("ignored", nargs="*", help=argparse.SUPPRESS)
    p.set_defaults(func="cmd_init")


def _verb_config(p: argparse.ArgumentParser) -> None:
    _add_repo_arg(p)
    p.add_argument("--group", default=None)
    p.add_argument("action")
    p.add_argument("key", nargs="*")
    p.set_defaults(func="cmd_config")


def _verb_commit(p: argparse.ArgumentParser) -> None:
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
    p.add_argument("--gpg-sign", action="append", metavar="KEY-ID", help="GPG Key ID to sign the commit with")
    p.add_argument("--gpg-homedir", metavar="HOMEDIR", help="GPG Homedir to use when looking for keyrings")

    p.add_argument("--generate-composefs-metadata", action="store_true")

    p.add_argument("-F", "--body-file", metavar="FILE")
    p.add_argument("--bootable", action="store_true")
    p.add_argument("--add-detached-metadata-string", action="append", metavar="KEY=VALUE")
    p.add_argument("--statoverride", metavar="PATH")
    p.add_argument("--skip-list", metavar="PATH")
    p.add_argument("--base", metavar="REV")
    p.add_argument("--consume", action="store_true")
    p.add_argument("--link-checkout-speedup", action="store_true")
    p.add_argument("-I", "--devino-canonical", action="store_true",
                   help="Assume hardlinked objects are unmodified.  Implies --link-checkout-speedup")
    p.add_argument("--table-output", action="store_true")
    p.add_argument("--mode-ro-executables", action="store_true")
    p.add_argument("--sign", action="append", metavar="KEY_ID")
    p.add_argument("--sign-from-file", action="append", metavar="PATH",
                   help="Sign the commit with key from the provided file")
    p.add_argument("--sign-type", metavar="NAME")
    p.add_argument("--tar-pathname-filter", metavar="REGEX,REPLACEMENT")
    p.add_argument("--generate-sizes", action="store_true")
    p.add_argument("--disable-fsync", action="store_true")
    p.add_argument("--editor", "-e", action="store_true")
    p.add_argument("path", nargs="?")
    p.set_defaults(func="cmd_commit")


def _verb_checkout(p: argparse.ArgumentParser) -> None:
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
    p.add_argument("--composefs", action="store_true")
    p.add_argument("--composefs-noverity", action="store_true")

    p.add_argument("--skip-list", metavar="PATH")
    p.add_argument("--allow-noent", action="store_true")
    # ostreepy never hardlinks an empty file (ostree's -z made the default)
    p.add_argument("-z", "--force-copy-zerosized", action="store_true")
    p.add_argument("--process-passthrough-whiteouts", action="store_true")
    p.add_argument("--disable-cache", action="store_true")
    p.add_argument("commit")
    p.add_argument("destination", nargs="?")
    p.set_defaults(func="checkout:cmd_checkout")


def _verb_ls(p: argparse.ArgumentParser) -> None:
    _add_repo_arg(p)
    p.add_argument("-R", "--recursive", action="store_true")
    p.add_argument("-C", "--checksum", action="store_true")
    p.add_argument("-X", "--xattrs", action="store_true")
    p.add_argument("-d", "--dironly", action="store_true")
    p.add_argument("rev", metavar="COMMIT")
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.set_defaults(func="cmd_ls")


def _verb_cat(p: argparse.ArgumentParser) -> None:
    _add_repo_arg(p)
    p.add_argument("rev", metavar="COMMIT")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(func="cmd_cat")


def _verb_show(p: argparse.ArgumentParser) -> None:
    _add_repo_arg(p)
    p.add_argument("--raw", action="store_true")
    p.add_argument("--print-metadata-key")
    p.add_argument("--print-detached-metadata-key")
    p.add_argument("--list-metadata-keys", action="store_true", help="List the available metadata keys")
    p.add_argument("--list-detached-metadata-keys", action="store_true",
                   help="List the available detached metadata keys")
    p.add_argument("--gpg-homedir", metavar="HOMEDIR", help="GPG Homedir to use when looking for keyrings")
    p.add_argument("--gpg-verify-remote", metavar="REMOTE", help="Use REMOTE name for GPG configuration")

    p.add_argument("-B", "--no-byteswap", action="store_true")
    p.add_argument("--print-hex", action="store_true",
                   help="For byte array valued keys, output an unquoted hexadecimal string")
    p.add_argument("--print-sizes", action="store_true", help="Show the commit size metadata")
    p.add_argument("rev", metavar="OBJECT")
    p.set_defaults(func="cmd_show")


def _verb_log(p: argparse.ArgumentParser) -> None:
    _add_repo_arg(p)
    p.add_argument("--raw", action="store_true")
    p.add_argument("rev")
    p.set_defaults(func="cmd_log")


def _verb_refs(p: argparse.ArgumentParser) -> None:
    _add_repo_arg(p)
    p.add_argument("--delete", action="store_true")
    p.add_argument("--list", action="store_true")
    p.add_argument("--create", metavar="NEWREF")
    p.add_argument("--force", action="store_true")
    p.add_argument("-r", "--revision", action="store_true")
    p.add_argument("-c", "--collections", action="store_true")
    p.add_argument("-A", "--alias", action="store_true")
    p.add_argument("prefixes", nargs="*", metavar="PREFIX")
    p.set_defaults(func="cmd_refs")


def _verb_rev_parse(p: argparse.ArgumentParser) -> None:
    _add_repo_arg(p)
    p.add_argument("-S", "--single", action="store_true")
    p.add_argument("revs", nargs="*", metavar="REV")
    p.set_defaults(func="cmd_rev_parse")


def _verb_reset(p: argparse.ArgumentParser) -> None:
    _add_repo_arg(p)
    p.add_argument("ref", metavar="REF")
    p.add_argument("rev", metavar="COMMIT")
    p.set_defaults(func="cmd_reset")


def _verb_fsck(p: argparse.ArgumentParser) -> None:
    _add_repo_arg(p)
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("--delete", action="store_true")
    p.add_argument("--verify-bindings", action="store_true")
    p.add_argument("--verify-back-refs", action="store_true")
    p.add_argument("--add-tombstones", action="store_true", help="Add tombstones for missing commits")
    p.set_defaults(func="cmd_fsck")


def _verb_prune(p: argparse.ArgumentParser) -> None:
    _add_repo_arg(p)
    p.add_argument("--no-prune", action="store_true")
    p.add_argument("--refs-only", action="store_true")
    p.add_argument("--depth", type=int, default=-1)
    p.add_argument("--keep-younger-than", metavar="DATE")
    p.add_argument("--delete-commit", action="append")
    p.add_argument("--commit-only", action="store_true")
    p.add_argument("--retain-branch-depth", action="append", metavar="BRANCH=DEPTH",
                   help="Additionally retain BRANCH=DEPTH commits")
    p.add_argument("--only-branch", action="append", metavar="BRANCH",
                   help="Only prune BRANCH (may be specified multiple times)")
    p.add_argument("--static-deltas-only", action="store_true",
                   help="Change the behavior of delete-commit and keep-younger-than to prune only static deltas")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func="prune:cmd_prune")


def _verb_export(p: argparse.ArgumentParser) -> None:
    _add_repo_arg(p)
    p.add_argument("--no-xattrs", action="store_true")
    p.add_argument("--output", "-o")
    p.add_argument("--subpath")
    p.add_argument("--prefix")
    p.add_argument("commit")
    p.set_defaults(func="cmd_export")


def _verb_sign(p: argparse.ArgumentParser) -> None:
    _add_repo_arg(p)
    p.add_argument("-s", "--sign-type", default=None, help="ed25519 (default) or dummy")
    p.add_argument("--verify", action="store_true")
    p.add_argument("--keys-file", help="Read keys from this file (one base64 key per line)")
    p.add_argument("--keys-dir", help="Use this directory instead of /etc/ostree and /usr/share/ostree")
    p.add_argument("commit")
    p.add_argument("keys", nargs="*", metavar="KEY-ID")
    p.set_defaults(func="cmd_sign")


def _verb_summary(p: argparse.ArgumentParser) -> None:
    _add_repo_arg(p)
    p.add_argument("-u", "--update", action="store_true", help="Update the summary")
    p.add_argument("-v", "--view", action="store_true", help="View the local summary file")
    p.add_argument("--raw", action="store_true", help="View the raw bytes of the summary file")
    p.add_argument("--list-metadata-keys", action="store_true", help="List the available metadata keys")
    p.add_argument("--print-metadata-key", metavar="KEY", help="Print string value of metadata key")
    p.add_argument("--gpg-sign", action="append", metavar="KEY-ID", help="GPG Key ID to sign the summary with")
    p.add_argument("--gpg-homedir", metavar="HOMEDIR", help="GPG Homedir to use when looking for keyrings")
    p.add_argument("--sign", action="append", metavar="KEY-ID", help="Key ID to sign the summary with")
    p.add_argument("--sign-type", metavar="NAME", help="Signature type to use (defaults to 'ed25519')")
    p.add_argument("--keys-file", metavar="PATH", help="Read secret keys from this file (one base64 key per line)")
    p.add_argument("-m", "--add-metadata", action="append", metavar="KEY=VALUE",
                   help="Additional metadata field to add to the summary")
    p.set_defaults(func="cmd_summary")


def _verb_pull(p: argparse.ArgumentParser) -> None:
    _add_repo_arg(p)
    p.add_argument("--mirror", action="store_true")
    p.add_argument("--depth", type=int, default=0)
    p.add_argument("--commit-metadata-only", action="store_true")
    p.add_argument("--disable-static-deltas", action="store_true")
    p.add_argument("--require-static-deltas", action="store_true")
    p.add_argument("--subpath", action="append", default=[])
    p.add_argument("-L", "--localcache-repo", action="append", default=[])
    p.add_argument("-T", "--timestamp-check", action="store_true")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--untrusted", action="store_true")
    p.add_argument("--disable-fsync", action="store_true")
    # ostreepy's fsync policy is its own; the flag is taken, as scripts pass it
    p.add_argument("--per-object-fsync", action="store_true")
    p.add_argument("--http-header", action="append", default=[], metavar="NAME=VALUE",
                   help="Add NAME=VALUE as HTTP header to all requests")
    p.add_argument("--append-user-agent", metavar="NAME/VERSION",
                   help="Append NAME/VERSION to the User-Agent")
    p.add_argument("--disable-verify-bindings", action="store_true")
    p.add_argument("--url", metavar="URL", help="Pull objects from this URL instead of the one from the remote config")
    p.add_argument("--bareuseronly-files", action="store_true",
                   help="Reject regular files with mode outside of 0775 (world writable, suid, etc.)")
    p.add_argument("--http-trusted", action="store_true",
                   help="Do not verify checksums of local (non-HTTP) content and of mirrored HTTP content")
    p.add_argument("--timestamp-check-from-rev", metavar="COMMIT",
                   help="Verify that all fetched commits have timestamps newer than COMMIT")
    p.add_argument("--network-retries", type=int, metavar="N", help="Specifies how many times each download "
                   "should be retried upon error (default: 5)")
    p.add_argument("--update-frequency", type=int, metavar="FREQUENCY",
                   help="Sets the update callback frequency, in milliseconds (default: 1000)")
    p.add_argument("--cache-dir", metavar="DIR", help="Use custom cache dir")
    p.add_argument("remote", metavar="REMOTE")
    p.add_argument("refs", nargs="*", metavar="BRANCH")
    p.set_defaults(func="pull:cmd_pull")


def _verb_pull_local(p: argparse.ArgumentParser) -> None:
    _add_repo_arg(p)
    p.add_argument("--remote")
    p.add_argument("--untrusted", action="store_true")
    p.add_argument("--depth", type=int, default=0)
    p.add_argument("--commit-metadata-only", action="store_true")
    p.add_argument("--disable-fsync", action="store_true")
    p.add_argument("--disable-static-deltas", action="store_true")
    p.add_argument("--require-static-deltas", action="store_true")
    p.add_argument("--disable-verify-bindings", action="store_true")
    p.add_argument("--bareuseronly-files", action="store_true",
                   help="Reject regular files with mode outside of 0775 (world writable, suid, etc.)")
    p.add_argument("--gpg-verify", action="store_true", help="GPG verify commits (must specify --remote)")
    p.add_argument("--gpg-verify-summary", action="store_true",
                   help="GPG verify summary (must specify --remote)")
    p.add_argument("src_repo", metavar="SRC_REPO")
    p.add_argument("refs", nargs="*", metavar="REFS")
    p.set_defaults(func="pull:cmd_pull_local")


def _verb_find_remotes(p: argparse.ArgumentParser) -> None:
    # the P2P verbs (cli/p2p.py)
    _add_repo_arg(p)
    p.add_argument("--cache-dir", metavar="DIR", help="Use custom cache dir")
    p.add_argument("--disable-fsync", action="store_true", help="Do not invoke fsync()")
    p.add_argument("--finders", metavar="FINDERS",
                   help="Use the specified comma separated list of finders (e.g. config,lan,mount)")
    p.add_argument("--pull", action="store_true", help="Pull the updates after finding them")
    p.add_argument("--mirror", action="store_true", help="Do a mirror pull (see ostree pull --mirror)")
    p.add_argument("pairs", nargs="*", metavar="COLLECTION-ID REF")
    p.set_defaults(func="p2p:cmd_find_remotes")


def _verb_create_usb(p: argparse.ArgumentParser) -> None:
    _add_repo_arg(p)
    p.add_argument("--disable-fsync", action="store_true", help="Do not invoke fsync()")
    p.add_argument("--destination-repo", metavar="DEST", help="Use custom repository directory within the mount")
    p.add_argument("--commit", metavar="COMMIT",
                   help="Pull a specific commit (only works when a single ref is specified)")
    p.add_argument("mount_path", nargs="?", metavar="MOUNT-PATH")
    p.add_argument("pairs", nargs="*", metavar="COLLECTION-ID REF")
    p.set_defaults(func="p2p:cmd_create_usb")


def _verb_gpg_sign(p: argparse.ArgumentParser) -> None:
    _add_repo_arg(p)
    p.add_argument("-d", "--delete", action="store_true", help="Delete signatures having any of the GPG KEY-IDs")
    p.add_argument("--gpg-homedir", metavar="HOMEDIR", help="GPG Homedir to use when looking for keyrings")
    p.add_argument("commit", nargs="?")
    p.add_argument("keys", nargs="*", metavar="KEY-ID")
    p.set_defaults(func="cmd_gpg_sign")


def _verb_diff(p: argparse.ArgumentParser) -> None:
    _add_repo_arg(p)
    p.add_argument("--stats", action="store_true")
    p.add_argument("--fs-diff", action="store_true")
    p.add_argument("-X", "--no-xattrs", action="store_true")
    p.add_argument("--owner-uid", type=int)
    p.add_argument("--owner-gid", type=int)
    p.add_argument("revs", nargs="*", metavar="REV_OR_DIR")
    p.set_defaults(func="diff:cmd_diff")


def _verb_checksum(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ignore-xattrs", action="store_true")
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.set_defaults(func="diff:cmd_checksum")


# verb -> (its line in the overall help, what fills its parser)
_VERBS = {
    "init": ("Initialize a new empty repository", _verb_init),
    "config": ("Change repo configuration settings", _verb_config),
    "commit": ("Commit a new revision", _verb_commit),
    "checkout": ("Check out a commit into a filesystem tree", _verb_checkout),
    "ls": ("List file paths", _verb_ls),
    "cat": ("Concatenate contents of files", _verb_cat),
    "show": ("Output a metadata object", _verb_show),
    "log": ("Show log starting at commit or ref", _verb_log),
    "refs": ("List refs", _verb_refs),
    "rev-parse": ("Output the target of a rev", _verb_rev_parse),
    "reset": ("Reset a REF to a previous COMMIT", _verb_reset),
    "fsck": ("Check the repository for consistency", _verb_fsck),
    "prune": ("Search for unreachable objects", _verb_prune),
    "export": ("Stream COMMIT to stdout in tar format", _verb_export),
    "sign": ("Sign a commit, or verify its signatures", _verb_sign),
    "summary": ("Manage summary metadata", _verb_summary),
    "pull": ("Download data from remote repository", _verb_pull),
    "pull-local": ("Copy data from SRC_REPO", _verb_pull_local),
    "find-remotes": ("Find remotes to serve the given refs", _verb_find_remotes),
    "create-usb": ("Copy the refs in a collection to a USB stick", _verb_create_usb),
    "gpg-sign": ("Sign a commit with GPG", _verb_gpg_sign),
    "diff": ("Compare directory TARGETDIR against revision REV", _verb_diff),
    "checksum": ("Checksum a file or directory", _verb_checksum),
}

# ostree's own tests choose their blocks from this list (libtest.sh greps `- gpgme`,
# `- composefs`): a name is listed once the command line does what those blocks check.
# `p2p`: find-remotes and create-usb (config and mount finders; no avahi, as ostree
# lists none without it).
FEATURES = ("initial-var", "gpgme", "composefs", "libarchive", "sign-ed25519", "sign-spki", "p2p")


class _VersionAction(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: Optional[str] = None) -> None:
        from .._version import __version__
        sys.stdout.write(f"libostree:\n Version: '{__version__}'\n Implementation: 'ostreepy'\n Features:\n"
                         + "".join(f"  - {f}\n" for f in FEATURES))
        parser.exit()


_EXTRA_COMMANDS = {"admin": "ostreepy.cli.admin", "container": "ostreepy.cli.container",
                   "bootc": "ostreepy.cli.bootc", "remote": "ostreepy.cli.remote",
                   "composefs": "ostreepy.cli.composefs", "static-delta": "ostreepy.cli.delta",
                   "image": "ostreepy.cli.image"}
_EXTRA_HELP = {"admin": "Commands for managing a host system booted with ostree",
               "remote": "Remote commands that may involve internet access",
               "container": "Import and export container images",
               "bootc": "Deploy and update a host from bootable container images",
               "composefs": "Create and inspect composefs images",
               "static-delta": "Static delta related commands",
               "image": "Build disk images from bootable container images"}


def _register_extras(argv: Optional[Sequence[str]] = None) -> None:
    """The admin, container and bootc verbs live in their own modules, which pull in
    the sysroot, bootloader and image code; they are imported only when the command
    line names them (the overall help lists them from :data:`_EXTRA_HELP`), so that
    `ostreepy checkout` and `ostreepy --help` start as fast as they can."""
    argv = list(argv if argv is not None else sys.argv[1:])
    first = _first_word(argv)
    if first is not None and first[1] in _EXTRA_COMMANDS:
        # only the group named: `container image pull` must not load the disk-image group
        wanted = [_EXTRA_COMMANDS[first[1]]]
    else:
        words = set(argv)
        wanted = [m for c, m in _EXTRA_COMMANDS.items() if c in words]
    _EXTRA_PARSERS.clear()
    for modname in wanted:
        try:
            mod = __import__(modname, fromlist=["register"])
        except ImportError:
            continue
        _EXTRA_PARSERS.append((modname, mod.register))


_TOPLEVEL_WITH_VALUE = ("--repo",)


def _command_first(argv: List[str]) -> List[str]:
    """GLib's option parser, which ostree uses, takes options anywhere: `ostree
    --repo=R --print-metadata-key=K show REF` is `show` with both. The command word
    (the first one that is not an option) is moved to the front, the options before
    it to the end, so that argparse's subparser sees every option."""
    found = _first_word(argv)
    if found is None or found[0] == 0 or argv[found[0] - 1] == "--":
        return argv
    i = found[0]
    # after the rest, so that they reach the innermost verb (`remote add` has --repo)
    return [argv[i]] + argv[i + 1:] + argv[:i]


def _verb_first(parser: argparse.ArgumentParser, argv: List[str]) -> List[str]:
    """The same for a command group's verb: `ostree remote --set=K=V add NAME URL` is
    `remote add` with the option (GLib parses the group's options with the verb's).
    Only options written as one word may come before the verb; otherwise argv is left
    for argparse to judge."""
    if not argv:
        return argv
    top = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    group = top.choices.get(argv[0])
    if group is None:
        return argv
    verbs = next((a for a in group._actions if isinstance(a, argparse._SubParsersAction)), None)
    if verbs is None:
        return argv
    rest = argv[1:]
    j = next((k for k, w in enumerate(rest) if not w.startswith("-")), None)
    if not j or rest[j] not in verbs.choices or "--" in rest[:j]:
        return argv
    return [argv[0], rest[j]] + rest[j + 1:] + rest[:j]


def _first_word(argv: List[str]) -> "Optional[tuple]":
    """(index, word) of the command word, or None when there is none."""
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            return (i + 1, argv[i + 1]) if i + 1 < len(argv) else None
        if word.startswith("-"):
            i += 2 if word in _TOPLEVEL_WITH_VALUE else 1
            continue
        return i, word
    return None


def _glib_help(parser: argparse.ArgumentParser, argv: List[str]) -> Optional[int]:
    """``--help``, and a command group run without a verb or with one it does not
    know, as ostree answers them (see :mod:`ostreepy.cli.glibhelp`); None when
    argparse is to go on."""
    opts = argv[:argv.index("--")] if "--" in argv else argv
    help_asked = any(a in ("-h", "--help") for a in opts)
    word = _first_word(argv)
    if not help_asked and word is not None:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if not any(isinstance(a, argparse._SubParsersAction) for a in sub.choices[word[1]]._actions):
            return None  # a repository verb: nothing to check, nothing more to import
    from . import glibhelp
    words, target, unknown = glibhelp.command_path(parser, argv)
    parent = None
    for p in _parsers_along(parser, words)[:-1]:
        parent = p
    if help_asked:
        sys.stdout.write(glibhelp.format_help(words, target, parent))
        return 0
    if not any(isinstance(a, argparse._SubParsersAction) for a in target._actions):
        return None
    if unknown is not None:
        message = glibhelp.unknown_command_error(words, unknown)
    elif "--version" in opts or (words == ["admin"] and "--print-current-dir" in opts):
        return None
    else:
        message = glibhelp.no_command_error(words)
    sys.stderr.write(glibhelp.format_help(words, target, parent) + f"error: {message}\n")
    return 1


def _parsers_along(parser: argparse.ArgumentParser, words: List[str]) -> List[argparse.ArgumentParser]:
    out = [parser]
    for w in words:
        sub = next(a for a in out[-1]._actions if isinstance(a, argparse._SubParsersAction))
        out.append(sub.choices[w])
    return out


def _run_extension(argv: List[str], i: int, name: str, parser: argparse.ArgumentParser) -> int:
    """ostree's CLI extensions: an unknown COMMAND runs `ostree-COMMAND` from PATH with
    the rest of the arguments, as ot-main.c does."""
    import os
    import shutil
    path = shutil.which(f"ostree-{name}") if "/" not in name else None
    if path is None:
        from . import glibhelp
        sys.stderr.write(glibhelp.format_help([], parser) + f"error: Unknown command '{name}'\n")
        return 1
    sys.stdout.flush()
    os.execv(path, [path] + argv[i + 1:])
    return 1  # pragma: no cover - execv does not return


def _parse(parser: argparse.ArgumentParser, argv: List[str]) -> argparse.Namespace:
    """As GLib does, options may come between positionals (`checkout -U t --union u`):
    a repository verb is parsed intermixed; the command groups (admin, container,
    bootc), which have verbs of their own, are parsed as argparse does."""
    if not argv or any(a in ("-h", "--help") for a in argv):
        return parser.parse_args(argv)
    # down the verbs the words name (`remote add`, `admin instutil set-kargs`), so
    # that the innermost one, too, takes options between its positionals
    # (`remote add NAME --set=K=V URL`)
    outer: List[tuple] = []
    level, depth = parser, 0
    while True:
        groups = [a for a in level._actions if isinstance(a, argparse._SubParsersAction)]
        if not groups or depth >= len(argv) or argv[depth] not in groups[0].choices:
            break
        outer.append((level, groups[0].dest, argv[depth]))
        level, depth = groups[0].choices[argv[depth]], depth + 1
    if depth == 0 or any(isinstance(a, argparse._SubParsersAction) for a in level._actions):
        return parser.parse_args(argv)
    try:
        ns = level.parse_intermixed_args(_glib_flag_values(level, argv[depth:]))
    except TypeError:  # a verb argparse cannot parse intermixed (REMAINDER)
        return parser.parse_args(argv)
    # the outer levels' defaults only where the verb set nothing, as argparse does
    for p, dest, word in outer:
        setattr(ns, dest, word)
        for a in p._actions:
            if a.dest is not argparse.SUPPRESS and a.default is not argparse.SUPPRESS and not hasattr(ns, a.dest):
                setattr(ns, a.dest, a.default)
        for k, v in p._defaults.items():
            if not hasattr(ns, k):
                setattr(ns, k, v)
    return ns


def _glib_flag_values(parser: argparse.ArgumentParser, args: List[str]) -> List[str]:
    """GLib gives an option without an argument (G_OPTION_ARG_NONE) a value
    written with '=' and ignores it: `pull-local --gpg-verify=true` (test-admin-gpg.sh),
    even `--gpg-verify=false`, is the flag (goption.c, parse_long_option)."""
    flags = {o for a in parser._actions if a.nargs == 0 for o in a.option_strings if o.startswith("--")}
    out: List[str] = []
    for i, a in enumerate(args):
        if a == "--":
            return out + args[i:]
        name = a.split("=", 1)[0]
        out.append(name if "=" in a and name in flags and name not in ("--help", "--version") else a)
    return out


def _parse_command_line(argv: list[str]) -> argparse.Namespace | int:
    """The parsed command line, or the exit code of a command line answered here (help, an
    extension run, a mistake)."""
    _register_extras(argv)
    first = _first_word(argv)
    parser = build_parser(only=first[1] if first is not None else "")
    argv = _verb_first(parser, argv)
    word = _first_word(argv)
    if word is not None:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if word[1] not in sub.choices:
            return _run_extension(argv, word[0], word[1], parser)
    done = _glib_help(parser, argv)
    if done is not None:
        return done
    args = _parse(parser, argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 1
    # registered only for a command that runs, so --help imports no store
    from .run import register_hooks
    register_hooks()
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Parse the command line and run it (the program's entry, :func:`ostreepy.cli.entry.main`,
    runs a plain ``composefs create`` without parsing here)."""
    from .run import run, claim_process
    claim_process()
    args = _parse_command_line(_command_first(list(sys.argv[1:] if argv is None else argv)))
    if isinstance(args, int):
        return args
    func = args.func
    if isinstance(func, str):  # a repository verb: its module is imported only to run it
        # "module:function" for verbs outside cli/repo.py (pull, pull-local)
        modname, _, name = func.rpartition(":")
        import importlib
        func = getattr(importlib.import_module(f"ostreepy.cli.{modname or 'repo'}"), name)
    return run(func, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
