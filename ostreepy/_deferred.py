"""attrs classes built on the first use of their name.

Building an attrs class (its generated methods compiled) costs a few tenths of a
millisecond. A module that declares many of them, of which a command uses one or two
(the progress events, the porcelain's result types), keeps its class statements as
written, decorated with :meth:`Deferred.register`; the module's ``__getattr__`` (and its
own code, through :meth:`Deferred.build`) has each built by ``attrs.frozen`` when its name
is first used. :meth:`Deferred.hide` at the module's end takes the plain classes out of
its namespace, so that every use goes through the build. A class is built once, under a
lock, even when two threads ask for it at once.

attrs itself is imported by the first build, not by this module: its import (inspect with
ast, dis and tokenize, platform, the classes of attr.validators) is ~18 ms, more than all the
rest of a short command's modules, and a command that builds no class does not pay it. A
field that needs ``attrs.field`` (a default factory, a validator) is written in the plain
class as :data:`Field`, whose arguments become ``attrs.field``'s at the build; a plain base
that is itself registered is replaced by its build, so that a deferred subclass derives
from the class callers see.
"""

from __future__ import annotations

import threading

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from collections.abc import MutableMapping

__all__ = ["Deferred", "Field"]


class _Field:
    """``attrs.field(**kwargs)`` in a deferred class's body, made when the class is built
    (:data:`Field`, which type checkers see as ``attrs.field``)."""

    def __init__(self, **kwargs: object) -> None:
        self.kwargs = kwargs

    def make(self) -> object:
        import attrs
        return attrs.field(**self.kwargs)  # type: ignore[call-overload]


if TYPE_CHECKING:
    from attrs import field as Field
else:
    Field = _Field


class Deferred:
    """The deferred attrs classes of one module (``namespace``: its ``globals()``)."""

    def __init__(self, namespace: MutableMapping[str, object]) -> None:
        self._namespace = namespace
        self._plain: dict[str, type] = {}
        self._builds: dict[type, type] = {}  # plain -> built, for the bases of later builds
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
        if name not in self._plain:  # built already (the plain classes are hidden): no lock
            built = self._namespace.get(name)
            if isinstance(built, type):
                return built
        with self._lock:
            plain = self._plain.pop(name, None)
            if plain is None:
                built = self._namespace.get(name)
                if not isinstance(built, type):
                    raise AttributeError(f"module {self._namespace.get('__name__')!r} has no attribute {name!r}")
                return built
            built = self._builds[plain] = self._frozen(plain)
            self._namespace[name] = built
            return built

    def _frozen(self, plain: type) -> type:
        import attrs
        for key, value in list(vars(plain).items()):
            if isinstance(value, _Field):
                setattr(plain, key, value.make())
        bases = tuple(self._built_base(b) for b in plain.__bases__)
        if bases != plain.__bases__:
            body = {k: v for k, v in vars(plain).items() if k not in ("__dict__", "__weakref__")}
            plain = type(plain)(plain.__name__, bases, body)
        return attrs.frozen(plain)

    def _built_base(self, base: type) -> type:
        """``base``, or its build where it is one of this module's deferred classes (under
        the lock)."""
        if base in self._builds:
            return self._builds[base]
        if self._plain.get(base.__name__) is base:
            built = self._frozen(self._plain.pop(base.__name__))
            self._builds[base] = built
            self._namespace[base.__name__] = built
            return built
        return base
