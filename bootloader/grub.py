"""GRUB menu entries made from BLS entries, for GRUB builds without blscfg.

Reproduces ``_ostree_bootloader_grub2_generate_config`` in ostree's
``ostree-bootloader-grub2.c`` (what ``ostree admin instutil grub2-generate``
prints for the ``15_ostree`` grub.d script): one ``menuentry`` per entry in
deployment order, the title shell-quoted, ``ostree-<i>-<boot device id>``
as the id, hardcoded video and ``insmod gzio`` lines, the root preparation
text, then ``linux<sfx>``, ``initrd<sfx>`` and ``devicetree`` lines.
"""

from __future__ import annotations

from typing import Iterable, Union

from .bls import BLSEntry
from .errors import GrubConfigError

__all__ = ["shell_quote", "grub_suffix", "menuentry", "generate_grub_config"]

_HARDCODED = "load_video\nset gfxpayload=keep\ninsmod gzio\n"


def shell_quote(text: str) -> str:
    """GLib's ``g_shell_quote``: single quotes, each ``'`` written ``'\\''``."""
    return "'" + text.replace("'", "'\\''") + "'"


def grub_suffix(efi: bool, *, modern_grub: bool = True, arch: str = "x86_64") -> str:
    """The suffix of the ``linux``/``initrd`` commands ostree was built with.

    On EFI: ``efi``, except empty for ``WITH_MODERN_GRUB`` builds and
    aarch64. On BIOS: ``16`` on x86 builds without ``WITH_MODERN_GRUB``, else
    empty. Debian's ostree is built with modern GRUB (empty suffixes).
    """
    x86 = arch in ("x86_64", "i386", "i486", "i586", "i686", "x86", "amd64")
    if efi:
        return "" if modern_grub or arch in ("aarch64", "arm64") else "efi"
    return "16" if x86 and not modern_grub else ""


_METACHARS = frozenset("{}|&;<>\n")


def check_grub_words(value: str, what: str) -> str:
    """Refuse a value that would not read back as GRUB words where ostree writes it
    unquoted (``linux``, ``initrd``, ``devicetree`` lines): an unbalanced quote, a
    trailing backslash, an unclosed ``${`` or a metacharacter outside quotes would
    break the script from that point on, every later entry included."""
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if c == "\\":
            if i + 1 >= n:
                raise GrubConfigError(f"{what}: trailing backslash in {value!r}")
            i += 2
            continue
        if c == "'":
            end = value.find("'", i + 1)
            if end < 0:
                raise GrubConfigError(f"{what}: unbalanced quote in {value!r}")
            i = end + 1
            continue
        if c == '"':
            i += 1
            while i < n and value[i] != '"':
                if value[i] == "\\":
                    i += 1
                elif value[i] == "$":
                    i = _skip_variable(value, i, what)
                    continue
                i += 1
            if i >= n:
                raise GrubConfigError(f"{what}: unbalanced quote in {value!r}")
            i += 1
            continue
        if c == "$":
            i = _skip_variable(value, i, what)
            continue
        if c in _METACHARS:
            raise GrubConfigError(f"{what}: GRUB metacharacter {c!r} in {value!r}")
        i += 1
    return value


def _skip_variable(value: str, i: int, what: str) -> int:
    """Past ``$name`` or ``${...}`` at ``i``; a ``$`` GRUB cannot expand is refused."""
    if value.startswith("${", i):
        end = value.find("}", i + 2)
        if end < 0:
            raise GrubConfigError(f"{what}: unclosed ${{ in {value!r}")
        return end + 1
    j = i + 1
    while j < len(value) and (value[j].isascii() and (value[j].isalnum() or value[j] == "_")):
        j += 1
    if j == i + 1:
        raise GrubConfigError(f"{what}: '$' not followed by a variable name in {value!r}")
    return j


def menuentry(
    entry: BLSEntry,
    i: int,
    *,
    boot_device_id: str,
    prepare_root_cache: str,
    suffix: str = "",
) -> str:
    """One ``menuentry ... { ... }`` block (with its final newline)."""
    title = entry.get("title")
    if title is None:
        title = "(Untitled)"
    kernel = entry.get("linux")
    out = [
        f"menuentry {shell_quote(title)} --class gnu-linux --class gnu --class os --unrestricted "
        f"{shell_quote(f'ostree-{i}-{boot_device_id}')} {{\n",
        _HARDCODED,
        prepare_root_cache,
        "\n",
    ]
    if kernel is None:
        raise GrubConfigError('No "linux" key in bootloader config')
    line = f"linux{suffix} {check_grub_words(kernel, 'linux')}"
    options = entry.get("options")
    if options is not None:
        line += " " + check_grub_words(options, "options")
    out.append(line + "\n")
    initrds = entry.get_all("initrd")
    if initrds:
        out.append(f"initrd{suffix} {check_grub_words(initrds[0], 'initrd')}\n")
    devicetree = entry.get("devicetree")
    if devicetree is not None:
        out.append(f"devicetree {check_grub_words(devicetree, 'devicetree')}\n")
    out.append("}\n")
    return "".join(out)


def generate_grub_config(
    entries: Iterable[Union[BLSEntry, "tuple[str, BLSEntry]"]],
    *,
    boot_device_id: str,
    prepare_root_cache: str,
    efi: bool = False,
    suffix: "str | None" = None,
) -> str:
    """The GRUB script for ``entries``, given in deployment order (see
    :func:`bootloader.sort.ostree_sort_entries`); ``(name, entry)`` pairs
    are accepted too. ``boot_device_id`` and ``prepare_root_cache`` are the
    ``GRUB2_BOOT_DEVICE_ID`` and ``GRUB2_PREPARE_ROOT_CACHE`` values;
    ``suffix`` defaults to :func:`grub_suffix` ``(efi)``."""
    if suffix is None:
        suffix = grub_suffix(efi)
    out = []
    for i, e in enumerate(entries):
        entry = e[1] if isinstance(e, tuple) else e
        out.append(menuentry(entry, i, boot_device_id=boot_device_id,
                             prepare_root_cache=prepare_root_cache, suffix=suffix))
    return "".join(out)
