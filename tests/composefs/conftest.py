"""Shared helpers of the composefs tests: Debian tools they compare with, or why a test skips
(the upstream peers come from :mod:`upstream_peer`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed: apt-get install {package} (scripts/install-peers.sh)")
    return path


@pytest.fixture
def tmpfs():
    """A tmpfs for sysroots: ostree freezes the filesystem holding /boot, and on a tmpfs the
    freeze is refused and it only syncs."""
    base = Path(tempfile.mkdtemp(prefix="cfs-deploy-"))
    if subprocess.run(["mount", "-t", "tmpfs", "none", str(base)], capture_output=True).returncode != 0:
        os.rmdir(base)
        pytest.skip("needs root to mount a tmpfs for the sysroot")
    try:
        yield base
    finally:
        subprocess.run(["find", str(base), "-maxdepth", "6", "-type", "d", "-exec", "chattr", "-i", "{}", "+"],
                       capture_output=True)
        # Under load a peer's child (ostree admin's sync, a finishing find) can still hold the
        # mount for a moment: retry, then detach it lazily rather than fail the test at teardown.
        for _ in range(10):
            if subprocess.run(["umount", str(base)], capture_output=True).returncode == 0:
                break
            time.sleep(0.2)
        else:
            subprocess.run(["umount", "-l", str(base)], capture_output=True)
        os.rmdir(base)
