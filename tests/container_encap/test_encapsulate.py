"""Encapsulation both ways, against skopeo and a real registry."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
from typing import Any, Dict, List, Optional, Tuple

import pytest

import ociclient
from ociclient.manifest import Descriptor

from ostreepy.errors import CorruptObjectError, OstreeError, SignatureError
from ostreepy.progress import LayerDone, LayerStarted, ProgressEvent
from ostreepy.store.objects import ObjectType
from ostreepy.store.repo import Repo
from ostreepy.container.encapsulate import (
    EncapsulationError, encapsulate, import_encapsulated_base, parse_manifest_layout, unencapsulate,
)
from ostreepy.container.refescape import layer_ref_for
from ostreepy.container.tarformat import _Exporter, write_commit_tar

from .conftest import run, skopeo

GZ = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob(layout: str, digest: str) -> bytes:
    with open(os.path.join(layout, "blobs", *digest.split(":")), "rb") as f:
        return f.read()


def inspect(ref: str, *extra: str) -> Dict[str, Any]:
    return json.loads(skopeo("inspect", *extra, ref).stdout)


@pytest.fixture(scope="module")
def image(tmp_path_factory, source) -> Dict[str, Any]:
    d = tmp_path_factory.mktemp("img")
    layout = str(d / "layout")
    with Repo.open(source["repo"]) as r:
        digest = encapsulate(r, "main", f"oci:{layout}:v1", labels={"foo": "bar", "ostree.commit": "x"})
        tar = io.BytesIO()
        write_commit_tar(r, "main", tar)
    return {"layout": layout, "digest": digest, "tar": tar.getvalue()}


def test_encapsulate_oci_layout(tmp_path, source, image):
    layout, digest = image["layout"], image["digest"]
    info = inspect(f"oci:{layout}:v1")
    assert info["Digest"] == digest
    labels = info["Labels"]
    assert labels["containers.bootc"] == "1" and labels["ostree.bootable"] == "true"
    assert labels["org.opencontainers.image.version"] == "1.2"
    assert labels["foo"] == "bar"
    # user labels come after ostree.commit, as in ostree-ext, so they win
    assert labels["ostree.commit"] == "x"
    raw = json.loads(skopeo("inspect", "--raw", f"oci:{layout}:v1").stdout)
    assert raw["annotations"] == labels
    assert [layer["mediaType"] for layer in raw["layers"]] == [GZ]
    cfg = json.loads(skopeo("inspect", "--config", f"oci:{layout}:v1").stdout)
    assert cfg["created"] == "2024-01-01T00:00:00Z"
    assert cfg["config"]["Cmd"] == ["/usr/bin/hello"]
    assert cfg["history"] == [{"created": "2024-01-01T00:00:00Z", "created_by": "Test OS 1.2"}]
    assert cfg["os"] == "linux" and cfg["architecture"]
    # the diffID, checked independently: sha256 of the gunzipped blob, which is the tar stream
    layer = blob(layout, raw["layers"][0]["digest"])
    assert sha(layer) == raw["layers"][0]["digest"]
    plain = gzip.decompress(layer)
    assert plain == image["tar"]
    assert cfg["rootfs"]["diff_ids"] == [sha(plain)] == [labels["ostree.final-diffid"]]


def test_skopeo_copy_and_unencapsulate(tmp_path, source, image):
    copy = str(tmp_path / "copy")
    skopeo("copy", f"oci:{image['layout']}:v1", f"oci:{copy}:v1")
    a, b = inspect(f"oci:{image['layout']}:v1"), inspect(f"oci:{copy}:v1")
    assert a["Digest"] == b["Digest"] and a["Layers"] == b["Layers"]
    dst = str(tmp_path / "repo")
    with Repo.init(dst, "bare") as r:
        events: List[ProgressEvent] = []
        commit = unencapsulate(r, f"ostree-unverified-image:oci:{copy}:v1", write_ref="imported",
                               progress=events.append)
        assert commit == source["main"]
        # as ostree-ext: no blob or image refs, only the one asked for
        assert r.list_refs() == {"imported": commit}
        assert not r.commit_is_partial(commit)
        assert any(isinstance(e, LayerStarted) for e in events) and any(isinstance(e, LayerDone) for e in events)
    assert "no errors found" in run("ostree", "fsck", f"--repo={dst}").stdout


def test_oci_archive_and_cmd(tmp_path, source):
    archive = str(tmp_path / "img.tar")
    with Repo.open(source["repo"]) as r:
        digest = encapsulate(r, source["main"], f"oci-archive:{archive}:t", cmd=["/bin/true", "-x"],
                             compression_fast=True, platform="linux/arm64")
    info = inspect(f"oci-archive:{archive}:t")
    assert info["Digest"] == digest and info["Architecture"] == "arm64"
    cfg = json.loads(skopeo("inspect", "--config", f"oci-archive:{archive}:t").stdout)
    assert cfg["config"]["Cmd"] == ["/bin/true", "-x"]
    assert cfg["config"]["Labels"]["ostree.commit"] == source["main"]
    with Repo.init(str(tmp_path / "r"), "archive") as r:
        assert unencapsulate(r, f"ostree-unverified-image:oci-archive:{archive}:t") == source["main"]


def test_registry_round_trip(tmp_path, source, registry):
    opts = ociclient.Options(tls_verify=False, registries_conf=False)
    with Repo.open(source["repo"]) as r:
        d1 = encapsulate(r, "main", f"docker://{registry.host}/x:v1", options=opts)
        d2 = encapsulate(r, "main", f"registry:{registry.host}/x:v2", options=opts)
    assert d1 == d2
    info = inspect(f"docker://{registry.host}/x:v1", "--tls-verify=false")
    assert info["Digest"] == d1 and info["Labels"]["ostree.commit"] == source["main"]
    with Repo.init(str(tmp_path / "r"), "bare") as r:
        assert unencapsulate(r, f"ostree-unverified-registry:{registry.host}/x:v2", options=opts) == source["main"]


# ------------------------------------------------------------------ hand-built images


def push_image(layout: str, layers: List[Tuple[bytes, str]], labels: Dict[str, str],
               diff_ids: Optional[List[str]] = None) -> Tuple[bytes, Dict[str, Any]]:
    """An image in ``oci:layout:v1`` from (compressed blob, diffID) pairs."""
    descs = [Descriptor(media_type=GZ, digest=sha(b), size=len(b)) for b, _ in layers]
    config = {"architecture": "amd64", "os": "linux", "config": {"Labels": labels},
              "rootfs": {"type": "layers", "diff_ids": diff_ids or [d for _, d in layers]}}
    cfg = json.dumps(config).encode()
    cdesc = Descriptor(media_type="application/vnd.oci.image.config.v1+json", digest=sha(cfg), size=len(cfg))
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": cdesc.to_dict(), "layers": [d.to_dict() for d in descs]}).encode()
    with ociclient.open_destination(f"oci:{layout}:v1") as dest:
        for (b, _), d in zip(layers, descs):
            dest.put_blob(io.BytesIO(b), d)
        dest.put_blob(io.BytesIO(cfg), cdesc)
        dest.put_manifest(manifest, "application/vnd.oci.image.manifest.v1+json", tag="v1")
    return manifest, config


def gz_layer(tar: bytes) -> Tuple[bytes, str]:
    return gzip.compress(tar, mtime=0), sha(tar)


def chunk_tar(repo_path: str, rev: str, n: int) -> Tuple[bytes, List[str]]:
    buf = io.BytesIO()
    with Repo.open(repo_path) as r:
        csum = r.resolve_rev(rev)
        files = sorted(c for c, t in r.traverse_commit(csum) if t == ObjectType.FILE)[:n]
        exp = _Exporter(r, csum, buf, None)
        exp._repo_structure()
        for c in files:
            objpath, h = exp._content(c)
            exp._hardlink(objpath, h.copy(), f"usr/share/chunk-{c[:8]}")
        exp.w.finish()
    return buf.getvalue(), files


def test_import_encapsulated_base_with_chunk(tmp_path, source, image):
    chunk, files = chunk_tar(source["repo"], "main", 25)
    l0, l1 = gz_layer(image["tar"]), gz_layer(chunk)
    layout = str(tmp_path / "chunked")
    manifest, config = push_image(layout, [l0, l1], {"ostree.final-diffid": l1[1], "ostree.commit": source["main"]})
    commit_layer, chunks, derived = parse_manifest_layout(manifest, config)
    assert commit_layer.digest == sha(l0[0]) and [c.digest for c in chunks] == [sha(l1[0])] and derived == []
    with Repo.init(str(tmp_path / "r"), "bare") as r:
        events: List[Any] = []
        with ociclient.open_source(f"oci:{layout}:v1") as src:
            base, n = import_encapsulated_base(r, src, manifest, config, progress=events.append)
        assert (base, n) == (source["main"], 2)
        refs = r.list_refs()
        assert refs[layer_ref_for(sha(l0[0]))] == base
        flat = r.load_commit(refs[layer_ref_for(sha(l1[0]))])
        assert flat.timestamp == 0
        assert [f for f, _ in r.load_dirtree(flat.root_tree).files] == files
        starts = [e.digest for e in events if isinstance(e, LayerStarted)]
        assert starts == [sha(l1[0]), sha(l0[0])]  # chunks first, as ostree-ext
        # a second import finds both blob refs and fetches nothing
        events.clear()
        with ociclient.open_source(f"oci:{layout}:v1") as src:
            assert import_encapsulated_base(r, src, manifest, config, progress=events.append) == (base, 2)
        assert not [e for e in events if isinstance(e, LayerStarted)]
    with Repo.init(str(tmp_path / "u"), "archive") as r:
        assert unencapsulate(r, f"oci:{layout}:v1") == source["main"]


def test_not_encapsulated_and_derived(tmp_path, source, image):
    plain = io.BytesIO()
    import tarfile
    with tarfile.open(fileobj=plain, mode="w") as t:
        ti = tarfile.TarInfo("usr/bin/extra")
        ti.size = 2
        t.addfile(ti, io.BytesIO(b"x\n"))
    l0, lp = gz_layer(image["tar"]), gz_layer(plain.getvalue())
    with Repo.init(str(tmp_path / "r"), "bare") as r:
        push_image(str(tmp_path / "plain"), [lp], {})
        with pytest.raises(EncapsulationError, match="No ostree.final-diffid label found, not an ostree"):
            unencapsulate(r, f"oci:{tmp_path / 'plain'}:v1")
        push_image(str(tmp_path / "derived"), [l0, lp], {"ostree.final-diffid": l0[1]})
        with pytest.raises(EncapsulationError, match="Image has 1 non-ostree layers"):
            unencapsulate(r, f"oci:{tmp_path / 'derived'}:v1")
        assert not r.list_refs()


def test_corrupt_blob(tmp_path, source, image):
    layout = str(tmp_path / "bad")
    shutil.copytree(image["layout"], layout)
    raw = json.loads(skopeo("inspect", "--raw", f"oci:{layout}:v1").stdout)
    path = os.path.join(layout, "blobs", *raw["layers"][0]["digest"].split(":"))
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0x40
    open(path, "wb").write(bytes(data))
    with Repo.init(str(tmp_path / "r"), "bare") as r:
        with pytest.raises(OstreeError):
            unencapsulate(r, f"oci:{layout}:v1", write_ref="x")
        assert not r.list_refs()
        assert not r.has_object(source["main"], ObjectType.COMMIT) or r.commit_is_partial(source["main"])


def test_digest_checked_after_streaming(tmp_path):
    """A blob larger than the read-ahead whose digest is wrong while its content is
    intact (only the gzip header's mtime differs): the objects stream in, the
    mismatch surfaces at EOF, and the commit stays partial with no ref."""
    tree = tmp_path / "tree"
    (tree / "usr").mkdir(parents=True)
    (tree / "usr/random").write_bytes(os.urandom(3 << 20))
    src = str(tmp_path / "src")
    run("ostree", "init", f"--repo={src}", "--mode=archive")
    commit = run("ostree", "commit", f"--repo={src}", "-b", "big", f"--tree=dir={tree}").stdout.strip()
    layout = str(tmp_path / "layout")
    with Repo.open(src) as r:
        encapsulate(r, "big", f"oci:{layout}:v1")
    raw = json.loads(skopeo("inspect", "--raw", f"oci:{layout}:v1").stdout)
    path = os.path.join(layout, "blobs", *raw["layers"][0]["digest"].split(":"))
    data = bytearray(open(path, "rb").read())
    assert len(data) > 2 << 20
    data[4:8] = b"\x01\x02\x03\x04"  # gzip MTIME: ignored by decompression
    open(path, "wb").write(bytes(data))
    with Repo.init(str(tmp_path / "r"), "bare") as r:
        with pytest.raises(CorruptObjectError, match="digest mismatch"):
            unencapsulate(r, f"oci:{layout}:v1", write_ref="x")
        assert not r.list_refs()
        assert r.has_object(commit, ObjectType.COMMIT) and r.commit_is_partial(commit)


def test_wrong_diffid(tmp_path, source, image):
    l0 = gz_layer(image["tar"])
    bogus = sha(b"not the layer")
    layout = str(tmp_path / "img")
    manifest, config = push_image(layout, [l0], {"ostree.final-diffid": bogus}, diff_ids=[bogus])
    with Repo.init(str(tmp_path / "r"), "bare") as r:
        with pytest.raises(CorruptObjectError, match="diffID"):
            with ociclient.open_source(f"oci:{layout}:v1") as src:
                import_encapsulated_base(r, src, manifest, config)
        assert not r.list_refs()  # no blob ref: the layer did not verify
        assert r.commit_is_partial(source["main"])  # objects were each verified, the commit is not complete


def test_unsupported_signature_forms(tmp_path, image):
    with Repo.init(str(tmp_path / "r"), "bare") as r:
        with pytest.raises(EncapsulationError, match="not supported"):
            unencapsulate(r, f"ostree-image-signed:oci:{image['layout']}:v1")
        # an ostree remote's check needs the remote: without its verifier, a refusal, not a pass
        with pytest.raises(SignatureError, match="verification with ostree remote 'origin' needs"):
            unencapsulate(r, f"ostree-remote-image:origin:oci:{image['layout']}:v1")
        assert not r.list_refs() and not list(r.list_objects())
