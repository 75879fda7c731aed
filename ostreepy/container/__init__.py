"""Container images into the object store, and back (what ostree-ext does for bootc).

The public names below are loaded on first use (a module ``__getattr__``):
importing this package does not import requests, and the registry client is
loaded only when an image is actually fetched. Most callers want the
high-level :func:`ostreepy.pull` and :func:`ostreepy.encapsulate` instead.
"""

from __future__ import annotations

TYPE_CHECKING = False

__all__ = [
    "ImageError", "ImageState", "ImportResult", "LayerPlan", "PreparedImport", "list_image_states", "list_images",
    "prepare_image", "prune_layers", "pull_image", "query_image", "remove_images",
    # not `encapsulate`: that name is its module's (ostreepy.encapsulate is the function)
    "EncapsulationError", "unencapsulate",
    "ImageRefError", "ImageReference", "OstreeImageReference", "SigVerify", "Transport",
]

# name -> the module that defines it
_LAZY: dict[str, str] = {
    **{name: "ostreepy.container.store" for name in __all__[:12]},
    **{name: "ostreepy.container.encapsulate" for name in __all__[12:14]},
    **{name: "ostreepy.container.imgref" for name in __all__[14:]},
}

if TYPE_CHECKING:
    from .encapsulate import EncapsulationError, unencapsulate
    from .imgref import ImageRefError, ImageReference, OstreeImageReference, SigVerify, Transport
    from .store import (ImageError, ImageState, ImportResult, LayerPlan, PreparedImport, list_image_states,
                        list_images, prepare_image, prune_layers, pull_image, query_image, remove_images)


def __getattr__(name: str) -> object:
    try:
        modname = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'ostreepy.container' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(modname), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
