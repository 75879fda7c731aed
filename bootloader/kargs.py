"""Kernel command line arguments as a value, with ostree's edit semantics.

:class:`KernelArgs` follows ``ostree-kernel-args.c`` (upstream, quote-aware
since 2024.5): arguments are split on spaces outside double quotes, each is
``key`` or ``key=value`` (split at the first ``=``), the order is kept and a
key may repeat. Edits return new values.
"""

from __future__ import annotations

from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

import attrs

from .errors import KernelArgsError

__all__ = ["KernelArgs", "split_kernel_args", "PROC_CMDLINE_FILTERED_PREFIXES"]

#: Arguments ostree drops when importing /proc/cmdline (added by bootloaders).
PROC_CMDLINE_FILTERED_PREFIXES: Tuple[str, ...] = ("BOOT_IMAGE=", "initrd=")

_Arg = Tuple[str, Optional[str]]


def split_kernel_args(text: str) -> List[str]:
    """Split a command line as ostree's ``split_kernel_args`` does.

    Leading spaces are skipped; a space outside double quotes ends an
    argument (so two spaces in a row yield an empty argument); an
    unterminated quote makes the rest one argument; a trailing space does
    not add an empty argument. Only the space character separates.
    """
    out: List[str] = []
    start = len(text) - len(text.lstrip(" "))
    quoted = False
    i = start
    while i < len(text):
        c = text[i]
        if c == '"':
            quoted = not quoted
        elif c == " " and not quoted:
            out.append(text[start:i])
            start = i + 1
        i += 1
    if len(text) > start:
        out.append(text[start:])
    return out


def _split_keyeq(arg: str) -> _Arg:
    key, eq, value = arg.partition("=")
    return (key, value) if eq else (key, None)


def _join(key: str, value: Optional[str]) -> str:
    return key if value is None else f"{key}={value}"


def _to_args(value: Iterable[object]) -> Tuple[_Arg, ...]:
    out = []
    for item in value:
        if isinstance(item, str):
            out.append(_split_keyeq(item))
        else:
            pair: tuple = tuple(item)  # type: ignore[arg-type]
            out.append((str(pair[0]), None if pair[1] is None else str(pair[1])))
    return tuple(out)


