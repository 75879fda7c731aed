"""Pushing: what we push skopeo reads and copies back with identical digests."""

from __future__ import annotations

import json
import os

import pytest

from ociclient import copy_image, open_destination
from ociclient.errors import ManifestTooLarge
from ociclient.image import Options
from ociclient.manifest import Descriptor, parse_manifest
from ociclient.registry import RegistryClient
from ociclient.transport import Transport
from ocitest_helpers import build_layout, build_multiarch_layout, compress, make_layer_tar, sha256, skopeo

NOVERIFY = Options(tls_verify=False, registries_conf=False)


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_push_skopeo_roundtrip(plain_registry, tmp_path, compression):
    layout = str(tmp_path / "src")
    desc = build_layout(layout, seed=31 if compression == "gzip" else 32, compression=compression)
    ref = f"docker://{plain_registry.host}/push/{compression}:v1"
    res = copy_image(f"oci:{layout}:v1", ref, dst_options=NOVERIFY)
    assert res.digest == desc["digest"]
    raw = skopeo("inspect", "--raw", "--tls-verify=false", ref).stdout
    assert sha256(raw.encode()) == desc["digest"]
    back = tmp_path / "back"
    skopeo("copy", "--src-tls-verify=false", ref, f"oci:{back}:v1")
    assert json.loads((back / "index.json").read_text())["manifests"][0]["digest"] == desc["digest"]
    assert sorted(os.listdir(back / "blobs/sha256")) == sorted(os.listdir(os.path.join(layout, "blobs/sha256")))


def test_pull_what_skopeo_pushed_zstd_and_v2s2(plain_registry, tmp_path):
    layout = str(tmp_path / "src")
    build_layout(layout, seed=33)
    zlayout = tmp_path / "z"
    skopeo("copy", "--dest-compress", "--dest-compress-format", "zstd", f"oci:{layout}:v1", f"oci:{zlayout}:v1")
    zref = f"docker://{plain_registry.host}/skopeo/zstd:v1"
    skopeo("copy", "--dest-tls-verify=false", f"oci:{zlayout}:v1", zref)
    v2ref = f"docker://{plain_registry.host}/skopeo/v2s2:v1"
    skopeo("copy", "--format", "v2s2", "--dest-tls-verify=false", f"oci:{layout}:v1", v2ref)
    for ref, mtype, layer_type in (
        (zref, "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.layer.v1.tar+zstd"),
        (v2ref, "application/vnd.docker.distribution.manifest.v2+json",
         "application/vnd.docker.image.rootfs.diff.tar.gzip"),
    ):
        sk_digest = json.loads(skopeo("inspect", "--tls-verify=false", ref).stdout)["Digest"]
        out = tmp_path / ("o" + str(abs(hash(ref))))
        res = copy_image(ref, f"oci:{out}:v1", src_options=NOVERIFY)
        assert res.digest == sk_digest
        assert res.media_type == mtype
        m = parse_manifest(res.manifest)
        assert all(layer.media_type == layer_type for layer in m.layers)
        entry = json.loads((out / "index.json").read_text())["manifests"][0]
        assert entry["mediaType"] == mtype
        if mtype.startswith("application/vnd.oci"):
            # skopeo reads the layout we wrote (it only looks at OCI media types in index.json;
            # we keep Docker manifests unconverted so their digests stay the same)
            assert json.loads(skopeo("inspect", f"oci:{out}:v1").stdout)["Digest"] == sk_digest


def test_push_multiarch_index(plain_registry, tmp_path):
    layout = str(tmp_path / "m")
    descs = build_multiarch_layout(layout)
    ref = f"docker://{plain_registry.host}/push/multi:latest"
    res = copy_image(f"oci:{layout}:multi", ref, multi_arch="all", dst_options=NOVERIFY)
    assert res.digest == descs["index"]["digest"]
    sk = json.loads(skopeo("inspect", "--tls-verify=false", "--override-arch", "arm64", ref).stdout)
    assert sk["Digest"] == descs["index"]["digest"] or sk["Architecture"] == "arm64"
    assert sk["Architecture"] == "arm64"
    back = tmp_path / "back"
    skopeo("copy", "--multi-arch", "all", "--src-tls-verify=false", ref, f"oci:{back}:m")
    assert json.loads((back / "index.json").read_text())["manifests"][0]["digest"] == descs["index"]["digest"]


