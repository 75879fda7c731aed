"""Run the Python code blocks of a Markdown file (the README), as a doctest would.

Each ```` ```python ```` block runs, in order and in one namespace, in a fresh
temporary directory that holds a small ``rootfs/`` tree for the examples to
commit. A block written as an interactive session (``>>>`` prompts) is a
doctest, and its printed output must match (``...`` matches anything); any
other block is a script, and must not raise. A failure names the block's line.
Usage: ``python docs/readme_examples.py README.md``.
"""

from __future__ import annotations

import doctest
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback
from typing import Iterator, List, Tuple

_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
_SESSION = re.compile(r"^>>> ", re.M)


def python_blocks(text: str) -> Iterator[Tuple[int, str]]:
    """The ``python`` fenced blocks of Markdown text, with the line each starts on."""
    for m in _BLOCK.finditer(text):
        yield text.count("\n", 0, m.start()) + 2, m.group(1)


def _make_rootfs(path: str) -> None:
    for rel, data in (("usr/bin/hello", "#!/bin/sh\necho hello\n"),
                      ("usr/lib/os-release", "NAME=Example\nVERSION_ID=1\n"),
                      ("etc/hostname", "example\n")):
        full = os.path.join(path, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(data)


def run(markdown: str) -> int:
    with open(markdown) as f:
        text = f.read()
    blocks: List[Tuple[int, str]] = list(python_blocks(text))
    cwd, tmp = os.getcwd(), tempfile.mkdtemp(prefix="ostreepy-readme-")
    failures = 0
    try:
        os.chdir(tmp)
        _make_rootfs("rootfs")
        namespace: dict = {"__name__": "__readme__"}
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        for line, code in blocks:
            if _SESSION.search(code):
                test = doctest.DocTestParser().get_doctest(code, namespace, f"{markdown}:{line}",
                                                           markdown, line - 1)
                if runner.run(test, out=sys.stderr.write, clear_globs=False).failed:
                    failures += 1
                namespace.update(test.globs)  # a DocTest runs in a copy: keep what it defined
                continue
            try:
                exec(compile(code, f"{markdown}:{line}", "exec"), namespace)
            except Exception:
                failures += 1
                print(f"{markdown}:{line}: the example failed:", file=sys.stderr)
                traceback.print_exc()
    finally:
        os.chdir(cwd)
        subprocess.run(["chattr", "-R", "-i", tmp], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{markdown}: {len(blocks)} Python blocks, {failures} failed")
    return 1 if failures or not blocks else 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1] if len(sys.argv) > 1 else "README.md"))
