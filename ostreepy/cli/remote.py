"""``ostreepy remote``: the ``ostree remote`` verbs (add, delete, list,
show-url, refs, summary, gpg-import, gpg-list-keys, add-cookie, delete-cookie,
list-cookies).

Flags and printed text are ostree's (``ot-remote-builtin-*.c``); ``add`` builds
its options in the order ostree does (branches, contenturl, custom-backend,
``--set`` values, gpg-verify, sign-verify, collection-id), so the config text
written is the same. ``add``/``delete`` take ``--sysroot`` as ostree does (the
repository of that sysroot, whose deployment ``/etc/ostree/remotes.d`` gets new
remotes); the other verbs take it too, to read such remotes back. Registered
by :mod:`ostreepy.cli.main`; GPG verbs call :mod:`ostreepy.remote.keyring`.
"""

from __future__ import annotations

import argparse
import os
import sys
import importlib
from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple, Union

from ..errors import OstreeError

if TYPE_CHECKING:
    from types import ModuleType

    from ..store.repo import Repo

__all__ = ["register"]


class RemoteUsageError(OstreeError):
    pass


def _out(s: str) -> None:
    sys.stdout.write(s + "\n")


def _open(args: argparse.Namespace) -> Tuple["Repo", Optional[str]]:
    sysroot = getattr(args, "sysroot", None)
    if sysroot is not None:
        from ..store.repo import Repo
        return Repo.open(os.path.join(sysroot, "ostree/repo")), sysroot
    from .repo import _open_repo
    return _open_repo(args), None


def _verify_opt(spec: str) -> Tuple[str, str, str]:
    """``KEYTYPE=inline:KEY|file:PATH`` -> (keytype, option name, value)."""
    keytype, eq, rest = spec.partition("=")
    if not eq:
        raise RemoteUsageError(f"Failed to parse KEYTYPE=[inline|file]:DATA in {spec}")
    from ..store.signing import SIGN_TYPES
    if keytype not in SIGN_TYPES:
        raise RemoteUsageError(f"Requested signature type is not implemented: {keytype}")
    ref, colon, value = rest.partition(":")
    if ref == "inline":
        name = f"verification-{keytype}-key"
    elif ref == "file":
        name = f"verification-{keytype}-file"
    else:
        raise RemoteUsageError(f"Invalid key reference {ref}, expected inline|file")
    if not colon:
        raise RemoteUsageError(f"Failed to parse KEYTYPE=[inline|file]:DATA in {spec}")
    return keytype, name, value


def cmd_add(args: argparse.Namespace) -> int:
    from ..remote.config import add_remote, replace_remote
    if args.custom_backend:
        if not args.args:
            raise RemoteUsageError("NAME must be specified")
    elif len(args.args) < 2:
        raise RemoteUsageError("NAME and URL must be specified")
    name = args.args[0]
    url: Optional[str] = args.args[1] if len(args.args) > 1 else None
    if args.if_not_exists and args.force:
        raise RemoteUsageError("Can only specify one of --if-not-exists and --force")
    opts: List[Tuple[str, Union[str, bool, List[str]]]] = []
    if len(args.args) > 2:
        opts.append(("branches", list(args.args[2:])))
    if args.contenturl is not None:
        opts.append(("contenturl", args.contenturl))
    if args.custom_backend is not None:
        opts.append(("custom-backend", args.custom_backend))
    for kv in args.set or []:
        key, eq, value = kv.partition("=")
        if not eq:
            raise RemoteUsageError(f"Missing '=' in KEY=VALUE for --set {kv}")
        opts.append((key, value))
    if args.no_gpg_verify or args.no_sign_verify:
        # no signature verification implies no GPG verification as well
        opts.append(("gpg-verify", False))
    if args.no_sign_verify:
        if args.sign_verify:
            raise RemoteUsageError("Cannot specify both --sign-verify and --no-sign-verify")
        opts.append(("sign-verify", False))
    kinds: List[str] = []
    for spec in args.sign_verify or []:
        keytype, optname, value = _verify_opt(spec)
        opts.append((optname, value))
        kinds.append(keytype)
    if kinds:
        opts.append(("sign-verify", ",".join(kinds)))
    if args.collection_id is not None:
        opts.append(("collection-id", args.collection_id))
    repo, sysroot = _open(args)
    if args.force:
        replace_remote(repo, name, url, opts, sysroot=sysroot)
    else:
        add_remote(repo, name, url, opts, if_not_exists=args.if_not_exists, sysroot=sysroot)
    if args.gpg_import:
        _import(repo, name, _read_file(args.gpg_import))
    return 0


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise RemoteUsageError(f"{path}: {e.strerror}") from None


def _keyring() -> "ModuleType":
    """:mod:`ostreepy.remote.keyring`, imported only by the verbs that need it."""
    return importlib.import_module("ostreepy.remote.keyring")


def _import(repo: "Repo", name: str, data: bytes, key_ids: Sequence[str] = ()) -> None:
    n = int(_keyring().import_keys(repo, name, data, key_ids))
    _out(f'Imported {n} GPG key{"" if n == 1 else "s"} to remote "{name}"')


