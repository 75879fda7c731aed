"""Sigstore (cosign) signatures with public keys, pure: bytes in, verdicts out.

A cosign signature is a JSON payload ("simple signing" layer,
``application/vnd.dev.cosign.simplesigning.v1+json``) plus the
``dev.cosignproject.cosign/signature`` annotation holding the base64
signature of those exact payload bytes::

    {"critical": {"identity": {"docker-reference": "..."},
                  "image": {"docker-manifest-digest": "sha256:..."},
                  "type": "cosign container image signature"},
     "optional": {...}}

Design, as containers-image's signature/sigstore: the signature is checked
first (ECDSA P-256/P-384/P-521 and RSA PKCS#1 v1.5 over SHA-256, Ed25519 pure,
like sigstore's LoadVerifier with SHA-256), only then is the payload parsed,
strictly in ``critical``.  Keys are PEM public keys (cosign.pub) or
``skopeo generate-sigstore-key``'s ``.pub``.  Where the signatures are found
(attachments ``sha256-<hex>.sig`` in a registry) is :mod:`ociclient.signatures`.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Dict, Mapping, Optional, Sequence, Tuple

import attrs

from .digest import digest_bytes, parse_digest
from .errors import DigestInvalid, OciError

PAYLOAD_TYPE = "cosign container image signature"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CERT_ANNOTATION = "dev.sigstore.cosign/certificate"
BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"
PAYLOAD_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
MAX_PAYLOAD = 4 * 1024 * 1024


class SigstoreError(OciError):
    """A sigstore signature, payload or key that is malformed or does not verify."""


@attrs.frozen
class SigstorePayload:
    """What a valid cosign payload says."""

    manifest_digest: str
    docker_reference: str


def load_public_key(pem: bytes) -> object:
    """A PEM public key (cosign.pub) as a cryptography key object."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    try:
        return load_pem_public_key(pem)
    except (ValueError, TypeError) as e:
        raise SigstoreError(f"Invalid sigstore public key: {e}") from None


def _verify_with(key: object, sig: bytes, data: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sig, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(sig, data)
        else:
            raise SigstoreError(f"Unsupported sigstore public key type {type(key).__name__}")
        return True
    except InvalidSignature:
        return False


def parse_payload(data: bytes) -> SigstorePayload:
    """The cosign payload JSON, strict in ``critical`` as containers-image is."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise SigstoreError(f"Invalid sigstore payload: {e}") from None
    if not isinstance(doc, dict) or "critical" not in doc or set(doc) - {"critical", "optional"}:
        raise SigstoreError("Invalid sigstore payload: needs critical and optionally optional")
    crit = doc["critical"]
    if not isinstance(crit, dict) or set(crit) != {"type", "image", "identity"}:
        raise SigstoreError("Invalid sigstore payload: critical needs exactly type, image and identity")
    if crit["type"] != PAYLOAD_TYPE:
        raise SigstoreError(f"Unrecognized sigstore payload type {crit['type']!r}")
    image, ident = crit["image"], crit["identity"]
    if not isinstance(image, dict) or set(image) != {"docker-manifest-digest"} \
            or not isinstance(image["docker-manifest-digest"], str):
        raise SigstoreError("Invalid sigstore payload: critical.image needs exactly docker-manifest-digest")
    if not isinstance(ident, dict) or set(ident) != {"docker-reference"} \
            or not isinstance(ident["docker-reference"], str):
        raise SigstoreError("Invalid sigstore payload: critical.identity needs exactly docker-reference")
    if doc.get("optional") is not None and not isinstance(doc["optional"], dict):
        raise SigstoreError("Invalid sigstore payload: optional is not an object")
    try:
        parse_digest(image["docker-manifest-digest"])
    except DigestInvalid as e:
        raise SigstoreError(f"Invalid sigstore payload: {e}") from None
    return SigstorePayload(image["docker-manifest-digest"], ident["docker-reference"])


def make_payload(manifest_digest: str, docker_reference: str, creator: Optional[str] = None,
                 timestamp: Optional[int] = None) -> bytes:
    """A cosign payload; with ``creator`` (and a timestamp, default now) as
    containers-image's signer writes it, else bare as ``cosign sign`` does."""
    opt: Optional[Dict[str, object]] = None
    if creator is not None:
        opt = {"creator": creator, "timestamp": int(time.time()) if timestamp is None else timestamp}
    return json.dumps({"critical": {"identity": {"docker-reference": docker_reference},
                                    "image": {"docker-manifest-digest": manifest_digest},
                                    "type": PAYLOAD_TYPE}, "optional": opt}, separators=(",", ":")).encode()


def verify(payload: bytes, annotations: Mapping[str, str], public_keys: Sequence[bytes],
           manifest: bytes) -> SigstorePayload:
    """The payload, if one of ``public_keys`` signed it and it names ``manifest``."""
    if len(payload) > MAX_PAYLOAD:
        raise SigstoreError("sigstore payload too large")
    b64 = annotations.get(SIGNATURE_ANNOTATION)
    if b64 is None:
        raise SigstoreError(f"sigstore signature has no {SIGNATURE_ANNOTATION} annotation")
    if CERT_ANNOTATION in annotations or BUNDLE_ANNOTATION in annotations:
        pass  # a key-based policy ignores Fulcio certificates and Rekor bundles, as containers-image does
    try:
        sig = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise SigstoreError("sigstore signature annotation is not base64") from None
    keys = [load_public_key(k) for k in public_keys]
    if not any(_verify_with(k, sig, payload) for k in keys):
        raise SigstoreError("cryptographic signature verification failed: invalid signature")
    parsed = parse_payload(payload)
    algo, _ = parse_digest(parsed.manifest_digest)
    if digest_bytes(manifest, algo) != parsed.manifest_digest:
        raise SigstoreError(f"Signature for docker digest {parsed.manifest_digest} does not match")
    return parsed


def sign(payload: bytes, private_key: object) -> str:
    """The base64 signature annotation for ``payload`` with a cryptography private key."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        raw = private_key.sign(payload, ec.ECDSA(hashes.SHA256()))
    elif isinstance(private_key, rsa.RSAPrivateKey):
        raw = private_key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
    elif isinstance(private_key, ed25519.Ed25519PrivateKey):
        raw = private_key.sign(payload)
    else:
        raise SigstoreError(f"Unsupported sigstore private key type {type(private_key).__name__}")
    return base64.b64encode(raw).decode()


def sign_manifest(manifest: bytes, docker_reference: str, private_key: object,
                  creator: str = "ociclient") -> Tuple[bytes, Dict[str, str]]:
    """A sigstore signature of ``manifest`` as ``docker_reference``, as
    ``skopeo copy --sign-by-sigstore-private-key`` makes it: the payload (with
    creator and timestamp) and the layer annotations holding its signature."""
    from .reference import parse_docker_reference
    bare = parse_docker_reference(docker_reference, normalize=False)
    ref = parse_docker_reference(docker_reference)
    if bare.tag is None and bare.digest is None:
        raise SigstoreError(f"reference {docker_reference} can’t be signed, it has neither a tag nor a digest")
    payload = make_payload(digest_bytes(manifest, "sha256"), ref.string(), creator)
    return payload, {SIGNATURE_ANNOTATION: sign(payload, private_key)}
