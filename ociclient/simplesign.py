"""Simple signing ("atomic container signature"), pure: bytes in, verdicts out.

A simple signature is an OpenPGP signed message whose content is a JSON
payload naming a manifest digest and a docker reference::

    {"critical": {"type": "atomic container signature",
                  "image": {"docker-manifest-digest": "sha256:..."},
                  "identity": {"docker-reference": "registry/repo:tag"}},
     "optional": {"creator": "...", "timestamp": 1700000000}}

Design, as containers-image's signature/simple.go: the OpenPGP layer is
checked first (by :mod:`ociclient.pgpformat`, with the keys a policy
requirement trusts), and only a payload whose signature is valid is parsed at
all; the parse is strict about ``critical`` (exactly those keys, the exact
type string) and lenient about ``optional``.  The manifest digest is compared
with the digest of the manifest bytes; the identity is judged by the caller's
rule (:mod:`ociclient.policy`), because the rule belongs to the policy.
Signatures are also made here (``sign_payload``), for ``copy --sign-by``.
"""

from __future__ import annotations

import json
from typing import Optional, Sequence

import attrs

from . import pgpformat
from .digest import digest_bytes, parse_digest
from .errors import DigestInvalid, OciError

SIGNATURE_TYPE = "atomic container signature"
#: containers-image refuses larger signatures the same way
MAX_SIGNATURE = 4 * 1024 * 1024


class SignatureInvalid(OciError):
    """A signature that does not verify, does not parse, or does not match the image."""


@attrs.frozen
class Payload:
    """What a valid simple signature says."""

    manifest_digest: str
    docker_reference: str
    creator: Optional[str] = None
    timestamp: Optional[int] = None
    signer: str = ""  # fingerprint of the primary key that signed


def parse_payload(data: bytes) -> Payload:
    """The payload JSON, checked the way containers-image's untrustedSignature is."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise SignatureInvalid(f"Invalid signature payload: {e}") from None
    if not isinstance(doc, dict) or set(doc) - {"critical", "optional"} or "critical" not in doc:
        raise SignatureInvalid("Invalid signature payload: needs exactly critical and optionally optional")
    crit = doc["critical"]
    if not isinstance(crit, dict) or set(crit) != {"type", "image", "identity"}:
        raise SignatureInvalid("Invalid signature payload: critical needs exactly type, image and identity")
    if crit["type"] != SIGNATURE_TYPE:
        raise SignatureInvalid(f"Unrecognized signature type {crit['type']!r}")
    image, ident = crit["image"], crit["identity"]
    if not isinstance(image, dict) or set(image) != {"docker-manifest-digest"} \
            or not isinstance(image["docker-manifest-digest"], str):
        raise SignatureInvalid("Invalid signature payload: critical.image needs exactly docker-manifest-digest")
    if not isinstance(ident, dict) or set(ident) != {"docker-reference"} \
            or not isinstance(ident["docker-reference"], str):
        raise SignatureInvalid("Invalid signature payload: critical.identity needs exactly docker-reference")
    try:
        parse_digest(image["docker-manifest-digest"])
    except DigestInvalid as e:
        raise SignatureInvalid(f"Invalid signature payload: {e}") from None
    opt = doc.get("optional", {})
    if not isinstance(opt, dict):
        raise SignatureInvalid("Invalid signature payload: optional is not an object")
    creator, ts = opt.get("creator"), opt.get("timestamp")
    if creator is not None and not isinstance(creator, str):
        raise SignatureInvalid("Invalid signature payload: optional.creator is not a string")
    if ts is not None and (not isinstance(ts, int) or isinstance(ts, bool)):
        raise SignatureInvalid("Invalid signature payload: optional.timestamp is not an integer")
    return Payload(image["docker-manifest-digest"], ident["docker-reference"], creator, ts)


def make_payload(manifest_digest: str, docker_reference: str, creator: str = "ociclient",
                 timestamp: Optional[int] = None) -> bytes:
    """A payload as containers-image writes it."""
    import time
    opt = {"creator": creator, "timestamp": int(time.time()) if timestamp is None else timestamp}
    return json.dumps({"critical": {"identity": {"docker-reference": docker_reference},
                                    "image": {"docker-manifest-digest": manifest_digest},
                                    "type": SIGNATURE_TYPE},
                       "optional": opt}, separators=(",", ":")).encode()


def manifest_matches(manifest: bytes, digest: str) -> bool:
    """Whether ``digest`` (of its own algorithm) is the digest of ``manifest``."""
    try:
        algo, _ = parse_digest(digest)
        return digest_bytes(manifest, algo) == digest
    except (DigestInvalid, ValueError):
        return False


def verify(signature: bytes, keyring: pgpformat.Keyring, trusted_fingerprints: Sequence[str],
           manifest: bytes, now: Optional[float] = None) -> Payload:
    """The payload of ``signature`` if a key of ``trusted_fingerprints`` made it
    and it names ``manifest``'s digest; SignatureInvalid otherwise."""
    if len(signature) > MAX_SIGNATURE:
        raise SignatureInvalid(f"Signature of {len(signature)} bytes is over {MAX_SIGNATURE}")
    try:
        content, checks = pgpformat.verify_message(signature, keyring, now)
    except pgpformat.OpenPGPError as e:
        raise SignatureInvalid(f"Invalid GPG signature: {e}") from None
    trusted = {f.upper() for f in trusted_fingerprints}
    good = [c for c in checks if c.valid and (c.primary_fingerprint in trusted or c.fingerprint in trusted)]
    if not good:
        why = "; ".join(c.describe().replace("\n", ", ") for c in checks)
        raise SignatureInvalid(f"Invalid GPG signature: {why}")
    payload = attrs.evolve(parse_payload(content), signer=good[0].primary_fingerprint)
    if not manifest_matches(manifest, payload.manifest_digest):
        raise SignatureInvalid(f"Signature for docker digest {payload.manifest_digest} does not match")
    return payload


