"""A remote's URL read without :mod:`urllib.parse` where it is of the plain form.

urllib.parse imports ipaddress and sets up its tables at import: ~2 ms of a pull's start-up,
whose remote URL is nearly always ``SCHEME://HOST[:PORT][/PATH]`` with nothing quoted in it
and no credentials, query or fragment. :func:`split` reads that form itself (as
:func:`urllib.parse.urlsplit` reads it: the scheme and host lowercased where it lowercases
them, the port checked the same) and hands any other URL to urllib.parse; :func:`quote_path`
and :func:`unquote` return a string with nothing to quote or unquote as urllib.parse
returns it, unchanged, and hand the others to it. Pure: no I/O.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import Optional, Union
    from urllib.parse import SplitResult

__all__ = ["PlainURL", "quote_path", "split", "unquote"]

#: scheme://host[:port][/path], every character one urlsplit keeps as it is, none quoted
_PLAIN = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([A-Za-z0-9.-]*)(?::([0-9]{1,5}))?(/[A-Za-z0-9._~/-]*)?")
#: what urllib.parse.quote(s, safe="/") leaves as it is
_QUOTE_SAFE = re.compile(r"[A-Za-z0-9._~/-]*")


class PlainURL:
    """A URL of the plain form, split: :class:`urllib.parse.SplitResult`'s attributes, with
    the values urlsplit gives them (``query`` and ``fragment`` empty, no credentials)."""

    __slots__ = ("scheme", "netloc", "path", "hostname", "port")
    query = fragment = ""
    username = password = None

    def __init__(self, scheme: str, netloc: str, path: str, hostname: Optional[str], port: Optional[int]) -> None:
        self.scheme = scheme
        self.netloc = netloc
        self.path = path
        self.hostname = hostname
        self.port = port

    def geturl(self) -> str:
        """urlunsplit of it: ``SCHEME://NETLOC/PATH``."""
        return f"{self.scheme}://{self.netloc}{self.path}"


def split(url: str) -> Union[PlainURL, SplitResult]:
    """``urllib.parse.urlsplit(url)``: a :class:`PlainURL` for the plain form, urlsplit's own
    answer (and errors) for anything else."""
    m = _PLAIN.fullmatch(url)
    if m is not None:
        scheme, host, port, path = m.groups()
        if port is None or int(port) <= 65535:  # (a port out of range: urlsplit's error)
            return PlainURL(scheme.lower(), host if port is None else f"{host}:{port}", path or "",
                            host.lower() or None, int(port) if port is not None else None)
    from urllib.parse import urlsplit
    return urlsplit(url)


def quote_path(path: str) -> str:
    """``urllib.parse.quote(path, safe="/")``."""
    if _QUOTE_SAFE.fullmatch(path):
        return path
    if path.isascii():
        # (a static delta's name has a + in it): each other character as %XX, as quote does
        return "".join(c if _QUOTE_SAFE.fullmatch(c) else f"%{ord(c):02X}" for c in path)
    from urllib.parse import quote
    return quote(path, safe="/")


def unquote(s: str) -> str:
    """``urllib.parse.unquote(s)``."""
    if "%" not in s:
        return s
    from urllib.parse import unquote as _unquote
    return _unquote(s)
