"""bootc-image-builder's build configuration (``config.toml``), the parts an
image build acts on: ``[[customizations.user]]`` (name, SSH ``key``,
``groups``) and ``[[customizations.filesystem]]`` (``mountpoint``,
``minsize``), plus ``[customizations.kernel] append``.

Users other than root need an entry in the image's passwd database, which
bootc-image-builder writes through a systemd-sysusers drop-in; that is what
:meth:`BuildConfig.apply` does too, so nothing is edited in /usr: the
drop-in, the home directory and the keys go to the deployment's /etc and the
stateroot's /var, where a later upgrade keeps them.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Mapping, Optional, Tuple

import attrs

from ..errors import OstreeError

__all__ = ["BuildConfigError", "UserSpec", "FilesystemSpec", "BuildConfig", "parse_config", "load_config", "parse_size"]


class BuildConfigError(OstreeError):
    """A build configuration that cannot be read or used."""


@attrs.frozen
class UserSpec:
    """A ``[[customizations.user]]``: its ``name``, SSH ``key`` and extra ``groups``."""

    name: str
    key: Optional[str] = None
    groups: Tuple[str, ...] = ()


@attrs.frozen
class FilesystemSpec:
    """A ``[[customizations.filesystem]]``: ``minsize`` bytes for ``mountpoint``."""

    mountpoint: str
    minsize: int


@attrs.frozen
class BuildConfig:
    """A parsed config.toml: users, filesystem sizes, extra kernel arguments."""

    users: Tuple[UserSpec, ...] = ()
    filesystems: Tuple[FilesystemSpec, ...] = ()
    kargs: Tuple[str, ...] = ()

    def min_size(self, mountpoint: str) -> int:
        """The largest ``minsize`` asked for ``mountpoint`` (0: none)."""
        return max((f.minsize for f in self.filesystems if f.mountpoint == mountpoint), default=0)

    def apply(self, sysroot: Path, deployment: Path, stateroot: str) -> None:
        """Write the users' keys (root's to /var/roothome, as ostree systems
        keep /root there) and a sysusers drop-in for the others."""
        var = sysroot / "ostree" / "deploy" / stateroot / "var"
        lines = []
        for u in self.users:
            if u.name == "root":
                home = var / "roothome"
                uid = 0
            else:
                lines.append(f"u {u.name} - \"{u.name}\" /var/home/{u.name}\n")
                for g in u.groups:
                    lines.append(f"m {u.name} {g}\n")
                home = var / "home" / u.name
                uid = None
            if u.key:
                ssh = home / ".ssh"
                ssh.mkdir(parents=True, exist_ok=True, mode=0o700)
                (ssh / "authorized_keys").write_text(u.key.rstrip("\n") + "\n")
                os.chmod(ssh / "authorized_keys", 0o600)
                if uid == 0 and os.geteuid() == 0:
                    for p in (home, ssh, ssh / "authorized_keys"):
                        os.chown(p, 0, 0)
        if lines:
            d = deployment / "etc" / "sysusers.d"
            d.mkdir(parents=True, exist_ok=True)
            (d / "ostreepy-image-build.conf").write_text("".join(lines))


def parse_size(text: str) -> int:
    """``10G``, ``512M``, ``1T``, ``4096`` (bytes); binary units as bootc takes them."""
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(t[-1:], 1)
    num = t[:-1] if t[-1:] in "KMGT" else t
    try:
        value = int(float(num) * mult)
    except ValueError:
        raise BuildConfigError(f"bad size {text!r}: expected a number with K, M, G or T") from None
    if value <= 0:
        raise BuildConfigError(f"bad size {text!r}")
    return value


def _size(v: object, where: str) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, str):
        try:
            return parse_size(v)
        except BuildConfigError as e:
            raise BuildConfigError(f"{where}: {e}") from None
    raise BuildConfigError(f"{where}: expected a size, got {v!r}")


def parse_config(data: bytes, where: str = "config") -> BuildConfig:
    """A config.toml's bytes; ``where`` names it in errors."""
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise BuildConfigError(f"{where}: {e}") from None
    cust = doc.get("customizations", {})
    if not isinstance(cust, Mapping):
        raise BuildConfigError(f"{where}: customizations must be a table")
    users = []
    for i, u in enumerate(cust.get("user", [])):
        name = u.get("name") if isinstance(u, Mapping) else None
        if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
            raise BuildConfigError(f"{where}: customizations.user[{i}] needs a name")
        key = u.get("key")
        if key is not None and not isinstance(key, str):
            raise BuildConfigError(f"{where}: customizations.user[{i}].key must be a string")
        groups = u.get("groups", [])
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise BuildConfigError(f"{where}: customizations.user[{i}].groups must be a list of strings")
        if "password" in u:
            raise BuildConfigError(f"{where}: customizations.user[{i}].password is not supported; use key")
        users.append(UserSpec(name=name, key=key, groups=tuple(groups)))
    fss = []
    for i, f in enumerate(cust.get("filesystem", [])):
        mp = f.get("mountpoint") if isinstance(f, Mapping) else None
        if mp not in ("/", "/boot"):
            raise BuildConfigError(f"{where}: customizations.filesystem[{i}].mountpoint {mp!r}: "
                                   "only / and /boot are partitions of this layout")
        fss.append(FilesystemSpec(mountpoint=mp, minsize=_size(f.get("minsize"),
                                                               f"customizations.filesystem[{i}].minsize")))
    kernel = cust.get("kernel", {})
    append = kernel.get("append", "") if isinstance(kernel, Mapping) else ""
    if not isinstance(append, str):
        raise BuildConfigError(f"{where}: customizations.kernel.append must be a string")
    return BuildConfig(users=tuple(users), filesystems=tuple(fss), kargs=tuple(append.split()))


def load_config(path: Path) -> BuildConfig:
    """:func:`parse_config` of the file at ``path``."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise BuildConfigError(f"{path}: {e.strerror}") from None
    return parse_config(data, str(path))
