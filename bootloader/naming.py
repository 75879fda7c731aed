"""The boot entries ostree writes for its deployments, as pure values.

Mirrors ``install_deployment_kernel`` and ``bootloader_entry_filename`` in
ostree's ``ostree-sysroot-deploy.c``:

* file name ``ostree-<N>.conf`` with ``N = n_deployments - index`` (upstream
  since 2024.5), or ``ostree-<N>-<osname>.conf`` when the sysroot option
  ``bootloader-naming-1`` is set (``OSTREE_SYSROOT_OPTS=bootloader-naming-1``;
  ostree 2022.7 always writes this older form); with
  ``sysroot.boot-counting-tries`` set, a ``+<tries>`` / ``+<left>-<done>``
  counter;
* ``title``: os-release ``PRETTY_NAME`` (else ``ID``), then the commit's
  ``version`` unless the name already contains it, then ``(ostree:<index>)``
  or ``(ostree:<osname>:<index>)`` when several stateroots are deployed;
* ``version`` = N; ``linux``, ``initrd``, ``devicetree`` / ``fdtdir`` under
  ``<bootprefix>ostree/<osname>-<bootcsum>/``; ``aboot``/``abootcfg``;
* ``options`` = the deployment's kargs with ``ostree=/ostree/boot.<B>/<osname>/<bootcsum>/<bootserial>``
  set (and ``init=.../ostree-prepare-root`` without an initramfs);
* ``sysroot.bls-append-except-default`` keys on every entry but the default.
"""

from __future__ import annotations

from typing import Dict, Iterable, Mapping, Optional, Sequence, Tuple, Union

import attrs

from .bls import BLSEntry, parse_entry_filename
from .errors import EntryNameError, OsReleaseError
from .kargs import KernelArgs

__all__ = [
    "SYSROOT_OPT_BOOTLOADER_NAMING_1",
    "parse_sysroot_opts",
    "parse_bls_append",
    "shell_unquote",
    "parse_os_release",
    "entry_filename",
    "entry_title",
    "ostree_karg",
    "DeploymentBoot",
    "deployment_entry",
    "show_osname",
]

#: The sysroot option that selects the older ``ostree-<N>-<osname>.conf`` names.
SYSROOT_OPT_BOOTLOADER_NAMING_1 = "bootloader-naming-1"
_SYSROOT_OPTS = ("skip-sync", "no-early-prune", SYSROOT_OPT_BOOTLOADER_NAMING_1)


def parse_sysroot_opts(value: Optional[str]) -> frozenset:
    """The flags of an ``OSTREE_SYSROOT_OPTS`` value, parsed like GLib's
    ``g_parse_debug_string``: keys separated by ``:;, \\t``, matched
    case-insensitively with ``-`` and ``_`` equal; ``all`` selects all;
    unknown keys are ignored."""
    if not value:
        return frozenset()
    out: set = set()
    for tok in value.replace(";", ":").replace(",", ":").replace(" ", ":").replace("\t", ":").split(":"):
        t = tok.lower().replace("_", "-")
        if t == "all":
            out.update(_SYSROOT_OPTS)
        elif t in _SYSROOT_OPTS:
            out.add(t)
    return frozenset(out)


def parse_bls_append(value: Optional[str]) -> Tuple[Tuple[str, str], ...]:
    """Parse the repo config value ``sysroot.bls-append-except-default``
    (``key1=value1;key2=value2``) into ordered pairs; a later key replaces
    an earlier one. Raises :class:`EntryNameError` for an item without ``=``."""
    if not value:
        return ()
    out: Dict[str, str] = {}
    for item in value.split(";"):
        item = item.strip()
        if not item:
            continue
        k, eq, v = item.partition("=")
        if not eq:
            raise EntryNameError(
                'bls-append-except-default key must be of the form "key1=value1;key2=value2..."'
            )
        out[k] = v
    return tuple(out.items())


