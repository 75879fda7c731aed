"""``bootc upgrade`` / ``switch`` / ``rollback`` on the example image:
``--check`` and ``--dry-run`` change nothing, the /etc merge keeps local
edits, kargs.d kargs follow the image, progress JSON Lines, the space check."""

from __future__ import annotations

import json
import os
import shutil
import sys

from .conftest import EXAMPLE, Host, bootc, bootctl_list, example_digest, publish, run


def _edit_etc(host: Host) -> None:
    (dep,) = host.deployments()
    (dep / "etc/motd").write_text("local addition\n")
    (dep / "etc/hostname").write_text("edited-locally\n")
    (dep / "etc/example-app.conf").write_text("greeting=howdy\ncolor=blue\n")
    (dep / "etc/group").unlink()


def test_upgrade_check_changes_nothing(host: Host):
    assert bootc("upgrade", host.sr, "--check").stdout == \
        f"No changes in: ostree-unverified-image:oci:{host.image}:latest\n"
    publish(host.image, "v2")
    before = host.state()
    out = bootc("upgrade", host.sr, "--check").stdout
    assert out == f"""\
Update available for: ostree-unverified-image:oci:{host.image}:latest
  Version: 2
  Digest: {example_digest("v2")}
Total new layers: 3     Size: 1.5\u00a0kB
Removed layers:   1     Size: 414 bytes
Added layers:     1     Size: 568 bytes
"""
    assert host.state() == before
    # the update seen is cached for status (ostree-ext's detached metadata)
    cached = host.status()["status"]["booted"]["cachedUpdate"]
    assert cached["imageDigest"] == example_digest("v2") and cached["version"] == "2"
    assert "UpdateVersion: 2 (2024-02-01T00:00:00Z)" in bootc("status", host.sr, "--format=humanreadable").stdout


def test_upgrade_dry_run_prints_etc_plan_and_changes_nothing(host: Host):
    _edit_etc(host)
    publish(host.image, "v2")
    before = host.state()
    out = bootc("upgrade", host.sr, "--dry-run").stdout.splitlines()
    assert out[0] == "layers already present: 2; layers needed: 1 (568 bytes)"
    assert out[1] == "Copying /etc changes: 2 modified, 1 removed, 1 added"
    plan = set(out[2:])
    assert "  drop (removed locally): /etc/group" in plan
    assert "  keep (modified): /etc/hostname" in plan
    assert "  keep (added): /etc/motd" in plan
    assert ("  keep (modified): /etc/example-app.conf  CONFLICT: changed by the new version; "
            "the local version wins") in plan
    assert "  add: /etc/example-app.d/extra.conf" in plan
    assert host.state() == before


def test_upgrade_stages_merges_etc_and_applies(host: Host):
    _edit_etc(host)
    publish(host.image, "v2")
    out = bootc("upgrade", host.sr).stdout
    assert f"Queued for next boot: ostree-unverified-image:oci:{host.image}:latest\n  Version: 2\n" \
           f"  Digest: {example_digest('v2')}\n" in out
    st = host.status()["status"]
    assert st["staged"]["image"]["version"] == "2" and st["booted"]["image"]["version"] == "1"
    assert st["staged"]["downloadOnly"] is False
    assert len(host.entries()) == 1  # staged: the boot entries wait for the finalization
    # again: nothing new
    assert "Staged update present, not changed" in bootc("upgrade", host.sr).stdout
    # --apply stands for the reboot: finalize
    bootc("upgrade", host.sr, "--apply")
    st = host.status()["status"]
    assert st["staged"] is None
    assert st["booted"]["image"]["version"] == "2" and st["rollback"]["image"]["version"] == "1"
    new = next(d for d in host.deployments() if d.name.split(".")[0] == st["booted"]["ostree"]["checksum"])
    # local edits, additions and deletions survive; untouched vendor files follow the image
    assert (new / "etc/motd").read_text() == "local addition\n"
    assert (new / "etc/hostname").read_text() == "edited-locally\n"
    assert (new / "etc/example-app.conf").read_text() == "greeting=howdy\ncolor=blue\n"
    assert not (new / "etc/group").exists()
    assert (new / "etc/example-app.d/extra.conf").read_text() == "log=verbose\n"
    # kargs.d of v2 adds example.debug=1
    entries = {e["version"]: e for e in host.entries().values()}
    assert entries["2"]["options"].split()[:2] == ["console=ttyS0,115200", "example.debug=1"]
    assert entries["1"]["options"].split()[:1] == ["console=ttyS0,115200"]
    assert "example.debug=1" not in entries["1"]["options"]
    listed = bootctl_list(host.sr / "boot")
    assert [(e["title"], e["version"], e["options"]) for e in listed] == \
        [(entries[v]["title"], v, entries[v]["options"]) for v in ("2", "1")]
    p = run("ostree", "admin", f"--sysroot={host.sr}", "status")
    assert [ln.split()[1] for ln in p.stdout.splitlines() if ln.startswith("  default")] == \
        [st["booted"]["ostree"]["checksum"] + ".0", st["rollback"]["ostree"]["checksum"] + ".0"]
    assert "No update available." in bootc("upgrade", host.sr).stdout
    # rollback flips the order, and back
    assert bootc("rollback", host.sr).stdout == "Next boot: rollback deployment\n"
    assert host.status()["status"]["booted"]["image"]["version"] == "1"
    assert sorted(e["title"] for e in host.entries().values()) == ["Example OS 1 (ostree:0)",
                                                                    "Example OS 2 (ostree:1)"]
    bootc("rollback", host.sr)
    assert host.status()["status"]["booted"]["image"]["version"] == "2"


