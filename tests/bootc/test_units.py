"""The pure parts of :mod:`ostreepy.bootc`: YAML scalars as serde_yaml
writes them, chrono timestamps, indicatif's units, the slots of a deployment
list, the layer diff, and the progress-v0 events."""

from __future__ import annotations

import pytest

from ostreepy import bootc
from ostreepy.container.imgref import OstreeImageReference
from ostreepy.sysroot.deployment import Deployment
from ostreepy.errors import OstreeError
from ostreepy.progress import ImportDone, ImportStarted, LayerBytes, LayerDone, LayerStarted


@pytest.mark.parametrize("value,text", [
    ("nightly", "nightly"), ("1", "'1'"), ("20231230.1", "'20231230.1'"), ("0755", "'0755'"),
    ("true", "'true'"), ("null", "'null'"), ("~", "'~'"), ("", "''"), ("1e5", "'1e5'"), (".inf", "'.inf'"),
    ("0x1f", "'0x1f'"), ("sha256:ab12", "sha256:ab12"), ("quay.io/x/y:latest", "quay.io/x/y:latest"),
    ("2023-09-30T19:22:16Z", "2023-09-30T19:22:16Z"), ("a: b", "'a: b'"), ("a #b", "'a #b'"),
    ("ends:", "'ends:'"), ("- x", "'- x'"), ("*x", "'*x'"), ("it's", "it's"), ("'q", "'''q'"),
    (" lead", "' lead'"), ("v1.2-rc", "v1.2-rc"),
])
def test_yaml_scalars(value, text):
    assert bootc.to_yaml({"k": value}) == f"k: {text}\n"


def test_yaml_structure():
    doc = {"a": {"b": None, "c": True, "d": 3}, "e": [], "f": {}, "g": [{"h": 1, "i": {"j": "x"}}, {"h": 2}],
           "s": bootc.Tagged("ostreeRemote", "fedora")}
    assert bootc.to_yaml(doc) == ("a:\n  b: null\n  c: true\n  d: 3\ne: []\nf: {}\ng:\n- h: 1\n  i:\n    j: x\n"
                                  "- h: 2\ns: !ostreeRemote fedora\n")
    assert bootc.to_canonical_json(doc) == ('{"a":{"b":null,"c":true,"d":3},"e":[],"f":{},'
                                            '"g":[{"h":1,"i":{"j":"x"}},{"h":2}],"s":{"ostreeRemote":"fedora"}}')


@pytest.mark.parametrize("text,out", [
    ("2023-09-30T19:22:16Z", "2023-09-30T19:22:16Z"), ("2023-09-30T21:22:16+02:00", "2023-09-30T19:22:16Z"),
    ("2023-09-30T19:22:16.5Z", "2023-09-30T19:22:16.500Z"), ("2023-09-30T19:22:16.000001Z", "2023-09-30T19:22:16.000001Z"),
    ("2023-09-30T19:22:16.123456789Z", "2023-09-30T19:22:16.123456789Z"), ("2023-09-30T19:22:16.0Z", "2023-09-30T19:22:16Z"),
    ("yesterday", None), ("2023-13-01T00:00:00Z", None),
])
def test_rfc3339(text, out):
    assert bootc.rfc3339_utc(text) == out


def test_indicatif_units():
    assert [bootc.human_bytes(n) for n in (0, 512, 1536, 3 << 20)] == ["0 B", "512 B", "1.50 KiB", "3.00 MiB"]
    assert [bootc.human_duration(s) for s in (0.2, 1.0, 42, 90, 3600 * 5)] == \
        ["0 seconds", "1 second", "42 seconds", "2 minutes", "5 hours"]


def _d(csum: str, index: int, osname: str = "os", staged: bool = False) -> Deployment:
    return Deployment(osname=osname, csum=csum * 64, deployserial=0, index=index, staged=staged)


