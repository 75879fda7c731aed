"""Sigstore signing and verifying against Debian 13's skopeo 1.18 (the peer
Debian 12's sigstore-less skopeo cannot be): keys each side generates sign
images the other verifies; signatures go to registry attachments
(``sha256-<hex>.sig``) and ``dir:`` images in the same form; a tampered
signature, one for another image, one by an unknown key, a moved image and a
missing signature are refused by both alike, and refusals write nothing.

The peer runs in a chroot (:mod:`trixie_peer`); without it the module skips,
and the facts it established are kept below as fixed vectors (a key skopeo
1.18 generated and a signature it made) for the unit tests beside it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
from typing import Any, Dict, List, Tuple

import pytest

from ocitest_helpers import build_layout

import ociclient
from ociclient import cosignkey, secretbox, sigstore
from ociclient.cli import main as oci_main
from ociclient.copy import copy_image
from ociclient.errors import OciError
from ociclient.policy import PolicyRejected, load_policy
from ociclient.reference import parse_docker_reference
from ociclient.signatures import load_registries_d, read_attachments, signature_from_blob, write_attachments

# `skopeo generate-sigstore-key --passphrase-file` (pass "pw") from skopeo 1.18, Debian 13
SKOPEO_KEY = b"""-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----
eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjo2NTUzNiwiciI6
OCwicCI6MX0sInNhbHQiOiJZTStSZUhNdEtqT0hKSUFVQ3FQaGtxNWcrOStjVnlC
cWRrR1Z2ZlZLa1hNPSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
Iiwibm9uY2UiOiJFVzlDK3E0Mzk0bTNhYk8xLzVJSzRQbmlSQTd5S2VLWiJ9LCJj
aXBoZXJ0ZXh0IjoiVVl6eGhMaER1cU1QZTBLdUk2WHd3RnRVVzh6Zk1kWGJUc1dT
VndNdXRpcVIvYVhFOWlJcXYwemlXQkhZWVdBOUU1VC8zNDUvMlI0UzhyM2p2NkZy
clhIWG04VnAvRm9icUV6MGVXSU94YnkySENsNDlBZnFZTlErZUtFc0xaNHNhT05z
czVFbUR5VDNoWUQ3QWdVNVRhYWY2WHdtdlQ1NTRaR2liNXd4MXF0ZVl6S1BLQVRm
ZTU0ZHRIZUVEVkdrUG0yU25jMFhMV242bkE9PSJ9
-----END ENCRYPTED COSIGN PRIVATE KEY-----
"""
SKOPEO_KEY_PASS = b"secret"
SKOPEO_PUB = b"""-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEKZPQbS/uuA0vuLGKEuwEaP1yYdsC
aBOpn+wqtaMTVKV4XIX7R+FCVI44gfcmGBynon3WrIAp1Vk52LZMUYGHhQ==
-----END PUBLIC KEY-----
"""


# ----------------------------------------------------------------------------- pure (no peer)

def test_secretbox_matches_libsodium():
    """XSalsa20-Poly1305 boxes are byte-for-byte libsodium's crypto_secretbox_easy
    (through ctypes where libsodium is installed), open back, and refuse a
    flipped bit; HSalsa20 matches the XSalsa20 paper's test vector."""
    import ctypes
    import ctypes.util
    # Bernstein, "Extending the Salsa20 nonce", section 5 (crypto_core_hsalsa20 of the Curve25519 shared secret)
    k = bytes.fromhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
    assert secretbox.hsalsa20(k, bytes(16)).hex() == \
        "1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389"
    name = ctypes.util.find_library("sodium")
    sodium = ctypes.CDLL(name) if name else None
    if sodium is not None:
        sodium.sodium_init()
    for n in (0, 1, 63, 64, 65, 300):
        key, nonce, msg = os.urandom(32), os.urandom(24), os.urandom(n)
        box = secretbox.seal(msg, nonce, key)
        if sodium is not None:
            out = ctypes.create_string_buffer(n + 16)
            assert sodium.crypto_secretbox_easy(out, msg, ctypes.c_ulonglong(n), nonce, key) == 0
            assert box == out.raw
        assert secretbox.open_box(box, nonce, key) == msg
        bad = bytearray(box)
        bad[-1 if n else 0] ^= 1
        with pytest.raises(secretbox.SecretboxError):
            secretbox.open_box(bytes(bad), nonce, key)


