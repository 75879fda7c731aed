"""GKeyFile-style ``.ini`` text (repo config, origin files), kept line for line.

Unknown groups, keys and comments survive a load and save, so a config written
by libostree keeps everything we did not touch.

Lines, whitespace and escapes follow GLib's GKeyFile, not Python's notion of
them: lines end at ``\n`` only (a ``\r`` before it is dropped), only ASCII
whitespace is trimmed, and values are escaped on write as
``g_key_file_parse_string_as_value`` does, so that any value read back is the
value written, and a file GLib reads as one value is one value here too.
"""

from __future__ import annotations

from ..errors import OstreeError

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import Iterator, List, Optional, Tuple


class KeyFileError(OstreeError):
    """Text that is not a valid key file."""


class KeyFile:
    """A GLib keyfile kept line for line: comments, blank lines and order survive a parse and
    write."""

    def __init__(self) -> None:
        # Each group: name -> list of lines (raw comment/blank lines or (key, value)).
        self._groups: List[Tuple[Optional[str], List[object]]] = [(None, [])]

    @classmethod
    def parse(cls, text: str) -> "KeyFile":
        kf = cls()
        current = kf._groups[0][1]
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        for lineno, raw in enumerate(lines, 1):
            if raw.endswith("\r"):
                raw = raw[:-1]
            line = raw.lstrip(_ASCII_SPACE)
            if not line:
                current.append("")
                continue
            if line.startswith("#"):
                # a CR left at the end would be taken for a CRLF once written back
                current.append(raw.rstrip("\r"))
                continue
            if line.startswith("["):
                name, close, rest = line[1:].partition("]")
                if not close or rest.strip(" \t") or not _valid_group(name):
                    raise KeyFileError(
                        f"Key file contains line “{raw}” which is not a key-value pair, group, or comment")
                # a repeated group continues the first one, as GLib merges them
                existing = kf._group(name)
                if existing is None:
                    current = []
                    kf._groups.append((name, current))
                else:
                    current = existing
                continue
            key, eq, value = line.partition("=")
            key = key.rstrip(_ASCII_SPACE)
            if not eq or not key:
                raise KeyFileError(f"Key file contains line “{raw}” which is not a key-value pair, group, or comment")
            if current is kf._groups[0][1]:
                raise KeyFileError("Key file does not start with a group")
            # kept escaped: a raw CR at the end would be lost as a CRLF once written back
            current.append((key, value.lstrip(" \t").replace("\r", "\\r")))
        return kf

    def groups(self) -> List[str]:
        return [g for g, _ in self._groups if g is not None]

    def has_group(self, group: str) -> bool:
        return any(g == group for g, _ in self._groups)

    def _group(self, group: str) -> Optional[List[object]]:
        for g, lines in self._groups:
            if g == group:
                return lines
        return None

    def keys(self, group: str) -> List[str]:
        lines = self._group(group) or []
        return [e[0] for e in lines if isinstance(e, tuple)]

    def items(self, group: str) -> Iterator[Tuple[str, str]]:
        for e in self._group(group) or []:
            if isinstance(e, tuple):
                yield e[0], _unescape_value(group, e[0], e[1])

    def get(self, group: str, key: str, default: Optional[str] = None) -> Optional[str]:
        # the last of repeated keys wins, as in GLib
        found: Optional[str] = None
        for e in self._group(group) or []:
            if isinstance(e, tuple) and e[0] == key:
                found = e[1]
        return default if found is None else _unescape_value(group, key, found)

    def get_bool(self, group: str, key: str, default: bool = False) -> bool:
        v = self.get(group, key)
        if v is None:
            return default
        if v.strip().lower() in ("true", "1", "yes"):
            return True
        if v.strip().lower() in ("false", "0", "no"):
            return False
        raise KeyFileError(f"Key file contains key “{key}” in group “{group}” which has a value that cannot be interpreted.")

    def get_list(self, group: str, key: str) -> List[str]:
        v = self.get(group, key)
        if v is None:
            return []
        return [x for x in v.split(";") if x]

    def set(self, group: str, key: str, value: str) -> None:
        if not _valid_group(group):
            raise KeyFileError(f"Invalid group name “{group}”")
        if not _valid_key(key):
            raise KeyFileError(f"Invalid key name “{key}”")
        if "\0" in value:
            # GLib's values are C strings: a NUL would cut the value (and the line) short
            raise KeyFileError(f"Key file value for “{key}” contains a NUL character")
        lines = self._group(group)
        if lines is None:
            lines = []
            self._groups.append((group, lines))
        # the last of repeated keys is the one GLib reads, so it is the one replaced
        for i in range(len(lines) - 1, -1, -1):
            e = lines[i]
            if isinstance(e, tuple) and e[0] == key:
                lines[i] = (key, escape(value))
                return
        # keep new keys before trailing blank lines of the group
        pos = len(lines)
        while pos > 0 and not isinstance(lines[pos - 1], tuple) and not str(lines[pos - 1]).strip():
            pos -= 1
        lines.insert(pos, (key, escape(value)))

    def set_string_list(self, group: str, key: str, values: List[str]) -> None:
        """As g_key_file_set_string_list: each element escaped, ``;`` after each."""
        self.set(group, key, "")
        lines = self._group(group)
        assert lines is not None
        text = "".join(escape(v).replace(";", "\\;") + ";" for v in values)
        for i in range(len(lines) - 1, -1, -1):
            e = lines[i]
            if isinstance(e, tuple) and e[0] == key:
                lines[i] = (key, text)
                return

    def set_bool(self, group: str, key: str, value: bool) -> None:
        self.set(group, key, "true" if value else "false")

    def remove_key(self, group: str, key: str) -> bool:
        lines = self._group(group)
        if lines is None:
            return False
        for i in range(len(lines) - 1, -1, -1):
            e = lines[i]
            if isinstance(e, tuple) and e[0] == key:
                del lines[i]
                return True
        return False

    def remove_group(self, group: str) -> bool:
        for i, (g, _) in enumerate(self._groups):
            if g == group:
                del self._groups[i]
                return True
        return False

    def to_text(self) -> str:
        """As g_key_file_to_data writes it: a blank line between groups."""
        out: List[str] = []
        for gi, (g, lines) in enumerate(self._groups):
            if g is not None:
                if out and out[-1] != "":
                    out.append("")
                out.append(f"[{g}]")
            for e in lines:
                out.append(f"{e[0]}={e[1]}" if isinstance(e, tuple) else str(e))
        # g_key_file_to_data ends with exactly one newline after the last line
        while out and out[-1] == "":
            out.pop()
        return "\n".join(out) + "\n" if out else ""


