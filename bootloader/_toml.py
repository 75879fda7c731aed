"""A small TOML reader for the subset bootc's kargs.d files use.

Used only when :mod:`tomllib` (Python 3.11+) is missing. It reads
``key = value`` lines where a key is bare or quoted and a value is a basic
or literal string or an array (over several lines if needed, trailing comma
and comments allowed) of such values. Anything else raises ValueError, which
the caller reports as an invalid kargs.d file.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List

__all__ = ["loads"]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def error(self, msg: str) -> ValueError:
        line = self.s.count("\n", 0, self.i) + 1
        return ValueError(f"TOML line {line}: {msg}")

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def skip_ws(self) -> None:
        while self.peek() in (" ", "\t") and self.peek():
            self.i += 1

    def skip_comment(self) -> None:
        if self.peek() == "#":
            while self.peek() and self.peek() != "\n":
                c = self.peek()
                if (ord(c) < 0x20 and c not in "\t\r") or c == "\x7f":
                    raise self.error("control character in comment")
                self.i += 1

    def newline(self) -> bool:
        if self.s.startswith("\r\n", self.i):
            self.i += 2
            return True
        if self.peek() == "\n":
            self.i += 1
            return True
        return False

    def skip_ws_comments_newlines(self) -> None:
        while True:
            self.skip_ws()
            self.skip_comment()
            if not self.newline():
                return

    def key(self) -> str:
        c = self.peek()
        if c == '"':
            k = self.basic_string()
        elif c == "'":
            k = self.literal_string()
        else:
            m = _BARE_KEY.match(self.s, self.i)
            if not m:
                raise self.error("expected a key")
            k = m.group(0)
            self.i = m.end()
        self.skip_ws()
        if self.peek() == ".":
            raise self.error("dotted keys are not supported here")
        return k

    def basic_string(self) -> str:
        if self.s.startswith('"""', self.i):
            raise self.error("multi-line strings are not supported here")
        self.i += 1
        out: list = []
        while True:
            c = self.peek()
            if not c or c == "\n":
                raise self.error("unterminated string")
            self.i += 1
            if c == '"':
                return "".join(out)
            if c == "\\":
                e = self.peek()
                self.i += 1
                if e in _ESCAPES:
                    out.append(_ESCAPES[e])
                elif e in ("u", "U"):
                    n = 4 if e == "u" else 8
                    h = self.s[self.i:self.i + n]
                    if len(h) != n or not re.fullmatch(r"[0-9A-Fa-f]+", h):
                        raise self.error("bad unicode escape")
                    cp = int(h, 16)
                    if cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
                        raise self.error("escape is not a Unicode scalar value")
                    out.append(chr(cp))
                    self.i += n
                else:
                    raise self.error(f"invalid escape \\{e}")
            elif (ord(c) < 0x20 and c != "\t") or c == "\x7f":
                raise self.error("control character in string")
            else:
                out.append(c)

    def literal_string(self) -> str:
        if self.s.startswith("'''", self.i):
            raise self.error("multi-line strings are not supported here")
        self.i += 1
        j = self.i
        while True:
            c = self.peek()
            if not c or c == "\n":
                raise self.error("unterminated string")
            if c == "'":
                v = self.s[j:self.i]
                self.i += 1
                return v
            if (ord(c) < 0x20 and c != "\t") or c == "\x7f":
                raise self.error("control character in string")
            self.i += 1

    def value(self) -> Any:
        c = self.peek()
        if c == '"':
            return self.basic_string()
        if c == "'":
            return self.literal_string()
        if c == "[":
            return self.array()
        raise self.error("only strings and arrays are supported here")

    def array(self) -> List[Any]:
        self.i += 1
        out: List[Any] = []
        while True:
            self.skip_ws_comments_newlines()
            if self.peek() == "]":
                self.i += 1
                return out
            out.append(self.value())
            self.skip_ws_comments_newlines()
            c = self.peek()
            if c == ",":
                self.i += 1
            elif c == "]":
                self.i += 1
                return out
            else:
                raise self.error("expected ',' or ']' in array")

    def document(self) -> Dict[str, Any]:
        doc: Dict[str, Any] = {}
        while True:
            self.skip_ws_comments_newlines()
            if not self.peek():
                return doc
            if self.peek() == "[":
                raise self.error("tables are not supported here")
            k = self.key()
            if self.peek() != "=":
                raise self.error("expected '='")
            self.i += 1
            self.skip_ws()
            v = self.value()
            if k in doc:
                raise self.error(f"duplicate key {k!r}")
            doc[k] = v
            self.skip_ws()
            self.skip_comment()
            if not self.newline() and self.peek():
                raise self.error("expected end of line after value")


def loads(text: str) -> Dict[str, Any]:
    """Parse ``text`` (the kargs.d subset of TOML) into a dict."""
    return _Parser(text).document()


