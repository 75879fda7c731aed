"""A remote's URL read without :mod:`urllib.parse` where it is of the plain form.

urllib.parse imports ipaddress and sets up its tables at import: ~2 ms of a pull's start-up,
whose remote URL is nearly always ``SCHEME://HOST[:PORT][/PATH]`` with nothing quoted in it
and no credentials, query or fragment. :func:`split` reads that form itself (as
:func:`urllib.parse.urlsplit` reads it: the scheme and host lowercased where it lowercases
them, the port checked the same) and hands any other URL to urllib.parse; :func:`quote_path`
and :func:`unquote` return a string with nothing to quote or unquote as urllib.parse
returns it, unchanged, and hand the others to it. The forms are told by string methods
(a part's allowed characters stripped off: what is left is what does not fit), not by
regular expressions: re's import is ~2 ms more of a pull's start-up. Pure: no I/O.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import Optional, Union
    from urllib.parse import SplitResult

__all__ = ["PlainURL", "quote_path", "split", "unquote"]

# The plain form, ``[A-Za-z][A-Za-z0-9+.-]*://[A-Za-z0-9.-]*(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?``:
# every character one urlsplit keeps as it is, none quoted
_ALPHA = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_DIGITS = "0123456789"
_SCHEME = _ALPHA + _DIGITS + "+.-"
_HOST = _ALPHA + _DIGITS + ".-"
#: what urllib.parse.quote(s, safe="/") leaves as it is (and a plain URL's path holds)
_QUOTE_SAFE = _ALPHA + _DIGITS + "._~/-"


def _plain(url: str) -> Optional[tuple[str, str, Optional[str], str]]:
    """(scheme, host, port or None, path) of a URL of the plain form, else None."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme or scheme[0] not in _ALPHA or scheme.strip(_SCHEME):
        return None
    slash = rest.find("/")
    netloc, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    host, colon, port = netloc.partition(":")
    if host.strip(_HOST) or path.strip(_QUOTE_SAFE):
        return None
    if not colon:
        return scheme, host, None, path
    if not 1 <= len(port) <= 5 or port.strip(_DIGITS):
        return None
    return scheme, host, port, path


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
    m = _plain(url)
    if m is not None:
        scheme, host, port, path = m
        if port is None or int(port) <= 65535:  # (a port out of range: urlsplit's error)
            return PlainURL(scheme.lower(), host if port is None else f"{host}:{port}", path or "",
                            host.lower() or None, int(port) if port is not None else None)
    from urllib.parse import urlsplit
    return urlsplit(url)


def quote_path(path: str) -> str:
    """``urllib.parse.quote(path, safe="/")``."""
    if not path.strip(_QUOTE_SAFE):
        return path
    if path.isascii():
        # (a static delta's name has a + in it): each other character as %XX, as quote does
        return "".join(c if c in _QUOTE_SAFE else f"%{ord(c):02X}" for c in path)
    from urllib.parse import quote
    return quote(path, safe="/")


def unquote(s: str) -> str:
    """``urllib.parse.unquote(s)``."""
    if "%" not in s:
        return s
    from urllib.parse import unquote as _unquote
    return _unquote(s)
