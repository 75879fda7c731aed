"""ociclient: a native OCI distribution client and image-layout reader/writer.

The main entry points (imported lazily, so ``import ociclient`` stays cheap)::

    from ociclient import parse_reference, open_source, open_destination, copy_image

* :func:`ociclient.reference.parse_reference`
* :func:`ociclient.transports.open_source` → :class:`ociclient.image.ImageSource`
* :func:`ociclient.transports.open_destination` → :class:`ociclient.image.ImageDestination`
* :func:`ociclient.copy.copy_image`
* :class:`ociclient.image.Options`
* :mod:`ociclient.porcelain`: skopeo's verbs as functions returning values
  (``inspect``, ``list_tags``, ``copy``, ``login``, ``logout``)
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up of every command that imports this
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "parse_reference": ("ociclient.reference", "parse_reference"),
    "open_source": ("ociclient.transports", "open_source"),
    "open_destination": ("ociclient.transports", "open_destination"),
    "copy_image": ("ociclient.copy", "copy_image"),
    "Options": ("ociclient.image", "Options"),
    "ImageSource": ("ociclient.image", "ImageSource"),
    "ImageDestination": ("ociclient.image", "ImageDestination"),
    "OciError": ("ociclient.errors", "OciError"),
    # the high-level verbs (ociclient.porcelain); its `copy` stays there, as
    # `ociclient.copy` is the module of copy_image
    "inspect": ("ociclient.porcelain", "inspect"),
    "list_tags": ("ociclient.porcelain", "list_tags"),
    "login": ("ociclient.porcelain", "login"),
    "logout": ("ociclient.porcelain", "logout"),
    "InspectResult": ("ociclient.porcelain", "InspectResult"),
    "CopyResult": ("ociclient.copy", "CopyResult"),
    "PullOptions": ("ociclient.image", "Options"),
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    try:
        mod, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'ociclient' has no attribute {name!r}") from None
    import importlib

    return getattr(importlib.import_module(mod), attr)