def test_cosign_keys_read_and_written():
    """skopeo 1.18's key opens with its passphrase and is the key of its .pub;
    ours round-trips in both PEM names; wrong passphrases and malformed
    envelopes are OciErrors, never a key."""
    key = cosignkey.load_private_key(SKOPEO_KEY, SKOPEO_KEY_PASS)
    assert cosignkey.public_pem(key) == SKOPEO_PUB
    with pytest.raises(cosignkey.CosignKeyError, match="decryption failed"):
        cosignkey.load_private_key(SKOPEO_KEY, b"wrong")
    priv, pub = cosignkey.generate_key_pair(b"pw")
    assert priv.startswith(b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n")
    assert cosignkey.public_pem(cosignkey.load_private_key(priv, b"pw")) == pub
    k2 = cosignkey.load_private_key(cosignkey.encrypt_private_key(key, b"", cosignkey.SIGSTORE_PEM_TYPE), b"")
    assert cosignkey.public_pem(k2) == SKOPEO_PUB
    body = json.loads(base64.b64decode(b"".join(SKOPEO_KEY.splitlines()[1:-1])))

    def pem(doc: Any, kind: str = cosignkey.COSIGN_PEM_TYPE) -> bytes:
        return cosignkey._pem(kind, json.dumps(doc).encode() if not isinstance(doc, bytes) else doc)

    bad: List[Tuple[bytes, str]] = [
        (b"nothing here", "invalid pem block"),
        (pem(body, "PRIVATE KEY"), "unsupported pem type"),
        (pem(b"{not json"), "not a JSON envelope"),
        (pem([1]), "not a JSON object"),
        (pem({**body, "kdf": {**body["kdf"], "params": {"N": 1 << 24, "r": 8, "p": 1}}}), "scrypt parameters"),
        (pem({**body, "kdf": {**body["kdf"], "name": "argon2"}}), "key derivation"),
        (pem({**body, "cipher": {"name": "aes"}}), "unsupported cipher"),
        (pem({**body, "cipher": {**body["cipher"], "nonce": "AAAA"}}), "nonce length"),
        (pem({**body, "ciphertext": "!!"}), "not base64"),
        (pem({**body, "ciphertext": body["ciphertext"][:16]}), "decryption failed"),
        (pem({k: v for k, v in body.items() if k != "ciphertext"}), "no ciphertext"),
    ]
    for data, match in bad:
        with pytest.raises(cosignkey.CosignKeyError, match=match):
            cosignkey.load_private_key(data, SKOPEO_KEY_PASS)
    # a box that opens but holds no PKCS#8 key
    salt, nonce = os.urandom(32), os.urandom(24)
    junk = secretbox.seal(b"junk", nonce, cosignkey._kdf(b"", salt, 32768, 8, 1))
    doc = {"kdf": {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1}, "salt": base64.b64encode(salt).decode()},
           "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
           "ciphertext": base64.b64encode(junk).decode()}
    with pytest.raises(cosignkey.CosignKeyError, match="parsing private key"):
        cosignkey.load_private_key(pem(doc), b"")


def test_hostile_key_and_params_files_are_errors(monkeypatch):
    """Mutated cosign key files and signing parameter files give the project's
    errors and nothing else (the KDF is stubbed: this is about parsing)."""
    from hypothesis import given, settings, strategies as st
    monkeypatch.setattr(cosignkey, "_kdf", lambda pw, salt, n, r, p: bytes(32))
    body = base64.b64decode(b"".join(SKOPEO_KEY.splitlines()[1:-1]))

    @settings(max_examples=100, deadline=None, derandomize=True)
    @given(st.integers(0, len(body) - 1), st.binary(max_size=8), st.integers(0, 8))
    def mutate(pos: int, insert: bytes, cut: int) -> None:
        data = cosignkey._pem(cosignkey.COSIGN_PEM_TYPE, body[:pos] + insert + body[pos + cut:])
        with pytest.raises(cosignkey.CosignKeyError):
            cosignkey.load_private_key(data, b"")
        text = "privateKeyFile: /k\n" + (body[:pos] + insert).decode("latin-1")
        try:
            cosignkey.parse_signing_params(text)
        except cosignkey.CosignKeyError:
            pass

    mutate()


