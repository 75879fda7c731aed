"""Cosign's passphrase-protected private keys, pure: PEM bytes and passphrase in, key out.

Design: the format ``skopeo generate-sigstore-key`` and ``cosign
generate-key-pair`` write.  The PEM block (``ENCRYPTED COSIGN PRIVATE KEY``,
as skopeo 1.18 and containers-image write and read; cosign 2 writes
``ENCRYPTED SIGSTORE PRIVATE KEY``, read here too) holds a JSON envelope (the
``encrypted`` package of go-tuf / go-securesystemslib)::

    {"kdf": {"name": "scrypt", "params": {"N": 65536, "r": 8, "p": 1}, "salt": <b64 32 bytes>},
     "cipher": {"name": "nacl/secretbox", "nonce": <b64 24 bytes>},
     "ciphertext": <b64 secretbox of the PKCS#8 DER private key>}

The secretbox key is scrypt(passphrase, salt) with 32 bytes out.  Only the
three scrypt parameter sets that package accepts are accepted here too, so a
hostile key file cannot ask for gigabytes of scrypt memory.  The public half
is a plain PKIX ``PUBLIC KEY`` PEM, which :mod:`ociclient.sigstore` reads.

:func:`parse_signing_params` reads containers-image's sigstore signing
parameter file (``--sign-by-sigstore``, containers-sigstore-signing-params.yaml)
as strictly as it does (unknown keys are errors); only its private-key form is
supported, Fulcio and Rekor are refused by name.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from typing import TYPE_CHECKING, Optional, Tuple, Union

import attrs

from . import secretbox
from .errors import OciError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

COSIGN_PEM_TYPE = "ENCRYPTED COSIGN PRIVATE KEY"
SIGSTORE_PEM_TYPE = "ENCRYPTED SIGSTORE PRIVATE KEY"
# go-securesystemslib encrypted: legacy (2^15), standard (2^16, what Encrypt uses) and OWASP (2^17)
ALLOWED_SCRYPT = ((32768, 8, 1), (65536, 8, 1), (131072, 8, 1))
DEFAULT_SCRYPT = (65536, 8, 1)
SALT_SIZE = 32
MAX_KEY_FILE = 64 * 1024

_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.S)

PrivateKey = Union["ec.EllipticCurvePrivateKey", "rsa.RSAPrivateKey", "ed25519.Ed25519PrivateKey"]


class CosignKeyError(OciError):
    """A cosign private key file that is malformed, or a wrong passphrase."""


def _kdf(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(passphrase, salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=secretbox.KEY_SIZE)


def _pem(pem_type: str, body: bytes) -> bytes:
    b64 = base64.b64encode(body).decode()
    lines = "".join(b64[i:i + 64] + "\n" for i in range(0, len(b64), 64))
    return f"-----BEGIN {pem_type}-----\n{lines}-----END {pem_type}-----\n".encode()


def encrypt_private_key(key: PrivateKey, passphrase: bytes, pem_type: str = COSIGN_PEM_TYPE) -> bytes:
    """The encrypted PEM of ``key`` (PKCS#8 inside), as skopeo writes it."""
    from cryptography.hazmat.primitives import serialization as s
    der = key.private_bytes(s.Encoding.DER, s.PrivateFormat.PKCS8, s.NoEncryption())
    salt, nonce = os.urandom(SALT_SIZE), os.urandom(secretbox.NONCE_SIZE)
    n, r, p = DEFAULT_SCRYPT
    box = secretbox.seal(der, nonce, _kdf(passphrase, salt, n, r, p))
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    doc = {"kdf": {"name": "scrypt", "params": {"N": n, "r": r, "p": p}, "salt": b64(salt)},
           "cipher": {"name": "nacl/secretbox", "nonce": b64(nonce)}, "ciphertext": b64(box)}
    return _pem(pem_type, json.dumps(doc, separators=(",", ":")).encode())


def _b64(doc: object, *path: str) -> bytes:
    v = doc
    for k in path:
        if not isinstance(v, dict) or k not in v:
            raise CosignKeyError(f"Invalid encrypted private key: no {'.'.join(path)}")
        v = v[k]
    if not isinstance(v, str):
        raise CosignKeyError(f"Invalid encrypted private key: {'.'.join(path)} is not a string")
    try:
        return base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        raise CosignKeyError(f"Invalid encrypted private key: {'.'.join(path)} is not base64") from None


def load_private_key(pem: bytes, passphrase: bytes) -> PrivateKey:
    """The private key of an encrypted cosign PEM; a wrong passphrase is an error
    ("decrypt: encrypted: decryption failed" in skopeo's words)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_der_private_key
    if len(pem) > MAX_KEY_FILE:
        raise CosignKeyError("Invalid encrypted private key: file too large")
    m = _PEM.search(pem)
    if m is None:
        raise CosignKeyError("invalid pem block")
    pem_type = m.group(1).decode()
    if pem_type not in (COSIGN_PEM_TYPE, SIGSTORE_PEM_TYPE):
        raise CosignKeyError(f"unsupported pem type: {pem_type}")
    try:
        raw = base64.b64decode(re.sub(rb"\s+", b"", m.group(2)), validate=True)
        doc = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        raise CosignKeyError("Invalid encrypted private key: not a JSON envelope") from None
    if not isinstance(doc, dict):
        raise CosignKeyError("Invalid encrypted private key: not a JSON object")
    kdf, cipher = doc.get("kdf"), doc.get("cipher")
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
        raise CosignKeyError("Invalid encrypted private key: unsupported key derivation function")
    if not isinstance(cipher, dict) or cipher.get("name") != "nacl/secretbox":
        raise CosignKeyError("Invalid encrypted private key: unsupported cipher")
    params = kdf.get("params")
    got = tuple(params.get(k) for k in ("N", "r", "p")) if isinstance(params, dict) else None
    if got not in ALLOWED_SCRYPT:
        raise CosignKeyError("Invalid encrypted private key: unsupported scrypt parameters")
    salt, nonce, box = _b64(doc, "kdf", "salt"), _b64(doc, "cipher", "nonce"), _b64(doc, "ciphertext")
    if len(nonce) != secretbox.NONCE_SIZE:
        raise CosignKeyError("Invalid encrypted private key: bad nonce length")
    n, r, p = got  # type: ignore[misc]
    try:
        der = secretbox.open_box(box, nonce, _kdf(passphrase, salt, n, r, p))
    except secretbox.SecretboxError:
        raise CosignKeyError("decrypt: encrypted: decryption failed") from None
    try:
        key = load_der_private_key(der, None)
    except (ValueError, TypeError) as e:
        raise CosignKeyError(f"parsing private key: {e}") from None
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
        raise CosignKeyError("unsupported key type")
    return key


def public_pem(key: PrivateKey) -> bytes:
    """The PKIX ``PUBLIC KEY`` PEM of ``key`` (the ``.pub`` file)."""
    from cryptography.hazmat.primitives import serialization as s
    return key.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo)


def generate_key_pair(passphrase: bytes) -> Tuple[bytes, bytes]:
    """A new ECDSA P-256 key (as skopeo and cosign make) as (encrypted private PEM, public PEM)."""
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    return encrypt_private_key(key, passphrase), public_pem(key)


@attrs.frozen
class SigningParams:
    """A sigstore signing parameter file's private-key settings."""

    private_key_file: str
    private_key_passphrase_file: Optional[str] = None


_PARAM_KEYS = ("privateKeyFile", "privateKeyPassphraseFile", "fulcio", "rekorURL")


def parse_signing_params(text: str, name: str = "sigstore signing parameters") -> SigningParams:
    """The settings of a ``--sign-by-sigstore`` parameter file."""
    from .signatures import RegistriesDError, parse_registries_d
    try:
        doc = parse_registries_d(text, name)
    except RegistriesDError as e:
        raise CosignKeyError(f"parsing {name}: {e}") from None
    for k, v in doc.items():
        if k not in _PARAM_KEYS:
            raise CosignKeyError(f"parsing {name}: field {k} not found in type params.SigningParameterFile")
        if k in ("fulcio", "rekorURL") and v != "":
            raise CosignKeyError(f"{name}: {k} is not supported (only privateKeyFile signing, no Fulcio or Rekor)")
        if k.startswith("private") and not isinstance(v, str):
            raise CosignKeyError(f"parsing {name}: {k} is not a string")
    key = doc.get("privateKeyFile")
    if not key:
        raise CosignKeyError(f"{name}: no signing configuration found (privateKeyFile is needed)")
    assert isinstance(key, str)
    pp = doc.get("privateKeyPassphraseFile")
    return SigningParams(key, pp if isinstance(pp, str) and pp else None)
