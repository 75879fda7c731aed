"""``bootc install to-filesystem``: make a sysroot on a target root (a mounted
filesystem, or a folder with ``--root-mount-spec``), pull and deploy the image
with the origin naming the target image reference, and write what booting
needs: kernel arguments (the image's ``kargs.d`` through the deploy, the
install configuration's ``[install] kargs`` from ``/usr/lib/bootc/install/
*.toml``, ``root=`` and ``rw``, then ``--karg``), the boot entries, and
``boot/grub/grub.cfg`` (Debian's GRUB has no ``blscfg``; with /boot on the
root filesystem the entry paths get a ``/boot`` prefix). When an ESP is
mounted at ``boot/efi`` it receives ``EFI/BOOT/BOOTX64.EFI`` from
``grub-mkimage``. Root's SSH keys go to the stateroot's ``var/roothome``.
With ``bootloader="systemd"`` no grub.cfg is written: systemd-boot reads the
BLS entries themselves, and a grub.cfg would make later deploys keep a GRUB
menu nobody boots (the ESP is then the caller's: to-disk fills it).

Refusals come before anything is written: a target that is not empty
without ``--replace``, no way to name the root filesystem.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import tomllib
import uuid
from pathlib import Path
from typing import List, Optional, Sequence

import attrs

from ..errors import OstreeError
from ..progress import ProgressCallback

__all__ = ["InstallError", "InstallResult", "install_to_filesystem", "install_config_kargs", "make_grub_efi"]

# what a freshly made filesystem (and its mounted /boot and ESP) may already hold
_EMPTY_OK = {"lost+found", "boot", "efi"}


class InstallError(OstreeError):
    """``bootc install`` refused the target; nothing was written."""


@attrs.frozen
class InstallResult:
    """What was installed: the deployment (``<checksum>.<serial>``) in
    ``stateroot``, and the kernel arguments of its boot entry."""

    target: Path
    stateroot: str
    deployment: str
    kargs: str


def _findmnt(path: Path, field: str) -> Optional[str]:
    if not shutil.which("findmnt"):
        return None
    p = subprocess.run(["findmnt", "-n", "-o", field, "--mountpoint", str(path)], capture_output=True, text=True)
    out = p.stdout.strip()
    return out or None


def install_config_kargs(deployment: Path) -> List[str]:
    """``[install] kargs`` of the image's ``usr/lib/bootc/install/*.toml``, in name order."""
    out: List[str] = []
    d = deployment / "usr/lib/bootc/install"
    if not d.is_dir():
        return out
    for f in sorted(d.glob("*.toml")):
        try:
            doc = tomllib.loads(f.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise InstallError(f"{f.name}: {e}") from None
        kargs = doc.get("install", {}).get("kargs", [])
        if not isinstance(kargs, list) or not all(isinstance(k, str) for k in kargs):
            raise InstallError(f"{f.name}: install.kargs must be a list of strings")
        out.extend(kargs)
    return out


def _check_empty(target: Path, replace: Optional[str]) -> None:
    extra = sorted(n for n in os.listdir(target) if n not in _EMPTY_OK)
    for sub in ("boot", "boot/efi"):
        p = target / sub
        if p.is_dir():
            extra += [f"{sub}/{n}" for n in os.listdir(p) if n not in _EMPTY_OK]
    if extra and replace is None:
        raise InstallError(f"{target} is not empty ({', '.join(extra[:5])}): "
                           "use --replace=wipe or --replace=alongside")
    if extra and replace == "wipe":
        for top in (target / "boot/efi", target / "boot", target):
            if not top.is_dir():
                continue
            for n in os.listdir(top):
                if n in _EMPTY_OK:
                    continue
                p = top / n
                if p.is_dir() and not p.is_symlink():
                    subprocess.run(["chattr", "-R", "-i", str(p)], capture_output=True)
                    shutil.rmtree(p)
                else:
                    p.unlink()


def install_to_filesystem(target: Path, source_imgref: str, *, target_imgref: Optional[str] = None,
                          stateroot: str = "default", kargs: Sequence[str] = (),
                          root_mount_spec: Optional[str] = None, boot_mount_spec: Optional[str] = None,
                          root_ssh_authorized_keys: Optional[Path] = None, replace: Optional[str] = None,
                          progress: Optional[ProgressCallback] = None, bootloader: str = "grub") -> InstallResult:
    """Install ``source_imgref`` (an ostree image reference) onto ``target``."""
    from ..bootc.verbs import deploy_image
    from ..container.imgref import OstreeImageReference
    from ..sysroot.sysroot import Sysroot, init_fs
    from .image import grub_config

    target = Path(target)
    if not target.is_dir():
        raise InstallError(f"{target}: not a directory")
    if bootloader not in ("grub", "systemd"):
        raise InstallError(f"--bootloader={bootloader}: expected grub or systemd")
    if replace not in (None, "wipe", "alongside"):
        raise InstallError(f"--replace={replace}: expected wipe or alongside")
    if root_mount_spec is None:
        fs_uuid = _findmnt(target, "UUID")
        if fs_uuid is None:
            raise InstallError(f"{target} is not a mounted filesystem with a UUID: give --root-mount-spec")
        root_mount_spec = f"UUID={fs_uuid}"
    boot_separate = (target / "boot").is_dir() and _findmnt(target / "boot", "UUID") is not None
    if boot_mount_spec is None and boot_separate:
        boot_mount_spec = f"UUID={_findmnt(target / 'boot', 'UUID')}"
    oref = OstreeImageReference.parse(source_imgref)
    tref = OstreeImageReference.parse(target_imgref) if target_imgref else None
    keys = None
    if root_ssh_authorized_keys is not None:
        try:
            keys = Path(root_ssh_authorized_keys).read_bytes()
        except OSError as e:
            raise InstallError(f"{root_ssh_authorized_keys}: {e.strerror}") from None
    _check_empty(target, replace)

    if not (target / "ostree/repo").is_dir():
        init_fs(str(target), repo_mode="bare" if os.geteuid() == 0 else "bare-user")
    with Sysroot(str(target), progress=progress) as sr:
        if not (target / "ostree/deploy" / stateroot).is_dir():
            sr.init_osname(stateroot)
        # the install config's kargs are read from the pulled image, so pull first
        # through the deploy with the base kargs, then redeploy only if it has some
        base = [f"root={root_mount_spec}", "rw"]
        res = deploy_image(sr, stateroot, oref, None, target=tref, kargs=base + list(kargs), progress=progress)
        dep = res.deployment
        assert dep is not None
        extra = install_config_kargs(Path(sr.deployment_dir(dep)))
        if extra:
            res = deploy_image(sr, stateroot, oref, None, target=tref, kargs=base + extra + list(kargs),
                               progress=progress)
            dep = res.deployment
            assert dep is not None
        ddir = Path(sr.deployment_dir(dep))
        options = (dep.bootconfig.get("options") if dep.bootconfig is not None else None) or ""
        name = f"{dep.csum}.{dep.deployserial}"
        if extra:
            # only the new deployment stays: the first was a step of the install
            sr.write_deployments([d for d in sr.deployments if f"{d.csum}.{d.deployserial}" == name])
    if keys is not None:
        ssh = target / "ostree/deploy" / stateroot / "var/roothome/.ssh"
        ssh.mkdir(parents=True, exist_ok=True, mode=0o700)
        (ssh / "authorized_keys").write_bytes(keys)
        os.chmod(ssh / "authorized_keys", 0o600)
    boot_id = (boot_mount_spec or root_mount_spec).removeprefix("UUID=")
    if bootloader == "systemd":
        return InstallResult(target=target, stateroot=stateroot, deployment=name, kargs=options)
    cfg = grub_config(target, uuid.UUID(boot_id) if _is_uuid(boot_id) else uuid.UUID(int=0))
    if not boot_separate and boot_mount_spec is None:
        cfg = cfg.replace("\nlinux /", "\nlinux /boot/").replace("\ninitrd /", "\ninitrd /boot/")
    (target / "boot/grub").mkdir(parents=True, exist_ok=True)
    (target / "boot/grub/grub.cfg").write_text(cfg)
    if (target / "boot/efi").is_dir() and _findmnt(target / "boot/efi", "FSTYPE") == "vfat":
        _install_grub_efi(target, ddir, boot_id, boot_separate or boot_mount_spec is not None)
    return InstallResult(target=target, stateroot=stateroot, deployment=name, kargs=options)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
        return True
    except ValueError:
        return False


def _install_grub_efi(target: Path, deployment: Path, boot_id: str, boot_separate: bool) -> None:
    out = target / "boot/efi/EFI/BOOT"
    out.mkdir(parents=True, exist_ok=True)
    make_grub_efi(out / "BOOTX64.EFI", deployment, boot_id, boot_separate)


def make_grub_efi(dest: Path, deployment: Path, boot_id: str, boot_separate: bool) -> None:
    """GRUB EFI packed from the deployment's modules, with an early config that
    finds /boot by filesystem UUID and loads its grub.cfg."""
    from .image import GRUB_MODULES, _grub_modules_dir, _run, _which
    prefix = "/grub" if boot_separate else "/boot/grub"
    with tempfile.TemporaryDirectory(prefix="grub-early-") as tmp:
        early = Path(tmp) / "early.cfg"
        early.write_text(f"search --no-floppy --fs-uuid --set=root {boot_id}\nset prefix=($root){prefix}\n"
                         f"configfile ($root){prefix}/grub.cfg\n")
        _run(_which("grub-mkimage"), "-O", "x86_64-efi", "-d", str(_grub_modules_dir(deployment)), "-p", prefix,
             "-c", str(early), "-o", str(dest), *GRUB_MODULES)