def shell_unquote(text: str) -> str:
    """GLib's ``g_shell_unquote``: remove shell quoting. Raises ValueError on
    an unterminated quote."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 1
            if i < n:
                if text[i] != "\n":
                    out.append(text[i])
                i += 1
        elif c == "'":
            j = text.find("'", i + 1)
            if j < 0:
                raise ValueError("Text ended before matching quote was found for '")
            out.append(text[i + 1:j])
            i = j + 1
        elif c == '"':
            i += 1
            while True:
                if i >= n:
                    raise ValueError('Text ended before matching quote was found for "')
                d = text[i]
                if d == '"':
                    i += 1
                    break
                if d == "\\" and i + 1 < n and text[i + 1] in '"\\`$\n':
                    if text[i + 1] != "\n":
                        out.append(text[i + 1])
                    i += 2
                    continue
                out.append(d)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse_os_release(text: str) -> Dict[str, str]:
    """os-release as ostree reads it (``parse_os_release``): lines split on
    newlines, ``#`` lines skipped, ``KEY=value`` split at the first ``=``,
    values shell-unquoted; lines that fail to unquote are skipped."""
    out: Dict[str, str] = {}
    for line in text.split("\n"):
        if line.startswith("#"):
            continue
        key, eq, val = line.partition("=")
        if not eq:
            continue
        try:
            out[key] = shell_unquote(val)
        except ValueError:
            continue
    return out


def entry_filename(
    index: int,
    n_deployments: int,
    osname: str,
    *,
    naming_1: bool = False,
    boot_counting_tries: int = 0,
    previous_filename: Optional[str] = None,
) -> str:
    """The file name ostree gives the entry of deployment ``index``.

    ``boot_counting_tries`` is ``sysroot.boot-counting-tries``; when it is
    set, a deployment without an entry yet (``previous_filename`` None) gets
    ``+<tries>``, one whose previous entry had no counter or ``+0-0`` gets
    none, others keep ``+<left>-<done>`` from the previous name.
    """
    if not 0 <= index < n_deployments:
        raise EntryNameError(f"deployment index {index} out of range for {n_deployments} deployments")
    n = n_deployments - index
    name = f"ostree-{n}-{osname}" if naming_1 else f"ostree-{n}"
    if not boot_counting_tries:
        return name + ".conf"
    if previous_filename is None:
        return f"{name}+{boot_counting_tries}.conf"
    left, done = _ostree_tries(previous_filename)
    if not left and not done:
        return name + ".conf"
    return f"{name}+{left}-{done}.conf"


def _ostree_tries(filename: str) -> Tuple[int, int]:
    # ostree's parse_bootloader_tries: digits after the last '+', optional "-<digits>"
    p = filename.rfind("+")
    if p < 0:
        return 0, 0
    rest = filename[p + 1:]
    if rest.startswith("-"):
        return 0, 0
    j = 0
    while j < len(rest) and rest[j].isascii() and rest[j].isdigit():
        j += 1
    if j == 0:
        return 0, 0
    left = int(rest[:j])
    done = 0
    if rest[j:j + 1] == "-":
        k = j + 1
        while k < len(rest) and rest[k].isascii() and rest[k].isdigit():
            k += 1
        if k == j + 1:
            return 0, 0
        done = int(rest[j + 1:k])
    return left, done


def entry_title(
    os_release: Mapping[str, str],
    commit_version: Optional[str],
    index: int,
    *,
    osname: Optional[str] = None,
    show_osname: bool = False,
) -> str:
    """``PRETTY_NAME`` (else ``ID``), `` <version>`` unless already a
    substring of the name, then `` (ostree:<index>)`` or
    `` (ostree:<osname>:<index>)``. Raises :class:`OsReleaseError` without
    PRETTY_NAME and ID."""
    val = os_release.get("PRETTY_NAME")
    if val is None:
        val = os_release.get("ID")
    if val is None:
        raise OsReleaseError("No PRETTY_NAME or ID in /etc/os-release")
    title = val
    if commit_version and commit_version not in val:
        title += " " + commit_version
    title += " (ostree"
    if show_osname:
        if osname is None:
            raise OsReleaseError("show_osname needs the osname")
        title += ":" + osname
    return title + f":{index})"


def ostree_karg(bootversion: int, osname: str, bootcsum: str, bootserial: int) -> str:
    """``ostree=/ostree/boot.<B>/<osname>/<bootcsum>/<bootserial>``."""
    return f"ostree=/ostree/boot.{bootversion}/{osname}/{bootcsum}/{bootserial}"


def show_osname(osnames: Sequence[str]) -> bool:
    """ostree shows the stateroot in titles only when the new deployment
    list holds more than one stateroot."""
    return len(set(osnames)) > 1


@attrs.frozen
class DeploymentBoot:
    """What ostree needs to know about one deployment to write its entry.

    ``kernel``, ``initramfs``, ``devicetree`` and ``aboot`` are the names
    installed under ``/boot/ostree/<osname>-<bootcsum>/`` (for example
    ``vmlinuz-6.1.0``, ``initramfs-6.1.0.img``, ``devicetree-6.1.0``);
    ``devicetree_dir`` is the name of a device tree directory (``dtb``),
    written as ``fdtdir``. ``deployment_dirpath`` (``ostree/deploy/<os>/deploy/<csum>.<serial>``)
    is needed only with ``aboot``.
    """

    osname: str
    bootcsum: str
    bootserial: int
    kernel: str
    initramfs: Optional[str] = None
    devicetree: Optional[str] = None
    devicetree_dir: Optional[str] = None
    aboot: Optional[str] = None
    deployment_dirpath: Optional[str] = None
    overlay_initrds: Tuple[str, ...] = attrs.field(default=(), converter=tuple)
    os_release: Mapping[str, str] = attrs.field(factory=dict)
    commit_version: Optional[str] = None


def deployment_entry(
    dep: DeploymentBoot,
    *,
    index: int,
    n_deployments: int,
    bootversion: int,
    kargs: Union[KernelArgs, str, None] = None,
    base: Optional[BLSEntry] = None,
    bootprefix: bool = False,
    show_osname: bool = False,
    bls_append: Iterable[Tuple[str, str]] = (),
    naming_1: bool = False,
    boot_counting_tries: int = 0,
    previous_filename: Optional[str] = None,
) -> Tuple[str, BLSEntry]:
    """The ``(file name, entry)`` ostree writes for deployment ``index`` of
    ``n_deployments`` into ``loader.<bootversion>/entries``.

    ``kargs`` are the deployment's kernel arguments; when None they come from
    ``base``'s ``options`` (ostree rewrites an existing deployment's parsed
    entry, keeping its other keys, which is what ``base`` is for).
    ``overlay_initrds`` of ``dep`` are checksums of initrds under
    ``ostree/initramfs-overlays/``.
    """
    entry = base if base is not None else BLSEntry()
    prefix = "/boot/" if bootprefix else "/"
    bootcsumdir = f"ostree/{dep.osname}-{dep.bootcsum}"

    title = entry_title(dep.os_release, dep.commit_version, index,
                        osname=dep.osname, show_osname=show_osname)
    entry = entry.with_value("title", title)
    entry = entry.with_value("version", str(n_deployments - index))
    entry = entry.with_value("linux", f"{prefix}{bootcsumdir}/{dep.kernel}")

    if kargs is None:
        kargs = KernelArgs.parse(entry.get("options"))
    elif isinstance(kargs, str):
        kargs = KernelArgs.parse(kargs)

    if dep.initramfs is not None:
        initrds = [f"{prefix}{bootcsumdir}/{dep.initramfs}"]
        initrds += [f"{prefix}ostree/initramfs-overlays/{c}.img" for c in dep.overlay_initrds]
        entry = entry.with_values("initrd", initrds)
    else:
        kargs = kargs.set(
            f"init=/ostree/boot.{bootversion}/{dep.osname}/{dep.bootcsum}/{dep.bootserial}"
            "/usr/lib/ostree/ostree-prepare-root"
        )

    if dep.aboot is not None:
        entry = entry.with_value("aboot", f"/{bootcsumdir}/{dep.aboot}")
        if dep.deployment_dirpath is None:
            raise EntryNameError("aboot needs deployment_dirpath")
        entry = entry.with_value("abootcfg", f"/{dep.deployment_dirpath}/usr/lib/ostree-boot/aboot.cfg")

    if dep.devicetree is not None:
        entry = entry.with_value("devicetree", f"{prefix}{bootcsumdir}/{dep.devicetree}")
    elif dep.devicetree_dir is not None:
        entry = entry.with_value("fdtdir", f"{prefix}{bootcsumdir}/{dep.devicetree_dir}")

    kargs = kargs.set(ostree_karg(bootversion, dep.osname, dep.bootcsum, dep.bootserial))
    entry = entry.with_value("options", str(kargs))

    if index != 0:
        for k, v in bls_append:
            entry = entry.with_value(k, v)

    name = entry_filename(index, n_deployments, dep.osname, naming_1=naming_1,
                          boot_counting_tries=boot_counting_tries,
                          previous_filename=previous_filename)
    parse_entry_filename(name)  # validates
    return name, entry
