"""Deploy: the events a sysroot sends, checked against the deployment the real
``ostree admin`` lists and the lines it prints for the same deploy."""

from __future__ import annotations

from pathlib import Path
from typing import List

from ostreepy.progress import DeploymentCheckoutStarted, FileCheckedOut, KernelInstallStarted, Message, ProgressEvent
from ostreepy.sysroot.sysroot import Sysroot

from .conftest import kinds, ls_files, ostree, run, write_tree


def _sysroot(path: Path) -> Path:
    path.mkdir()
    run("ostree", "admin", "init-fs", str(path))
    run("ostree", "admin", f"--sysroot={path}", "os-init", "myos")
    ostree(path / "ostree/repo", "config", "set", "sysroot.bootloader", "none")
    return path


def test_deploy_events(workdir):
    tree = workdir / "tree"
    write_tree(tree, kernel=True)
    sysroots = {w: _sysroot(workdir / w) for w in ("sysroot", "real")}
    for sr in sysroots.values():
        csum = ostree(sr / "ostree/repo", "commit", "-b", "os/one", "--timestamp=2024-01-01 00:00:00 +0000",
                      str(tree)).stdout.strip()
    sr = sysroots["sysroot"]
    printed: List[str] = []
    real_printed: List[str] = []
    for step in range(2):  # a first deploy, then a second one that merges /etc
        events: List[ProgressEvent] = []
        with Sysroot(str(sr), progress=events.append, message=printed.append) as s:
            d = s.deploy("myos", "os/one")
        real_printed += run("ostree", "admin", f"--sysroot={sysroots['real']}", "deploy", "--os=myos",
                            "os/one").stdout.splitlines()
        name = f"{csum}.{step}"
        assert d.name == name
        ks = kinds(events)
        assert ks[:2] == ["DeploymentCheckoutStarted", "FileCheckedOut"]
        assert events[0] == DeploymentCheckoutStarted("myos", name, csum)
        assert (sr / "ostree/deploy/myos/deploy" / name).is_dir()
        # every file and symlink of the commit, as the real ostree lists it, was checked out
        checked = [e.path for e in events if isinstance(e, FileCheckedOut)]
        assert sorted(checked) == sorted(ls_files(sr / "ostree/repo", csum))
        # a new boot version lists every deployment, the new default first
        kernels = [e for e in events if isinstance(e, KernelInstallStarted)]
        assert [(e.index, e.osname) for e in kernels] == [(i, "myos") for i in range(step + 1)]
        assert [e.name for e in kernels] == [f"{csum}.{i}" for i in range(step, -1, -1)]
        status = run("ostree", "admin", f"--sysroot={sr}", "status").stdout
        assert [line.split()[1] for line in status.splitlines() if "myos" in line] == [e.name for e in kernels]
        assert isinstance(events[-1], Message) and "; bootconfig swap: yes;" in events[-1].text
    # the messages are what the message callback printed, and what the real ostree prints
    messages = [e.text for e in events if isinstance(e, Message)]
    assert messages == printed[-len(messages):]
    assert printed == real_printed and len(printed) >= 3
