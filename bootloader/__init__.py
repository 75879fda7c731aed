"""bootloader: Boot Loader Specification entries, GRUB configuration and kernel arguments.

Pure functions over values: nothing here touches a file.

Modules: :mod:`~bootloader.bls` (entry files), :mod:`~bootloader.version`
(UAPI and strverscmp ordering), :mod:`~bootloader.sort` (entry order),
:mod:`~bootloader.naming` (the entries ostree writes),
:mod:`~bootloader.grub` (GRUB menu entries), :mod:`~bootloader.kargs`
(kernel arguments), :mod:`~bootloader.kargsd` (bootc kargs.d files),
:mod:`~bootloader.errors`.
"""

from .bls import BLSEntry, EntryFileName, format_entry, parse_entry, parse_entry_filename
from .errors import (
    BootloaderError,
    EntryNameError,
    EntryParseError,
    GrubConfigError,
    KargsConfigError,
    KernelArgsError,
    OsReleaseError,
)
from .grub import generate_grub_config, grub_suffix, shell_quote
from .kargs import KernelArgs, split_kernel_args
from .kargsd import kargs_for_upgrade, kargs_from_files, parse_kargs_toml, rust_arch
from .naming import (
    DeploymentBoot,
    deployment_entry,
    entry_filename,
    entry_title,
    parse_os_release,
    parse_sysroot_opts,
)
from .sort import ostree_sort_entries, sort_entries
from .version import strverscmp, vercmp

__version__ = "0.1.0"

__all__ = [
    "BLSEntry", "EntryFileName", "format_entry", "parse_entry", "parse_entry_filename",
    "BootloaderError", "EntryNameError", "EntryParseError", "GrubConfigError",
    "KargsConfigError", "KernelArgsError", "OsReleaseError",
    "generate_grub_config", "grub_suffix", "shell_quote",
    "KernelArgs", "split_kernel_args",
    "kargs_for_upgrade", "kargs_from_files", "parse_kargs_toml", "rust_arch",
    "DeploymentBoot", "deployment_entry", "entry_filename", "entry_title",
    "parse_os_release", "parse_sysroot_opts",
    "ostree_sort_entries", "sort_entries",
    "strverscmp", "vercmp",
]
