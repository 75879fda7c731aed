"""Sphinx configuration: the API reference (autodoc) and tutorials (doctest).

Sphinx rather than mkdocs: autodoc imports the modules and reads attrs classes,
their fields and the type hints of every signature, and the doctest builder runs
the tutorials' examples, with no extension beyond what Sphinx ships.
"""

from __future__ import annotations

import builtins
import os
import sys
from typing import Optional, Tuple

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
add_module_names = False
python_use_unqualified_type_names = True

# The examples of each page run in a fresh temporary directory, with the
# bundled example image at hand.
doctest_global_setup = f"""
import os, tempfile
import ostreepy
EXAMPLE_IMAGE = {os.path.join(ROOT, "examples", "bootable-image")!r}
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
    "page_width": "1160px",
    "sidebar_width": "230px",
    "code_font_size": "0.85em",
    "fixed_sidebar": True,
}
html_sidebars = {"**": ["about.html", "navigation.html", "searchbox.html"]}
html_show_sourcelink = False
html_copy_source = False


def _resolve_short_names(app: object, doctree: nodes.document) -> None:
    # A short name in a type hint (``Transport``) is looked up fuzzily across
    # every module, and two classes of that name make an "ambiguous reference"
    # warning. The module the hint was written in knows which one it means:
    # point the reference at the object that name is bound to there. Names of
    # builtins (``type``) are only ever the builtins.
    for node in doctree.findall(addnodes.pending_xref):
        target = node.get("reftarget", "")
        if node.get("refdomain") != "py" or "." in target or not target:
            continue
        module = sys.modules.get(node.get("py:module") or "")
        obj = getattr(module, target, None) if module is not None else None
        if getattr(obj, "__module__", None) and getattr(obj, "__qualname__", None):
            node["reftarget"] = f"{obj.__module__}.{obj.__qualname__}"
            node.attributes.pop("refspecific", None)
        elif hasattr(builtins, target):
            node.attributes.pop("refspecific", None)


def _attrs_factories(app: object, what: str, name: str, obj: object, options: object,
                     signature: Optional[str], return_annotation: Optional[str]
                     ) -> Tuple[Optional[str], Optional[str]]:
    # attrs gives a field with a factory the default NOTHING in __init__'s
    # signature; say what it means, as dataclasses do
    if signature:
        signature = signature.replace("=NOTHING", "=<factory>")
    return signature, return_annotation


def setup(app: object) -> None:
    app.connect("doctree-read", _resolve_short_names)  # type: ignore[attr-defined]
    app.connect("autodoc-process-signature", _attrs_factories)  # type: ignore[attr-defined]
