"""The one exception hierarchy of the bootloader package.

Every error raised on purpose by this package derives from
:class:`BootloaderError`, so callers can catch the whole family at once.
"""

from __future__ import annotations

__all__ = [
    "BootloaderError",
    "EntryParseError",
    "EntryNameError",
    "OsReleaseError",
    "KernelArgsError",
    "KargsConfigError",
    "GrubConfigError",
]


class BootloaderError(Exception):
    """Root of all errors raised by :mod:`bootloader`."""


class EntryParseError(BootloaderError, ValueError):
    """A Boot Loader Specification entry file could not be parsed.

    ``lineno`` is the 1-based line number of the offending line, or None
    when the problem is not tied to a line (for example invalid UTF-8).
    """

    def __init__(self, message: str, lineno: "int | None" = None) -> None:
        if lineno is not None:
            message = f"line {lineno}: {message}"
        super().__init__(message)
        self.lineno = lineno


class EntryNameError(BootloaderError, ValueError):
    """An entry file name or its boot counting suffix is malformed."""


class OsReleaseError(BootloaderError):
    """os-release lacks what a boot entry title needs (PRETTY_NAME or ID)."""


class KernelArgsError(BootloaderError, ValueError):
    """A kernel argument edit could not be applied (missing key, ambiguous value...)."""


class KargsConfigError(BootloaderError, ValueError):
    """A bootc ``kargs.d`` TOML file is invalid."""


class GrubConfigError(BootloaderError):
    """A GRUB configuration could not be generated from the entries."""
