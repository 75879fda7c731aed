"""Layouts, archives, dir:, referrers, progress and parallel transfers."""

from __future__ import annotations

import io
import json
import os
import tarfile
import threading

import pytest

from ociclient import copy_image, open_destination, open_source
from ociclient.errors import NotFound
from ociclient.image import Options
from ociclient.manifest import Descriptor, parse_manifest
from ociclient.progress import BlobDone, BlobProgress, BlobStarted, ManifestWritten, TransferDone
from ociclient.registry import RegistryClient
from ociclient.transport import Transport
from ocitest_helpers import build_layout, build_multiarch_layout, sha256, skopeo

NOVERIFY = Options(tls_verify=False, registries_conf=False)


def test_oci_archive_both_ways_with_skopeo(tmp_path):
    layout = str(tmp_path / "l")
    desc = build_layout(layout, seed=71)
    ours = tmp_path / "ours.tar"
    res = copy_image(f"oci:{layout}:v1", f"oci-archive:{ours}:v1")
    assert res.digest == desc["digest"]
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".oci-archive")]
    with tarfile.open(ours) as tf:
        names = tf.getnames()
    assert "oci-layout" in names and "index.json" in names
    assert json.loads(skopeo("inspect", f"oci-archive:{ours}:v1").stdout)["Digest"] == desc["digest"]
    theirs = tmp_path / "theirs.tar"
    skopeo("copy", f"oci:{layout}:v1", f"oci-archive:{theirs}:t")
    with open_source(f"oci-archive:{theirs}:t") as src:
        data, mtype, digest = src.get_manifest()
        assert digest == desc["digest"]
        m = parse_manifest(data, mtype)
        for layer in m.layers:
            with src.open_blob(layer) as f:
                assert sha256(f.read()) == layer.digest
    back = tmp_path / "back"
    assert copy_image(f"oci-archive:{theirs}:t", f"oci:{back}:x").digest == desc["digest"]


def test_skopeo_layout_read_and_untagged(tmp_path):
    layout = str(tmp_path / "l")
    desc = build_layout(layout, seed=72)
    theirs = tmp_path / "theirs"
    skopeo("copy", f"oci:{layout}:v1", f"oci:{theirs}:t1")
    skopeo("copy", f"oci:{layout}:v1", f"oci:{theirs}:t2")
    with open_source(f"oci:{theirs}:t2") as src:
        assert src.get_manifest()[2] == desc["digest"]
    with pytest.raises(NotFound):
        open_source(f"oci:{theirs}")  # two images, no tag
    with pytest.raises(NotFound):
        open_source(f"oci:{theirs}:nope")
    # untagged write: one entry without ref.name; retagging replaces
    out = tmp_path / "out"
    copy_image(f"oci:{layout}:v1", f"oci:{out}")
    copy_image(f"oci:{layout}:v1", f"oci:{out}:a")
    copy_image(f"oci:{theirs}:t1", f"oci:{out}:a")
    entries = json.loads((out / "index.json").read_text())["manifests"]
    assert len(entries) == 2
    assert json.loads(skopeo("inspect", f"oci:{out}:a").stdout)["Digest"] == desc["digest"]


def test_dir_transport_multiarch_matches_skopeo(tmp_path):
    layout = str(tmp_path / "m")
    descs = build_multiarch_layout(layout)
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    copy_image(f"oci:{layout}:multi", f"dir:{ours}", multi_arch="all")
    skopeo("copy", "--multi-arch", "all", f"oci:{layout}:multi", f"dir:{theirs}")
    assert sorted(os.listdir(ours)) == sorted(n for n in os.listdir(theirs) if not n.startswith("signature"))
    assert (ours / "manifest.json").read_bytes() == (theirs / "manifest.json").read_bytes()
    with open_source(f"dir:{theirs}") as src:
        from ociclient.manifest import Platform
        assert src.get_manifest(Platform("linux", "arm64"))[2] == descs["arm64"]["digest"]
    back = tmp_path / "back"
    skopeo("copy", "--multi-arch", "all", f"dir:{ours}", f"oci:{back}:b")
    assert json.loads((back / "index.json").read_text())["manifests"][0]["digest"] == descs["index"]["digest"]


def test_referrers_tag_fallback(plain_registry, tmp_path):
    layout = str(tmp_path / "l")
    desc = build_layout(layout, seed=73)
    repo = "refs/img"
    copy_image(f"oci:{layout}:v1", f"docker://{plain_registry.host}/{repo}:v1", dst_options=NOVERIFY)
    empty = b"{}"
    art = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.sbom",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(empty), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(empty), "size": 2}],
        "subject": {"mediaType": desc["mediaType"], "digest": desc["digest"], "size": desc["size"]},
        "annotations": {"org.example": "yes"},
    }).encode()
    with open_destination(f"docker://{plain_registry.host}/{repo}:v1", NOVERIFY) as dst:
        dst.put_blob(io.BytesIO(empty), Descriptor("application/vnd.oci.empty.v1+json", sha256(empty), 2))
        dst.put_instance_manifest(art, "application/vnd.oci.image.manifest.v1+json")
    client = RegistryClient(Transport(plain_registry.host, insecure=True))
    idx = client.referrers(repo, desc["digest"])
    assert [d.digest for d in idx.manifests] == [sha256(art)]
    assert idx.manifests[0].artifact_type == "application/vnd.example.sbom"
    assert client.referrers(repo, desc["digest"], "application/other").manifests == ()
    assert "sha256-" + desc["digest"].split(":")[1] in client.list_tags(repo)
    assert client.referrers(repo, sha256(b"nothing")).manifests == ()


def test_progress_events_and_parallel_fetch(plain_registry, proxy, tmp_path):
    layout = str(tmp_path / "l")
    desc = build_layout(layout, seed=74, layers=8, layer_size=100000)
    ref = f"{plain_registry.host}/par/img:v1"
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:v1", f"docker://{ref}")
    active, peak = [0], [0]
    lock = threading.Lock()
    events = []
    orig = proxy.httpd.RequestHandlerClass._handle

    def tracking(self):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            import time
            if "/blobs/" in self.path:
                time.sleep(0.2)
            orig(self)
        finally:
            with lock:
                active[0] -= 1

    proxy.httpd.RequestHandlerClass.do_GET = tracking
    res = copy_image(f"docker://{proxy.host}/par/img:v1", f"oci:{tmp_path / 'out'}:v1", src_options=NOVERIFY,
                     progress=events.append)
    assert res.digest == desc["digest"]
    assert 2 <= peak[0] <= 6
    started = [e for e in events if isinstance(e, BlobStarted)]
    done = [e for e in events if isinstance(e, BlobDone)]
    assert len(started) == len(done) == 9
    last = [e for e in events if isinstance(e, BlobProgress)][-1]
    total = sum(os.path.getsize(os.path.join(layout, "blobs/sha256", e.digest.split(":")[1])) for e in done)
    assert last.overall_total == total
    fin = [e for e in events if isinstance(e, TransferDone)]
    assert fin and fin[0].overall_done == total
    assert isinstance(events[-2], ManifestWritten)
