"""What the public API is, read by importing the packages: run as a script, it
prints a JSON description that ``test_docs.py`` checks against the built reference.

It runs in a subprocess of its own, from the checkout's root, because pytest's
rootdir handling puts ``tests/`` on ``sys.path``, where ``tests/bootloader``
would shadow the real :mod:`bootloader` package.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import pkgutil
import sys
from types import ModuleType
from typing import Dict, Iterator, List

PACKAGES = ("ostreepy", "ociclient", "bootloader")
# Command lines are documented by their --help; the demo is a script.
NOT_LIBRARY = ("ostreepy.cli", "ostreepy.demo", "ostreepy.__main__", "ociclient.cli")
# The packages whose __all__ is the public surface (ostreepy.porcelain once it exists).
SURFACES = ("ostreepy", "ostreepy.porcelain", "ociclient", "bootloader")


def public_modules() -> Iterator[ModuleType]:
    """Every public module of the three packages (no ``_private`` part, no CLI)."""
    for name in PACKAGES:
        package = importlib.import_module(name)
        yield package
        for info in pkgutil.walk_packages(package.__path__, name + "."):
            if any(part.startswith("_") for part in info.name.split(".")) or info.name.startswith(NOT_LIBRARY):
                continue
            yield importlib.import_module(info.name)


def _qualified(obj: object) -> str:
    return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"


def describe() -> Dict[str, object]:
    """``modules``: {name: has a docstring}; ``exports``: one row per name in an
    ``__all__``; ``defined``: the public classes and functions each module
    without an ``__all__`` defines."""
    modules = list(public_modules())
    surfaces = [importlib.import_module(m) for m in SURFACES if importlib.util.find_spec(m) is not None]
    with_all = surfaces + [m for m in modules if hasattr(m, "__all__") and m not in surfaces]
    exports: List[Dict[str, object]] = []
    for module in with_all:
        for name in module.__all__:
            if name.startswith("__"):
                continue
            obj = getattr(module, name)
            code = inspect.isclass(obj) or inspect.isfunction(obj)
            exports.append({"name": f"{module.__name__}.{name}", "target": _qualified(obj) if code else name,
                            "code": code, "doc": bool(code and (obj.__doc__ or "").strip())})
    defined = []
    for module in modules:
        if hasattr(module, "__all__"):  # its __all__ says what is public: those are in exports
            continue
        for name, obj in vars(module).items():
            if (not name.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
                    and obj.__module__ == module.__name__):
                defined.append({"name": _qualified(obj), "doc": bool((obj.__doc__ or "").strip())})
    return {"modules": {m.__name__: bool((m.__doc__ or "").strip()) for m in modules},
            "surfaces": [m.__name__ for m in surfaces], "exports": exports, "defined": defined}


if __name__ == "__main__":
    json.dump(describe(), sys.stdout, indent=1)
