"""Metalink remotes (``metalink=URL`` in ``remote add``, option ``metalink``): an XML file
(Metalink 3.0) that names where a remote's ``summary`` can be had, its size and hash.

Design. :func:`parse_metalink` is pure: bytes in, a :class:`MetalinkFile` (or a
:class:`MetalinkError` with ostree's words) out, read with expat as a state machine in the
shape of libostree's GMarkup parser (``src/libostree/ostree-metalink.c``); no file or socket.
:func:`fetch_through_metalink` drives it over a ``get(url, max_size)`` callable the caller
makes from its fetcher, so the transport (cookies, TLS, headers) is the remote's own.

What ostree does and we do too:

* only ``<metalink><files><file name="summary">`` is read; the first ``<file>`` of that name
  wins, every element it does not know is skipped with its whole subtree;
* ``<size>`` must be there and non-zero, and the *last* ``<hash>`` of ``<verification>``
  must be of a known type (sha256, sha512), before the first ``<url>``; both hashes are kept
  and sha512 is the one checked when present; a hash that is not lower-case hex of the right
  length is refused before anything is fetched;
* ``<url protocol="http|https">`` entries are tried in document order (``preference`` is not
  used), each fetched whole and checked for size and hash; the first that passes is the
  answer, and the pull's base URL becomes the folder it is in; when none passes the error
  names how many were tried and the last one's failure.
"""

from __future__ import annotations

import hashlib
import re
import xml.parsers.expat
from typing import Callable, List, Optional, Sequence, Tuple

import attrs

from ..errors import OstreeError
from .config import RemoteOptions
from .fetcher import fetcher_for_remote

__all__ = ["MetalinkError", "MetalinkNotFoundError", "MetalinkFile", "parse_metalink",
           "fetch_through_metalink", "metalink_summary"]

#: a metalink file is read whole; ostree bounds it as a metadata object
MAX_METALINK_SIZE = 10 * 1024 * 1024


class MetalinkError(OstreeError):
    """A metalink that cannot be used, or whose targets all failed."""


class MetalinkNotFoundError(MetalinkError):
    """The metalink lists no ``<file>`` of the requested name (ostree's G_IO_ERROR_NOT_FOUND)."""


@attrs.frozen
class MetalinkFile:
    """What a metalink says of one file."""

    name: str
    size: int
    sha256: Optional[str]
    sha512: Optional[str]
    urls: Tuple[str, ...]


_HEX = re.compile(r"[0-9a-f]*")


def _valid_hex(s: str, n: int) -> bool:
    # ostree: strspn(s, "01234567890abcdef") == n and nothing after
    return len(s) == n and bool(_HEX.fullmatch(s))


class _Parser:
    """ostree-metalink.c's states; PASSTHROUGH skips an element and everything inside it."""

    def __init__(self, requested: str) -> None:
        self.requested = requested
        self.state = "INITIAL"
        self.previous = "INITIAL"
        self.depth = 0
        self.found_a_file = False
        self.found_ours = False
        self.size = 0
        self.known = False
        self.hash_type: Optional[str] = None
        self.sha256: Optional[str] = None
        self.sha512: Optional[str] = None
        self.urls: List[str] = []
        self.text: List[str] = []
        self.error: Optional[str] = None

    def _go(self, state: str) -> None:
        if state == "PASSTHROUGH":
            self.previous = self.state
            self.depth = 0
        self.state = state
        self.text = []

    def start(self, name: str, attrs_: dict) -> None:
        st = self.state
        if st == "PASSTHROUGH":
            self.depth += 1
            return
        nxt = None
        if st == "INITIAL" and name == "metalink":
            nxt = "METALINK"
        elif st == "METALINK" and name == "files":
            nxt = "FILES"
        elif st == "FILES":
            if self.urls:
                nxt = "PASSTHROUGH"
            elif name == "file":
                if "name" not in attrs_:
                    raise MetalinkError("Element 'file' requires attribute 'name'")
                self.found_a_file = True
                if attrs_["name"] != self.requested:
                    nxt = "PASSTHROUGH"
                else:
                    self.found_ours = True
                    nxt = "FILE"
        elif st == "FILE":
            nxt = {"size": "SIZE", "verification": "VERIFICATION", "resources": "RESOURCES"}.get(name)
        elif st == "VERIFICATION" and name == "hash":
            if "type" not in attrs_:
                raise MetalinkError("Element 'hash' requires attribute 'type'")
            self.known = attrs_["type"] in ("sha256", "sha512")
            self.hash_type = attrs_["type"] if self.known else None
            nxt = "HASH"
        elif st == "RESOURCES":
            if self.size == 0:
                raise MetalinkError("No <size> element found or it is zero")
            if not self.known:
                raise MetalinkError("No <verification> element with known <hash type=> found")
            if name == "url":
                if "protocol" not in attrs_:
                    raise MetalinkError("Element 'url' requires attribute 'protocol'")
                nxt = "URL" if attrs_["protocol"] in ("http", "https") else "PASSTHROUGH"
        self._go(nxt or "PASSTHROUGH")

    def end(self, name: str) -> None:
        st = self.state
        text = "".join(self.text)
        if st == "PASSTHROUGH":
            if self.depth > 0:
                self.depth -= 1
            else:
                self._go(self.previous)
            return
        if st == "SIZE":
            m = re.match(r"\s*\+?(\d+)", text)
            self.size = int(m.group(1)) if m else 0
        elif st == "HASH" and self.known:
            if self.hash_type == "sha256":
                self.sha256 = text
            elif self.hash_type == "sha512":
                self.sha512 = text
        elif st == "URL":
            self.urls.append(text.strip())
        back = {"METALINK": "INITIAL", "FILES": "METALINK", "FILE": "FILES", "SIZE": "FILE",
                "VERIFICATION": "FILE", "RESOURCES": "FILE", "HASH": "VERIFICATION", "URL": "RESOURCES"}
        self._go(back.get(st, "INITIAL"))

    def chars(self, data: str) -> None:
        if self.state in ("SIZE", "HASH", "URL"):
            self.text.append(data)