def test_partition_as_bootc():
    s, b, r, o, x = _d("a", 0, staged=True), _d("b", 1), _d("c", 2), _d("d", 3), _d("e", 4, "other")
    slots = bootc.partition([s, b, r, o, x], b)
    assert (slots.staged, slots.booted, slots.rollback, slots.other, slots.rollback_queued) == (s, b, r, (o, x), False)
    # the rollback before the booted one: queued
    r0, b1 = _d("c", 0), _d("b", 1)
    slots = bootc.partition([r0, b1], b1)
    assert slots.rollback == r0 and slots.rollback_queued
    # nothing booted: nothing is staged or rollback
    slots = bootc.partition([b, r], None)
    assert (slots.staged, slots.rollback, slots.other) == (None, None, (b, r))


def test_spec_image_signatures():
    for s, want in [("ostree-unverified-registry:quay.io/a/b:1", {"image": "quay.io/a/b:1", "transport": "registry"}),
                    ("ostree-image-signed:docker://quay.io/a/b", {"image": "quay.io/a/b", "transport": "registry",
                                                                  "signature": "containerPolicy"}),
                    ("ostree-unverified-image:oci:/x:t", {"image": "/x:t", "transport": "oci"})]:
        ref = OstreeImageReference.parse(s)
        assert bootc.spec_image(ref) == want
        assert bootc.imgref_of_spec(want) == ref
    remote = OstreeImageReference.parse("ostree-remote-registry:fedora:quay.io/a/b")
    assert bootc.to_canonical_json(bootc.spec_image(remote)) == \
        '{"image":"quay.io/a/b","signature":{"ostreeRemote":"fedora"},"transport":"registry"}'
    assert bootc.imgref_alternate(OstreeImageReference.parse("ostree-unverified-registry:quay.io/a/b")) == \
        "docker://quay.io/a/b"


def test_manifest_diff():
    old = {"layers": [{"digest": "sha256:a", "size": 10}, {"digest": "sha256:b", "size": 2000}]}
    new = {"layers": [{"digest": "sha256:a", "size": 10}, {"digest": "sha256:c", "size": 1}]}
    assert bootc.ManifestDiff.between(old, new).format() == (
        "Total new layers: 2     Size: 11 bytes\n"
        "Removed layers:   1     Size: 2.0\u00a0kB\n"
        "Added layers:     1     Size: 1 byte\n")


def test_stage_events():
    ev = [bootc.stage_event("sha256:x", i) for i in range(5)]
    assert [e["steps"] for e in ev] == [0, 1, 1, 2, 3]
    assert [[(s["subtask"], s["completed"]) for s in e["subtasks"]] for e in ev] == [
        [("merging", False)],
        [("merging", True), ("deploying", False)],
        [("merging", True), ("deploying", True), ("bound_images", False)],
        [("merging", True), ("deploying", True), ("bound_images", True), ("cleanup", False)],
        [("merging", True), ("deploying", True), ("bound_images", True), ("cleanup", True), ("cleanup", True)]]
    assert ev[0]["subtasks"][0]["id"] == "fetching"


def test_pull_progress_mapping():
    digest = "sha256:" + "1" * 64
    m = bootc.PullProgressMapper("sha256:m", layers_total=3, layers_to_fetch=2, bytes_total=100, bytes_to_fetch=60)
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    assert m.feed(LayerStarted(a, 40, "layer")) == []
    m.feed(LayerStarted(b, 20, "ostree chunk"))
    (e, lossy), = m.feed(LayerBytes(a, 10, 40))
    assert lossy and e["bytes"] == 10 and [s["id"] for s in e["subtasks"]] == ["a" * 21, "b" * 21]
    (e, lossy), = m.feed(LayerDone(a, 40))
    assert not lossy and (e["steps"], e["bytes"], e["bytesCached"], e["bytesTotal"]) == (1, 40, 40, 60)
    assert e["subtasks"][0] == {"subtask": "layer", "description": "layer: " + "a" * 21, "id": "a" * 21,
                                "bytesCached": 0, "bytes": 40, "bytesTotal": 40}
    assert e["subtasks"][1]["description"] == "ostree chunk: " + "b" * 21
    m.feed(LayerDone(b, 20))
    (e, _), = m.feed(ImportStarted())
    assert (e["task"], e["steps"], e["subtasks"][0]["completed"]) == ("importing", 0, False)
    (e, _), = m.feed(ImportDone(digest, "sha256:m"))
    assert (e["steps"], e["subtasks"][0]["completed"]) == (1, True)
    assert m.finish_import() == []


