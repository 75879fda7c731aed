"""Boot Loader Specification Type #1 entries (``/loader/entries/*.conf``).

An entry is a list of ``key value`` lines. :class:`BLSEntry` keeps them in
order, repeated keys included (``initrd`` and ``options`` may repeat) and
unknown keys kept. :func:`parse_entry` reads the text, :func:`format_entry`
writes it the way ostree's ``ostree_bootconfig_parser_write_at`` does:
``title``, ``version``, ``options``, ``devicetree``, ``linux``, ``initrd``
(the primary one, then the overlay ones), then every other key. ostree
writes those other keys in GHashTable order, which is not stable; we write
them in the order they were added.

Entry file names carry the boot counting state: ``<name>+<left>[-<done>].conf``
(:class:`EntryFileName`).
"""

from __future__ import annotations

import re
from typing import Iterable, Iterator, Optional, Tuple, Union

import attrs

from .errors import EntryNameError, EntryParseError

__all__ = [
    "BLSEntry",
    "EntryFileName",
    "OSTREE_KEY_ORDER",
    "parse_entry",
    "format_entry",
    "parse_entry_filename",
]

#: The keys ostree writes first, in this order (ostree-bootconfig-parser.c).
OSTREE_KEY_ORDER: Tuple[str, ...] = ("title", "version", "options", "devicetree", "linux", "initrd")

# Keys systemd accepts with an empty value without complaint.
_EMPTY_OK = frozenset({"options", "devicetree-overlay"})
_KEY_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*\Z")
_Item = Tuple[str, str]


def _to_items(value: Iterable[_Item]) -> Tuple[_Item, ...]:
    items = tuple((str(k), str(v)) for k, v in value)
    for k, v in items:
        if not _KEY_RE.match(k):
            raise EntryParseError(f"invalid key {k!r}")
        if "\n" in v or "\0" in v:
            raise EntryParseError(f"value of {k!r} contains a newline or NUL")
        # what a reader would drop or refuse: the separator eats leading blanks,
        # systemd strips trailing ones and a carriage return; so the value would
        # change (or the file be refused) once written and read back
        if "\r" in v or v != v.strip(" \t"):
            raise EntryParseError(f"value of {k!r} has a carriage return or leading/trailing blanks: {v!r}")
    return items


@attrs.frozen
class BLSEntry:
    """An immutable, ordered list of ``(key, value)`` lines of one entry.

    Single-valued keys read with :meth:`get` give the *last* value, as both
    systemd and ostree do when a key is repeated. ``initrd`` and ``options``
    are lists (:attr:`initrds`, :attr:`options`).
    """

    items: Tuple[_Item, ...] = attrs.field(default=(), converter=_to_items)

    # -- reading -----------------------------------------------------------
    def get(self, key: str, default: Optional[str] = None) -> Optional[str]:
        """The last value of ``key``, or ``default``."""
        for k, v in reversed(self.items):
            if k == key:
                return v
        return default

    def get_all(self, key: str) -> Tuple[str, ...]:
        """Every value of ``key``, in file order."""
        return tuple(v for k, v in self.items if k == key)

    def keys(self) -> Tuple[str, ...]:
        """Distinct keys in order of first appearance."""
        return tuple(dict.fromkeys(k for k, _ in self.items))

    def __contains__(self, key: object) -> bool:
        return any(k == key for k, _ in self.items)

    def __iter__(self) -> Iterator[_Item]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def title(self) -> Optional[str]:
        return self.get("title")

    @property
    def version(self) -> Optional[str]:
        return self.get("version")

    @property
    def machine_id(self) -> Optional[str]:
        return self.get("machine-id")

    @property
    def sort_key(self) -> Optional[str]:
        return self.get("sort-key")

    @property
    def linux(self) -> Optional[str]:
        return self.get("linux")

    @property
    def devicetree(self) -> Optional[str]:
        return self.get("devicetree")

    @property
    def initrds(self) -> Tuple[str, ...]:
        return self.get_all("initrd")

    @property
    def options(self) -> Optional[str]:
        """All ``options`` lines joined by a space (None when there is none)."""
        opts = self.get_all("options")
        return " ".join(opts) if opts else None

    # -- deriving new entries ---------------------------------------------
    def with_value(self, key: str, value: str) -> "BLSEntry":
        """Set ``key`` to exactly one value: the first line of that key is
        replaced and later ones dropped; a new key is appended."""
        out: list = []
        done = False
        for k, v in self.items:
            if k == key:
                if not done:
                    out.append((k, value))
                    done = True
            else:
                out.append((k, v))
        if not done:
            out.append((key, value))
        return BLSEntry(out)

    def with_values(self, key: str, values: Iterable[str]) -> "BLSEntry":
        """Replace every line of ``key`` by ``values`` (at the first line's place)."""
        values = list(values)
        out: list = []
        done = False
        for k, v in self.items:
            if k == key:
                if not done:
                    out.extend((key, x) for x in values)
                    done = True
            else:
                out.append((k, v))
        if not done:
            out.extend((key, x) for x in values)
        return BLSEntry(out)

    def with_added(self, key: str, value: str) -> "BLSEntry":
        """Append one more ``key value`` line."""
        return BLSEntry(self.items + ((key, value),))

    def without(self, key: str) -> "BLSEntry":
        """Drop every line of ``key``."""
        return BLSEntry([(k, v) for k, v in self.items if k != key])