def test_signing_payload_as_containers_image():
    """A signature made here verifies with the public key, names the manifest
    digest and reference, and carries creator and timestamp as skopeo's do;
    a name-only reference cannot be signed."""
    key = cosignkey.load_private_key(SKOPEO_KEY, SKOPEO_KEY_PASS)
    manifest = b'{"schemaVersion":2}'
    payload, annotations = sigstore.sign_manifest(manifest, "example.com/a/b:1", key)
    doc = json.loads(payload)
    assert list(doc) == ["critical", "optional"] and set(doc["optional"]) == {"creator", "timestamp"}
    got = sigstore.verify(payload, annotations, [SKOPEO_PUB], manifest)
    assert got.docker_reference == "example.com/a/b:1"
    with pytest.raises(sigstore.SigstoreError, match="neither a tag nor a digest"):
        sigstore.sign_manifest(manifest, "example.com/a/b", key)


def test_cli_generate_sigstore_key(tmp_path, capsys):
    """``generate-sigstore-key``: skopeo's output line, a 0600 private key that
    opens with the passphrase file's first line, and refusals (existing files,
    no passphrase without a terminal) that write nothing."""
    (tmp_path / "pass").write_bytes(b"pw\nignored\n")
    prefix = str(tmp_path / "k")
    assert oci_main(["generate-sigstore-key", "--output-prefix", prefix, "--passphrase-file",
                     str(tmp_path / "pass")]) == 0
    assert capsys.readouterr().out == f'Key written to "{prefix}.private" and "{prefix}.pub"'
    assert stat.S_IMODE(os.stat(prefix + ".private").st_mode) == 0o600
    key = cosignkey.load_private_key((tmp_path / "k.private").read_bytes(), b"pw")
    assert cosignkey.public_pem(key) == (tmp_path / "k.pub").read_bytes()
    assert oci_main(["generate-sigstore-key", "--output-prefix", prefix, "--passphrase-file",
                     str(tmp_path / "pass")]) == 1
    assert f'Refusing to overwrite existing "{prefix}.pub"' in capsys.readouterr().err
    assert oci_main(["generate-sigstore-key", "--output-prefix", str(tmp_path / "n")]) == 1
    assert "standard input is not a TTY" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["k.private", "k.pub", "pass"]


# ----------------------------------------------------------------------------- against skopeo 1.18

from trixie_peer import needs_trixie_skopeo, skopeo as trixie  # noqa: E402


class Env:
    def __init__(self, root: str, host: str) -> None:
        self.root, self.host = root, host
        self.regd = os.path.join(root, "registries.d")
        os.mkdir(self.regd)
        with open(os.path.join(self.regd, "sig.yaml"), "w") as f:
            f.write("default-docker:\n  use-sigstore-attachments: true\n")
        self.passfile = os.path.join(root, "pass")
        with open(self.passfile, "w") as f:
            f.write("pw\n")
        self.images: Dict[str, str] = {}

    def path(self, name: str) -> str:
        return os.path.join(self.root, name)

    def policy(self, name: str, req: Dict[str, Any]) -> str:
        p = self.path(f"policy-{name}.json")
        with open(p, "w") as f:
            json.dump({"default": [{"type": "reject"}], "transports": {"docker": {self.host: [req]},
                                                                       "dir": {"": [req]}}}, f)
        return p

    def opts(self) -> ociclient.Options:
        return ociclient.Options(tls_verify=False)


def _oci_sign_copy(e: Env, key: str, src: str, dst: str, *extra: str) -> int:
    return oci_main(["--insecure-policy", "--registries.d", e.regd, "copy", "--quiet", "--dest-tls-verify=false",
                     "--sign-by-sigstore-private-key", e.path(key + ".private"), "--sign-passphrase-file",
                     e.passfile, *extra, src, dst])


def _skopeo_sign_copy(e: Env, key: str, src: str, dst: str, *extra: str) -> None:
    trixie(["--insecure-policy", "--registries.d", e.regd, "copy", "--quiet", "--dest-tls-verify=false",
            "--sign-by-sigstore-private-key", e.path(key + ".private"), "--sign-passphrase-file", e.passfile,
            *extra, src, dst])


