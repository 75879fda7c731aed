"""Shared helpers of the composefs tests: where the upstream peers are, or why a test skips."""

from __future__ import annotations

import os
import shutil

import pytest

PEER_HINT = ("upstream peers not found: unpack ../shared/peers/upstream-ostree-2026.4-debian12-amd64.tar.xz "
             "(tar -C / -xJf ...) and set OSTREEPY_UPSTREAM_PEERS=/opt/peers, or build ostree v2026.4 "
             "with composefs and libsodium and composefs 1.0.8 into that prefix")


def peer_bin(name: str) -> str:
    root = os.environ.get("OSTREEPY_UPSTREAM_PEERS", "/opt/peers")
    path = os.path.join(root, "bin", name)
    if not os.access(path, os.X_OK):
        pytest.skip(PEER_HINT)
    return path


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed: apt-get install {package} (scripts/install-peers.sh)")
    return path
