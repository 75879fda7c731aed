"""Faults injected by a proxy between client and registry."""

from __future__ import annotations

import json
import os
import time

import pytest

from ociclient import copy_image, open_source
from ociclient.auth import Credentials
from ociclient.errors import DigestMismatch, RateLimited
from ociclient.image import Options
from ociclient.manifest import parse_manifest
from ociclient.transport import RetryPolicy
from ocitest_helpers import PASSWORD, USER, FaultProxy, HeaderRecorder, build_layout, skopeo

FAST = RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=0.2)
OPTS = Options(tls_verify=False, registries_conf=False, retry=FAST)


def _layers(ref):
    with open_source(ref, OPTS) as src:
        return parse_manifest(src.get_manifest()[0]).layers


def test_connection_cut_mid_blob_resumes(pushed_image, proxy, tmp_path):
    ref, desc, _ = pushed_image
    pref = "docker://" + ref.replace(ref.split("/")[0], proxy.host)
    big = max(_layers(pref), key=lambda d: d.size)
    proxy.faults.append({"match": big.digest, "method": "GET", "action": "cut", "after": big.size // 3})
    res = copy_image(pref, f"oci:{tmp_path / 'out'}:v1", src_options=OPTS)
    assert res.digest == desc["digest"]
    gets = proxy.requests_matching(big.digest, "GET")
    assert len(gets) == 2
    assert gets[1]["headers"]["Range"] == f"bytes={big.size // 3}-"
    blob = tmp_path / "out" / "blobs" / "sha256" / big.digest.split(":")[1]
    assert blob.stat().st_size == big.size
    # a streaming reader resumes too
    proxy.faults.append({"match": big.digest, "method": "GET", "action": "cut", "after": 1000})
    with open_source(pref, OPTS) as src:
        with src.open_blob(big) as f:
            assert len(f.read()) == big.size


def test_resume_after_restart_from_partial_file(pushed_image, proxy, tmp_path):
    ref, desc, layout = pushed_image
    pref = "docker://" + ref.replace(ref.split("/")[0], proxy.host)
    big = max(_layers(pref), key=lambda d: d.size)
    out = tmp_path / "out"
    # what a killed process leaves behind: the first part of the blob under its digest name
    partial_dir = out / ".ociclient-partial"
    partial_dir.mkdir(parents=True)
    src_blob = open(os.path.join(layout, "blobs/sha256", big.digest.split(":")[1]), "rb").read()
    (partial_dir / f"sha256-{big.digest.split(':')[1]}.partial").write_bytes(src_blob[:12345])
    res = copy_image(pref, f"oci:{out}:v1", src_options=OPTS)
    assert res.digest == desc["digest"]
    gets = proxy.requests_matching(big.digest, "GET")
    assert [g["headers"].get("Range") for g in gets] == ["bytes=12345-"]
    assert not partial_dir.exists()
    assert (out / "blobs/sha256" / big.digest.split(":")[1]).read_bytes() == src_blob


def test_corrupted_byte_is_rejected_and_nothing_left(pushed_image, proxy, tmp_path):
    ref, _, _ = pushed_image
    pref = "docker://" + ref.replace(ref.split("/")[0], proxy.host)
    layer = _layers(pref)[0]
    proxy.faults.append({"match": layer.digest, "method": "GET", "action": "corrupt", "offset": 100})
    out = tmp_path / "out"
    with pytest.raises(DigestMismatch):
        copy_image(pref, f"oci:{out}:v1", src_options=OPTS, max_parallel=1)
    assert not (out / "blobs/sha256" / layer.digest.split(":")[1]).exists()
    partial = out / ".ociclient-partial"
    assert not partial.exists() or os.listdir(partial) == []
    index = json.loads((out / "index.json").read_text())
    assert index["manifests"] == []
    # streaming: the error comes at EOF
    proxy.faults.append({"match": layer.digest, "method": "GET", "action": "corrupt", "offset": 5})
    with open_source(pref, OPTS) as src:
        with pytest.raises(DigestMismatch):
            with src.open_blob(layer) as f:
                f.read()


def test_429_and_503_are_retried_with_retry_after(pushed_image, proxy, tmp_path):
    ref, desc, _ = pushed_image
    pref = "docker://" + ref.replace(ref.split("/")[0], proxy.host)
    proxy.faults.append({"match": "/manifests/", "method": "GET", "action": "status", "code": 429,
                         "headers": {"Retry-After": "1"}})
    proxy.faults.append({"match": "/blobs/", "method": "GET", "action": "status", "code": 503,
                         "error": "UNAVAILABLE", "times": 2})
    t0 = time.monotonic()
    res = copy_image(pref, f"oci:{tmp_path / 'out'}:v1", src_options=OPTS)
    assert time.monotonic() - t0 >= 1.0
    assert res.digest == desc["digest"]
    assert all(f["times"] == 0 for f in proxy.faults)
    # a manifest upload is retried too
    layout = str(tmp_path / "l")
    d = build_layout(layout, seed=41)
    proxy.faults.append({"match": "/manifests/", "method": "PUT", "action": "status", "code": 503,
                         "error": "UNAVAILABLE"})
    res = copy_image(f"oci:{layout}:v1", f"docker://{proxy.host}/faults/put:v1", dst_options=OPTS)
    assert res.digest == d["digest"]
    assert len(proxy.requests_matching("/faults/put/manifests/v1", "PUT")) == 2


def test_persistent_429_raises_rate_limited(pushed_image, proxy):
    ref, _, _ = pushed_image
    pref = "docker://" + ref.replace(ref.split("/")[0], proxy.host)
    proxy.faults.append({"match": "/manifests/", "action": "status", "code": 429, "times": 100})
    with pytest.raises(RateLimited) as e:
        open_source(pref, OPTS).get_raw_manifest()
    assert "TOOMANYREQUESTS" in e.value.codes
    assert len(proxy.requests_matching("/manifests/")) == FAST.max_attempts


def test_redirect_to_other_host_drops_authorization(basic_registry, tmp_path):
    import base64
    layout = str(tmp_path / "l")
    desc = build_layout(layout, seed=42)
    ref = f"{basic_registry.host}/redirect/img:v1"
    skopeo("copy", "--dest-tls-verify=false", "--dest-creds", f"{USER}:{PASSWORD}", f"oci:{layout}:v1",
           f"docker://{ref}")
    basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    other = HeaderRecorder(f"http://{basic_registry.host}", basic)
    proxy = FaultProxy(basic_registry.host)
    try:
        proxy.faults.append({"match": "/blobs/", "method": "GET", "action": "redirect", "to": other.url,
                             "times": 100})
        opts = Options(tls_verify=False, registries_conf=False, retry=FAST, credentials=Credentials(USER, PASSWORD))
        res = copy_image(f"docker://{proxy.host}/redirect/img:v1", f"oci:{tmp_path / 'out'}:v1", src_options=opts)
        assert res.digest == desc["digest"]
        assert len(other.seen) == 3  # config + 2 layers were fetched from the other host
        assert all("Authorization" not in h for h in other.seen)
        # while the registry itself got our credentials
        assert all(r["headers"].get("Authorization") == basic for r in proxy.requests_matching("/blobs/", "GET"))
    finally:
        proxy.stop()
        other.stop()


def test_blob_upload_503_is_retried(plain_registry, proxy, tmp_path):
    layout = str(tmp_path / "l")
    d = build_layout(layout, seed=43)
    proxy.faults.append({"match": "/blobs/uploads/", "method": "PUT", "action": "status", "code": 503,
                         "error": "UNAVAILABLE"})
    res = copy_image(f"oci:{layout}:v1", f"docker://{proxy.host}/faults/upload:v1", dst_options=OPTS,
                     max_parallel=1)
    assert res.digest == d["digest"]
    assert proxy.faults[0]["times"] == 0
    out = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{plain_registry.host}/faults/upload:v1").stdout)
    assert out["Digest"] == d["digest"]


def test_killed_process_resumes_from_its_partial_file(pushed_image, proxy, tmp_path):
    import signal
    import subprocess
    import sys
    ref, desc, layout = pushed_image
    pref = "docker://" + ref.replace(ref.split("/")[0], proxy.host)
    big = max(_layers(pref), key=lambda d: d.size)
    hexd = big.digest.split(":")[1]
    proxy.faults.append({"match": big.digest, "method": "GET", "action": "slow", "step": 8192, "delay": 0.1})
    out = tmp_path / "out"
    part = out / ".ociclient-partial" / f"sha256-{hexd}.partial"
    p = subprocess.Popen([sys.executable, "-m", "ociclient.cli", "copy", "-q", "--src-tls-verify=false",
                          "--parallel", "1", pref, f"oci:{out}:v1"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if part.exists() and part.stat().st_size >= 3 * 8192:
                break
            time.sleep(0.02)
        p.send_signal(signal.SIGKILL)
    finally:
        p.wait()
    have = part.stat().st_size
    assert 0 < have < big.size
    proxy.faults.clear()
    res = copy_image(pref, f"oci:{out}:v1", src_options=OPTS)
    assert res.digest == desc["digest"]
    assert proxy.requests_matching(big.digest, "GET")[-1]["headers"]["Range"] == f"bytes={have}-"
    data = (out / "blobs/sha256" / hexd).read_bytes()
    assert len(data) == big.size and not part.exists()
