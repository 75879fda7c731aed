"""Pulling from a real registry (what skopeo pushed we read with identical digests)."""

from __future__ import annotations

import json
import os

import pytest

from ociclient import copy_image, open_source
from ociclient.errors import DigestMismatch, NotFound
from ociclient.image import Options
from ociclient.manifest import Descriptor, Platform, parse_manifest
from ocitest_helpers import build_multiarch_layout, sha256, skopeo

NOVERIFY = Options(tls_verify=False, registries_conf=False)


def test_get_manifest_config_and_blobs(pushed_image):
    ref, desc, layout = pushed_image
    with open_source(f"docker://{ref}", NOVERIFY) as src:
        data, mtype, digest = src.get_manifest()
        assert digest == desc["digest"]
        assert mtype == "application/vnd.oci.image.manifest.v1+json"
        m = parse_manifest(data, mtype)
        cfg = json.loads(src.get_config(m))
        assert cfg["config"]["Labels"] == {"seed": "3"}
        for layer in m.layers:
            with src.open_blob(layer) as f:
                body = f.read()
            assert sha256(body) == layer.digest


def test_pull_to_layout_matches_skopeo(pushed_image, tmp_path):
    ref, desc, _ = pushed_image
    ours = tmp_path / "ours"
    res = copy_image(f"docker://{ref}", f"oci:{ours}:v1", src_options=NOVERIFY)
    assert res.digest == desc["digest"]
    theirs = tmp_path / "theirs"
    skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{theirs}:v1")
    ours_blobs = sorted(os.listdir(ours / "blobs" / "sha256"))
    assert ours_blobs == sorted(os.listdir(theirs / "blobs" / "sha256"))
    idx = json.loads((ours / "index.json").read_text())
    assert idx["manifests"][0]["digest"] == desc["digest"]
    assert idx["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "v1"
    assert not (ours / ".ociclient-partial").exists()
    # skopeo reads our layout
    out = json.loads(skopeo("inspect", f"oci:{ours}:v1").stdout)
    assert out["Digest"] == desc["digest"]


def test_manifest_by_digest_and_not_found(pushed_image, plain_registry):
    ref, desc, _ = pushed_image
    repo = ref.rsplit(":", 1)[0]
    with open_source(f"docker://{repo}@{desc['digest']}", NOVERIFY) as src:
        assert src.get_raw_manifest()[2] == desc["digest"]
    with pytest.raises(NotFound) as e:
        open_source(f"docker://{repo}:nosuchtag", NOVERIFY).get_raw_manifest()
    assert "MANIFEST_UNKNOWN" in e.value.codes


def test_open_blob_detects_wrong_digest(pushed_image):
    ref, desc, _ = pushed_image
    with open_source(f"docker://{ref}", NOVERIFY) as src:
        m = parse_manifest(src.get_manifest()[0])
        layer = m.layers[0]
        # a descriptor that lies about the digest of real content: mismatch at EOF
        liar = Descriptor(layer.media_type, m.layers[1].digest, layer.size)
        with pytest.raises((DigestMismatch, NotFound)):
            with src.open_blob(liar) as f:
                while f.read(65536):
                    pass
        # a size that is too small: refused as soon as more arrives
        short = Descriptor(layer.media_type, layer.digest, layer.size - 10)
        with pytest.raises(DigestMismatch):
            with src.open_blob(short) as f:
                while f.read(65536):
                    pass


def test_multiarch_index_platform_selection(plain_registry, tmp_path):
    layout = str(tmp_path / "multi")
    descs = build_multiarch_layout(layout)
    ref = f"{plain_registry.host}/pull/multi:latest"
    skopeo("copy", "--multi-arch", "all", "--dest-tls-verify=false", f"oci:{layout}:multi", f"docker://{ref}")
    with open_source(f"docker://{ref}", NOVERIFY) as src:
        raw, mtype, digest = src.get_raw_manifest()
        assert digest == descs["index"]["digest"]
        assert mtype == "application/vnd.oci.image.index.v1+json"
        _, _, d = src.get_manifest(Platform(os="linux", architecture="arm64"))
        assert d == descs["arm64"]["digest"]
        _, _, d = src.get_manifest(Platform(os="linux", architecture="amd64"))
        assert d == descs["amd64"]["digest"]
        with pytest.raises(NotFound):
            src.get_manifest(Platform(os="linux", architecture="s390x"))
    # copy all keeps the index digest; skopeo agrees
    out = tmp_path / "all"
    res = copy_image(f"docker://{ref}", f"oci:{out}:m", multi_arch="all", src_options=NOVERIFY)
    assert res.digest == descs["index"]["digest"]
    sk = json.loads(skopeo("inspect", "--raw", f"oci:{out}:m").stdout)
    assert len(sk["manifests"]) == 2
    # system picks the host platform (amd64 here)
    one = tmp_path / "one"
    res = copy_image(f"docker://{ref}", f"oci:{one}:m", src_options=NOVERIFY,
                     platform=Platform(os="linux", architecture="arm64"))
    assert res.digest == descs["arm64"]["digest"]
