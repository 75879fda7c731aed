"""U-Boot's ``uEnv.txt`` made from BLS entries.

Reproduces ``create_config_from_boot_loader_entries`` in ostree's
``ostree-bootloader-uboot.c``: for each entry in deployment order (suffix ``""``
for the first, then ``2``, ``3``...), ``kernel_image``, ``ramdisk_image``,
``fdt_file``, ``fdtdir`` (each ``/boot`` + the entry's path) and ``bootargs``;
after the first entry's ``bootargs`` the default deployment's own
``/usr/lib/ostree-boot/uEnv.txt``, verbatim. Lines are joined as
``_ostree_sysroot_join_lines`` does (each ends in a newline; empty lines are
dropped at the start and after another empty one).

Pure text: the caller reads the entries and the deployment's uEnv.txt.
"""

from __future__ import annotations

from typing import Callable, List, Optional, Sequence

from .bls import BLSEntry
from .errors import BootloaderError
from .kargs import KernelArgs

__all__ = ["generate_uenv", "ostree_deployment_path"]


def ostree_deployment_path(options: str) -> str:
    """The sysroot-relative deployment path the ``ostree=`` argument of ``options``
    names (its last one, without the leading ``/``)."""
    arg = KernelArgs.parse(options).get_last_value("ostree")
    if not arg:
        raise BootloaderError("No ostree= kernel argument found in boot loader configuration file")
    return arg[1:]


def _join_lines(lines: Sequence[str]) -> str:
    out: List[str] = []
    prev_empty = False
    for i, line in enumerate(lines):
        if line == "":
            if prev_empty or i == 0:
                continue
            prev_empty = True
        out.append(line + "\n")
    return "".join(out)


def generate_uenv(entries: Sequence[BLSEntry], system_uenv: Callable[[str], Optional[str]]) -> str:
    """The ``uEnv.txt`` of ``entries`` (deployment order); ``system_uenv(path)``
    returns the text of ``PATH/usr/lib/ostree-boot/uEnv.txt`` for a deployment path
    (see :func:`ostree_deployment_path`), or None when it has none."""
    lines: List[str] = []
    for i, entry in enumerate(entries):
        sfx = "" if i == 0 else str(i + 1)
        linux = entry.get("linux")
        if linux is None:
            raise BootloaderError('No "linux" key in bootloader config')
        lines.append(f"kernel_image{sfx}=/boot{linux}")
        for key, name in (("initrd", "ramdisk_image"), ("devicetree", "fdt_file"), ("fdtdir", "fdtdir")):
            val = entry.get(key)
            if val is not None:
                lines.append(f"{name}{sfx}=/boot{val}")
        options = entry.get("options")
        if options is not None:
            lines.append(f"bootargs{sfx}={options}")
            if i == 0:
                text = system_uenv(ostree_deployment_path(options))
                if text is not None:
                    lines.append(text)
    return _join_lines(lines)
