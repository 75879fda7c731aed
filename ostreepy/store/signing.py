"""Commit signatures in detached metadata, as libostree's OstreeSign does them.

A signature covers the commit object's bytes and is appended to an ``aay`` in
the commit's ``.commitmeta`` under the signer's key: ``ostree.sign.ed25519``
(64-byte Ed25519 signatures), ``ostree.sign.spki`` (DER keys of any algorithm
OpenSSL signs with, ostree 2025.2+: :mod:`ostreepy.store.spki`) or
``ostree.sign.dummy`` (libostree's test signer, which "signs" with the key text
itself and is refused unless ``OSTREE_DUMMY_SIGN_ENABLED=1``, as in libostree).

Key formats are libostree's: an Ed25519 public key is base64 of its 32 bytes;
a secret key is base64 of 64 bytes (seed then public key) or of the 32-byte
seed.  Key files hold one base64 key per line (spki: PEM blocks, whose DER the
Signer holds as base64 like the command line's keys); a keys directory has
``trusted.TYPE``, ``trusted.TYPE.d/*``, ``revoked.TYPE`` and ``revoked.TYPE.d/*``.  cryptography is imported only when Ed25519 is used.

GPG signatures go in ``ostree.gpgsigs`` (``aay``, one binary OpenPGP signature
packet each), made and removed by :mod:`ostreepy.remote.openpgp` (the OpenPGP
code lives in ociclient, which the store room does not import).
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Iterable, List, Optional, Sequence

import attrs

from ..errors import SignatureError
from .gvariant import Variant
from .objects import ObjectType
from .repo import Repo

ED25519 = "ed25519"
DUMMY = "dummy"
SPKI = "spki"
#: the signature types this build has, in libostree's order (ostree_sign_get_all)
SIGN_TYPES = (ED25519, DUMMY, SPKI)
METADATA_KEYS = {ED25519: "ostree.sign.ed25519", DUMMY: "ostree.sign.dummy", SPKI: "ostree.sign.spki"}
#: types that read keys from files and key directories (libostree's load_pk): the dummy
#: signer has none, so ``verification-dummy-file`` always fails to load, as in libostree
KEY_FILE_TYPES = (ED25519, SPKI)
DEFAULT_KEY_DIRS = ("/etc/ostree", "/usr/share/ostree")


def check_sign_type(type_: str) -> str:
    """``type_`` when this build has it, else libostree's error (ostree_sign_get_by_name)."""
    if type_ not in SIGN_TYPES:
        raise SignatureError(f"Requested signature type is not implemented: {type_}")
    return type_


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"Invalid base64 key: {text.strip()[:20]}...") from None


def _dummy_enabled() -> None:
    if os.environ.get("OSTREE_DUMMY_SIGN_ENABLED") != "1":
        raise SignatureError("dummy signature type is only for ostree testing")


