"""The ``pull`` and ``pull-local`` verbs: argument handling and ostree's output
over :mod:`ostreepy.remote.pull`.

As ``ostree``: the one status line at the end (``N metadata, M content
objects fetched; ...``), and on a terminal a progress line redrawn in place
while objects arrive. ``--dry-run`` needs ``--require-static-deltas``, as in
ostree, and prints the deltas' size summary (``Delta update: ...``) instead
of the status line.
"""

from __future__ import annotations

import sys
import time
import types

from .repoarg import UsageError
from .run import a_path, plain_args
from .repoarg import open_repo as _open_repo

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    import argparse
    from typing import List, Optional

    from ..progress import ProgressCallback, ProgressEvent

#: ``pull``'s options that take no value (``cli.main._verb_pull``), by their whole names
_PULL_FLAGS = frozenset({
    "--mirror", "--commit-metadata-only", "--disable-static-deltas", "--require-static-deltas", "--timestamp-check",
    "--dry-run", "--untrusted", "--disable-fsync", "--per-object-fsync", "--disable-verify-bindings",
    "--bareuseronly-files", "--http-trusted"})
#: what argparse sets for an option not given (the flags: False)
_PULL_DEFAULTS = {"depth": 0, "subpath": [], "localcache_repo": [], "http_header": [], "append_user_agent": None,
                  "url": None, "timestamp_check_from_rev": None, "network_retries": None, "update_frequency": None,
                  "cache_dir": None}


def plain_pull_args(argv: List[str]) -> Optional[types.SimpleNamespace]:
    """The namespace :mod:`ostreepy.cli.main`'s parser makes of a plain ``pull`` command line
    (``[--repo=PATH] pull [FLAGS] REMOTE [REF...]``, the options anywhere), read without
    building argparse's parsers: their import and the building and parsing are a few
    milliseconds of a pull that has nothing to fetch. The flags by their whole names, without
    a value; ``--repo`` once, its value in the same word or the next. None for anything
    else (help, another verb, an option with a value or abbreviated, ``--``, a mistake):
    argparse reads that, as it reads any command line, and answers as it does."""
    read = plain_args(argv, _PULL_FLAGS, {"--repo": a_path})
    if read is None:
        return None
    given, words = read
    values: dict = {name[2:].replace("-", "_"): False for name in _PULL_FLAGS}
    values.update(given)
    values.setdefault("repo", None)
    if len(words) < 2 or words[0] != "pull":
        return None
    defaults = {k: list(v) if isinstance(v, list) else v for k, v in _PULL_DEFAULTS.items()}
    return types.SimpleNamespace(version=None, command="pull", **values, **defaults,
                                 remote=words[1], refs=words[2:], func="pull:cmd_pull")


def _tty_progress() -> Optional[ProgressCallback]:
    """ostree's console line (ostree_repo_pull_default_console_progress_changed),
    redrawn in place at most five times a second."""
    if not sys.stdout.isatty():
        return None
    from ..progress import PullProgress
    from ..remote.pull import _format_size
    state = {"last": 0.0, "start": time.monotonic()}

    def cb(ev: ProgressEvent) -> None:
        if not isinstance(ev, PullProgress):
            return
        now = time.monotonic()
        if now - state["last"] < 0.2 and ev.phase != "writing-refs":
            return
        state["last"] = now
        elapsed = int(now - state["start"])
        rate = _format_size(ev.bytes // elapsed) if elapsed >= 1 and ev.bytes else "-"
        done = _format_size(ev.bytes)
        if ev.phase == "metadata":
            text = f"Receiving metadata objects: {ev.metadata_fetched}/(estimating) {rate}/s {done}"
        elif ev.phase == "content":
            pct = int(ev.fetched * 100 / ev.requested) if ev.requested else 100
            text = f"Receiving objects: {pct}% ({ev.fetched}/{ev.requested}) {rate}/s {done}"
        else:
            text = "Writing objects: 1"
        sys.stdout.write(f"\r\x1b[K{text}")
        sys.stdout.flush()

    return cb


def _finish_line(progress: Optional[ProgressCallback]) -> None:
    if progress is not None:
        sys.stdout.write("\r\x1b[K")


def cmd_pull(args: argparse.Namespace) -> int:
    from .._process import gc_paused

    # The cycle collector stays off through the pull: its imports and walk allocate enough to
    # run it ~25 times for a 6,000-file tree's second pull (a few ms, the later ones walking
    # every object alive), for ~900 objects of cyclic garbage, made by the imports, whatever
    # the pull's size
    with gc_paused():
        return _pull(args)


def _pull(args: argparse.Namespace) -> int:
    # the pull's outcome as a plain value, printed here: no RepoPullResult (nor any other attrs
    # value) is built, and attrs is not imported
    from ..remote.pull import pull_remote_outcome
    if args.dry_run and not args.require_static_deltas:
        raise UsageError("--dry-run requires --require-static-deltas")
    refs: List[str] = list(args.refs)
    remote = args.remote
    if ":" in remote:
        remote, _, ref = remote.partition(":")
        refs = [ref]
    headers = []
    for kv in args.http_header:
        key, eq, value = kv.partition("=")
        if not eq:
            raise UsageError("--http-header must be of the form KEY=VALUE")
        headers.append((key, value))
    repo = _open_repo(args)
    if args.disable_fsync:
        repo.fsync = False
    progress = _tty_progress()
    try:
        result = pull_remote_outcome(repo, remote, refs, mirror=args.mirror, depth=args.depth,
                                     commit_metadata_only=args.commit_metadata_only, subpaths=args.subpath,
                                     localcache_repos=args.localcache_repo, timestamp_check=args.timestamp_check,
                                     dry_run=args.dry_run, disable_static_deltas=args.disable_static_deltas,
                                     require_static_deltas=args.require_static_deltas, progress=progress,
                                     disable_verify_bindings=args.disable_verify_bindings,
                                     http_headers=headers, append_user_agent=args.append_user_agent,
                                     url_override=args.url, bareuseronly_files=args.bareuseronly_files,
                                     http_trusted=args.http_trusted,
                                     timestamp_check_from_rev=args.timestamp_check_from_rev,
                                     n_network_retries=args.network_retries, untrusted=args.untrusted,
                                     cache_dir=args.cache_dir)
    finally:
        _finish_line(progress)
        repo.close()
    if not args.dry_run:
        sys.stdout.write(result.status + "\n")
    elif result.deltas is not None:
        sys.stdout.write(result.deltas.dry_run_line() + "\n")
    return 0


def cmd_pull_local(args: argparse.Namespace) -> int:
    from ..remote.pull import pull_local
    repo = _open_repo(args)
    if args.disable_fsync:
        repo.fsync = False
    progress = _tty_progress()
    try:
        result = pull_local(repo, args.src_repo, list(args.refs), untrusted=args.untrusted, remote=args.remote,
                            depth=args.depth, commit_metadata_only=args.commit_metadata_only, progress=progress,
                            disable_verify_bindings=args.disable_verify_bindings,
                            bareuseronly_files=args.bareuseronly_files, gpg_verify=args.gpg_verify,
                            gpg_verify_summary=args.gpg_verify_summary,
                            require_static_deltas=args.require_static_deltas)
    finally:
        _finish_line(progress)
        repo.close()
    sys.stdout.write(result.status + "\n")
    return 0
