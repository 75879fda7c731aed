"""Sphinx configuration: the API reference (autodoc) and tutorials (doctest).

Sphinx rather than mkdocs: autodoc imports the modules and reads attrs classes,
their fields and the type hints of every signature, and the doctest builder runs
the tutorials' examples, with no extension beyond what Sphinx ships.
"""

from __future__ import annotations

import builtins
import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import ostreepy  # noqa: E402
from docutils import nodes  # noqa: E402
from sphinx import addnodes  # noqa: E402

project = "ostreepy"
author = "the ostreepy authors"
copyright = "the ostreepy authors; LGPL-2.0-or-later"
release = version = ostreepy.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.doctest"]

# The high-level API (ostreepy.porcelain) lands on another branch. Until it is
# importable its reference page says so instead of failing the build, and the
# tutorial examples written against it are skipped through the PORCELAIN flag
# below: both turn on by themselves once the module exists.
HAS_PORCELAIN = importlib.util.find_spec("ostreepy.porcelain") is not None
exclude_patterns = ["_build"]

autodoc_default_options = {
    "members": True,
    "undoc-members": True,
    "show-inheritance": True,
    "member-order": "bysource",
}
# Types go into the parameter list of each description, not into a signature
# line that would run across the page.
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_class_signature = "separated"
add_module_names = False
python_use_unqualified_type_names = True

# The examples run in a fresh temporary directory, with the bundled example
# image at hand; pages whose API has not landed yet test PORCELAIN in :skipif:.
doctest_global_setup = f"""
import os, tempfile
import ostreepy
EXAMPLE_IMAGE = {os.path.join(ROOT, "examples", "bootable-image")!r}
PORCELAIN = hasattr(ostreepy, "pull")
_docs_cwd = os.getcwd()
_docs_tmp = tempfile.mkdtemp(prefix="ostreepy-docs-")
os.chdir(_docs_tmp)
"""
doctest_global_cleanup = """
import shutil, subprocess
os.chdir(_docs_cwd)
# deployments are made immutable, as ostree does; lift that before removing them
subprocess.run(["chattr", "-R", "-i", _docs_tmp], capture_output=True)
shutil.rmtree(_docs_tmp, ignore_errors=True)
"""

html_theme = "alabaster"
html_theme_options = {
    "description": "A pure-Python OSTree object store, OCI client, deployments and boot entries",
    "page_width": "1100px",
    "sidebar_width": "240px",
    "fixed_sidebar": True,
}
html_sidebars = {"**": ["about.html", "navigation.html", "searchbox.html"]}
html_show_sourcelink = False


def _porcelain_pending(app: object, docname: str, source: list) -> None:
    if docname == "api/porcelain" and not HAS_PORCELAIN:
        source[0] = source[0].replace(
            ".. automodule:: ostreepy.porcelain",
            ".. note:: :mod:`ostreepy.porcelain` is not in this build yet; this page\n"
            "   documents it as soon as the module exists.")


def _builtins_are_builtins(app: object, doctree: nodes.document) -> None:
    # A type hint such as ``-> type`` is looked up fuzzily, and would match the
    # ``type`` attribute of three classes (an "ambiguous reference" warning):
    # names of builtins are only ever the builtins.
    for node in doctree.findall(addnodes.pending_xref):
        if node.get("refdomain") == "py" and hasattr(builtins, node.get("reftarget", "")):
            node.attributes.pop("refspecific", None)


def setup(app: object) -> None:
    app.connect("source-read", _porcelain_pending)  # type: ignore[attr-defined]
    app.connect("doctree-read", _builtins_are_builtins)  # type: ignore[attr-defined]
