"""Remotes as libostree keeps them: ``[remote "NAME"]`` groups of a repository's
config, ``remotes.d/*.conf`` beside it, and a sysroot's ``/etc/ostree/remotes.d``.

CONTRACT STUB (session 2026-12-04): the shape other modules build against; the
loader below reads only the repository's own config. The remote helper replaces
the body, keeping these names and fields.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import attrs

from ..errors import OstreeError
from ..store.repo import Repo


class RemoteError(OstreeError):
    """A remote that does not exist, or whose configuration is not usable."""


@attrs.frozen
class Remote:
    """One remote: its name, URL and every option of its group (as text)."""

    name: str
    url: str
    options: Tuple[Tuple[str, str], ...] = ()
    #: the file the remote was read from (the repo config or a remotes.d file)
    source: Optional[str] = None

    def option(self, key: str, default: Optional[str] = None) -> Optional[str]:
        for k, v in self.options:
            if k == key:
                return v
        return default

    def option_bool(self, key: str, default: bool) -> bool:
        v = self.option(key)
        if v is None:
            return default
        return v.strip().lower() in ("true", "1", "yes")

    @property
    def gpg_verify(self) -> bool:
        return self.option_bool("gpg-verify", True)

    @property
    def gpg_verify_summary(self) -> bool:
        return self.option_bool("gpg-verify-summary", False)

    @property
    def sign_verify(self) -> bool:
        return self.option_bool("sign-verify", False)

    @property
    def sign_verify_summary(self) -> bool:
        return self.option_bool("sign-verify-summary", False)

    @property
    def branches(self) -> List[str]:
        v = self.option("branches")
        return [b for b in (v or "").split(";") if b]


def load_remote(repo: Repo, name: str) -> Remote:
    """The remote ``name`` of ``repo``; :class:`RemoteError` when there is none."""
    group = f'remote "{name}"'
    if not repo.config.has_group(group):
        raise RemoteError(f'Remote "{name}" not found')
    opts: Dict[str, str] = dict(repo.config.items(group))
    url = opts.get("url")
    if url is None:
        raise RemoteError(f'No "url" option in remote "{name}"')
    return Remote(name=name, url=url, options=tuple(sorted(opts.items())), source="config")