def cmd_delete(args: argparse.Namespace) -> int:
    from ..remote.config import delete_remote
    if not args.name:
        raise RemoteUsageError("NAME must be specified")
    repo, sysroot = _open(args)
    delete_remote(repo, args.name, if_exists=args.if_exists, sysroot=sysroot)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from ..remote.config import list_remotes, remote_url
    repo, sysroot = _open(args)
    remotes = list_remotes(repo, sysroot)
    if args.show_urls:
        width = max((len(r.name) for r in remotes), default=0)
        for r in remotes:
            _out(f"{r.name:<{width}}  {remote_url(repo, r.name, sysroot)}")
    else:
        for r in remotes:
            _out(r.name)
    return 0


def cmd_show_url(args: argparse.Namespace) -> int:
    from ..remote.config import remote_url
    if not args.name:
        raise RemoteUsageError("NAME must be specified")
    repo, sysroot = _open(args)
    _out(remote_url(repo, args.name, sysroot))
    return 0


def cmd_refs(args: argparse.Namespace) -> int:
    from ..remote.listing import remote_refs
    if not args.name:
        raise RemoteUsageError("NAME must be specified")
    repo, sysroot = _open(args)
    for ref, csum in remote_refs(repo, args.name, sysroot, args.cache_dir).items():
        _out(f"{args.name}:{ref}\t{csum}" if args.revision else f"{args.name}:{ref}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from ..remote.listing import fetch_summary
    from .summary import format_summary, metadata_keys, metadata_value
    if not args.name:
        raise RemoteUsageError("NAME must be specified")
    repo, sysroot = _open(args)
    fetched = fetch_summary(repo, args.name, sysroot, args.cache_dir)
    if fetched.data is None:
        raise RemoteUsageError("Remote server has no summary file")
    if args.list_metadata_keys:
        sys.stdout.write("".join(k + "\n" for k in metadata_keys(fetched.data)))
    elif args.print_metadata_key:
        sys.stdout.write(metadata_value(fetched.data, args.print_metadata_key))
    else:
        sys.stdout.write(format_summary(fetched.data, raw=args.raw))
        # the signatures were checked by the fetch; they are shown (not with --raw) only
        # when the remote verifies them, as ot-remote-builtin-summary.c does
        if fetched.signature is not None and fetched.remote.gpg_verify_summary and not args.raw:
            from ..remote.trust import gpg_verify_result_text
            from ..store.objects import parse_commitmeta
            try:
                meta = parse_commitmeta(fetched.signature)
            except OstreeError:
                meta = {}
            sys.stdout.write("\n" + gpg_verify_result_text(fetched.remote, fetched.data, meta, repo=repo))
    return 0


def cmd_gpg_import(args: argparse.Namespace) -> int:
    if not args.name:
        raise RemoteUsageError("NAME must be specified")
    if args.stdin:
        data = sys.stdin.buffer.read()
    elif args.keyring:
        data = b"".join(_read_file(k) for k in args.keyring)
    else:
        raise RemoteUsageError("Importing from the default GPG keyring is not supported; use --stdin or -k FILE")
    repo, _sysroot = _open(args)
    _import(repo, args.name, data, args.key_ids)
    return 0


def cmd_gpg_list_keys(args: argparse.Namespace) -> int:
    repo, _sysroot = _open(args)
    # ostree's verb takes NAME only and ignores further words (it lists every key); without
    # NAME it lists the global keyrings' keys
    for key in _keyring().list_keys(repo, args.name or None):
        sys.stdout.write(key.describe())
    return 0


def cmd_add_cookie(args: argparse.Namespace) -> int:
    from ..remote.cookies import add_cookie, jar_path
    if len(args.args) < 5:
        raise RemoteUsageError("NAME, DOMAIN, PATH, COOKIE_NAME and VALUE must be specified")
    name, domain, path, cookie_name, value = args.args[:5]
    repo, _sysroot = _open(args)
    add_cookie(jar_path(repo.path, name), domain, path, cookie_name, value)
    return 0


def cmd_delete_cookie(args: argparse.Namespace) -> int:
    from ..remote.cookies import delete_cookie, jar_path
    if len(args.args) < 4:
        raise RemoteUsageError("NAME, DOMAIN, PATH and COOKIE_NAME must be specified")
    name, domain, path, cookie_name = args.args[:4]
    repo, _sysroot = _open(args)
    delete_cookie(jar_path(repo.path, name), domain, path, cookie_name)
    return 0


def cmd_list_cookies(args: argparse.Namespace) -> int:
    from ..remote.cookies import format_listing, jar_path, read_jar
    if not args.args:
        raise RemoteUsageError("NAME must be specified")
    repo, _sysroot = _open(args)
    # ostree 2022.7 (and 2026.4) open the jar relative to the working directory, not the
    # repository (ot_list_cookies_at passes AT_FDCWD), so it lists nothing unless run
    # inside the repository; the jar add-cookie wrote is the one meant, and read here
    sys.stdout.write(format_listing(read_jar(jar_path(repo.path, args.args[0]))))
    return 0


def _repo_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--repo", metavar="PATH", default=argparse.SUPPRESS,
                   help="Path to OSTree repository (defaults to /sysroot/ostree/repo)")
    p.add_argument("--sysroot", metavar="PATH", default=argparse.SUPPRESS,
                   help="Use sysroot at PATH (overrides --repo)")


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    remote = subparsers.add_parser("remote", help="Remote commands that may involve internet access")
    sub = remote.add_subparsers(dest="remote_command", metavar="COMMAND")

    p = sub.add_parser("add", help="Add a remote repository")
    _repo_opts(p)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="Set config option KEY=VALUE for remote")
    p.add_argument("--no-gpg-verify", action="store_true", help="Disable GPG verification")
    p.add_argument("--no-sign-verify", action="store_true", help="Disable signature verification")
    p.add_argument("--sign-verify", action="append", metavar="KEYTYPE=[inline|file]:PUBKEY",
                   help="Verify signatures using KEYTYPE=inline:PUBKEY or KEYTYPE=file:/path/to/key")
    p.add_argument("--if-not-exists", action="store_true", help="Do nothing if the provided remote exists")
    p.add_argument("--force", action="store_true", help="Replace the provided remote if it exists")
    p.add_argument("--gpg-import", metavar="FILE", help="Import GPG key from FILE")
    p.add_argument("--custom-backend", metavar="NAME", help="This remote has content not fetched via libostree")
    p.add_argument("--contenturl", metavar="URL", help="Use URL when fetching content")
    p.add_argument("--collection-id", metavar="COLLECTION-ID",
                   help="Globally unique ID for this repository as an collection of refs")
    p.add_argument("args", nargs="*", metavar="NAME [metalink=|mirrorlist=]URL [BRANCH...]")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("delete", help="Delete a remote repository")
    _repo_opts(p)
    p.add_argument("--if-exists", action="store_true", help="Do nothing if the provided remote does not exist")
    p.add_argument("name", nargs="?", metavar="NAME")
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser("show-url", help="Show remote repository URL")
    _repo_opts(p)
    p.add_argument("name", nargs="?", metavar="NAME")
    p.set_defaults(func=cmd_show_url)

    p = sub.add_parser("list", help="List remote repository names")
    _repo_opts(p)
    p.add_argument("-u", "--show-urls", action="store_true", help="Show remote URLs in list")
    p.set_defaults(func=cmd_list)

    for verb, help_text in (("gpg-import", "Import GPG keys"),):
        p = sub.add_parser(verb, help=help_text)
        _repo_opts(p)
        p.add_argument("--stdin", action="store_true", help="Import keys from standard input")
        p.add_argument("-k", "--keyring", action="append", metavar="FILE",
                       help="Import keys from a keyring file (repeatable)")
        p.add_argument("name", nargs="?", metavar="NAME")
        p.add_argument("key_ids", nargs="*", metavar="KEY-ID")
        p.set_defaults(func=cmd_gpg_import)

    for verb in ("gpg-list-keys", "list-gpg-keys"):
        p = sub.add_parser(verb, help="Show remote GPG keys")
        _repo_opts(p)
        p.add_argument("name", nargs="?", metavar="NAME")
        p.add_argument("key_ids", nargs="*", metavar="KEY-ID")
        p.set_defaults(func=cmd_gpg_list_keys)

    p = sub.add_parser("refs", help="List remote refs")
    _repo_opts(p)
    p.add_argument("-r", "--revision", action="store_true", help="Show revisions in listing")
    p.add_argument("--cache-dir", metavar="DIR", help="Use custom cache dir")
    p.add_argument("name", nargs="?", metavar="NAME")
    p.set_defaults(func=cmd_refs)

    p = sub.add_parser("summary", help="Show remote summary")
    _repo_opts(p)
    p.add_argument("--list-metadata-keys", action="store_true", help="List the available metadata keys")
    p.add_argument("--print-metadata-key", metavar="KEY", help="Print string value of metadata key")
    p.add_argument("--cache-dir", metavar="DIR", help="Use custom cache dir")
    p.add_argument("--raw", action="store_true", help="Show raw variant data")
    p.add_argument("name", nargs="?", metavar="NAME")
    p.set_defaults(func=cmd_summary)

    for verb, help_text, usage, func in (
            ("add-cookie", "Add a cookie to remote", "NAME DOMAIN PATH COOKIE_NAME VALUE", cmd_add_cookie),
            ("delete-cookie", "Remove one cookie from remote", "NAME DOMAIN PATH COOKIE_NAME", cmd_delete_cookie),
            ("list-cookies", "Show remote cookies", "NAME", cmd_list_cookies)):
        p = sub.add_parser(verb, help=help_text)
        _repo_opts(p)
        p.add_argument("args", nargs="*", metavar=usage)
        p.set_defaults(func=func)

    def no_subcommand(args: argparse.Namespace) -> int:
        remote.print_help(sys.stderr)
        raise RemoteUsageError('No "remote" subcommand specified')

    remote.set_defaults(func=no_subcommand)
