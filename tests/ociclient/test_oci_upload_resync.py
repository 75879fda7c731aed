"""Chunked uploads re-synchronise on HTTP 416 (distribution spec: ask ``GET <location>`` for
the ``Range`` and go on from there), against a real registry behind the fault proxy."""

from __future__ import annotations

import io
import json
import os

import pytest

from ociclient import copy_image
from ociclient.docker import make_client
from ociclient.errors import UploadError
from ociclient.image import Options
from ociclient.manifest import Descriptor
from ociclient.progress import BlobProgress
from ociclient.reference import parse_docker_reference
from ociclient.transport import RetryPolicy
from ocitest_helpers import build_layout, sha256, skopeo

FAST = RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=0.2)
CHUNK = 16384


def _opts(**kw) -> Options:
    return Options(tls_verify=False, registries_conf=False, retry=FAST, chunk_size=CHUNK, **kw)


def _check_with_skopeo(registry_host: str, ref: str, desc, tmp_path) -> None:
    out = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{registry_host}/{ref}").stdout)
    assert out["Digest"] == desc["digest"]
    tmp_path.mkdir(parents=True, exist_ok=True)
    dest = tmp_path / "back"
    skopeo("copy", "--src-tls-verify=false", f"docker://{registry_host}/{ref}", f"oci:{dest}:v1")
    index = json.loads((dest / "index.json").read_text())
    assert index["manifests"][0]["digest"] == desc["digest"]
    manifest = json.loads((dest / "blobs/sha256" / desc["digest"].split(":")[1]).read_bytes())
    for layer in manifest["layers"]:  # skopeo verified them; they are what we built
        assert sha256((dest / "blobs/sha256" / layer["digest"].split(":")[1]).read_bytes()) == layer["digest"]


def _layout(tmp_path, seed: int):
    layout = str(tmp_path / "l")
    desc = build_layout(layout, seed=seed, layers=2, layer_size=200000)
    manifest = json.loads(open(os.path.join(layout, "blobs/sha256", desc["digest"].split(":")[1])).read())
    assert min(layer["size"] for layer in manifest["layers"]) > 4 * CHUNK  # several chunks each
    return layout, desc, manifest


def _lose_chunk(proxy, start: int) -> None:
    """The chunk at ``start`` is acknowledged but never reaches the registry; the next one
    is refused with 416."""
    proxy.faults.append({"match": "/blobs/uploads/", "method": "PATCH", "action": "swallow",
                         "range_start": start})
    proxy.faults.append({"match": "/blobs/uploads/", "method": "PATCH", "action": "status", "code": 416,
                         "error": "RANGE_INVALID", "range_start": start + CHUNK})


def _patch_ranges(proxy):
    return [r["headers"].get("Content-Range") for r in proxy.requests_matching("/blobs/uploads/", "PATCH")]


def test_416_for_a_chunk_resends_it_from_memory(plain_registry, proxy, tmp_path):
    layout, desc, manifest = _layout(tmp_path, 81)
    # the registry never sees this PATCH: it keeps the first two chunks, the proxy answers 416
    proxy.faults.append({"match": "/blobs/uploads/", "method": "PATCH", "action": "status", "code": 416,
                         "error": "RANGE_INVALID", "range_start": 2 * CHUNK})
    events = []
    res = copy_image(f"oci:{layout}:v1", f"docker://{proxy.host}/resync/mem:v1", dst_options=_opts(),
                     max_parallel=1, progress=events.append)
    assert res.digest == desc["digest"]
    assert proxy.faults[0]["times"] == 0
    ranges = _patch_ranges(proxy)
    n = len(manifest["layers"])  # each layer sends this range once, one of them twice
    assert ranges.count(f"{2 * CHUNK}-{3 * CHUNK - 1}") == n + 1  # refused once, sent again
    assert len(proxy.requests_matching("/blobs/uploads/", "GET")) == 1  # the status query
    last = [e for e in events if isinstance(e, BlobProgress)][-1]
    assert last.overall_done == last.overall_total  # nothing counted twice
    _check_with_skopeo(plain_registry.host, "resync/mem:v1", desc, tmp_path)


