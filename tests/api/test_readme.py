"""The README's "Using the library" examples run as written."""

from __future__ import annotations

import doctest
import shutil
import subprocess
from pathlib import Path
from typing import List

ROOT = Path(__file__).resolve().parents[2]


def test_readme_examples_run() -> None:
    readme = ROOT / "README.md"
    test = doctest.DocTestParser().get_doctest(readme.read_text(), {}, "README", str(readme), 0)
    report: List[str] = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    try:
        result = runner.run(test, out=report.append, clear_globs=False)
    finally:
        work = test.globs.get("work")
        if work:  # the deployments are immutable (chattr +i) as ostree makes them
            subprocess.run(["chattr", "-R", "-i", work], capture_output=True)
            shutil.rmtree(work, ignore_errors=True)
    assert result.attempted >= 20 and result.failed == 0, "".join(report)