@attrs.frozen
class Signer:
    """One signature type with its secret key (to sign) or public keys (to verify)."""

    type: str
    secret: Optional[str] = None
    public: Sequence[str] = ()
    revoked: Sequence[str] = ()

    @property
    def metadata_key(self) -> str:
        try:
            return METADATA_KEYS[self.type]
        except KeyError:
            raise SignatureError(f"Requested signature type is not implemented: {self.type}") from None

    def sign(self, data: bytes) -> bytes:
        if self.secret is None:
            raise SignatureError(f"{self.type}: no secret key")
        if self.type == DUMMY:
            _dummy_enabled()
            return self.secret.encode()
        if self.type == SPKI:
            from . import spki
            return spki.sign(_b64(self.secret), data)
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        raw = _b64(self.secret)
        if len(raw) not in (32, 64):
            raise SignatureError(f"ed25519: secret key has {len(raw)} bytes, not 64 (or a 32-byte seed)")
        key = Ed25519PrivateKey.from_private_bytes(raw[:32])
        if len(raw) == 64 and key.public_key().public_bytes_raw() != raw[32:]:
            raise SignatureError("ed25519: the secret key's public half does not match its seed")
        return key.sign(data)

    def verify(self, data: bytes, signatures: Sequence[bytes]) -> str:
        """A success message as libostree prints it, or SignatureError."""
        if self.type == DUMMY:
            _dummy_enabled()
            for sig in signatures:
                if any(sig == p.encode() for p in self.public):
                    return "dummy: Signature verified"
            if signatures:
                raise SignatureError(f"signature: dummy: incorrect signatures found: {len(signatures)}")
            raise SignatureError("signature: dummy: no signatures")
        if self.type == SPKI:
            return self._verify_spki(data, signatures)
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        revoked = {_b64(r) for r in self.revoked}
        keys = []
        for p in self.public:
            raw = _b64(p)
            if len(raw) != 32:
                raise SignatureError(f"ed25519: public key has {len(raw)} bytes, not 32")
            if raw not in revoked:
                keys.append(raw)
        if not keys:
            raise SignatureError("ed25519: no public keys to verify with")
        invalid = []
        for sig in signatures:
            if len(sig) != 64:
                raise SignatureError(f"Invalid signature: ed25519: signature has {len(sig)} bytes, not 64")
            for raw in keys:
                try:
                    Ed25519PublicKey.from_public_bytes(raw).verify(sig, data)
                except InvalidSignature:
                    invalid.append(f"key '{raw.hex()}'")
                    continue
                return f"ed25519: Signature verified successfully with key '{raw.hex()}'"
        if invalid:
            if len(invalid) > 3:
                raise SignatureError(f"ed25519: Signature couldn't be verified; tried {len(invalid)} keys")
            raise SignatureError("ed25519: Signature couldn't be verified with: " + "; ".join(invalid))
        raise SignatureError("ed25519: no signatures found")

    def _verify_spki(self, data: bytes, signatures: Sequence[bytes]) -> str:
        # ostree_sign_spki_data_verify: every signature against every key not revoked
        from . import spki
        revoked = {_b64(r) for r in self.revoked}
        keys = [k for k in (_b64(p) for p in self.public) if k not in revoked]
        invalid = []
        for sig in signatures:
            for raw in keys:
                if spki.verify(raw, sig, data):
                    return f"spki: Signature verified successfully with key '{raw.hex()}'"
                invalid.append(f"key '{raw.hex()}'")
        if invalid:
            if len(invalid) > 3:
                raise SignatureError(f"spki: Signature couldn't be verified; tried {len(invalid)} keys")
            raise SignatureError("spki: Signature couldn't be verified with: " + "; ".join(invalid))
        raise SignatureError("spki: no signatures found")


def read_key_file(path: str, type_: str = ED25519, secret: bool = False) -> List[str]:
    """One base64 key per line; blank lines and '#' comments skipped.  For spki the
    file holds PEM blocks (``PUBLIC KEY``, or ``PRIVATE KEY`` when ``secret``), each
    returned as base64 of its DER."""
    try:
        with open(path, "r", encoding="ascii") as f:
            if type_ == SPKI:
                from . import spki
                label = "PRIVATE KEY" if secret else "PUBLIC KEY"
                return [base64.b64encode(der).decode() for der in spki.pem_blocks(f.read(), label)]
            return [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]
    except (OSError, UnicodeDecodeError) as e:
        raise SignatureError(f"Can't read keys from {path}: {e}") from None