def parse_entry(text: Union[str, bytes], *, strict: bool = True) -> BLSEntry:
    """Parse the text of a Type #1 entry file.

    Lines are ``key value`` with the key separated from the value by spaces
    or tabs; empty lines and lines starting with ``#`` are skipped. The value
    is the rest of the line without surrounding spaces and tabs (``\\v`` and
    ``\\f`` belong to it: systemd and ostree keep them).

    With ``strict`` (the default) anything readers disagree on is an
    :class:`EntryParseError`: bytes that are not UTF-8, NUL, an indented
    line or a carriage return (ostree ignores or keeps what systemd strips),
    a key not made of ``[A-Za-z][A-Za-z0-9_.-]*``, or a key without a value
    (except ``options`` and ``devicetree-overlay``). With ``strict=False``
    such lines are skipped, like systemd does with a warning.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise EntryParseError(f"entry is not valid UTF-8: {e}") from None
    if "\0" in text:
        if strict:
            raise EntryParseError("entry contains a NUL byte")
        text = text.split("\0", 1)[0]
    items = []
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw
        if strict:
            if "\r" in line:
                raise EntryParseError("carriage return in line", lineno)
            if line[:1] in (" ", "\t"):
                if line.strip(" \t"):
                    raise EntryParseError("indented line", lineno)
                continue
        else:
            # systemd's WHITESPACE; \v and \f are kept, as systemd and ostree keep them
            line = line.strip(" \t\r")
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([^ \t]+)(?:[ \t]+(.*))?\Z", line, re.S)
        assert m is not None
        key, value = m.group(1), (m.group(2) or "").rstrip(" \t\r")
        if not _KEY_RE.match(key):
            if strict:
                raise EntryParseError(f"invalid key {key!r}", lineno)
            continue
        if not value and key not in _EMPTY_OK:
            if strict:
                raise EntryParseError(f"key {key!r} without a value", lineno)
            continue
        items.append((key, value))
    return BLSEntry(items)


def format_entry(entry: BLSEntry, *, ostree_order: bool = True) -> str:
    """Write an entry as text, ``key value\\n`` per line (one space).

    With ``ostree_order`` the keys of :data:`OSTREE_KEY_ORDER` come first in
    that order (each with all its lines, so the primary ``initrd`` and then
    the overlay initrds), then the remaining keys in their first-appearance
    order. Without it, lines are written exactly in entry order.
    """
    lines: list = []
    if ostree_order:
        for key in OSTREE_KEY_ORDER:
            lines.extend((key, v) for v in entry.get_all(key))
        rest = [k for k in entry.keys() if k not in OSTREE_KEY_ORDER]
        for key in rest:
            lines.extend((key, v) for v in entry.get_all(key))
    else:
        lines = list(entry.items)
    return "".join(f"{k} {v}\n" for k, v in lines)


@attrs.frozen
class EntryFileName:
    """An entry file name split into its parts.

    ``left`` and ``done`` are the boot counting counters as written (digit
    strings, leading zeros kept so the name round-trips), or None.
    """

    stem: str
    suffix: str = ".conf"
    left: Optional[str] = None
    done: Optional[str] = None

    def __attrs_post_init__(self) -> None:
        if self.left is None and self.done is not None:
            raise EntryNameError("a tries-done counter needs a tries-left counter")
        for c in (self.left, self.done):
            if c is not None and not (c.isascii() and c.isdigit()):
                raise EntryNameError(f"boot counter {c!r} is not a decimal number")

    @classmethod
    def make(
        cls, stem: str, tries_left: Optional[int] = None, tries_done: Optional[int] = None,
        suffix: str = ".conf",
    ) -> "EntryFileName":
        return cls(
            stem, suffix,
            None if tries_left is None else str(tries_left),
            None if tries_done is None else str(tries_done),
        )

    @property
    def tries_left(self) -> Optional[int]:
        return None if self.left is None else int(self.left)

    @property
    def tries_done(self) -> Optional[int]:
        return None if self.done is None else int(self.done)

    @property
    def counting(self) -> bool:
        """True when the name carries boot counting state."""
        return self.left is not None

    @property
    def bad(self) -> bool:
        """An entry with no tries left is "bad" (sorted last)."""
        return self.tries_left == 0

    @property
    def id(self) -> str:
        """The entry id as systemd uses it: the name without the counter."""
        return self.stem + self.suffix

    def __str__(self) -> str:
        counter = ""
        if self.left is not None:
            counter = "+" + self.left + ("" if self.done is None else "-" + self.done)
        return self.stem + counter + self.suffix


def parse_entry_filename(name: str) -> EntryFileName:
    """Split a file name like ``ostree-2+3-0.conf`` (as systemd's
    ``boot_filename_extract_tries`` does: the suffix starts at the last dot,
    the counter at the last ``+`` before it). A name without a valid counter
    is all stem."""
    if "/" in name or not name:
        raise EntryNameError(f"not a file name: {name!r}")
    dot = name.rfind(".")
    if dot < 0:
        return EntryFileName(name, "")
    base, suffix = name[:dot], name[dot:]
    m = re.fullmatch(r"(.*)\+([0-9]+)(?:-([0-9]+))?", base, re.S)
    if m is None or "+" in m.group(2):
        return EntryFileName(base, suffix)
    return EntryFileName(m.group(1), suffix, m.group(2), m.group(3))
