"""docs/readme_examples.py, the runner of the README's Python blocks: it passes
good blocks, and fails a script that raises or a session whose output differs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

GOOD_SCRIPT = "```python\nimport os\nassert os.path.isdir('rootfs/usr/bin')\nx = 41\n```\n"
GOOD_SESSION = "```python\n>>> x + 1\n42\n>>> print('a b c')\na ... c\n\n```\n"


def run(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    md = tmp_path / "README.md"
    md.write_text("# Title\n\nSome prose.\n\n" + text + "\nThe end.\n")
    return subprocess.run([sys.executable, str(ROOT / "docs" / "readme_examples.py"), str(md)],
                          capture_output=True, text=True, timeout=60)


def test_good_blocks_pass_and_share_one_namespace(tmp_path: Path) -> None:
    p = run(tmp_path, GOOD_SCRIPT + "\n" + GOOD_SESSION)
    assert p.returncode == 0, p.stderr
    assert "2 Python blocks, 0 failed" in p.stdout


@pytest.mark.parametrize("bad", [
    "```python\nraise RuntimeError('broken example')\n```\n",
    "```python\n>>> 1 + 1\n3\n\n```\n",
    "```python\n>>> undefined_name\n\n```\n",
])
def test_a_failing_block_fails_the_run_and_names_its_line(tmp_path: Path, bad: str) -> None:
    p = run(tmp_path, GOOD_SCRIPT + "\n" + bad)
    assert p.returncode == 1
    assert "1 failed" in p.stdout
    assert "README.md:12" in p.stderr, p.stderr  # the bad block's first line of code


def test_no_python_block_is_a_failure(tmp_path: Path) -> None:
    p = run(tmp_path, "```\nnot python\n```\n")
    assert p.returncode == 1 and "0 Python blocks" in p.stdout
