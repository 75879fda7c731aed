"""bootc's ``/usr/lib/bootc/kargs.d/*.toml`` kernel argument files.

As bootc's ``lib/src/kargs.rs``: each file holds ``kargs = ["...", ...]`` and
optionally ``match-architectures = ["x86_64", ...]`` (Rust architecture
names; a file whose list lacks the running architecture adds nothing).
Other keys are errors. Files whose name has the extension ``toml`` are read
in name order and their kargs concatenated.

Everything here is a pure function of ``(file name, text)`` pairs.
"""

from __future__ import annotations

import platform
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from .errors import KargsConfigError
from .kargs import KernelArgs

try:  # Python 3.11+
    import tomllib as _tomllib
except ImportError:  # pragma: no cover - Python < 3.11 has tomli, a declared dependency there
    import tomli as _tomllib  # type: ignore[no-redef]

__all__ = [
    "KARGS_D_PATH",
    "rust_arch",
    "is_kargs_file",
    "parse_kargs_toml",
    "kargs_from_files",
    "kargs_for_upgrade",
]

#: Where bootc looks, relative to the root of the image.
KARGS_D_PATH = "usr/lib/bootc/kargs.d"

_FileList = Iterable[Tuple[str, Union[str, bytes]]]

_RUST_ARCH = {
    "x86_64": "x86_64", "amd64": "x86_64",
    "i386": "x86", "i486": "x86", "i586": "x86", "i686": "x86", "x86": "x86",
    "aarch64": "aarch64", "arm64": "aarch64",
    "ppc64le": "powerpc64", "ppc64": "powerpc64", "powerpc64": "powerpc64", "ppc": "powerpc",
    "s390x": "s390x", "riscv64": "riscv64", "loongarch64": "loongarch64",
    "mips": "mips", "mips64": "mips64", "sparc64": "sparc64",
}


def rust_arch(machine: Optional[str] = None) -> str:
    """The Rust ``std::env::consts::ARCH`` name for a ``uname -m`` machine
    name (default: this machine), e.g. ``ppc64le`` -> ``powerpc64``."""
    m = machine if machine is not None else platform.machine()
    if m in _RUST_ARCH:
        return _RUST_ARCH[m]
    if m.startswith("arm"):
        return "arm"
    return m


def is_kargs_file(name: str) -> bool:
    """True if Rust's ``Path::extension`` of ``name`` is ``toml``
    (so ``a.toml`` is, ``.toml`` is not)."""
    dot = name.rfind(".")
    return dot > 0 and name[dot + 1:] == "toml"


def _loads(text: str) -> Mapping[str, Any]:
    return _tomllib.loads(text)


def parse_kargs_toml(text: Union[str, bytes], arch: str, *, name: str = "<kargs.d file>") -> List[str]:
    """The kargs one file adds on ``arch``; raises :class:`KargsConfigError`
    for invalid TOML, unknown keys, a missing ``kargs`` or wrong types."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise KargsConfigError(f"Parsing {name}: not UTF-8: {e}") from None
    try:
        doc = _loads(text)
    except ValueError as e:  # tomllib.TOMLDecodeError is a ValueError
        raise KargsConfigError(f"Parsing {name}: {e}") from None
    unknown = sorted(set(doc) - {"kargs", "match-architectures"})
    if unknown:
        raise KargsConfigError(
            f"Parsing {name}: unknown field `{unknown[0]}`, expected `kargs` or `match-architectures`"
        )
    if "kargs" not in doc:
        raise KargsConfigError(f"Parsing {name}: missing field `kargs`")
    kargs = doc["kargs"]
    if not isinstance(kargs, list) or not all(isinstance(k, str) for k in kargs):
        raise KargsConfigError(f"Parsing {name}: `kargs` must be an array of strings")
    arches = doc.get("match-architectures")
    if arches is not None:
        if not isinstance(arches, list) or not all(isinstance(a, str) for a in arches):
            raise KargsConfigError(f"Parsing {name}: `match-architectures` must be an array of strings")
        if arch not in arches:
            return []
    return list(kargs)


def kargs_from_files(files: _FileList, arch: str) -> List[str]:
    """All kargs of a kargs.d directory given as ``(file name, text)`` pairs:
    ``*.toml`` files in name order (bytewise), concatenated."""
    chosen = sorted(
        ((n, t) for n, t in files if is_kargs_file(n)),
        key=lambda nt: nt[0].encode("utf-8", "surrogateescape"),
    )
    out: List[str] = []
    for n, t in chosen:
        out.extend(parse_kargs_toml(t, arch, name=n))
    return out


def _split_cmdline(text: str) -> List[str]:
    # bootc_kernel_cmdline: whitespace-separated, double quotes group
    out: List[str] = []
    cur: List[str] = []
    quoted = False
    for c in text:
        if c == '"':
            quoted = not quoted
            cur.append(c)
        elif c.isspace() and c.isascii() and not quoted:
            if cur:
                out.append("".join(cur))
                cur = []
        else:
            cur.append(c)
    if cur:
        out.append("".join(cur))
    return out


def kargs_for_upgrade(
    current: Union[str, KernelArgs, Sequence[str], None],
    old_files: _FileList,
    new_files: Optional[_FileList],
    arch: str,
) -> List[str]:
    """The kargs of a new deployment as bootc's ``get_kargs`` computes them.

    ``current`` is the merge deployment's ``options`` (text or list),
    ``old_files`` its kargs.d files, ``new_files`` the new image's kargs.d
    files, or None when the new image has no kargs.d directory at all.

    Kargs of the old files that the new files lack are removed from
    ``current`` (every occurrence), kargs of the new files that the old ones
    lack are appended. When the new image has no kargs.d directory, bootc
    appends the old files' kargs to ``current`` unchanged (even if already
    present); that is reproduced as is.
    """
    if current is None:
        kargs: List[str] = []
    elif isinstance(current, str):
        kargs = _split_cmdline(current)
    elif isinstance(current, KernelArgs):
        kargs = current.to_list()
    else:
        kargs = list(current)
    existing = kargs_from_files(old_files, arch)
    if new_files is None:
        return kargs + existing
    remote = kargs_from_files(new_files, arch)
    added = [k for k in remote if k not in existing]
    removed = [k for k in existing if k not in remote]
    return [k for k in kargs if k not in removed] + added
