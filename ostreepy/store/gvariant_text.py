"""A parser for the GVariant text format (the subset ``ostree commit --add-metadata`` needs).

Handles strings, booleans, numbers with or without type keywords (``uint32 5``),
``@TYPE`` annotations, byte strings (``b'...'``), arrays, tuples, dictionaries
and variants (``<...>``).  Returns a :class:`Variant`.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

from ..errors import GVariantError
from .gvariant import Variant, parse_type

_KEYWORDS = {
    "byte": "y", "int16": "n", "uint16": "q", "int32": "i", "uint32": "u", "int64": "x",
    "uint64": "t", "double": "d", "handle": "h", "objectpath": "o", "signature": "g",
}
_NUM_RE = re.compile(r"[+-]?(0x[0-9a-fA-F]+|\d+(\.\d*)?([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)")


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i].isspace():
            self.i += 1

    def peek(self, n: int = 1) -> str:
        return self.s[self.i:self.i + n]

    def error(self, msg: str) -> GVariantError:
        return GVariantError(f"{self.i}: {msg}")

    def expect(self, ch: str) -> None:
        self.ws()
        if not self.s.startswith(ch, self.i):
            raise self.error(f"expected '{ch}'")
        self.i += len(ch)

    def value(self, want: Optional[str] = None) -> Tuple[str, Any]:
        self.ws()
        c = self.peek()
        if not c:
            raise self.error("unexpected end of GVariant text")
        if c == "@":
            self.i += 1
            start = self.i
            while self.i < len(self.s) and not self.s[self.i].isspace():
                self.i += 1
            t = self.s[start:self.i]
            parse_type(t)
            return self.value(t)
        for kw, t in _KEYWORDS.items():
            if self.s.startswith(kw, self.i) and not self.s[self.i + len(kw):self.i + len(kw) + 1].isalnum():
                self.i += len(kw)
                return self.value(t)
        if c in "'\"":
            sv = self.string()
            t = want or "s"
            return t, sv
        if c == "b" and self.peek(2)[1:] in ("'", '"'):
            self.i += 1
            sv = self.string()
            return "ay", sv.encode("utf-8") + b"\x00"
        if c == "<":
            self.i += 1
            t, v = self.value()
            self.expect(">")
            return "v", Variant(t, v)
        if c == "[":
            return self.array(want)
        if c == "{":
            return self.dict(want)
        if c == "(":
            return self.tuple(want)
        if self.s.startswith("true", self.i):
            self.i += 4
            return "b", True
        if self.s.startswith("false", self.i):
            self.i += 5
            return "b", False
        if self.s.startswith("nothing", self.i):
            self.i += 7
            if not want or not want.startswith("m"):
                raise self.error("cannot infer type of 'nothing'")
            return want, None
        m = _NUM_RE.match(self.s, self.i)
        if m:
            self.i = m.end()
            txt = m.group(0)
            t = want or ("d" if any(ch in txt for ch in ".eE") and "x" not in txt else "i")
            if t == "d":
                return t, float(txt)
            return t, int(txt, 0)
        raise self.error("invalid character in GVariant text")

    def string(self) -> str:
        q = self.s[self.i]
        self.i += 1
        out: List[str] = []
        while True:
            if self.i >= len(self.s):
                raise self.error("unterminated string")
            ch = self.s[self.i]
            self.i += 1
            if ch == q:
                return "".join(out)
            if ch == "\\":
                nxt = self.s[self.i]
                self.i += 1
                out.append({"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"',
                            "a": "\a", "b": "\b", "f": "\f", "v": "\v"}.get(nxt, nxt))
            else:
                out.append(ch)

    def array(self, want: Optional[str]) -> Tuple[str, Any]:
        self.expect("[")
        elem_t = want[1:] if want and want.startswith("a") else None
        items = []
        self.ws()
        if self.peek() == "]":
            self.i += 1
            if elem_t is None:
                raise self.error("cannot infer type of empty array")
            return "a" + elem_t, b"" if elem_t == "y" else []
        while True:
            t, v = self.value(elem_t)
            elem_t = elem_t or t
            items.append(v)
            self.ws()
            if self.peek() == ",":
                self.i += 1
                continue
            self.expect("]")
            break
        if elem_t == "y":
            return "ay", bytes(items)
        return "a" + elem_t, items

    def dict(self, want: Optional[str]) -> Tuple[str, Any]:
        self.expect("{")
        kt = vt = None
        if want and want.startswith("a{"):
            pt = parse_type(want)
            kt, vt = pt.children[0].children[0].string, pt.children[0].children[1].string
        out: Dict[Any, Any] = {}
        self.ws()
        if self.peek() == "}":
            self.i += 1
            if kt is None:
                raise self.error("cannot infer type of empty dictionary")
            return want or "", out
        while True:
            t1, k = self.value(kt)
            self.expect(":")
            t2, v = self.value(vt)
            kt, vt = kt or t1, vt or t2
            out[k] = v
            self.ws()
            if self.peek() == ",":
                self.i += 1
                continue
            self.expect("}")
            break
        return f"a{{{kt}{vt}}}", out

    def tuple(self, want: Optional[str]) -> Tuple[str, Any]:
        self.expect("(")
        types: List[str] = []
        vals: List[Any] = []
        child_types = [c.string for c in parse_type(want).children] if want else None
        self.ws()
        while self.peek() != ")":
            t, v = self.value(child_types[len(types)] if child_types and len(types) < len(child_types) else None)
            types.append(t)
            vals.append(v)
            self.ws()
            if self.peek() == ",":
                self.i += 1
                self.ws()
        self.expect(")")
        return "(" + "".join(types) + ")", tuple(vals)


def parse_text(text: str, type_string: Optional[str] = None) -> Variant:
    """Parse GVariant text (``'s'``, ``<uint32 5>``, ``['a', 'b']``...) into a
    :class:`~ostreepy.store.gvariant.Variant`, of ``type_string`` when given."""
    p = _Parser(text)
    t, v = p.value(type_string)
    p.ws()
    if p.i != len(p.s):
        raise GVariantError(f"{p.i}: unexpected trailing text in GVariant '{text}'")
    return Variant(t, v)