@pytest.fixture(scope="module")
def env(plain_registry, tmp_path_factory):
    if not str(tmp_path_factory.getbasetemp()).startswith("/tmp/"):
        pytest.skip("the trixie peer shares only /tmp with the host")
    e = Env(str(tmp_path_factory.mktemp("sigstore-peer")), plain_registry.host)
    h = e.host
    trixie(["generate-sigstore-key", "--output-prefix", e.path("theirs"), "--passphrase-file", e.passfile])
    for k in ("ours", "stranger"):
        assert oci_main(["generate-sigstore-key", "--output-prefix", e.path(k), "--passphrase-file", e.passfile]) == 0
    img, other = e.path("img"), e.path("other")
    e.images["img"] = build_layout(img, seed=61, layers=1, layer_size=800)["digest"]
    e.images["other"] = build_layout(other, seed=62, layers=1, layer_size=800)["digest"]
    _skopeo_sign_copy(e, "theirs", f"oci:{img}:v1", f"docker://{h}/sig/theirs:v1")
    _skopeo_sign_copy(e, "ours", f"oci:{img}:v1", f"docker://{h}/sig/theirs-ourkey:v1")
    assert _oci_sign_copy(e, "ours", f"oci:{img}:v1", f"docker://{h}/sig/ours:v1") == 0
    assert _oci_sign_copy(e, "theirs", f"oci:{img}:v1", f"docker://{h}/sig/ours-theirkey:v1") == 0
    assert _oci_sign_copy(e, "stranger", f"oci:{img}:v1", f"docker://{h}/sig/stranger:v1") == 0
    copy_image(f"oci:{img}:v1", f"docker://{h}/sig/none:v1", dst_options=e.opts())
    # the signature of another image (skopeo's, of `other`) filed under this image's digest
    _skopeo_sign_copy(e, "theirs", f"oci:{other}:v1", f"docker://{h}/sig/otherimg:v1")
    copy_image(f"oci:{img}:v1", f"docker://{h}/sig/otherimg:v1", dst_options=e.opts())
    ref = lambda r: parse_docker_reference(f"{h}/sig/{r}:v1")  # noqa: E731
    [theirs_other] = read_attachments(ref("otherimg"), e.images["other"], e.opts())
    write_attachments(ref("otherimg"), e.images["img"], [theirs_other], e.opts())
    # skopeo's signature with one payload byte changed
    [good] = read_attachments(ref("theirs"), e.images["img"], e.opts())
    copy_image(f"oci:{img}:v1", f"docker://{h}/sig/tampered:v1", dst_options=e.opts())
    bad = type(good)("sigstore", good.data.replace(b'"optional":{', b'"optional":{"x":"y",'), good.annotations)
    write_attachments(ref("tampered"), e.images["img"], [bad], e.opts())
    # skopeo's good signature beside the same image in another repository: the identity does not match
    copy_image(f"oci:{img}:v1", f"docker://{h}/sig/moved:v1", dst_options=e.opts())
    write_attachments(ref("moved"), e.images["img"], [good], e.opts())
    return e


IMAGES = ("theirs", "theirs-ourkey", "ours", "ours-theirkey", "stranger", "none", "otherimg", "tampered", "moved")