def parse_metalink(data: bytes, requested_file: str = "summary") -> MetalinkFile:
    """What the metalink ``data`` says of ``requested_file``, checked as ostree checks it
    before fetching anything."""
    if not data.lstrip().startswith(b"<"):
        # GMarkup's words, which scripts match
        raise MetalinkError("Document must begin with an element (e.g. <book>)")
    p = _Parser(requested_file)
    x = xml.parsers.expat.ParserCreate()
    x.StartElementHandler = p.start
    x.EndElementHandler = p.end
    x.CharacterDataHandler = p.chars
    # no DTD, no entities from anywhere: a metalink has no use for them
    x.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    x.EntityDeclHandler = _refuse_entities
    try:
        x.Parse(data, True)
    except xml.parsers.expat.ExpatError as e:
        raise MetalinkError(f"Error on line {e.lineno} char {e.offset + 1}: "
                            f"{xml.parsers.expat.ErrorString(e.code)}") from None
    if not p.found_a_file:
        raise MetalinkError("No <file> element found")
    if not p.found_ours:
        raise MetalinkNotFoundError(f"No <file name='{requested_file}'> found")
    if not (p.sha256 or p.sha512):
        raise MetalinkError("No <verification> hash for sha256 or sha512 found")
    if p.sha256 and not _valid_hex(p.sha256, 64):
        raise MetalinkError("Invalid hash digest for sha256")
    if p.sha512 and not _valid_hex(p.sha512, 128):
        raise MetalinkError("Invalid hash digest for sha512")
    if not p.urls:
        raise MetalinkError("No <url method='http'> elements found")
    return MetalinkFile(requested_file, p.size, p.sha256, p.sha512, tuple(p.urls))


def _refuse_entities(*args: object) -> None:
    raise MetalinkError("Entity declarations are not allowed in a metalink")


def check_target(entry: MetalinkFile, data: bytes) -> None:
    """try_one_url's checks of one fetched target: size, then sha512 (else sha256)."""
    if len(data) != entry.size:
        raise MetalinkError(f"Expected size is {entry.size} bytes but content is {len(data)} bytes")
    if entry.sha512:
        actual = hashlib.sha512(data).hexdigest()
        if actual != entry.sha512:
            raise MetalinkError(f"Expected checksum is {entry.sha512} but actual is {actual}")
    elif entry.sha256:
        actual = hashlib.sha256(data).hexdigest()
        if actual != entry.sha256:
            raise MetalinkError(f"Expected checksum is {entry.sha256} but actual is {actual}")


def fetch_through_metalink(get: Callable[[str, int], bytes], metalink_url: str, requested_file: str,
                           max_size: int) -> Tuple[str, bytes]:
    """Fetch the metalink at ``metalink_url``, then its first target for ``requested_file`` that
    passes the checks: (that target's URL, its bytes). ``get(url, max_size)`` fetches one URL
    (raising :class:`~ostreepy.errors.OstreeError` on failure)."""
    entry = parse_metalink(get(metalink_url, MAX_METALINK_SIZE), requested_file)
    last = ""
    for url in entry.urls:
        try:
            data = get(url, max_size)
            check_target(entry, data)
            return url, data
        except OstreeError as e:
            last = str(e)
    raise MetalinkError(f"Exhausted {len(entry.urls)} metalink targets, last error: {last}")


def metalink_summary(remote: RemoteOptions, metalink_url: str, *, max_size: int,
                     extra_headers: Sequence[Tuple[str, str]] = (), append_user_agent: Optional[str] = None,
                     cookie_jar: Optional[str] = None) -> Tuple[bytes, str]:
    """A metalink remote's ``summary`` through its metalink, over the remote's own transport
    options: (the summary, the URL of the folder it came from, which is the repository)."""

    def get(url: str, limit: int) -> bytes:
        head, _, name = url.rpartition("/")
        f = fetcher_for_remote(remote, url=head + "/", extra_headers=extra_headers,
                               append_user_agent=append_user_agent, cookie_jar=cookie_jar)
        try:
            return f.fetch_bytes(name, limit)
        finally:
            f.close()

    url, data = fetch_through_metalink(get, metalink_url, "summary", max_size)
    return data, url.rpartition("/")[0]
