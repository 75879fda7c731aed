"""Image configs of the wrong shape (issue 14, item 7, as ostreepy meets them):
``container image pull`` refuses them with ``error: ...`` before any layer is
fetched, and nothing is written to the repository's refs."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ostreepy

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bootable-image"


def _with_config(tmp_path: Path, mutate) -> Path:
    root = tmp_path / "layout"
    shutil.copytree(EXAMPLE, root)

    def put(data: bytes):
        d = hashlib.sha256(data).hexdigest()
        (root / "blobs/sha256" / d).write_bytes(data)
        return "sha256:" + d, len(data)

    idx = json.loads((root / "index.json").read_text())
    m = [x for x in idx["manifests"] if x["annotations"]["org.opencontainers.image.ref.name"] == "v1"][0]
    man = json.loads((root / "blobs/sha256" / m["digest"][7:]).read_bytes())
    cfg = json.loads((root / "blobs/sha256" / man["config"]["digest"][7:]).read_bytes())
    new = mutate(cfg)
    man["config"]["digest"], man["config"]["size"] = put(new if isinstance(new, bytes) else json.dumps(new).encode())
    m["digest"], m["size"] = put(json.dumps(man).encode())
    (root / "index.json").write_text(json.dumps(idx))
    return root


def _labels_list(c):
    c["config"]["Labels"] = ["a"]
    return c


def _diff_ids_str(c):
    c["rootfs"]["diff_ids"] = "sha256:x"
    return c


def _deep(c):
    # nested far past what a recursive JSON reader survives
    return json.dumps(c)[:-1].encode() + b', "history": ' + b"[" * 100000 + b"]" * 100000 + b"}"


@pytest.mark.parametrize("mutate,message", [
    (lambda c: [], "image config is not a JSON object"),
    (lambda c: {"rootfs": "x"}, "rootfs: expected an object"),
    (_labels_list, "config.Labels: expected an object"),
    (_diff_ids_str, "rootfs.diff_ids: expected an array"),
    (_deep, "nested"),
], ids=["list", "rootfs-str", "labels-list", "diff-ids-str", "deep"])
def test_hostile_config_is_refused(tmp_path, mutate, message):
    layout = _with_config(tmp_path, mutate)
    repo = tmp_path / "repo"
    py = [sys.executable, "-m", "ostreepy"]
    subprocess.run(py + [f"--repo={repo}", "init", "--mode=bare-user"], check=True)
    p = subprocess.run(py + ["container", "image", "pull", str(repo), f"ostree-unverified-image:oci:{layout}:v1"],
                       capture_output=True, text=True)
    assert p.returncode == 1, p.stderr
    assert p.stderr.startswith("error: ") and message in p.stderr and "Traceback" not in p.stderr
    assert subprocess.run(["ostree", f"--repo={repo}", "refs"], capture_output=True, text=True,
                          check=True).stdout == ""
    # through the library: an OstreeError
    with pytest.raises(ostreepy.OstreeError, match="image config"):
        ostreepy.pull(repo, f"oci:{layout}:v1")