@needs_trixie_skopeo
def test_sigstore_policy_table_matches_skopeo(env):
    """Every image under sigstoreSigned policies with skopeo's key and ours
    (keyPath, keyData, and keyPaths with two keys): ``skopeo copy`` and ociclient accept and refuse
    alike, exactly the images signed by that key under their own name, and a
    refused copy writes nothing."""
    h = env.host
    with open(env.path("ours.pub"), "rb") as f:
        ours_data = base64.b64encode(f.read()).decode()
    policies = {"theirs": env.policy("theirs", {"type": "sigstoreSigned", "keyPath": env.path("theirs.pub")}),
                "ours": env.policy("ours", {"type": "sigstoreSigned", "keyData": ours_data})}
    policies["either"] = env.policy("either", {"type": "sigstoreSigned",
                                               "keyPaths": [env.path("stranger.pub"), env.path("theirs.pub")]})
    regs = load_registries_d(env.regd)
    differ, accepted = [], []
    for pname, path in policies.items():
        policy = load_policy(path)
        for img in (IMAGES if pname != "either" else ("theirs", "stranger", "ours")):
            src = f"docker://{h}/sig/{img}:v1"
            p = trixie(["--policy", path, "--registries.d", env.regd, "copy", "--quiet", "--src-tls-verify=false",
                        "--remove-signatures", src, f"dir:{env.path(f'sk-{pname}-{img}')}"], check=False)
            dst = env.path(f"oc-{pname}-{img}")
            try:
                copy_image(src, f"dir:{dst}", policy=policy, registries_d=regs, remove_signatures=True,
                           src_options=env.opts())
                ours = True
            except PolicyRejected:
                ours = False
                assert not os.path.exists(dst)
            if ours != (p.returncode == 0):
                differ.append(f"{pname} {img}: skopeo {p.returncode} {p.stderr.strip()[-200:]}, ociclient {ours}")
            if ours:
                accepted.append((pname, img))
    assert not differ, "\n".join(differ)
    assert sorted(accepted) == sorted([("theirs", "theirs"), ("theirs", "ours-theirkey"),
                                       ("ours", "ours"), ("ours", "theirs-ourkey"),
                                       ("either", "theirs"), ("either", "stranger")])


@needs_trixie_skopeo
def test_attachments_written_as_skopeo(env, tmp_path):
    """The ``sha256-<hex>.sig`` manifest and config ociclient writes have
    skopeo's shape byte for byte (digests aside); copying a signed image to a
    ``dir:`` or another repository carries the signature (blob form,
    attachment), which skopeo then verifies; signing twice adds a second layer."""
    h = env.host
    digest = env.images["img"]
    tag = "sha256-" + digest.split(":")[1] + ".sig"
    shapes = []
    for repo in ("theirs", "ours"):
        with ociclient.open_source(f"docker://{h}/sig/{repo}:{tag}", env.opts()) as src:
            data, mtype, _ = src.get_raw_manifest()
            config = src.get_config(data)
        norm = lambda b: re.sub(rb'sha256:[0-9a-f]{64}|"size":\d+|"dev.cosignproject.cosign/signature":"[^"]*"',  # noqa: E731
                                b"X", b)
        shapes.append((mtype, norm(data), norm(config)))
    assert shapes[0] == shapes[1], shapes
    # ociclient copies skopeo's signature into a dir: (policy-checked), skopeo reads it back
    policy = env.policy("theirs-dir", {"type": "sigstoreSigned", "keyPath": env.path("theirs.pub"),
                                       "signedIdentity": {"type": "matchRepository"}})
    assert oci_main(["--policy", policy, "--registries.d", env.regd, "copy", "--quiet", "--src-tls-verify=false",
                     f"docker://{h}/sig/theirs:v1", f"dir:{tmp_path}/d"]) == 0
    with open(f"{tmp_path}/d/signature-1", "rb") as f:
        assert signature_from_blob(f.read()).kind == "sigstore"
    exact = env.policy("theirs-exact", {"type": "sigstoreSigned", "keyPath": env.path("theirs.pub"),
                                        "signedIdentity": {"type": "exactReference",
                                                           "dockerReference": f"{h}/sig/theirs:v1"}})
    with open(exact) as f:
        doc = json.load(f)
    doc["transports"]["dir"] = {"": doc["transports"]["docker"][h]}
    with open(exact, "w") as f:
        json.dump(doc, f)
    trixie(["--policy", exact, "copy", "--quiet", f"dir:{tmp_path}/d", f"dir:{tmp_path}/again"])
    # registry to registry: the attachment goes along, and skopeo verifies it at the new name
    assert oci_main(["--policy", policy, "--registries.d", env.regd, "copy", "--quiet", "--src-tls-verify=false",
                     "--dest-tls-verify=false", f"docker://{h}/sig/theirs:v1", f"docker://{h}/sig/carried:v1"]) == 0
    repo_policy = env.policy("theirs-repo", {"type": "sigstoreSigned", "keyPath": env.path("theirs.pub"),
                                             "signedIdentity": {"type": "exactRepository",
                                                                "dockerRepository": f"{h}/sig/theirs"}})
    trixie(["--policy", repo_policy, "--registries.d", env.regd, "copy", "--quiet", "--src-tls-verify=false",
            f"docker://{h}/sig/carried:v1", f"dir:{tmp_path}/carried"])
    # a second signature by another key is added beside the first, as skopeo does
    assert _oci_sign_copy(env, "stranger", f"oci:{env.path('img')}:v1", f"docker://{h}/sig/ours:v1") == 0
    sigs = read_attachments(parse_docker_reference(f"{h}/sig/ours:v1"), digest, env.opts())
    assert len(sigs) == 2


