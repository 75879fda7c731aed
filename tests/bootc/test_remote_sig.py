"""An ostree remote that vouches for a bootc host's image: deployed from
``ostree-remote-image:REMOTE:...``, the origin keeps that reference, ``bootc
status`` shows ``signature: ostreeRemote`` (JSON, YAML) and the verbose
``Signature: ostree-remote:REMOTE`` row, and an upgrade to an image whose
commit the remote's keys did not sign is refused with the sysroot unchanged."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

import ostreepy
from ostreepy.container.encapsulate import encapsulate
from ostreepy.remote.openpgp import gpg_sign_commit
from ostreepy.store.repo import Repo

from core.gpgkeys import shared_home

from .conftest import EXAMPLE, Host, bootc, ours

pytestmark = pytest.mark.skipif(shutil.which("gpg") is None or shutil.which("ostree") is None,
                                reason="needs gpg and Debian's ostree (apt-get install gnupg ostree)")


def _images(work):
    """v1 re-encapsulated with its commit signed by "ed", v2 unsigned."""
    home = shared_home()
    with Repo.init(str(work / "build"), "archive") as r:
        for tag, sign in (("v1", True), ("v2", False)):
            csum = ostreepy.pull(r, f"oci:{EXAMPLE}:{tag}").merge_commit
            if sign:
                gpg_sign_commit(r, csum, [home.email("ed")], home.path)
            encapsulate(r, csum, f"oci:{work / 'signed'}:{tag}", labels={"containers.bootc": "1"})
    return home


def test_ostree_remote_host(workdir):
    home = _images(workdir)
    host = Host(workdir)
    host.sr.mkdir()
    ours("admin", "init-fs", str(host.sr))
    ours("admin", "os-init", f"--sysroot={host.sr}", "default")
    repo = host.sr / "ostree" / "repo"
    subprocess.run(["ostree", f"--repo={repo}", "remote", "add", "myremote", "file:///nowhere"], check=True)
    subprocess.run(["ostree", f"--repo={repo}", "remote", "gpg-import", "--stdin", "myremote"],
                   input=home.export("ed"), check=True, capture_output=True)
    image = workdir / "signed"
    ours("container", "image", "deploy", f"--sysroot={host.sr}", "--stateroot=default",
         f"--imgref=ostree-remote-image:myremote:oci:{image}:v1")
    origin = next(host.sr.glob("ostree/deploy/default/deploy/*.origin")).read_text()
    assert f"container-image-reference=ostree-remote-image:myremote:oci:{image}:v1\n" in origin
    doc = host.status()
    want = {"image": f"{image}:v1", "transport": "oci", "signature": {"ostreeRemote": "myremote"}}
    assert doc["spec"]["image"] == want and doc["status"]["booted"]["image"]["image"] == want
    yaml = bootc("status", host.sr, "--format=yaml").stdout
    assert "    signature: !ostreeRemote myremote\n" in yaml
    human = bootc("status", host.sr, "--format=humanreadable").stdout
    assert "Signature" not in human
    verbose = bootc("status", host.sr, "--format=humanreadable", "--verbose").stdout.splitlines()
    rows = [line.split(":", 1)[0].strip() for line in verbose[1:]]
    # bootc's verbose order (status.rs human_render_slot)
    assert rows == ["Digest", "Timestamp", "StateRoot", "Deploy serial", "Staged", "Commit", "Signature",
                    "Soft-reboot"], verbose
    assert "     Signature: ostree-remote:myremote" in verbose, verbose
    # v2 is not signed: the upgrade is refused before the sysroot changes
    before = host.state()
    shutil.copy(image / "index.json", workdir / "index.v1")
    index = json.loads((image / "index.json").read_text())
    v2 = next(m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == "v2")
    v1 = next(m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == "v1")
    v1.update({k: v2[k] for k in ("digest", "size")})
    (image / "index.json").write_text(json.dumps(index))
    p = bootc("upgrade", host.sr, check=False)
    assert p.returncode == 1 and "Expected commitmeta object" in p.stderr, p.stderr
    assert host.state() == before
