"""The documentation: it builds with warnings as errors, its examples run, and
the reference covers every public module and name, each with a docstring."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Dict, List, Set

import pytest

from .conftest import ROOT, DocsBuild


def inventory(html: Path) -> Dict[str, Set[str]]:
    """``objects.inv`` read as {role: names}; its format is four text lines, then zlib."""
    data = (html / "objects.inv").read_bytes()
    header_end = 0
    for _ in range(4):
        header_end = data.index(b"\n", header_end) + 1
    out: Dict[str, Set[str]] = {}
    for line in zlib.decompress(data[header_end:]).decode().splitlines():
        name, role = line.split(" ", 2)[:2]
        out.setdefault(role, set()).add(name)
    return out


@pytest.fixture(scope="module")
def public_api() -> Dict[str, object]:
    # run from the checkout's root, so that it imports the packages there, and
    # nothing of tests/ (see public_api.py)
    script = "import runpy; runpy.run_path('tests/docs/public_api.py', run_name='__main__')"
    p = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(p.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def reference(docs_build: DocsBuild) -> Dict[str, Set[str]]:
    assert docs_build.returncode == 0, docs_build.output
    return inventory(docs_build.html)


def test_docs_build_and_every_example_runs(docs_build: DocsBuild) -> None:
    """scripts/docs.sh: HTML with -W, the doctest builder, the README's Python blocks."""
    assert docs_build.returncode == 0, docs_build.output
    assert "README.md: " in docs_build.output and ", 0 failed" in docs_build.output, docs_build.output
    report = (docs_build.out / "doctest" / "output.txt").read_text()
    assert " 0 failures in tests" in report and "0 failures in setup code" in report, report
    assert report.count("Document: ") >= 7, report  # every tutorial page and a docstring were run
    for page in ("index", "api/store", "api/ociclient", "api/bootloader", "api/porcelain",
                 "tutorials/repository", "tutorials/deploy"):
        assert (docs_build.html / f"{page}.html").is_file(), page


def test_every_public_module_has_a_docstring_and_a_reference_section(
        public_api: Dict[str, object], reference: Dict[str, Set[str]]) -> None:
    modules: Dict[str, bool] = public_api["modules"]  # type: ignore[assignment]
    assert "ostreepy.store.repo" in modules and "bootloader.bls" in modules and "ociclient.copy" in modules
    assert not [m for m, doc in modules.items() if not doc], "modules without a docstring"
    missing = sorted(set(modules) - reference.get("py:module", set()))
    assert not missing, f"modules missing from docs/api/*.rst (add an automodule there): {missing}"
    assert ("ostreepy.porcelain" in modules) == ("ostreepy.porcelain" in reference.get("py:module", set()))


def test_every_exported_name_has_a_docstring_and_is_in_the_reference(
        public_api: Dict[str, object], reference: Dict[str, Set[str]]) -> None:
    """The names a caller imports: ``__all__`` of the packages (``ostreepy``, its porcelain,
    ``ociclient``, ``bootloader``) and of every module that has one."""
    documented = set().union(*(names for role, names in reference.items() if role.startswith("py:")))
    short = {n.rsplit(".", 1)[-1] for n in documented}
    exports: List[Dict[str, object]] = public_api["exports"]  # type: ignore[assignment]
    assert len(exports) > 200  # bootloader, ociclient and the store's modules export that many already
    problems = []
    for e in exports:
        if e["code"] and not e["doc"]:
            problems.append(f"{e['name']}: no docstring")
        if (e["target"] not in documented) if e["code"] else (e["target"] not in short):
            problems.append(f"{e['name']}: {e['target']} is not in the reference")
    assert not problems, "\n".join(problems)


def test_every_public_class_and_function_has_a_docstring_and_is_in_the_reference(
        public_api: Dict[str, object], reference: Dict[str, Set[str]]) -> None:
    """The modules without ``__all__``: whatever they define without a leading underscore."""
    documented = set().union(*(names for role, names in reference.items() if role.startswith("py:")))
    defined: List[Dict[str, object]] = public_api["defined"]  # type: ignore[assignment]
    assert len(defined) > 100
    problems = [f"{d['name']}: no docstring" for d in defined if not d["doc"]]
    problems += [f"{d['name']}: not in the reference" for d in defined if d["name"] not in documented]
    assert not problems, "\n".join(problems)
