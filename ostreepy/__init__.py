"""ostreepy: a pure-Python, OSTree-compatible object store, deployments and boot entries.

Importing this package stays cheap: requests and cryptography are imported only
by the modules that talk to registries or verify signatures.
"""

from ._version import __version__

__all__ = ["__version__"]
