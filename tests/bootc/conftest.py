"""Fixtures for the bootc tests: folder sysroots with the bundled example
image deployed by ``ostreepy container image deploy``, the image's tag moved
with the real skopeo, and the peers (``ostree admin``, ``bootctl``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "bootable-image"


def run(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(list(args), capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{list(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def ours(*args: str, **kw) -> subprocess.CompletedProcess:
    return run(sys.executable, "-m", "ostreepy", *args, **kw)


def bootc(verb: str, sr: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    return ours("bootc", verb, f"--sysroot={sr}", *args, **kw)


def example_digest(tag: str) -> str:
    """The manifest digest of a tag of the example layout, from its index."""
    index = json.loads((EXAMPLE / "index.json").read_text())
    return next(m["digest"] for m in index["manifests"]
                if m["annotations"]["org.opencontainers.image.ref.name"] == tag)


def publish(image: Path, tag: str) -> None:
    """Make ``image:latest`` the example's ``tag`` (skopeo copies the manifest unchanged)."""
    run("skopeo", "copy", "-q", f"oci:{EXAMPLE}:{tag}", f"oci:{image}:latest")


def unimmutable(path: Path) -> None:
    dep = path / "ostree" / "deploy"
    if dep.exists():
        subprocess.run(["find", str(dep), "-maxdepth", "3", "-type", "d", "-exec", "chattr", "-i", "{}", "+"],
                       capture_output=True)


@pytest.fixture
def workdir():
    d = Path(tempfile.mkdtemp(prefix="bootc-test-"))
    yield d
    for sub in [d] + [p for p in d.rglob("sysroot") if p.is_dir()]:
        unimmutable(sub)
    shutil.rmtree(d, ignore_errors=True)


class Host:
    """A folder sysroot with stateroot ``default`` and ``image:latest`` deployed."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.sr = work / "sysroot"
        self.image = work / "image"
        self.imgref = f"ostree-unverified-image:oci:{self.image}:latest"

    def setup(self, tag: str = "v1", *deploy_args: str) -> "Host":
        self.sr.mkdir()
        publish(self.image, tag)
        ours("admin", "init-fs", str(self.sr))
        ours("admin", "os-init", f"--sysroot={self.sr}", "default")
        ours("container", "image", "deploy", f"--sysroot={self.sr}", "--stateroot=default",
             f"--imgref={self.imgref}", *deploy_args)
        return self

    def deployments(self) -> List[Path]:
        return sorted((self.sr / "ostree/deploy/default/deploy").glob("*.[0-9]"))

    def status(self, *args: str) -> dict:
        return json.loads(bootc("status", self.sr, "--format=json", *args).stdout)

    def entries(self) -> Dict[str, Dict[str, str]]:
        out = {}
        for p in sorted((self.sr / "boot/loader/entries").glob("*.conf")):
            kv = {}
            for line in p.read_text().splitlines():
                k, _, v = line.partition(" ")
                kv[k] = v
            out[p.name] = kv
        return out

    def state(self) -> List[str]:
        """What a change to the sysroot would show: everything but the
        repository, and of each deployment only its /etc."""
        out = []
        for dirpath, dirnames, filenames in os.walk(self.sr):
            rel = os.path.relpath(dirpath, self.sr)
            parts = rel.split("/")
            if rel == "ostree" and "repo" in dirnames:
                dirnames.remove("repo")
            if len(parts) == 5 and parts[:2] == ["ostree", "deploy"] and parts[3] == "deploy":
                dirnames[:] = [x for x in dirnames if x == "etc"]
            dirnames.sort()
            for n in sorted(dirnames + filenames):
                p = os.path.join(dirpath, n)
                if os.path.islink(p):
                    out.append(f"L {rel}/{n} -> {os.readlink(p)}")
                elif os.path.isdir(p):
                    out.append(f"D {rel}/{n}")
                else:
                    out.append(f"F {rel}/{n} {Path(p).read_bytes()!r}")
        return out


@pytest.fixture
def host(workdir) -> Host:
    return Host(workdir).setup()


def bootctl_list(boot_dir: Path) -> List[dict]:
    """``bootctl --json=short list`` (bind-mounted: bootctl wants a mount root)."""
    mnt = Path(tempfile.mkdtemp(prefix="bootc-bootmnt-"))
    run("mount", "--bind", str(boot_dir), str(mnt))
    try:
        p = run("bootctl", "--no-pager", "--json=short", f"--esp-path={mnt}", "list",
                env=dict(os.environ, SYSTEMD_RELAX_ESP_CHECKS="1", SYSTEMD_RELAX_XBOOTLDR_CHECKS="1"))
    finally:
        run("umount", str(mnt))
        mnt.rmdir()
    out = []
    for line in p.stdout.splitlines():
        if line.strip():
            v = json.loads(line)
            out.extend(v if isinstance(v, list) else [v])
    return out
