"""attrs classes built on the first use of their name.

Building an attrs class (its generated methods compiled) costs a few tenths of a
millisecond. A module that declares many of them, of which a command uses one or two
(the progress events, the porcelain's result types), keeps its class statements as
written, decorated with :meth:`Deferred.register`; the module's ``__getattr__`` (and its
own code, through :meth:`Deferred.build`) has each built by ``attrs.frozen`` when its name
is first used. :meth:`Deferred.hide` at the module's end takes the plain classes out of
its namespace, so that every use goes through the build. A class is built once, under a
lock, even when two threads ask for it at once.
"""

from __future__ import annotations

import threading
from typing import Dict, MutableMapping

import attrs

__all__ = ["Deferred"]


class Deferred:
    """The deferred attrs classes of one module (``namespace``: its ``globals()``)."""

    def __init__(self, namespace: MutableMapping[str, object]) -> None:
        self._namespace = namespace
        self._plain: Dict[str, type] = {}
        self._lock = threading.Lock()

    def register(self, cls: type) -> type:
        """A class decorator: ``cls`` (plain) is built when its name is first used."""
        self._plain[cls.__name__] = cls
        return cls

    def __contains__(self, name: str) -> bool:
        return name in self._plain

    def hide(self) -> None:
        """Take the plain classes out of the module's namespace (at its end)."""
        for name in self._plain:
            del self._namespace[name]

    def build(self, name: str) -> type:
        """The class ``name``, built on its first use; AttributeError for a name that is
        neither built nor registered (as a module's ``__getattr__`` raises)."""
        with self._lock:
            plain = self._plain.pop(name, None)
            if plain is None:
                built = self._namespace.get(name)
                if not isinstance(built, type):
                    raise AttributeError(f"module {self._namespace.get('__name__')!r} has no attribute {name!r}")
                return built
            built = attrs.frozen(plain)
            self._namespace[name] = built
            return built
