"""The repository a command works on, and the error of a command line that names none.

Apart from :mod:`ostreepy.cli.repo` (which re-exports both) so that a verb whose command line
is read without argparse (a plain ``pull``: :func:`ostreepy.cli.pull.plain_pull_args`) opens
its repository without importing the parser: this module imports no more than ``os``.
"""

from __future__ import annotations

import os

from ..errors import OstreeError

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from ..store.repo import Repo

__all__ = ["UsageError", "open_repo"]


class UsageError(OstreeError):
    pass


def open_repo(args: object) -> Repo:
    """The repository of ``args.repo``, as ostree_repo_new_default finds one without it: the
    current directory's, else $OSTREE_REPO, else the default sysroot's."""
    from ..store.repo import Repo
    path = getattr(args, "repo", None)
    if path is None:
        if os.path.isdir("objects") and os.path.isfile("config"):
            path = "."
        else:
            path = os.environ.get("OSTREE_REPO")
            if not path:
                from ..sysroot.paths import default_sysroot_path
                path = os.path.join(default_sysroot_path(), "ostree/repo")
            if not os.path.isfile(os.path.join(path, "config")):
                raise UsageError("Command requires a --repo argument")
    return Repo.open(path)
