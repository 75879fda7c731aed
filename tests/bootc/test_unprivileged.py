"""The whole cycle as an unprivileged user on a bare-user repo: pull, deploy,
upgrade, rollback (a feature the anchors lack: build and test an OS image without root)."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from .conftest import EXAMPLE, example_digest, run

NOBODY = pwd.getpwnam("nobody").pw_uid
PY = os.sys.executable


def as_nobody(*argv: str, check: bool = True):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent", "LC_ALL": "C.UTF-8"}
    return run("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv,
               check=check, env=env)


def ostreepy(*argv: str, check: bool = True):
    return as_nobody(PY, "-m", "ostreepy", *argv, check=check)


def test_pull_deploy_upgrade_rollback_unprivileged(workdir: Path):
    # a world-readable copy of the example, and a sysroot owned by nobody
    os.chmod(workdir, 0o755)
    work = workdir / "u"
    work.mkdir()
    image = work / "image"
    run("skopeo", "copy", "-q", f"oci:{EXAMPLE}:v1", f"oci:{image}:latest")
    run("chown", "-R", f"{NOBODY}:{NOBODY}", str(work))
    sr = work / "sysroot"
    as_nobody("mkdir", str(sr))
    ostreepy("admin", "init-fs", "--repo-mode=bare-user", str(sr))
    ostreepy("admin", "os-init", f"--sysroot={sr}", "default")
    imgref = f"ostree-unverified-image:oci:{image}:latest"
    ostreepy("container", "image", "deploy", f"--sysroot={sr}", "--stateroot=default", f"--imgref={imgref}")
    status = ostreepy("bootc", "status", f"--sysroot={sr}", "--format=json").stdout
    assert example_digest("v1") in status

    # a local /etc edit, then version 2 of the image
    dep = next((sr / "ostree/deploy/default/deploy").glob("*.0"))
    assert dep.stat().st_uid == NOBODY
    etc_files = sorted(p for p in (dep / "etc").rglob("*") if p.is_file())
    edited = etc_files[0]
    as_nobody("sh", "-c", f"echo local-edit >> '{edited}'")
    run("skopeo", "copy", "-q", f"oci:{EXAMPLE}:v2", f"oci:{image}:latest")
    run("chown", "-R", f"{NOBODY}:{NOBODY}", str(image))
    ostreepy("bootc", "upgrade", f"--sysroot={sr}", "--apply")
    status = ostreepy("bootc", "status", f"--sysroot={sr}", "--format=json").stdout
    assert example_digest("v2") in status
    newest = sorted((sr / "ostree/deploy/default/deploy").glob("*.?"), key=lambda p: p.stat().st_mtime)
    merged = [p for p in newest if p != dep][-1] / "etc" / edited.relative_to(dep / "etc")
    assert merged.read_text().endswith("local-edit\n")

    ostreepy("bootc", "rollback", f"--sysroot={sr}")
    entries = sorted((sr / "boot/loader/entries").glob("*.conf"))
    assert len(entries) == 2
    assert "no errors found" in as_nobody("ostree", f"--repo={sr}/ostree/repo", "fsck").stdout
    # nothing in the sysroot belongs to root
    assert all(p.lstat().st_uid == NOBODY for p in sr.rglob("*"))