@needs_trixie_skopeo
def test_signing_refusals_write_nothing(env, tmp_path, capsys):
    """A wrong passphrase, a destination without use-sigstore-attachments, and
    a dir: without --sign-identity are refused before any blob is written
    (skopeo refuses the same, though it may leave a half-made dir:)."""
    h = env.host
    (tmp_path / "wrong").write_text("nope\n")
    args = ["--insecure-policy", "--registries.d", env.regd, "copy", "--quiet", "--dest-tls-verify=false",
            "--sign-by-sigstore-private-key", env.path("ours.private")]
    assert oci_main([*args, "--sign-passphrase-file", str(tmp_path / "wrong"), "--sign-identity", f"{h}/x:1",
                     f"oci:{env.path('img')}:v1", f"dir:{tmp_path}/a"]) == 1
    assert "decryption failed" in capsys.readouterr().err and not os.path.exists(f"{tmp_path}/a")
    p = trixie([*args, "--sign-passphrase-file", str(tmp_path / "wrong"), "--sign-identity", f"{h}/x:1",
                f"oci:{env.path('img')}:v1", f"dir:{tmp_path}/b"], check=False)
    assert p.returncode == 1 and "decryption failed" in p.stderr
    assert oci_main([*args, "--sign-passphrase-file", env.passfile, f"oci:{env.path('img')}:v1",
                     f"dir:{tmp_path}/c"]) == 1
    assert "Cannot determine canonical Docker reference" in capsys.readouterr().err
    assert not os.path.exists(f"{tmp_path}/c")
    empty = tmp_path / "regd-empty"
    empty.mkdir()
    args[2] = str(empty)
    assert oci_main([*args, "--sign-passphrase-file", env.passfile, f"oci:{env.path('img')}:v1",
                     f"docker://{h}/sig/noattach:v1"]) == 1
    assert "writing sigstore attachments is disabled by configuration" in capsys.readouterr().err
    with pytest.raises(OciError):
        ociclient.open_source(f"docker://{h}/sig/noattach:v1", env.opts()).get_raw_manifest()
    # an oci: layout cannot hold signatures (skopeo 1.18 says so after writing the image; we before)
    args[2] = env.regd
    assert oci_main([*args, "--sign-passphrase-file", env.passfile, "--sign-identity", f"{h}/x:1",
                     f"oci:{env.path('img')}:v1", f"oci:{tmp_path}/layout:v1"]) == 1
    assert "not supported" in capsys.readouterr().err and not os.path.exists(f"{tmp_path}/layout")
    p = trixie([*args, "--sign-passphrase-file", env.passfile, "--sign-identity", f"{h}/x:1",
                f"oci:{env.path('img')}:v1", f"oci:{tmp_path}/layout-sk:v1"], check=False)
    assert p.returncode == 1 and "Pushing signatures for OCI images is not supported" in p.stderr


