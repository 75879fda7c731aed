"""Helpers for the hardening regressions: run ostreepy and the real ``ostree`` side
by side on the same input and compare what they do."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Dict, Optional

import pytest


def _env(extra: Optional[Dict[str, str]]) -> Dict[str, str]:
    env = dict(os.environ, LC_ALL="C.UTF-8")
    env.pop("SOURCE_DATE_EPOCH", None)
    env.update(extra or {})
    return env


def ostreepy(*argv: object, check: bool = False, env: Optional[Dict[str, str]] = None,
             cwd: Optional[str] = None, binary: bool = False) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "ostreepy", *map(str, argv)], capture_output=True, text=not binary,
                       env=_env(env), cwd=cwd)
    if check and p.returncode != 0:
        raise AssertionError(f"ostreepy {argv} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def ostree(*argv: object, check: bool = False, env: Optional[Dict[str, str]] = None,
           cwd: Optional[str] = None, binary: bool = False) -> subprocess.CompletedProcess:
    p = subprocess.run(["ostree", *map(str, argv)], capture_output=True, text=not binary, env=_env(env), cwd=cwd)
    if check and p.returncode != 0:
        raise AssertionError(f"ostree {argv} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


@pytest.fixture(params=["ostree", "ostreepy"])
def tool(request):
    """Each regression run once with the real ostree and once with ostreepy."""
    return ostree if request.param == "ostree" else ostreepy
