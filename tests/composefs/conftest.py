"""Shared helpers of the composefs tests: Debian tools they compare with, or why a test skips
(the upstream peers come from :mod:`upstream_peer`)."""

from __future__ import annotations

import shutil

import pytest

def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed: apt-get install {package} (scripts/install-peers.sh)")
    return path
