"""Helpers the install tests share: the command line run as a user runs it, scratch
folders that may hold immutable deployment roots (chattr +i), cleared before removal,
and image files with bootc's GPT."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from ostreepy.install import gpt
from ostreepy.install.disk import write_gpt


def ours(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``ostreepy ARGS...``; with ``check``, a non-zero exit fails with its output."""
    p = subprocess.run([sys.executable, "-m", "ostreepy", *args], capture_output=True, text=True)
    if check and p.returncode:
        raise AssertionError(f"{args}: {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A fresh folder, removed afterwards even when a sysroot in it made deployments immutable."""
    d = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield d
    finally:
        subprocess.run(["chattr", "-R", "-i", str(d)], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


def bootc_disk_file(path: Path, size: int = 2560 << 20) -> gpt.GptTable:
    """A sparse image file of ``size`` bytes with bootc's GPT written on it; the table."""
    with open(path, "wb") as f:
        f.truncate(size)
    table = gpt.bootc_layout(size)
    write_gpt(path, table)
    return table
