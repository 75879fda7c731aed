"""Where a sysroot is when the caller names none. Its own small module so that
the command line's repository verbs can find the default repository without
importing the sysroot machinery."""

from __future__ import annotations

import os
from typing import Optional

__all__ = ["default_sysroot_path"]


def default_sysroot_path(given: Optional[str] = None) -> str:
    """``given`` when not None, else the sysroot a caller that names none works
    on, as libostree's ``_ostree_get_default_sysroot_path``: ``$OSTREE_SYSROOT``
    when set and not empty, else ``/``."""
    if given is not None:
        return given
    return os.environ.get("OSTREE_SYSROOT") or "/"