def test_chunked_upload_and_cross_repo_mount(plain_registry, tmp_path):
    layout = str(tmp_path / "src")
    desc = build_layout(layout, seed=34, layer_size=200000)
    ref = f"docker://{plain_registry.host}/push/chunked:v1"
    res = copy_image(f"oci:{layout}:v1", ref,
                     dst_options=Options(tls_verify=False, registries_conf=False, chunk_size=65536))
    assert res.digest == desc["digest"]
    assert json.loads(skopeo("inspect", "--tls-verify=false", ref).stdout)["Digest"] == desc["digest"]
    events = []
    res2 = copy_image(ref, f"docker://{plain_registry.host}/push/mounted:v1", src_options=NOVERIFY,
                      dst_options=NOVERIFY, progress=events.append)
    assert res2.blobs_copied == 0 and res2.blobs_skipped == 3
    from ociclient.progress import BlobSkipped
    assert {e.reason for e in events if isinstance(e, BlobSkipped)} == {"mounted"}


def test_destination_api_put_blob_manifest(plain_registry, tmp_path):
    tar = make_layer_tar(35)
    blob, mtype = compress(tar, "gzip")
    cfg = json.dumps({"architecture": "amd64", "os": "linux",
                      "rootfs": {"type": "layers", "diff_ids": [sha256(tar)]}}).encode()
    import io
    with open_destination(f"docker://{plain_registry.host}/push/api:v2", NOVERIFY) as dst:
        ldesc = Descriptor(mtype, sha256(blob), len(blob))
        cdesc = Descriptor("application/vnd.oci.image.config.v1+json", sha256(cfg), len(cfg))
        assert not dst.has_blob(ldesc.digest)
        dst.put_blob(io.BytesIO(blob), ldesc)
        dst.put_blob(io.BytesIO(cfg), cdesc)
        assert dst.has_blob(ldesc.digest)
        man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "config": cdesc.to_dict(), "layers": [ldesc.to_dict()]}).encode()
        assert dst.put_manifest(man, "application/vnd.oci.image.manifest.v1+json", dst.tag) == sha256(man)
    out = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{plain_registry.host}/push/api:v2").stdout)
    assert out["Digest"] == sha256(man)


def test_manifest_size_limit(plain_registry):
    client = RegistryClient(Transport(plain_registry.host, insecure=True))
    big = b"{" + b" " * (4 * 1024 * 1024) + b"}"
    with pytest.raises(ManifestTooLarge):
        client.put_manifest("push/big", "v1", big, "application/vnd.oci.image.manifest.v1+json")


def test_tags_list_pagination_and_delete(plain_registry, proxy, tmp_path):
    layout = str(tmp_path / "src")
    desc = build_layout(layout, seed=36)
    repo = f"{plain_registry.host}/push/tags"
    for t in ("a", "b", "c", "d", "e"):
        copy_image(f"oci:{layout}:v1", f"docker://{repo}:{t}", dst_options=NOVERIFY)
    proxy.paginate_tags = True
    client = RegistryClient(Transport(proxy.host, insecure=True))
    assert client.list_tags("push/tags", page_size=2) == ["a", "b", "c", "d", "e"]
    assert len(proxy.requests_matching("/tags/list", "GET")) == 3  # pages of 2, 2, 1
    client = RegistryClient(Transport(plain_registry.host, insecure=True))
    client.delete_manifest("push/tags", desc["digest"])
    from ociclient.errors import NotFound
    with pytest.raises(NotFound):
        client.get_manifest("push/tags", "a")
