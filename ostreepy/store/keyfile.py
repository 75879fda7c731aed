"""GKeyFile-style ``.ini`` text (repo config, origin files), kept line for line.

Unknown groups, keys and comments survive a load and save, so a config written
by libostree keeps everything we did not touch.
"""

from __future__ import annotations

from typing import Iterator, List, Optional, Tuple

from ..errors import OstreeError


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
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                current.append(raw)
                continue
            if line.startswith("["):
                if not line.endswith("]"):
                    raise KeyFileError(f"Key file contains line {lineno} which is not a valid group header")
                name = line[1:-1]
                current = []
                kf._groups.append((name, current))
                continue
            if "=" not in line:
                raise KeyFileError(f"Key file contains line “{raw}” which is not a key-value pair, group, or comment")
            if kf._groups[-1][0] is None:
                raise KeyFileError("Key file does not start with a group")
            key, _, value = raw.partition("=")
            current.append((key.strip(), value.lstrip()))
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
                yield e[0], unescape(e[1])

    def get(self, group: str, key: str, default: Optional[str] = None) -> Optional[str]:
        for e in self._group(group) or []:
            if isinstance(e, tuple) and e[0] == key:
                return unescape(e[1])
        return default

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
        lines = self._group(group)
        if lines is None:
            lines = []
            self._groups.append((group, lines))
        for i, e in enumerate(lines):
            if isinstance(e, tuple) and e[0] == key:
                lines[i] = (key, escape(value))
                return
        # keep new keys before trailing blank lines of the group
        pos = len(lines)
        while pos > 0 and not isinstance(lines[pos - 1], tuple) and not str(lines[pos - 1]).strip():
            pos -= 1
        lines.insert(pos, (key, escape(value)))

    def set_bool(self, group: str, key: str, value: bool) -> None:
        self.set(group, key, "true" if value else "false")

    def remove_key(self, group: str, key: str) -> bool:
        lines = self._group(group)
        if lines is None:
            return False
        for i, e in enumerate(lines):
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


def escape(value: str) -> str:
    """Escape a value as GLib writes it (``\\n``, ``\\t``, ``\\r``, ``\\\\``, and a leading
    space as ``\\s``)."""
    out = []
    for i, ch in enumerate(value):
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == " " and i == 0:
            out.append("\\s")
        else:
            out.append(ch)
    return "".join(out)


def unescape(value: str) -> str:
    """Undo :func:`escape`; unknown escapes are kept as they are."""
    if "\\" not in value:
        return value
    out = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            out.append({"n": "\n", "t": "\t", "r": "\r", "s": " ", "\\": "\\"}.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)