def test_human_readable_slots():
    image = {"image": {"image": "quay.io/x:1", "transport": "registry"}, "version": None,
             "timestamp": "2024-01-01T00:00:00.5Z", "imageDigest": "sha256:d", "architecture": "arm64"}
    entry = {"image": image, "cachedUpdate": None, "pinned": True, "ostree": {"checksum": "c" * 64}}
    plain = dict(entry, image=None)
    host = {"status": {"staged": plain, "booted": entry, "rollback": None, "otherDeployments": [plain]}}
    assert bootc.human_readable(host) == (
        "  Staged ostree\n"
        "         Commit: " + "c" * 64 + "\n"
        "         Pinned: yes\n"
        "\n"
        "\u25cf Booted image: quay.io/x:1\n"
        "        Digest: sha256:d (arm64)\n"
        "     Timestamp: 2024-01-01T00:00:00Z\n"
        "        Pinned: yes\n"
        "\n"
        " Other ostree\n"
        "       Commit: " + "c" * 64 + "\n"
        "       Pinned: yes\n")


@pytest.mark.parametrize("config", ["[]", '{"rootfs": "x"}', '{"config": {"Labels": ["a"]}}',
                                    "[" * 100000 + "]" * 100000, "not json"])
def test_stored_image_config_of_the_wrong_shape_shows_no_image(config):
    """Commit metadata written by another tool: an image config that does not fit the
    spec's types gives no image details (status still works), never a traceback."""
    from ostreepy.bootc.status import _image_meta
    from ostreepy.store.gvariant import Variant
    meta = {"d": Variant("s", "sha256:" + "a" * 64), "m": Variant("s", '{"schemaVersion": 2}'),
            "c": Variant("s", config)}
    assert _image_meta(meta, "d", "m", "c") is None
    good = dict(meta, c=Variant("s", '{"architecture": "amd64", "config": {"Labels": {"version": "7"}}}'))
    assert _image_meta(good, "d", "m", "c").version == "7"


def test_signature_kinds():
    """bootc's ImageSignature: ``ostreeRemote`` (tagged), ``containerPolicy``, ``insecure``;
    the verbose row's words (status.rs), and the spec read back into a reference."""
    from ostreepy.bootc.render import signature_text
    assert signature_text(bootc.Tagged("ostreeRemote", "fedora")) == "ostree-remote:fedora"
    assert signature_text({"ostreeRemote": "fedora"}) == "ostree-remote:fedora"
    assert signature_text("containerPolicy") == "container-policy"
    assert signature_text("insecure") == "insecure"
    assert signature_text(None) is None
    base = {"image": "quay.io/a/b", "transport": "registry"}
    assert str(bootc.imgref_of_spec({**base, "signature": "insecure"})) == "ostree-unverified-registry:quay.io/a/b"
    assert str(bootc.imgref_of_spec({**base, "signature": {"ostreeRemote": "r"}})) == \
        "ostree-remote-image:r:docker://quay.io/a/b"
    assert str(bootc.imgref_of_spec({**base, "signature": "containerPolicy"})) == \
        "ostree-image-signed:docker://quay.io/a/b"
    with pytest.raises(OstreeError, match="Invalid image signature"):
        bootc.imgref_of_spec({**base, "signature": "nope"})
