"""The real thing: a disk built by ``ostreepy image build`` as an unprivileged
user boots under QEMU with OVMF: firmware -> our ESP -> GRUB -> the default
entry -> ostree-prepare-root -> systemd, whose unit prints a marker naming the
booted deployment on the serial console.

Opt-in (``OSTREEPY_BOOT_TEST=1``): the bootable Debian image is built once
(scripts/build-bootable-image.sh, 3-5 min, cached in tests/install/.cache)
and a TCG boot through OVMF takes 1-3 minutes on 2 cores, more than the suite
can spend."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(__file__).resolve().parent / ".cache" / "debian"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
MARKER = "OSTREEPY-BOOT-OK"

pytestmark = [
    pytest.mark.skipif(os.environ.get("OSTREEPY_BOOT_TEST") != "1",
                       reason="QEMU boot test takes minutes: set OSTREEPY_BOOT_TEST=1 (needs root, debootstrap, "
                              "qemu-system-x86 and ovmf)"),
]


def _boot(disk: Path, log: Path, timeout: float) -> str:
    vars_copy = disk.parent / "OVMF_VARS.fd"
    shutil.copy(OVMF_VARS, vars_copy)
    # /dev/kvm may open here while a guest stops at OVMF's first instruction: TCG
    args = ["qemu-system-x86_64", "-machine", "q35", "-accel", "tcg,thread=multi", "-cpu", "max", "-smp", "2",
            "-m", "2048", "-nodefaults", "-display", "none", "-serial", f"file:{log}", "-no-reboot",
            "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
            "-drive", f"if=pflash,format=raw,file={vars_copy}",
            "-drive", f"file={disk},format=raw,if=virtio"]
    q = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and q.poll() is None:
            time.sleep(2)
            if log.exists() and MARKER in log.read_text(errors="replace"):
                break
    finally:
        if q.poll() is None:
            time.sleep(3)
            q.kill()
        q.wait()
    return log.read_text(errors="replace") if log.exists() else ""


def test_image_boots_under_ovmf() -> None:
    if os.geteuid() != 0 or not shutil.which("qemu-system-x86_64") or not OVMF_CODE.exists():
        pytest.skip("needs root, qemu-system-x86 and ovmf")
    r = subprocess.run([str(ROOT / "scripts/build-bootable-image.sh"), str(CACHE)], capture_output=True,
                       text=True, env={**os.environ, "PYTHON": sys.executable})
    assert r.returncode == 0, r.stderr
    nobody = pwd.getpwnam("nobody").pw_uid
    work = Path(tempfile.mkdtemp(prefix="install-boot-"))
    try:
        os.chmod(work, 0o755)
        shutil.copytree(CACHE / "oci", work / "oci")
        subprocess.run(["chown", "-R", f"{nobody}:{nobody}", str(work)], check=True)
        b = subprocess.run(["setpriv", f"--reuid={nobody}", f"--regid={nobody}", "--clear-groups", sys.executable,
                            "-m", "ostreepy", "image", "build", "--karg=console=ttyS0,115200",
                            f"oci:{work}/oci:latest", f"{work}/out"], capture_output=True, text=True)
        assert b.returncode == 0, b.stderr
        dep = next(ln.split("/")[-1] for ln in b.stdout.splitlines() if ln.startswith("Deployment:"))
        log = work / "serial.log"
        out = _boot(work / "out/image/disk.raw", log, timeout=600)
        line = next((ln for ln in out.splitlines() if ln.startswith(MARKER)), None)
        assert line is not None, out[-3000:]
        assert "ostree=/ostree/boot.1/default/" in line and line.rstrip().endswith("/0"), line
        assert dep.endswith(".0")
    finally:
        shutil.rmtree(work, ignore_errors=True)
