"""Pure protocol logic: references, challenges, digests, manifests, platforms, retries."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, strategies as st

from ociclient.challenge import merge_scopes, parse_challenges
from ociclient.digest import VerifyingReader, digest_bytes, parse_digest
from ociclient.errors import (
    DigestInvalid, DigestMismatch, ManifestInvalid, ManifestTooLarge, NotFound, ReferenceInvalid,
    SizeMismatch, UnsupportedMediaType, error_class_for, RateLimited, Denied,
)
from ociclient.manifest import (
    ImageIndex, Platform, choose_platform, parse_manifest, parse_platform,
)
from ociclient.reference import (
    DirReference, DockerReference, OciArchiveReference, OciLayoutReference, parse_reference,
)
from ociclient.registry import parse_link_next
from ociclient.transport import RetryPolicy, parse_retry_after

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize("s,expected", [
    ("alpine", DockerReference("docker.io", "library/alpine", "latest")),
    ("docker://alpine:3.19", DockerReference("docker.io", "library/alpine", "3.19")),
    ("docker://index.docker.io/user/app", DockerReference("docker.io", "user/app", "latest")),
    ("quay.io/a/b/c:t", DockerReference("quay.io", "a/b/c", "t")),
    ("localhost/app", DockerReference("localhost", "app", "latest")),
    ("localhost:5000/app@" + D, DockerReference("localhost:5000", "app", None, D)),
    ("docker://reg:5000/app:t@" + D, DockerReference("reg:5000", "app", "t", D)),
    ("[::1]:5000/app:t", DockerReference("[::1]:5000", "app", "t")),
    ("oci:/tmp/x", OciLayoutReference("/tmp/x", None)),
    ("oci:/tmp/x:v1", OciLayoutReference("/tmp/x", "v1")),
    ("oci:rel/dir:my/tag", OciLayoutReference("rel/dir", "my/tag")),
    ("oci-archive:/tmp/a.tar:v", OciArchiveReference("/tmp/a.tar", "v")),
    ("dir:/tmp/d", DirReference("/tmp/d")),
])
def test_parse_reference(s, expected):
    assert parse_reference(s) == expected


@pytest.mark.parametrize("s,why", [
    ("", "empty"),
    ("docker://", "empty"),
    ("docker:alpine", "docker://"),
    ("docker://ALPINE", "lowercase"),
    ("docker://a/b:", "tag"),
    ("docker://a/b:-x", "tag"),
    ("docker://a//b", "component"),
    ("docker://a/b@sha256:123", "digest"),
    ("docker://a/b@md5:" + "a" * 32, "algorithm"),
    ("oci:", "path"),
    ("dir:", "path"),
    ("containers-storage:foo", "not supported"),
    ("docker://" + "a" * 300, "255"),
])
def test_invalid_references_say_why(s, why):
    with pytest.raises(ReferenceInvalid) as e:
        parse_reference(s)
    assert why in str(e.value)


_comp = st.from_regex(r"[a-z0-9]{1,8}([._-][a-z0-9]{1,5})?", fullmatch=True)


@given(host=st.sampled_from(["quay.io", "localhost:5000", "r.example.com", "127.0.0.1:1"]),
       parts=st.lists(_comp, min_size=1, max_size=3),
       tag=st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)),
       digest=st.one_of(st.none(), st.just(D)))
def test_reference_roundtrip(host, parts, tag, digest):
    ref = DockerReference(host, "/".join(parts), tag if (tag or digest) else "latest", digest)
    assert parse_reference(str(ref)) == ref
    assert parse_reference(ref.string()) == ref


def test_challenges():
    ch = parse_challenges('Bearer realm="https://auth.example/token",service="reg",'
                          'scope="repository:a/b:pull,push repository:c:pull",error="insufficient_scope"')
    assert len(ch) == 1 and ch[0].scheme == "bearer"
    assert ch[0].realm == "https://auth.example/token" and ch[0].service == "reg"
    assert ch[0].scopes == ("repository:a/b:pull,push", "repository:c:pull")
    assert ch[0].error == "insufficient_scope"
    two = parse_challenges('Basic realm="x, y", Bearer realm="r",service=s')
    assert [c.scheme for c in two] == ["basic", "bearer"]
    assert two[0].realm == "x, y" and two[1].service == "s"
    assert parse_challenges('Basic realm="a\\"b"')[0].realm == 'a"b'
    assert merge_scopes(["repository:a:pull", "repository:a:push", "repository:b:pull", "registry:catalog:*"]) == \
        ("repository:a:pull,push", "repository:b:pull", "registry:catalog:*")


def test_verifying_reader():
    data = b"hello world" * 1000
    d = digest_bytes(data)
    assert VerifyingReader(io.BytesIO(data), d, len(data)).read() == data
    with pytest.raises(DigestMismatch):
        VerifyingReader(io.BytesIO(data[:-1] + b"X"), d, len(data)).read()
    r = VerifyingReader(io.BytesIO(data + b"extra"), d, len(data))
    with pytest.raises(SizeMismatch):
        while r.read(4096):
            pass
    with pytest.raises(SizeMismatch):
        VerifyingReader(io.BytesIO(data[:-5]), d, len(data)).read()
    with pytest.raises(DigestInvalid):
        parse_digest("sha256:XYZ")
    assert parse_digest("sha512:" + "0" * 128)[0] == "sha512"


def test_verifying_reader_over_a_file_reads_into_the_buffer(tmp_path):
    """A local blob file is read straight into the BufferedReader's buffer (no copy): the
    same bytes, counts and refusals as through read()."""
    data = bytes(range(256)) * 9000  # 2.3 MB: several 1 MB chunks and a short last one
    d = digest_bytes(data)
    seen = []

    def opened(content: bytes):
        p = tmp_path / "blob"
        p.write_bytes(content)
        return io.BufferedReader(VerifyingReader(open(p, "rb"), d, len(data), on_read=seen.append), 1 << 20)

    with opened(data) as r:
        assert r.read() == data and sum(seen) == len(data) and r.raw.verified
    with opened(data[:-1] + b"X") as r, pytest.raises(DigestMismatch):
        r.read()
    with opened(data + b"extra") as r, pytest.raises(SizeMismatch):
        r.read()
    with opened(data[:-5]) as r, pytest.raises(SizeMismatch):
        r.read()


def test_manifest_parsing_and_limits():
    cfg = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D, "size": 2}
    m = parse_manifest(json.dumps({"schemaVersion": 2, "config": cfg, "layers": []}).encode())
    assert m.media_type == "application/vnd.oci.image.manifest.v1+json"
    with pytest.raises(ManifestTooLarge):
        parse_manifest(b" " * (4 * 1024 * 1024 + 1))
    with pytest.raises(ManifestInvalid):
        parse_manifest(b"[1]")
    with pytest.raises(ManifestInvalid):
        parse_manifest(json.dumps({"schemaVersion": 2, "config": dict(cfg, digest="sha256:1"), "layers": []}).encode())
    with pytest.raises(ManifestInvalid):
        parse_manifest(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                   "manifests": []}).encode(), "application/vnd.oci.image.manifest.v1+json")
    with pytest.raises(UnsupportedMediaType):
        parse_manifest(json.dumps({"schemaVersion": 1, "name": "x", "fsLayers": []}).encode())


def _idx(*plats):
    return ImageIndex("application/vnd.oci.image.index.v1+json", tuple(
        __import__("ociclient.manifest", fromlist=["Descriptor"]).Descriptor(
            "application/vnd.oci.image.manifest.v1+json", "sha256:" + f"{i:064x}", 1, platform=p)
        for i, p in enumerate(plats)))


def test_platform_choice():
    idx = _idx(Platform("linux", "amd64"), Platform("linux", "arm64", "v8"), Platform("linux", "arm", "v6"),
               Platform("linux", "arm", "v7"), Platform("windows", "amd64"))
    pick = lambda p: int(choose_platform(idx, p).digest.split(":")[1], 16)  # noqa: E731
    assert pick(Platform("linux", "amd64")) == 0
    assert pick(Platform("linux", "arm64")) == 1
    assert pick(parse_platform("linux/arm/v7")) == 3
    assert pick(parse_platform("linux/arm/v6")) == 2
    assert pick(Platform("windows", "amd64")) == 4
    assert pick(Platform("linux", "aarch64")) == 1
    with pytest.raises(NotFound) as e:
        pick(Platform("linux", "s390x"))
    assert "linux/amd64" in str(e.value)
    # an arm64 entry without variant matches arm64/v8
    assert int(choose_platform(_idx(Platform("linux", "arm64")), parse_platform("linux/arm64/v8")).digest[-1]) == 0


def test_retry_after_and_backoff_and_links():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("garbage") is None
    p = RetryPolicy(base_delay=1, max_delay=4)
    assert all(0.75 <= p.backoff(0) <= 1.25 for _ in range(20))
    assert all(p.backoff(10) <= 5 for _ in range(20))
    assert parse_link_next('</v2/x/tags/list?n=2&last=b>; rel="next"') == "/v2/x/tags/list?n=2&last=b"
    assert parse_link_next('<a>; rel="prev"') is None
    assert error_class_for(429, []) is RateLimited
    assert error_class_for(403, ["DENIED"]) is Denied
    assert error_class_for(404, ["MANIFEST_UNKNOWN"]) is NotFound


def test_import_is_cheap():
    import subprocess
    import sys
    code = "import ociclient, sys; print('requests' in sys.modules, 'attrs' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split()
    assert out == ["False", "False"]


def test_progress_bar_on_tty():
    from ociclient.cli import _ProgressBar
    from ociclient.progress import ProgressReporter

    class Tty(io.StringIO):
        def isatty(self):
            return True

    s = Tty()
    rep = ProgressReporter(_ProgressBar(stream=s), overall_total=2 * 2**20)
    rep.started(D, 2**20)
    rep.advance(D, 2**20, 2**20, 2**20)
    rep.advance(D, 2**20, 2**20, 2**20)
    assert "\rCopying blobs [" in s.getvalue() and "100.0%" in s.getvalue()
