"""The type hints are checked, so they stay true as the code changes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_is_clean():
    res = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir=/dev/null", "ostreepy", "ociclient",
                          "bootloader"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
