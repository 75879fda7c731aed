"""The ``spki`` signature type of ostree 2025.2+ (ostree-sign-spki.c), as pure functions.

Keys are DER: a public key is an X.509 SubjectPublicKeyInfo, a secret key a PKCS#8 (or
traditional RSA/EC) private key, given on the command line as base64 of the DER and in
key files as PEM blocks (``PUBLIC KEY`` / ``PRIVATE KEY``; a block of another label is
an error, as libostree's PEM blob reader has it). libostree signs with
``EVP_DigestSign`` and no digest named, so the algorithm is the key's: Ed25519 and
Ed448 sign the data itself, RSA and ECDSA keys use OpenSSL's default SHA-256 (PKCS#1
v1.5 for RSA). Signatures go in ``ostree.sign.spki`` (``aay``), appended like every
other type's (see :mod:`ostreepy.store.signing`).

Bytes in, bytes out: no files here; cryptography is imported on first use.
"""

from __future__ import annotations

import base64
import binascii

from ..errors import SignatureError

#: libostree's OSTREE_SIGN_MAX_METADATA_SIZE: longer keys or signatures are refused
MAX_METADATA_SIZE = 1 << 20


def pem_blocks(text: str, label: str) -> list[bytes]:
    """The DER of every PEM block in ``text`` (ostree-blob-reader-pem.c): lines are
    stripped, text outside blocks skipped; a block labelled other than ``label``
    is an error."""
    out: list[bytes] = []
    inner = None  # label of the open block
    buf: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if inner is None:
            if line.startswith("-----BEGIN ") and line.endswith("-----") and len(line) > 16:
                inner = line[len("-----BEGIN "):-5]
                buf = []
            continue
        if line.startswith("-----END ") and line.endswith("-----"):
            if line[len("-----END "):-5] != inner:
                raise SignatureError("Unmatched PEM header")
            if inner != label:
                raise SignatureError(f'Unexpected label "{inner}"')
            try:
                out.append(base64.b64decode("".join(buf)))
            except (binascii.Error, ValueError):
                raise SignatureError(f"Invalid base64 in PEM block {inner}") from None
            inner = None
        else:
            buf.append(line)
    return out


def _hash_args(key: object) -> tuple:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return (padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return (ec.ECDSA(hashes.SHA256()),)
    return ()


def sign(secret_der: bytes, data: bytes) -> bytes:
    """A signature of ``data`` with the DER private key ``secret_der``."""
    from cryptography.hazmat.primitives.serialization import load_der_private_key
    try:
        key = load_der_private_key(secret_der, password=None)
    except (ValueError, TypeError):
        raise SignatureError("openssl: Failed to initialize spki key") from None
    try:
        return key.sign(data, *_hash_args(key))  # type: ignore[union-attr, call-arg]
    except (AttributeError, TypeError, ValueError):
        raise SignatureError("Failed to sign") from None


def verify(public_der: bytes, signature: bytes, data: bytes) -> bool:
    """Whether ``signature`` over ``data`` is good for the SubjectPublicKeyInfo
    ``public_der``; a key that does not parse is an error, as in
    otcore_validate_spki_signature."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.serialization import load_der_public_key
    if len(public_der) > MAX_METADATA_SIZE:
        raise SignatureError(f"Invalid public key of {len(public_der)} bytes, expected <= {MAX_METADATA_SIZE}")
    if len(signature) > MAX_METADATA_SIZE:
        raise SignatureError(f"Invalid signature of {len(signature)} bytes, expected <= {MAX_METADATA_SIZE}")
    try:
        key = load_der_public_key(public_der)
    except (ValueError, TypeError):
        raise SignatureError("openssl: Failed to initialize spki key") from None
    try:
        key.verify(signature, data, *_hash_args(key))  # type: ignore[union-attr, call-arg]
    except (InvalidSignature, AttributeError, TypeError, ValueError):
        return False
    return True
