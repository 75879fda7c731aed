"""A small declarative type checker for parsed JSON and TOML documents (pure, no I/O).

Every document ociclient reads from outside (manifests, indexes, image configs, token answers,
auth.json, registries.conf) is declared once, as a tree of the nodes below, next to the code
that reads it; :func:`check` walks the document and the declaration together and raises the
caller's :class:`~ociclient.errors.OciError` subclass naming the first value of the wrong
type (``manifest: layers[2].size: expected an integer, got string``). The code after the check
can then use the values without ``isinstance`` tests of its own.

The rules follow what Go's ``encoding/json`` accepts from the specs' Go types:

* unknown object keys are allowed and not looked at (the specs say consumers ignore them);
* ``null`` for an optional key counts as absent (Go decodes it to the zero value);
* integers are not booleans, and strings must be proper Unicode (no lone surrogates, which
  cannot be encoded again: a header, a file name or a subprocess argument made of one fails).

:func:`load_json` parses bytes into a document with a bounded nesting depth, so a hostile
``[[[[...]]]]`` is a typed error instead of a ``RecursionError`` here or in a consumer.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Mapping, Optional, Pattern, Tuple, Type, Union

import attrs

from .errors import OciError

#: documents nested deeper than this are refused (real ones are less than 10 deep)
MAX_DEPTH = 64

_SURROGATE = re.compile("[\ud800-\udfff]")


class _Mismatch(Exception):
    """Internal: where and why a value does not fit (turned into the caller's error)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(path, message)
        self.path = path
        self.message = message


def _type_name(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (list, tuple)):
        return "array"
    if isinstance(v, Mapping):
        return "object"
    return type(v).__name__


@attrs.frozen
class Str:
    """A string, optionally matching ``pattern`` (whole string) and at most ``max_len`` long."""

    pattern: Optional[Pattern[str]] = None
    max_len: Optional[int] = None

    def check(self, v: Any, path: str) -> None:
        if not isinstance(v, str):
            raise _Mismatch(path, f"expected a string, got {_type_name(v)}")
        if _SURROGATE.search(v):
            raise _Mismatch(path, "string holds an unpaired surrogate (not Unicode)")
        if self.max_len is not None and len(v) > self.max_len:
            raise _Mismatch(path, f"string is longer than {self.max_len} characters")
        if self.pattern is not None and not self.pattern.fullmatch(v):
            raise _Mismatch(path, f"{_short(v)} is not valid here")


@attrs.frozen
class Int:
    """An integer (not a boolean, not a float), at least ``min`` if given."""

    min: Optional[int] = None

    def check(self, v: Any, path: str) -> None:
        if not isinstance(v, int) or isinstance(v, bool):
            raise _Mismatch(path, f"expected an integer, got {_type_name(v)}")
        if self.min is not None and v < self.min:
            raise _Mismatch(path, f"{v} is less than {self.min}")


@attrs.frozen
class Num:
    """A finite number (integer or float, not a boolean)."""

    def check(self, v: Any, path: str) -> None:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise _Mismatch(path, f"expected a number, got {_type_name(v)}")
        if isinstance(v, float) and not math.isfinite(v):
            raise _Mismatch(path, f"{v} is not a finite number")


@attrs.frozen
class Bool:
    """A JSON boolean (``true`` or ``false``)."""

    def check(self, v: Any, path: str) -> None:
        if not isinstance(v, bool):
            raise _Mismatch(path, f"expected true or false, got {_type_name(v)}")


@attrs.frozen
class AnyValue:
    """Anything (the depth bound of :func:`load_json` still applies)."""

    def check(self, v: Any, path: str) -> None:
        pass


@attrs.frozen
class ListOf:
    """An array whose every item matches ``item``."""

    item: "Node"

    def check(self, v: Any, path: str) -> None:
        if not isinstance(v, (list, tuple)):
            raise _Mismatch(path, f"expected an array, got {_type_name(v)}")
        for i, x in enumerate(v):
            self.item.check(x, f"{path}[{i}]")


@attrs.frozen
class MapOf:
    """An object with arbitrary keys (checked with ``key``) and values of one type."""

    value: "Node"
    key: "Str" = Str()

    def check(self, v: Any, path: str) -> None:
        if not isinstance(v, Mapping):
            raise _Mismatch(path, f"expected an object, got {_type_name(v)}")
        for k, x in v.items():
            self.key.check(k, f"{path} key")
            self.value.check(x, f"{path}[{_short(k)}]")


@attrs.frozen
class Field:
    """An object member: its type ``node``, and whether it must be present."""

    node: "Node"
    required: bool = False


def req(node: "Node") -> Field:
    """A key that must be present (and not ``null``)."""
    return Field(node, True)


def opt(node: "Node") -> Field:
    """A key that may be missing or ``null``."""
    return Field(node, False)


@attrs.frozen
class Obj:
    """An object with known keys (others are ignored)."""

    fields: Mapping[str, Field]

    def check(self, v: Any, path: str) -> None:
        if not isinstance(v, Mapping):
            raise _Mismatch(path, f"expected an object, got {_type_name(v)}")
        for name, f in self.fields.items():
            x = v.get(name)
            where = f"{path}.{name}" if path else name
            if x is None:
                if f.required:
                    raise _Mismatch(where, "is missing")
                continue
            f.node.check(x, where)


#: any node of a schema: the type a document (or part of one) is checked against
Node = Union[Str, Int, Num, Bool, AnyValue, ListOf, MapOf, Obj]


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def check(value: Any, node: Node, what: str, error: Type[OciError]) -> None:
    """Raise ``error("<what>: <path>: <reason>")`` unless ``value`` fits ``node``."""
    try:
        node.check(value, "")
    except _Mismatch as m:
        where = f"{what}: {m.path}" if m.path else what
        raise error(f"{where}: {m.message}") from None
    except RecursionError:  # only reachable by a deeper document than load_json allows
        raise error(f"{what} is nested too deeply") from None


def nesting_depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deep arrays and objects nest in ``value`` (iterative; stops counting past ``limit``)."""
    deepest = 0
    stack: list = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, Mapping):
            children: Any = v.values()
        elif isinstance(v, (list, tuple)):
            children = v
        else:
            continue
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        stack.extend((c, d + 1) for c in children)
    return deepest


#: a JSON string, or an unterminated one to the end of the text: the tail always matches, so the
#: scan is linear (a pattern needing the closing quote rescans the rest from every quote of a
#: hostile text of escaped quotes, quadratic time)
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*(?:"|\\?\Z)', re.DOTALL)
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def _text_nests_deeper(data: Union[bytes, str], limit: int) -> bool:
    """Whether the JSON text's arrays and objects open more than ``limit`` deep, read off its
    brackets outside strings. A document nested towards the interpreter's recursion limit
    must not reach json.loads: near that limit any finalizer the garbage collector runs
    fails too, and its traceback goes to stderr beside our error."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= limit:  # the common case, at C speed
        return False
    depth = 0
    for m in _JSON_BRACKET.finditer(_JSON_STRING.sub(b"", raw)):
        if m.group() in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def load_json(data: Union[bytes, str], what: str, error: Type[OciError],
              max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON; anything that does not parse, is not UTF-8 or nests deeper than
    ``max_depth`` raises ``error``."""
    if _text_nests_deeper(data, max_depth):
        raise error(f"{what} is nested more than {max_depth} levels deep")
    try:
        obj = json.loads(data)
    except RecursionError:
        raise error(f"{what} is nested too deeply") from None
    except ValueError as e:  # includes UnicodeDecodeError and over-long integers
        raise error(f"{what} is not valid JSON: {_short(str(e))}") from None
    if nesting_depth(obj, max_depth) > max_depth:
        raise error(f"{what} is nested more than {max_depth} levels deep")
    return obj


def checked_json(data: Union[bytes, str], node: Node, what: str, error: Type[OciError]) -> Any:
    """:func:`load_json` then :func:`check`: the one call a parser of a JSON format makes."""
    obj = load_json(data, what, error)
    check(obj, node, what, error)
    return obj


#: a ``docker-credential-<name>`` helper name: it becomes a program name, so no NUL, no
#: slashes, nothing the file system or ``exec`` cannot take
HELPER_NAME = Str(pattern=re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*"), max_len=100)

__all__: Tuple[str, ...] = (
    "AnyValue", "Bool", "Field", "HELPER_NAME", "Int", "ListOf", "MAX_DEPTH", "MapOf", "Node",
    "Num", "Obj", "Str", "check", "checked_json", "load_json", "nesting_depth", "opt", "req",
)