_ASCII_SPACE = " \t\n\v\f\r"  # g_ascii_isspace(), not str.isspace()
_UNESCAPES = {"n": "\n", "t": "\t", "r": "\r", "s": " ", "\\": "\\"}


def _valid_group(name: str) -> bool:
    # g_key_file_is_group_name: non-empty, no brackets, no control characters
    return bool(name) and not any(c in "[]" or ord(c) < 0x20 or ord(c) == 0x7F for c in name)


def _valid_key(key: str) -> bool:
    # g_key_file_is_key_name, plus what our parser would read back differently:
    # no '=', no line breaks, no surrounding ASCII whitespace, not a comment or group
    return (bool(key) and "=" not in key and "\n" not in key and "\r" not in key
            and key.strip(_ASCII_SPACE) == key and key[0] not in "#[")


def escape(value: str) -> str:
    """As g_key_file_parse_string_as_value: leading spaces and tabs become ``\\s``
    and ``\\t`` (a reader would trim them), line breaks and backslashes always
    escaped; everything else, ``\\v`` and ``\\f`` included, is written as is."""
    out = []
    leading = True
    for ch in value:
        if leading and ch == " ":
            out.append("\\s")
            continue
        if leading and ch == "\t":
            out.append("\\t")
            continue
        leading = False
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        else:
            out.append(ch)
    return "".join(out)


def unescape(value: str) -> str:
    """As g_key_file_parse_value_as_string: ``\\s \\n \\t \\r \\\\``; any other
    escape, or a backslash at the end, is an error (GLib's value "cannot be
    interpreted")."""
    if "\\" not in value:
        return value
    out = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\":
            nxt = value[i + 1] if i + 1 < len(value) else ""
            if nxt not in _UNESCAPES:
                raise KeyFileError(f"Key file value “{value}” has an invalid escape sequence")
            out.append(_UNESCAPES[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _unescape_value(group: str, key: str, raw: str) -> str:
    try:
        return unescape(raw)
    except KeyFileError:
        raise KeyFileError(f"Key file contains key “{key}” in group “{group}” which has a value that cannot be "
                           "interpreted.") from None
