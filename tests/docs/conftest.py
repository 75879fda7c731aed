"""One documentation build per test run, shared by the pytest-xdist workers.

The first worker to take the lock runs ``scripts/docs.sh`` into a directory
beside the workers' own temporary directories; the others wait for it and read
its result (the exit code and output are kept, so every test sees the same run).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator

import attrs
import pytest

ROOT = Path(__file__).resolve().parents[2]


@attrs.frozen
class DocsBuild:
    """The outcome of one run of ``scripts/docs.sh``."""

    out: Path
    returncode: int
    output: str

    @property
    def html(self) -> Path:
        return self.out / "html"


@pytest.fixture(scope="session")
def docs_build(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[DocsBuild]:
    shared = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    out, result = shared / "docs-build", shared / "docs-build.json"
    with open(shared / "docs-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not result.exists():
            p = subprocess.run(["bash", str(ROOT / "scripts" / "docs.sh"), str(out)], cwd=ROOT,
                               capture_output=True, text=True, timeout=600,
                               env={**os.environ, "PYTHON": sys.executable})
            data: Dict[str, object] = {"returncode": p.returncode, "output": p.stdout + p.stderr}
            result.write_text(json.dumps(data))
        data = json.loads(result.read_text())
    yield DocsBuild(out, int(data["returncode"]), str(data["output"]))  # type: ignore[call-overload]
