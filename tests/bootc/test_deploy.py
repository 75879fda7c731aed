"""``ostreepy container image deploy`` of the example image into a folder
sysroot, read back by the real ``ostree admin status``, ``ostree fsck`` and
``bootctl``; kargs.d kargs in the boot entry."""

from __future__ import annotations

import json
import os
import sys

from .conftest import EXAMPLE, Host, bootctl_list, example_digest, ours, run


def test_deploy_reads_back_with_ostree_and_bootctl(host: Host):
    (dep,) = host.deployments()
    csum = dep.name.split(".")[0]
    # ostree-ext's origin
    assert (dep.parent / f"{dep.name}.origin").read_text() == \
        f"[origin]\ncontainer-image-reference={host.imgref}\n"
    # the merge commit carries ostree-ext's metadata
    meta = json.loads(run("ostree", f"--repo={host.sr}/ostree/repo", "show", "--print-metadata-key",
                          "ostree.manifest-digest", csum).stdout.strip().replace("'", '"'))
    assert meta == example_digest("v1")
    # the real ostree reads our sysroot and repository
    p = run("ostree", "admin", f"--sysroot={host.sr}", "status")
    assert p.stdout.splitlines()[0] == f"  default {dep.name}"
    run("ostree", f"--repo={host.sr}/ostree/repo", "fsck")
    # /etc from the image's /etc (moved to /usr/etc by the import), os-release for the title
    assert (dep / "etc/example-app.conf").read_text() == "greeting=hello\ncolor=blue\n"
    assert (dep / "usr/etc/example-app.conf").is_file()
    # the entry: title from os-release, kargs from usr/lib/bootc/kargs.d
    (entry,) = host.entries().values()
    assert entry["title"] == "Example OS 1 (ostree:0)"
    assert entry["options"].split()[0] == "console=ttyS0,115200"
    assert entry["options"].split()[1].startswith("ostree=/ostree/boot.1/default/")
    assert entry["linux"].endswith("/vmlinuz-6.1.0-example")
    # and bootctl parses it the same way
    (listed,) = bootctl_list(host.sr / "boot")
    assert listed["title"] == "Example OS 1 (ostree:0)"
    assert listed["version"] == "1"
    assert listed["linux"] == entry["linux"]
    assert listed["initrd"] == [entry["initrd"]]
    assert listed["options"] == entry["options"]


def test_deploy_karg_target_imgref_commitid(workdir):
    h = Host(workdir)
    target = "ostree-unverified-registry:quay.io/example/os:latest"
    h.setup("v1", "--karg=quiet", "--karg=example.extra=1", f"--target-imgref={target}",
            f"--write-commitid-to={workdir / 'commit'}")
    (dep,) = h.deployments()
    assert (dep.parent / f"{dep.name}.origin").read_text() == f"[origin]\ncontainer-image-reference={target}\n"
    assert (workdir / "commit").read_text() == dep.name.split(".")[0]
    (entry,) = h.entries().values()
    # kargs.d first, then --karg, as bootc install orders them
    assert entry["options"].split()[:3] == ["console=ttyS0,115200", "quiet", "example.extra=1"]
    st = h.status()
    assert st["spec"]["image"] == {"image": "quay.io/example/os:latest", "transport": "registry"}


def test_deploy_progress_fd(workdir):
    h = Host(workdir)
    h.sr.mkdir()
    from .conftest import publish
    publish(h.image, "v1")
    ours("admin", "init-fs", str(h.sr))
    ours("admin", "os-init", f"--sysroot={h.sr}", "default")
    r, w = os.pipe()
    try:
        p = run(*[sys.executable, "-m", "ostreepy", "container", "image", "deploy", f"--sysroot={h.sr}",
                  "--stateroot=default", f"--imgref={h.imgref}", f"--progress-fd={w}"], pass_fds=(w,))
    finally:
        os.close(w)
    with os.fdopen(r) as f:
        lines = f.read().splitlines()
    assert p.stdout == ""
    events = [json.loads(x) for x in lines]
    assert events[0] == {"type": "Start", "version": "0.1.0"}
    pulling = [e for e in events if e.get("task") == "pulling"]
    assert [e["steps"] for e in pulling if len(e["subtasks"]) == e["steps"]][-1] == 3
    assert events[-1]["task"] == "importing" and events[-1]["steps"] == 1


def test_deploy_refuses_unknown_tag_and_stateroot(workdir):
    h = Host(workdir)
    h.sr.mkdir()
    ours("admin", "init-fs", str(h.sr))
    ours("admin", "os-init", f"--sysroot={h.sr}", "default")
    p = ours("container", "image", "deploy", f"--sysroot={h.sr}", "--stateroot=default",
             f"--imgref=ostree-unverified-image:oci:{EXAMPLE}:nope", check=False)
    assert p.returncode == 1 and p.stderr.startswith("error: ")
    p = ours("container", "image", "deploy", f"--sysroot={h.sr}", "--stateroot=nope",
             f"--imgref=ostree-unverified-image:oci:{EXAMPLE}:v1", check=False)
    assert p.returncode == 1 and "nope" in p.stderr
    assert h.deployments() == []
