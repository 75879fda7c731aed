"""Where the upstream ostree peer is (v2026.4 with composefs and ed25519, and
libcomposefs' tools), or why a test that needs it skips: the one place every
test package asks.

The tree is ``$OSTREEPY_UPSTREAM_PEERS`` when set, else ``/opt/peers`` (where
``scripts/install-peers.sh`` unpacks it); it counts only when its
``bin/ostree`` runs, since a tree unpacked on a machine without its libraries
is as good as none. The answer is worked out once a session.

Test packages import it as ``upstream_peer`` (pytest puts ``tests/`` on
``sys.path`` for every package with an ``__init__.py``, as for ``core.gpgkeys``).
"""

from __future__ import annotations

import functools
import os
import subprocess
from typing import Optional

import pytest

ENV = "OSTREEPY_UPSTREAM_PEERS"
DEFAULT_ROOT = "/opt/peers"

SKIP_REASON = ("upstream ostree 2026.4 peer not found: run scripts/install-peers.sh (on Debian 12 it "
               "unpacks ../shared/peers/upstream-ostree-2026.4-debian12-amd64.tar.xz to /opt/peers), "
               "or build ostree v2026.4 with composefs and libsodium (and composefs 1.0.8) into a "
               f"prefix and set {ENV} to it")


@functools.lru_cache(maxsize=None)
def root() -> Optional[str]:
    """The peer tree whose ``bin/ostree`` runs, or None."""
    base = os.environ.get(ENV) or DEFAULT_ROOT
    tool = os.path.join(base, "bin", "ostree")
    if not os.access(tool, os.X_OK):
        return None
    try:
        ok = subprocess.run([tool, "--version"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return base if ok else None


def available() -> bool:
    """True when the peer runs here (for ``skipif`` marks and optional comparisons)."""
    return root() is not None


def peer_bin(name: str = "ostree") -> str:
    """The path of the peer's ``bin/NAME``; skips the calling test when there is none."""
    base = root()
    path = os.path.join(base, "bin", name) if base is not None else ""
    if not path or not os.access(path, os.X_OK):
        pytest.skip(SKIP_REASON)
    return path


#: mark for a test that cannot run without the peer
needs_upstream = pytest.mark.skipif(not available(), reason=SKIP_REASON)