def sign(manifest: bytes, docker_reference: str, key_id: str, homedir: Optional[str] = None,
         timestamp: Optional[int] = None, passphrase: Optional[bytes] = None) -> bytes:
    """A simple signature of ``manifest`` for ``docker_reference`` by the GnuPG
    key ``key_id`` (read natively from ``homedir``, default $GNUPGHOME; a
    passphrase-protected key opened with ``passphrase``)."""
    from . import gpghome
    from .digest import digest_bytes as _digest
    from .reference import parse_docker_reference
    from .errors import ReferenceInvalid
    try:
        ref = parse_docker_reference(docker_reference)
    except ReferenceInvalid as e:
        raise SignatureInvalid(f"Invalid signature identity: {e}") from None
    try:
        key, secret = gpghome.find_secret(key_id, homedir, passphrase)
        payload = make_payload(_digest(manifest), ref.string(), timestamp=timestamp)
        return pgpformat.sign_message(payload, key, secret, timestamp)
    except pgpformat.OpenPGPError as e:
        raise SignatureInvalid(f"Signing with {key_id}: {e}") from None


def verify_standalone(manifest: bytes, docker_reference: str, fingerprints: Sequence[str], signature: bytes,
                      keyring: pgpformat.Keyring) -> Payload:
    """``skopeo standalone-verify``: the signature is by one of ``fingerprints``
    (keys from ``keyring``), names ``manifest`` and exactly ``docker_reference``."""
    from .errors import ReferenceInvalid
    from .reference import parse_docker_reference
    payload = verify(signature, keyring, fingerprints, manifest)
    try:
        want = parse_docker_reference(docker_reference).string()
        got = parse_docker_reference(payload.docker_reference).string()
    except ReferenceInvalid as e:
        raise SignatureInvalid(str(e)) from None
    if got != want:
        raise SignatureInvalid(f'Docker reference "{payload.docker_reference}" does not match "{docker_reference}"')
    return payload