def test_lost_chunk_the_registry_416_rereads_the_source(plain_registry, proxy, tmp_path):
    layout, desc, manifest = _layout(tmp_path, 82)
    # the proxy acknowledges the second chunk without passing it on (a lost chunk) and answers
    # the third with 416, as a registry that checks Content-Range does (distribution 2.8
    # does not check it); the registry's real Range is 0-16383: the source is read again
    _lose_chunk(proxy, CHUNK)
    events = []
    res = copy_image(f"oci:{layout}:v1", f"docker://{proxy.host}/resync/lost:v1", dst_options=_opts(),
                     max_parallel=1, progress=events.append)
    assert res.digest == desc["digest"]
    assert all(f.get("times", 1) == 0 for f in proxy.faults)
    ranges = _patch_ranges(proxy)
    n = len(manifest["layers"])
    assert ranges.count(f"{CHUNK}-{2 * CHUNK - 1}") == n + 1  # swallowed, then sent again
    assert ranges.count(f"{2 * CHUNK}-{3 * CHUNK - 1}") == n + 1  # the one the registry refused
    last = [e for e in events if isinstance(e, BlobProgress)][-1]
    assert last.overall_done == last.overall_total
    _check_with_skopeo(plain_registry.host, "resync/lost:v1", desc, tmp_path)
    # the same from a registry source (another host, so no mount: the blob is fetched again)
    _lose_chunk(proxy, 3 * CHUNK)
    res = copy_image(f"docker://{plain_registry.host}/resync/lost:v1", f"docker://{proxy.host}/resync/lost2:v1",
                     src_options=_opts(), dst_options=_opts(), max_parallel=1)
    assert res.digest == desc["digest"]
    assert all(f.get("times", 1) == 0 for f in proxy.faults)
    _check_with_skopeo(plain_registry.host, "resync/lost2:v1", desc, tmp_path / "2")


class _OneWay(io.RawIOBase):
    """A stream that cannot seek."""

    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = self._f.readinto(b)
        return n


def test_seekable_stream_rewinds_and_one_way_stream_fails_clearly(plain_registry, proxy, tmp_path):
    data = os.urandom(5 * CHUNK + 123)
    desc = Descriptor("application/octet-stream", sha256(data), len(data))
    client = make_client(parse_docker_reference(f"{proxy.host}/resync/raw:v1"), _opts())
    try:
        # the very first chunk is lost: the registry's Range is "0-0" (0 or 1 byte); seek to 0
        _lose_chunk(proxy, 0)
        assert client.upload_blob("resync/raw", io.BytesIO(data), desc, chunk_size=CHUNK) == desc.digest
        assert client.blob_exists("resync/raw", desc.digest) == len(data)
        assert _patch_ranges(proxy).count(f"0-{CHUNK - 1}") == 2
        # a stream that cannot go back and nothing to reopen: a clear UploadError
        data2 = os.urandom(4 * CHUNK)
        desc2 = Descriptor("application/octet-stream", sha256(data2), len(data2))
        _lose_chunk(proxy, CHUNK)
        with pytest.raises(UploadError, match="cannot be rewound"):
            client.upload_blob("resync/raw", io.BufferedReader(_OneWay(data2)), desc2, chunk_size=CHUNK)
        assert client.blob_exists("resync/raw", desc2.digest) is None
        # ... with reopen it goes through
        _lose_chunk(proxy, CHUNK)
        reopened = []

        def reopen(offset: int):
            reopened.append(offset)
            f = io.BufferedReader(_OneWay(data2))
            f.read(offset)
            return f

        client.upload_blob("resync/raw", io.BufferedReader(_OneWay(data2)), desc2, chunk_size=CHUNK,
                           reopen=reopen)
        assert reopened == [CHUNK]
        assert client.blob_exists("resync/raw", desc2.digest) == len(data2)
        # the session is gone when asked (404): with reopen the upload starts again
        proxy.faults.append({"match": "/blobs/uploads/", "method": "PATCH", "action": "status", "code": 416,
                             "error": "RANGE_INVALID", "range_start": 2 * CHUNK})
        proxy.faults.append({"match": "/blobs/uploads/", "method": "GET", "action": "status", "code": 404,
                             "error": "BLOB_UPLOAD_UNKNOWN"})
        data3 = os.urandom(3 * CHUNK + 5)
        desc3 = Descriptor("application/octet-stream", sha256(data3), len(data3))
        reopened.clear()
        posts = len(proxy.requests_matching("/resync/raw/blobs/uploads/", "POST"))
        client.upload_blob("resync/raw", io.BufferedReader(_OneWay(data3)), desc3, chunk_size=CHUNK,
                           reopen=lambda off: (reopened.append(off), io.BufferedReader(_OneWay(data3)))[1])
        assert reopened == [0]
        assert len(proxy.requests_matching("/resync/raw/blobs/uploads/", "POST")) == posts + 2
        assert client.blob_exists("resync/raw", desc3.digest) == len(data3)
        # a registry that keeps refusing: give up after a few re-synchronisations
        proxy.faults.append({"match": "/blobs/uploads/", "method": "PATCH", "action": "status", "code": 416,
                             "error": "RANGE_INVALID", "times": 100})
        with pytest.raises(UploadError, match="kept refusing"):
            client.upload_blob("resync/raw", io.BytesIO(data2), desc2, chunk_size=CHUNK)
        proxy.faults.clear()
    finally:
        client.close()
