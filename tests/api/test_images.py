"""pull / deploy / upgrade / switch / rollback / status / boot_entries of the
bundled example image (``examples/bootable-image``, tags v1 and v2) on a
folder sysroot, through ``import ostreepy`` only; ``ostree`` and ``skopeo``
check the results."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import List

import ociclient
import ostreepy

from .conftest import EXAMPLE, publish, run


def example_digest(tag: str) -> str:
    index = json.loads((EXAMPLE / "index.json").read_text())
    return next(m["digest"] for m in index["manifests"]
                if m["annotations"]["org.opencontainers.image.ref.name"] == tag)


def admin_status(sr: Path) -> List[str]:
    """``ostree admin status``'s deployments, as ``<stateroot> <checksum>.<serial>``, in order."""
    text = run("ostree", "admin", "status", f"--sysroot={sr}").stdout
    return re.findall(r"^[*\s]+(\S+) ([0-9a-f]{64}\.\d+)", text, re.M)


def test_pull_returns_what_was_imported(work: Path) -> None:
    publish(work / "image", "v1")
    repo = work / "repo"
    ostreepy.init(repo, mode="bare-user").close()
    events: list = []
    res = ostreepy.pull(repo, f"oci:{work / 'image'}:latest", progress=events.append)
    assert isinstance(res, ostreepy.PullResult)
    assert res.manifest_digest == example_digest("v1") and res.version == "1"
    assert (res.layers_total, res.layers_fetched, res.layers_reused) == (3, 3, 0)
    assert res.bytes_fetched > 0 and not res.already_present
    assert events, "progress was not reported"
    # the image's commit is where ostree-ext puts it, and ostree reads it
    image_refs = ostreepy.refs(repo, "ostree/container/image")
    assert list(image_refs.values()) == [res.merge_commit]
    assert len(ostreepy.refs(repo, "ostree/container/blob")) == 3
    assert "no errors found" in run("ostree", f"--repo={repo}", "fsck").stdout
    meta = ostreepy.show(repo, res.merge_commit).metadata
    assert meta["ostree.manifest-digest"] == res.manifest_digest

    again = ostreepy.pull(repo, f"ostree-unverified-image:oci:{work / 'image'}:latest")
    assert again.already_present and again.layers_fetched == 0 and again.merge_commit == res.merge_commit
    publish(work / "image", "v2")
    # the first half alone: what a caller shows before fetching, then handed to pull
    prep = ostreepy.prepare_pull(repo, f"oci:{work / 'image'}:latest")
    assert prep.manifest_digest == example_digest("v2") and not prep.already_present
    assert prep.layers_present >= 1 and prep.layers_needed == len(prep.layers) - prep.layers_present
    v2 = ostreepy.pull(repo, prep.imgref, prepared=prep)
    assert v2.version == "2" and v2.layers_reused == prep.layers_present
    assert v2.layers_fetched == prep.layers_needed == 3 - v2.layers_reused