def read_secret_key_file(path: str, type_: str = ED25519) -> str:
    """The secret key ``commit --sign-from-file=PATH`` signs with (ostree 2025.2+'s
    ostree_sign_read_sk): the first PEM ``PRIVATE KEY`` block for spki, else the file's first
    line as base64 (libostree's base64 blob reader: an empty first line is an error, nothing
    is skipped).  Returned as base64, as an inline ``--sign`` key is given."""
    if type_ == SPKI:
        keys = read_key_file(path, type_, secret=True)
        if not keys:
            raise SignatureError(f"Reading {path}: no PRIVATE KEY block")
        return keys[0]
    try:
        with open(path, "rb") as f:
            line = f.readline()
    except OSError as e:
        raise SignatureError(f"Reading {path}: {e.strerror}") from None
    if not line:
        raise SignatureError(f"Reading {path}: no key")
    line = line.rstrip(b"\n")
    if not line:
        raise SignatureError(f"Reading {path}: Invalid base64 blob format")
    try:
        return base64.b64encode(base64.b64decode(line, validate=False)).decode()
    except ValueError:
        raise SignatureError(f"Reading {path}: Invalid base64 blob format") from None


def _keys_in(base: str, name: str, type_: str) -> List[str]:
    out: List[str] = []
    f = os.path.join(base, name)
    if os.path.isfile(f):
        out += read_key_file(f, type_)
    d = f + ".d"
    if os.path.isdir(d):
        for entry in sorted(os.listdir(d)):
            p = os.path.join(d, entry)
            if os.path.isfile(p):
                out += read_key_file(p, type_)
    return out


def load_public_keys(type_: str, keys_file: Optional[str] = None,
                     keys_dirs: Iterable[str] = DEFAULT_KEY_DIRS) -> Signer:
    """Public (and revoked) keys from a file, or from ostree's keys directories."""
    check_sign_type(type_)
    if type_ not in KEY_FILE_TYPES:
        if keys_file:
            raise SignatureError(f"{type_}: keys files are not implemented")
        return Signer(type_)
    if keys_file:
        return Signer(type_, public=tuple(read_key_file(keys_file, type_)))
    public: List[str] = []
    revoked: List[str] = []
    for base in keys_dirs:
        public += _keys_in(base, f"trusted.{type_}", type_)
        revoked += _keys_in(base, f"revoked.{type_}", type_)
    return Signer(type_, public=tuple(public), revoked=tuple(revoked))


def sign_commit(repo: Repo, rev: str, signer: Signer) -> None:
    """Append a signature of the commit to its detached metadata."""
    csum = repo.resolve_rev(rev)
    assert csum is not None
    data = repo.load_metadata(ObjectType.COMMIT, csum)
    sig = signer.sign(data)
    meta = dict(repo.read_commit_detached_metadata(csum) or {})
    key = signer.metadata_key
    existing = meta.get(key)
    sigs = list(existing.value) if isinstance(existing, Variant) and existing.type == "aay" else []
    sigs.append(sig)
    meta[key] = Variant("aay", sigs)
    repo.write_commit_detached_metadata(csum, meta)


def commit_signatures(repo: Repo, csum: str, type_: str) -> List[bytes]:
    """The signatures of type ``type_`` in a commit's detached metadata."""
    meta = repo.read_commit_detached_metadata(csum) or {}
    v = meta.get(METADATA_KEYS.get(type_, ""))
    if isinstance(v, Variant) and v.type == "aay":
        return [bytes(x) for x in v.value]
    return []


def verify_commit(repo: Repo, rev: str, signer: Signer) -> str:
    """Verify the commit ``rev`` resolves to with ``signer``; returns the verifier's message,
    raises :class:`~ostreepy.errors.SignatureError` when no signature verifies."""
    csum = repo.resolve_rev(rev)
    assert csum is not None
    data = repo.load_metadata(ObjectType.COMMIT, csum)
    sigs = commit_signatures(repo, csum, signer.type)
    if not sigs:
        if signer.type in (ED25519, SPKI):
            raise SignatureError(f"{signer.type}: commit have no signatures of my type")
        raise SignatureError(f"signature: {signer.type}: commit have no signatures of my type")
    return signer.verify(data, sigs)


# ----------------------------------------------------------------------------- GPG

GPGSIGS = "ostree.gpgsigs"

