"""Writing small files (auth.json, layout indexes) whole or not at all."""

from __future__ import annotations

import os
import tempfile


def atomic_write(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to a temporary file beside ``path`` (created 0600, so a secret is
    never readable half-way), give it ``mode``, then rename it over ``path``."""
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