def test_upgrade_download_only_then_from_downloaded(host: Host):
    publish(host.image, "v2")
    before = host.state()
    out = bootc("upgrade", host.sr, "--download-only").stdout
    assert out.endswith("Image downloaded, but will not be applied on reboot\n")
    assert host.state() == before
    out = bootc("upgrade", host.sr, "--from-downloaded", "--apply").stdout
    assert "Staged deployment will now be applied on reboot" in out
    assert host.status()["status"]["booted"]["image"]["version"] == "2"


def test_progress_fd_json_lines(host: Host):
    publish(host.image, "v2")
    r, w = os.pipe()
    try:
        run(sys.executable, "-m", "ostreepy", "bootc", "upgrade", f"--sysroot={host.sr}", f"--progress-fd={w}",
            pass_fds=(w,))
    finally:
        os.close(w)
    with os.fdopen(r, "rb") as f:
        lines = f.read().split(b"\n")
    assert lines[-1] == b""
    events = []
    for line in lines[:-1]:
        e = json.loads(line)
        assert line == json.dumps(e, sort_keys=True, separators=(",", ":")).encode()  # canonical
        events.append(e)
    assert events[0] == {"type": "Start", "version": "0.1.0"}
    digest = example_digest("v2")
    manifest = json.loads((EXAMPLE / "blobs/sha256" / digest[7:]).read_bytes())
    total = sum(layer["size"] for layer in manifest["layers"])
    pulling = [e for e in events if e.get("task") == "pulling"]
    assert pulling
    for e in pulling:
        assert sorted(e) == ["bytes", "bytesCached", "bytesTotal", "description", "id", "steps", "stepsCached",
                             "stepsTotal", "subtasks", "task", "type"]
        assert e["type"] == "ProgressBytes" and e["id"] == digest
        assert e["description"] == f"Pulling Image: {digest}"
        assert (e["stepsCached"], e["stepsTotal"]) == (2, 1)
        assert e["bytesTotal"] == 568 and e["bytesCached"] == total - 568
        for s in e["subtasks"]:
            assert sorted(s) == ["bytes", "bytesCached", "bytesTotal", "description", "id", "subtask"]
            assert s["subtask"] == "layer" and s["description"] == f"layer: {s['id']}" and len(s["id"]) == 21
    assert pulling[-1]["steps"] == 1 and pulling[-1]["bytes"] == 568
    assert pulling[-1]["subtasks"][0]["bytes"] == pulling[-1]["subtasks"][0]["bytesTotal"] == 568
    steps = [e for e in events if e["type"] == "ProgressSteps"]
    assert [(e["task"], e["steps"], e["stepsTotal"]) for e in steps] == \
        [("importing", 0, 1), ("importing", 1, 1), ("staging", 0, 3), ("staging", 1, 3), ("staging", 1, 3),
         ("staging", 2, 3), ("staging", 3, 3)]
    assert steps[1]["subtasks"] == [{"completed": True, "description": "Importing Image", "id": "importing",
                                     "subtask": "importing"}]
    assert [s["subtask"] for s in steps[-1]["subtasks"]] == ["merging", "deploying", "bound_images", "cleanup",
                                                             "cleanup"]
    assert steps[-1]["subtasks"][0]["id"] == "fetching"
    assert all(e["id"] == digest for e in steps)


def test_switch(host: Host):
    target = f"{EXAMPLE}:v2"
    out = bootc("switch", host.sr, "--transport=oci", target, "--apply").stdout
    assert f"Queued for next boot: ostree-unverified-image:oci:{target}\n" in out
    doc = host.status()
    assert doc["spec"]["image"] == {"image": target, "transport": "oci"}
    assert doc["status"]["booted"]["image"]["imageDigest"] == example_digest("v2")
    dep = next(d for d in host.deployments() if d.name.startswith(doc["status"]["booted"]["ostree"]["checksum"]))
    assert (dep.parent / f"{dep.name}.origin").read_text() == \
        f"[origin]\ncontainer-image-reference=ostree-unverified-image:oci:{target}\n"
    assert bootc("switch", host.sr, "--transport=oci", target).stdout == "Image specification is unchanged.\n"
    p = bootc("switch", host.sr, "--transport=nope", target, check=False)
    assert p.returncode == 1 and p.stderr == "error: Invalid transport: nope\n"


def test_upgrade_refuses_when_boot_is_full(host: Host, workdir):
    publish(host.image, "v2")
    boot = host.sr / "boot"
    saved = workdir / "boot-saved"
    shutil.copytree(boot, saved, symlinks=True)
    run("mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(boot))
    try:
        run("cp", "-a", f"{saved}/.", str(boot))
        before = host.state()
        p = bootc("upgrade", host.sr, check=False)
        after = host.state()
    finally:
        run("umount", str(boot))
    assert p.returncode == 1
    assert p.stderr.startswith("error: Not enough space on /boot"), p.stderr
    assert "Copying /etc changes" in p.stdout  # the plan came first, then the refusal
    assert after == before