@needs_trixie_skopeo
def test_ostree_image_signed_sigstore(env, tmp_path, monkeypatch):
    """``ostreepy container image pull ostree-image-signed:docker://...`` under a
    sigstoreSigned policy imports the image skopeo signed, and refuses (importing
    nothing) a tampered signature and a signature by another key."""
    import shutil
    import subprocess
    from ostreepy.cli.main import main as ostreepy_main
    h = env.host
    conf = tmp_path / "home" / ".config" / "containers"
    conf.mkdir(parents=True)
    shutil.copytree(env.regd, conf / "registries.d")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (conf / "policy.json").write_text(json.dumps({
        "default": [{"type": "reject"}],
        "transports": {"docker": {f"{h}/sig": [{"type": "sigstoreSigned", "keyPath": env.path("theirs.pub")}]}}}))
    repo = str(tmp_path / "repo")
    subprocess.run(["ostree", "init", "--repo", repo, "--mode=bare-user"], check=True)

    def pull(name: str) -> int:
        return ostreepy_main(["container", "image", "pull", "--quiet", "--insecure-skip-tls-verification", repo,
                              f"ostree-image-signed:docker://{h}/sig/{name}:v1"])

    def refs() -> List[str]:
        return subprocess.run(["ostree", "refs", "--repo", repo], capture_output=True, text=True,
                              check=True).stdout.split()

    assert pull("tampered") == 1 and pull("ours") == 1 and refs() == []
    assert pull("theirs") == 0
    assert refs()


@needs_trixie_skopeo
def test_sign_by_sigstore_params_file(env, tmp_path):
    """``copy --sign-by-sigstore PARAMS`` (the privateKeyFile form podman and
    bootc image builds use): each side's signature with the other side's key
    verifies on the other side; unknown fields and Rekor are refused by both."""
    ident = f"{env.host}/sig/params:v1"
    policy = env.policy("params", {"type": "sigstoreSigned", "keyPath": env.path("theirs.pub"),
                                   "signedIdentity": {"type": "exactReference", "dockerReference": ident}})
    policy_ours = env.policy("params-ours", {"type": "sigstoreSigned", "keyPath": env.path("ours.pub"),
                                             "signedIdentity": {"type": "exactReference", "dockerReference": ident}})

    def params(name: str, key: str, extra: str = "") -> str:
        p = tmp_path / f"{name}.yaml"
        p.write_text(f"privateKeyFile: {env.path(key + '.private')}\nprivateKeyPassphraseFile: {env.passfile}\n{extra}")
        return str(p)

    src = f"oci:{env.path('img')}:v1"
    common = ["--insecure-policy", "copy", "--quiet", "--sign-identity", ident, "--sign-by-sigstore"]
    assert oci_main([*common, params("t", "theirs"), src, f"dir:{tmp_path}/ours-signed"]) == 0
    trixie(["--policy", policy, "copy", "--quiet", f"dir:{tmp_path}/ours-signed", f"dir:{tmp_path}/back"])
    trixie([*common, params("o", "ours"), src, f"dir:{tmp_path}/theirs-signed"])
    assert oci_main(["--policy", policy_ours, "copy", "--quiet", f"dir:{tmp_path}/theirs-signed",
                     f"dir:{tmp_path}/back2"]) == 0
    for name, extra in (("bogus", "bogus: 1\n"), ("rekor", "rekorURL: http://127.0.0.1:1\n")):
        path = params(name, "ours", extra)
        assert oci_main([*common, path, src, f"dir:{tmp_path}/{name}-oc"]) == 1
        assert not os.path.exists(f"{tmp_path}/{name}-oc")
        assert trixie([*common, path, src, f"dir:{tmp_path}/{name}-sk"], check=False).returncode == 1


@needs_trixie_skopeo
def test_default_policy_path_as_skopeo(env, tmp_path, monkeypatch):
    """Without --policy both tools read ``$HOME/.config/containers/policy.json``
    and ignore ``$XDG_CONFIG_HOME`` (containers-image's homedir rule)."""
    src = f"oci:{env.path('img')}:v1"
    for home_default, xdg_default in (("reject", "insecureAcceptAnything"), ("insecureAcceptAnything", "reject")):
        home, xdg = tmp_path / f"h-{home_default}", tmp_path / f"x-{home_default}"
        for base, default in ((home / ".config", home_default), (xdg, xdg_default)):
            (base / "containers").mkdir(parents=True)
            (base / "containers" / "policy.json").write_text(json.dumps({"default": [{"type": default}]}))
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
        ours = oci_main(["copy", "--quiet", src, f"dir:{tmp_path}/oc-{home_default}"])
        theirs = trixie(["copy", "--quiet", src, f"dir:{tmp_path}/sk-{home_default}"], check=False,
                        env={"HOME": str(home), "XDG_CONFIG_HOME": str(xdg)}).returncode
        assert (ours, theirs) == ((1, 1) if home_default == "reject" else (0, 0))