@attrs.frozen
class KernelArgs:
    """An ordered list of ``(key, value)`` kernel arguments; ``value`` is None
    for a bare ``key`` (which differs from ``key=``)."""

    args: Tuple[_Arg, ...] = attrs.field(default=(), converter=_to_args)

    # -- construction --------------------------------------------------------
    @classmethod
    def parse(cls, text: Optional[str]) -> "KernelArgs":
        """``ostree_kernel_args_from_string``: None or "" give no arguments."""
        if not text:
            return cls()
        return cls(split_kernel_args(text))

    @classmethod
    def from_proc_cmdline(
        cls, text: str, filtered_prefixes: Sequence[str] = PROC_CMDLINE_FILTERED_PREFIXES
    ) -> "KernelArgs":
        """The arguments of a /proc/cmdline text as ``ostree admin deploy
        --karg-proc-cmdline`` takes them (trailing whitespace stripped,
        ``BOOT_IMAGE=`` and ``initrd=`` dropped)."""
        args = split_kernel_args(text.rstrip(" \t\n\r\v\f"))
        return cls([a for a in args if not any(a.startswith(p) for p in filtered_prefixes)])

    # -- reading ---------------------------------------------------------------
    def __str__(self) -> str:
        return " ".join(_join(k, v) for k, v in self.args)

    def to_list(self) -> List[str]:
        """``ostree_kernel_args_to_strv``."""
        return [_join(k, v) for k, v in self.args]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_list())

    def __len__(self) -> int:
        return len(self.args)

    def keys(self) -> Tuple[str, ...]:
        return tuple(dict.fromkeys(k for k, _ in self.args))

    def contains(self, arg: str) -> bool:
        """True if the key of ``arg`` (the part before ``=``) is present."""
        key = _split_keyeq(arg)[0]
        return any(k == key for k, _ in self.args)

    __contains__ = contains  # type: ignore[assignment]

    def values(self, key: str) -> Tuple[Optional[str], ...]:
        """All values of ``key`` in order (None for a bare key)."""
        return tuple(v for k, v in self.args if k == key)

    def get_last_value(self, key: str) -> Optional[str]:
        """The value of the last ``key`` argument; None if absent or bare."""
        vals = self.values(key)
        return vals[-1] if vals else None

    # -- edits -----------------------------------------------------------------
    def append(self, text: str) -> "KernelArgs":
        """Append every argument of ``text`` (split like a command line)."""
        return KernelArgs(self.args + tuple(_split_keyeq(a) for a in split_kernel_args(text)))

    def extend(self, args: Iterable[str]) -> "KernelArgs":
        """Append each string of ``args`` (each split like a command line)."""
        out = self
        for a in args:
            out = out.append(a)
        return out

    def append_if_missing(self, arg: str) -> "KernelArgs":
        """Append ``arg`` unless its key is already present."""
        return self if self.contains(arg) else self.append(arg)

    def set(self, arg: str) -> "KernelArgs":
        """``ostree_kernel_args_replace``: make ``arg`` the only argument with
        its key, at the place of the first old one, or append it. (This is how
        ostree sets ``ostree=`` and ``init=``.) ``arg`` is one argument, not split."""
        key, value = _split_keyeq(arg)
        out: List[_Arg] = []
        placed = False
        for k, v in self.args:
            if k == key:
                if not placed:
                    out.append((key, value))
                    placed = True
            else:
                out.append((k, v))
        if not placed:
            out.append((key, value))
        return KernelArgs(out)

    def replace(self, text: str) -> "KernelArgs":
        """``ostree_kernel_args_new_replace`` (``--karg-replace``), for each
        argument of ``text``:

        * ``key=old=new`` replaces the value ``old`` of ``key`` by ``new``;
        * ``key=new`` or ``key`` sets the value of the single ``key`` argument.

        Raises :class:`KernelArgsError` when the key is missing, ``old`` is
        not found, or ``key`` has several values and no ``old`` was given.
        """
        args = list(self.args)
        for item in split_kernel_args(text):
            key, val = _split_keyeq(item)
            idx = [i for i, (k, _) in enumerate(args) if k == key]
            if not idx:
                raise KernelArgsError(f"No key '{key}' found")
            if val is not None and "=" in val:
                old, _, new = val.partition("=")
                for i in idx:
                    if args[i][1] == old:
                        args[i] = (key, new)
                        break
                else:
                    raise KernelArgsError(f"No karg '{key}={old}' found")
                continue
            if len(idx) > 1:
                raise KernelArgsError(f"Multiple values for key '{key}' found")
            args[idx[0]] = (key, val)
        return KernelArgs(args)

    def delete(self, text: str) -> "KernelArgs":
        """``ostree_kernel_args_delete`` (``--karg-delete``), for each argument
        of ``text``: ``key`` deletes the key when it has a single value;
        ``key=value`` deletes that one value. Raises :class:`KernelArgsError`
        when nothing matches or ``key`` alone is ambiguous."""
        args = list(self.args)
        for item in split_kernel_args(text):
            key, val = _split_keyeq(item)
            idx = [i for i, (k, _) in enumerate(args) if k == key]
            if not idx:
                raise KernelArgsError(f"No key '{key}' found")
            if len(idx) == 1:
                if val is not None and val != args[idx[0]][1]:
                    raise KernelArgsError(f"No karg '{key}={val}' found")
                del args[idx[0]]
                continue
            for i in idx:
                if args[i][1] == val:
                    del args[i]
                    break
            else:
                if val is None:
                    raise KernelArgsError(f"Multiple values for key '{item}' found")
                raise KernelArgsError(f"No karg '{item}' found")
        return KernelArgs(args)

    def delete_key(self, key: str) -> "KernelArgs":
        """Delete every argument with ``key``; raises if there is none."""
        if not any(k == key for k, _ in self.args):
            raise KernelArgsError(f"No key '{key}' found")
        return KernelArgs([(k, v) for k, v in self.args if k != key])

    def delete_if_present(self, text: str) -> "KernelArgs":
        """:meth:`delete` if the key of ``text`` is present, else unchanged."""
        return self.delete(text) if self.contains(text) else self