def test_deploy_upgrade_rollback_status_on_a_folder_sysroot(work: Path) -> None:
    image, sr = work / "image", work / "sysroot"
    imgref = f"ostree-unverified-image:oci:{image}:latest"
    publish(image, "v1")
    ostreepy.init_sysroot(sr)

    dep = ostreepy.deploy(sr, imgref)
    assert dep.outcome is ostreepy.Outcome.DEPLOYED and dep.image is not None
    assert dep.image.manifest_digest == example_digest("v1") and dep.deployment is not None
    assert not dep.deployment.staged  # nothing was booted: written as the default
    assert admin_status(sr) == [("default", dep.deployment.name)]

    host = ostreepy.status(sr)
    assert isinstance(host, ostreepy.Host) and host.status.booted is not None
    assert host.spec.image == ostreepy.ImageReference(f"{image}:latest", "oci")
    assert host.status.booted.image is not None and host.status.booted.image.version == "1"
    assert host.status.booted.image.image_digest == example_digest("v1")
    assert host.status.staged is None and host.status.rollback is None and host.status.type == "bootcHost"
    # nothing booted: the same sysroot, seen without the default standing for the running system
    assert ostreepy.status(sr, booted=None).status.booted is None

    nothing = ostreepy.upgrade(sr, check=True)
    assert nothing.outcome is ostreepy.Outcome.NO_UPDATE and not nothing.update_available and not nothing.changed

    publish(image, "v2")
    check = ostreepy.upgrade(sr, check=True)
    assert check.outcome is ostreepy.Outcome.UPDATE_AVAILABLE and check.update_available and not check.changed
    cached = ostreepy.status(sr).status.booted
    assert cached is not None and cached.cached_update is not None
    assert cached.cached_update.image_digest == example_digest("v2")

    up = ostreepy.upgrade(sr)
    assert up.outcome is ostreepy.Outcome.STAGED and up.staged and up.changed
    assert up.deployment is not None and up.deployment.staged and up.etc_plan is not None
    assert [d.staged for d in up.deployments_after] == [True, False]
    staged = ostreepy.status(sr).status.staged
    assert staged is not None and staged.image is not None and staged.image.version == "2"

    applied = ostreepy.upgrade(sr, apply=True)
    assert applied.outcome is ostreepy.Outcome.ALREADY_STAGED and applied.applied is not None
    host = ostreepy.status(sr)
    assert host.status.booted is not None and host.status.booted.image is not None
    assert host.status.booted.image.version == "2"
    assert host.status.rollback is not None and host.status.rollback.image is not None
    assert host.status.rollback.image.version == "1"
    assert [name for _, name in admin_status(sr)] == [applied.applied.name, dep.deployment.name]

    entries = ostreepy.boot_entries(sr)
    assert [e.title for e in entries] == ["Example OS 2 (ostree:0)", "Example OS 1 (ostree:1)"]
    assert all(isinstance(e, ostreepy.BootLoaderEntry) and "ostree=" in (e.options or "") for e in entries)

    rb = ostreepy.rollback(sr, booted=ostreepy.BOOTED_DEFAULT)
    assert rb.outcome is ostreepy.Outcome.ROLLED_BACK and rb.changed and not rb.reverting
    assert [d.name for d in rb.deployments_after] == [dep.deployment.name, applied.applied.name]
    assert [name for _, name in admin_status(sr)] == [dep.deployment.name, applied.applied.name]
    assert [e.title for e in ostreepy.boot_entries(sr)][0].startswith("Example OS 1")


def test_switch_and_a_commit_deploy(work: Path) -> None:
    image, other, sr = work / "image", work / "other", work / "sysroot"
    publish(image, "v1")
    run("skopeo", "copy", "-q", f"oci:{EXAMPLE}:v2", f"oci:{other}:stable")
    ostreepy.init_sysroot(sr)
    ostreepy.deploy(sr, f"oci:{image}:latest")
    sw = ostreepy.switch(sr, f"{other}:stable", transport="oci")
    assert sw.outcome is ostreepy.Outcome.STAGED and sw.image is not None and sw.image.version == "2"
    assert ostreepy.status(sr).spec.image == ostreepy.ImageReference(f"{other}:stable", "oci")
    same = ostreepy.switch(sr, f"{other}:stable", transport="oci")
    assert same.outcome is ostreepy.Outcome.UNCHANGED and not same.changed

    # a plain commit of the sysroot's repository deploys too (ostree admin deploy)
    booted = ostreepy.status(sr).status.booted
    assert booted is not None and booted.ostree is not None
    res = ostreepy.deploy(sr, commit=booted.ostree.checksum, stateroot="default", booted=None)
    assert res.deployment is not None and not res.deployment.staged
    assert admin_status(sr)[0] == ("default", res.deployment.name)


def test_ociclient_porcelain_inspects_and_copies(work: Path) -> None:
    info = ociclient.inspect(f"oci:{EXAMPLE}:v2")
    assert info.manifest_digest == example_digest("v2") and info.labels["org.opencontainers.image.version"] == "2"
    skopeo = json.loads(run("skopeo", "inspect", f"oci:{EXAMPLE}:v2").stdout)
    assert info.layers == tuple(skopeo["Layers"]) and info.digest == skopeo["Digest"]
    assert info.architecture == skopeo["Architecture"] and info.os == skopeo["Os"]
    from ociclient.porcelain import copy
    res = copy(f"oci:{EXAMPLE}:v1", f"oci:{work / 'copy'}:x")
    assert res.digest == example_digest("v1")
    assert json.loads(run("skopeo", "inspect", f"oci:{work / 'copy'}:x").stdout)["Digest"] == res.digest
