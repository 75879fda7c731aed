"""Fuzz targets for ociclient's parsers, shared by ``test_oci_fuzz.py`` (few examples) and
``scripts/fuzz.py`` (many, as ``ociclient.<target>``).

Each target takes bytes or a document and must either succeed or raise an
:class:`~ociclient.errors.OciError` subclass; anything else is a bug. Inputs are built two
ways: arbitrary JSON values (hypothesis' recursive strategy), and valid documents with one
field replaced by an arbitrary value, which reaches much deeper into the parsers.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, List

from hypothesis import strategies as st

from ociclient.auth import lookup_in_config, parse_auth_file
from ociclient.config import parse_config
from ociclient.errors import OciError
from ociclient.layout import parse_layout_index
from ociclient.manifest import choose_platform, parse_manifest, Platform, ImageIndex
from ociclient.reference import parse_docker_reference
from ociclient.registries_conf import RegistriesConf, _toml_loads

D = "sha256:" + "a" * 64
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4),
    max_leaves=20,
)

# -- valid seeds ---------------------------------------------------------------------------------
_DESC = {"mediaType": OCI_MANIFEST, "digest": D, "size": 2, "urls": ["http://x"],
         "annotations": {"a": "b"}, "platform": {"os": "linux", "architecture": "amd64",
                                                 "variant": "v8", "os.features": ["f"]}}
SEEDS: Dict[str, Any] = {
    "manifest": {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": dict(_DESC, data="e30="),
                 "layers": [_DESC], "subject": _DESC, "annotations": {"k": "v"}},
    "index": {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [_DESC, _DESC]},
    "config": {"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
               "config": {"Env": ["A=b"], "Labels": {"a": "b"}, "Cmd": ["sh"]},
               "rootfs": {"type": "layers", "diff_ids": [D]}, "history": [{"created_by": "x"}]},
    "auth": {"auths": {"reg.example": {"auth": "dTpw"}, "https://index.docker.io/v1/": {"username": "u"}},
             "credHelpers": {"reg.example": "pass"}, "credsStore": "desktop"},
    "registries": {"unqualified-search-registries": ["docker.io"], "short-name-mode": "permissive",
                   "credential-helpers": ["containers-auth.json"], "aliases": {"x": "docker.io/library/x"},
                   "registry": [{"prefix": "docker.io", "location": "mirror.example", "insecure": False,
                                 "blocked": False, "mirror": [{"location": "m.example",
                                                               "pull-from-mirror": "digest-only"}]}]},
    "policy": {"default": [{"type": "reject"}],
               "transports": {"docker": {"quay.io/x": [{"type": "signedBy", "keyType": "GPGKeys", "keyData": "",
                                                        "signedIdentity": {"type": "remapIdentity", "prefix": "a.io",
                                                                           "signedPrefix": "b.io"}}],
                                         "": [{"type": "insecureAcceptAnything"}],
                                         "quay.io/y": [{"type": "sigstoreSigned", "keyData": "",
                                                        "signedIdentity": {"type": "exactReference",
                                                                           "dockerReference": "quay.io/y:1"}}]}}},
    "sigpayload": {"critical": {"type": "atomic container signature",
                                "image": {"docker-manifest-digest": D},
                                "identity": {"docker-reference": "quay.io/x:1"}},
                   "optional": {"creator": "x", "timestamp": 1}},
    "cosignpayload": {"critical": {"type": "cosign container image signature",
                                   "image": {"docker-manifest-digest": D},
                                   "identity": {"docker-reference": "quay.io/x:1"}}, "optional": None},
}


def _paths(doc: Any, prefix: tuple = ()) -> List[tuple]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, prefix + (i,))
    return out


def _replace(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    doc = json.loads(json.dumps(doc))
    cur = doc
    for p in path[:-1]:
        cur = cur[p]
    cur[path[-1]] = value
    return doc


@st.composite
def mutated(draw: Any, seed: str) -> Any:
    """The seed document with one value (at any depth) replaced by an arbitrary one."""
    doc = SEEDS[seed]
    path = draw(st.sampled_from(_paths(doc)))
    return _replace(doc, path, draw(json_values))


def documents(seed: str) -> Any:
    return mutated(seed) | json_values


def as_bytes(doc: Any) -> bytes:
    return json.dumps(doc).encode()


raw_bytes = st.binary(max_size=200) | st.sampled_from([
    b"[" * 100000, b'{"a":' * 3000, b"\xff\xfe", b'"\\ud800"', b"1e999999", b"9" * 5000,
])


# -- targets: succeed or raise OciError ----------------------------------------------------------
def target_manifest(data: bytes) -> None:
    for mtype in (None, OCI_MANIFEST, OCI_INDEX):
        try:
            m = parse_manifest(data, mtype)
        except OciError:
            continue
        if isinstance(m, ImageIndex):
            try:
                choose_platform(m, Platform("linux", "amd64"))
            except OciError:
                pass


def target_config(data: bytes) -> None:
    parse_config(data)


def target_auth(data: bytes) -> None:
    for legacy in (False, True):
        try:
            cfg = parse_auth_file(data, legacy=legacy)
        except OciError:
            continue
        creds, _ = lookup_in_config(cfg, "reg.example", "ns/img", legacy=legacy)
        if creds is not None:
            creds.basic


def target_registries_conf(doc: Any) -> None:
    if not isinstance(doc, dict):
        return
    conf = RegistriesConf.from_dict(doc, "fuzz.conf")
    for name in ("docker.io/library/x:1", "mirror.example/a/b@" + D, "reg.example/x:y"):
        ref = parse_docker_reference(name)
        conf.pull_sources(ref)
        conf.push_destination(ref)


def target_registries_conf_text(data: bytes) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    target_registries_conf(_toml_loads(text, "fuzz.conf"))


def target_layout_index(data: bytes) -> None:
    parse_layout_index(data)


#: name -> (target, strategy of its inputs)
def target_policy(data: bytes) -> None:
    from ociclient.policy import evaluate, parse_policy
    from ociclient.reference import parse_reference
    policy = parse_policy(data)
    for ref in ("quay.io/x:1", "quay.io/y@" + D, "dir:/tmp", "oci:/tmp:x"):
        try:
            evaluate(policy, parse_reference(ref), b"{}", [])
        except OciError:
            pass


def target_signature_payloads(data: bytes) -> None:
    from ociclient import simplesign, sigstore
    for fn in (simplesign.parse_payload, sigstore.parse_payload):
        try:
            fn(data)
        except OciError:
            pass


def target_signed_message(data: bytes) -> None:
    from ociclient import pgpformat, signatures, simplesign
    try:
        simplesign.verify(data, pgpformat.Keyring(), [], b"{}")
    except OciError:
        pass
    signatures.signature_from_blob(data)


def target_registries_d(data: bytes) -> None:
    from ociclient.signatures import parse_registries_d
    parse_registries_d(data.decode("utf-8", "replace"))


TARGETS: Dict[str, tuple] = {
    "policy": (target_policy, documents("policy").map(as_bytes) | raw_bytes),
    "signature-payloads": (target_signature_payloads, documents("sigpayload").map(as_bytes)
                           | documents("cosignpayload").map(as_bytes) | raw_bytes),
    "signed-message": (target_signed_message, raw_bytes),
    "registries-d": (target_registries_d, raw_bytes | st.text(max_size=200).map(str.encode)
                     | st.sampled_from([b"docker:\n  a.io/b:\n    lookaside: file:///x\n  c.io:\n",
                                        b"default-docker:\n  use-sigstore-attachments: true\n"])),
    "manifest": (target_manifest, documents("manifest").map(as_bytes) | documents("index").map(as_bytes) | raw_bytes),
    "config": (target_config, documents("config").map(as_bytes) | raw_bytes),
    "auth": (target_auth, documents("auth").map(as_bytes) | raw_bytes),
    "registries-conf": (target_registries_conf, documents("registries")),
    "registries-conf-text": (target_registries_conf_text, raw_bytes | st.text(max_size=200).map(str.encode)),
    "layout-index": (target_layout_index, documents("index").map(as_bytes) | raw_bytes),
}


def run_target(fn: Callable[[Any], None], value: Any) -> None:
    """Call ``fn``; only OciError subclasses may escape (and are swallowed here)."""
    try:
        fn(value)
    except OciError:
        pass
