"""OpenPGP (GPG) signatures for ostreepy: the public face of :mod:`ociclient.pgpformat`
plus the one piece of I/O it needs, reading a GnuPG home directory to sign.

Verification is pure and lives in :mod:`ociclient.pgpformat` (re-exported here;
it sits in ociclient so container simple signing shares it). Errors this
module raises itself are :class:`GpgError`, both a SignatureError and an
OpenPGPError.
Signing reads the homedir natively, no gpg binary: public keys from
``pubring.kbx`` (keybox) or ``pubring.gpg``, secret keys from
``private-keys-v1.d/*.key``, matched to a public key by their key material
rather than by keygrip (a keygrip of an ECC key needs libgcrypt's curve
tables; comparing the public point is exact and simple).
"""

from __future__ import annotations

import os
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from ociclient import pgpformat
from ociclient.pgpformat import (  # noqa: F401  (re-exported API)
    BAD, EXPIRED_KEY, EXPIRED_SIG, MISSING_KEY, REVOKED_KEY, UNSUPPORTED, VALID, Certificate, Key, Keyring,
    OpenPGPError, SecretKey, SignatureCheck, SignaturePacket, UserID, armor, check_signature, dearmor,
    iter_packets, parse_gnupg_key_file, parse_keybox, parse_signature, sign_data,
    split_signatures, verify_detached,
)

from ..errors import SignatureError
from ..store.gvariant import Variant
from ..store.objects import ObjectType
from ..store.repo import Repo
from ..store.signing import GPGSIGS

MAX_KEY_FILE = 1024 * 1024


class GpgError(SignatureError, OpenPGPError):
    """A GnuPG home directory that cannot be read or has no usable key, or no
    valid signature: an OstreeError for ostreepy's callers and an OpenPGPError
    for those that catch the pure layer's errors."""


def require_valid(checks: Sequence[SignatureCheck]) -> SignatureCheck:
    """:func:`ociclient.pgpformat.require_valid`, refusing with a SignatureError."""
    try:
        return pgpformat.require_valid(checks)
    except pgpformat.SignatureRejected as e:
        raise GpgError(str(e)) from None


def default_homedir() -> str:
    """``$GNUPGHOME`` or ``~/.gnupg``, as gpg picks its home directory."""
    return os.environ.get("GNUPGHOME") or os.path.join(os.path.expanduser("~"), ".gnupg")


def _read(path: str, limit: int) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise GpgError(f"Can't read {path}: {e.strerror}") from None
    if len(data) > limit:
        raise GpgError(f"{path} is over {limit} bytes")
    return data


def homedir_keyring(homedir: Optional[str] = None) -> Keyring:
    """The public keys of a GnuPG home directory."""
    home = homedir or default_homedir()
    blobs = []
    kbx = os.path.join(home, "pubring.kbx")
    gpg = os.path.join(home, "pubring.gpg")
    if os.path.isfile(kbx):
        blobs.append(parse_keybox(_read(kbx, 256 * 1024 * 1024)))
    if os.path.isfile(gpg):
        blobs.append(_read(gpg, 256 * 1024 * 1024))
    if not blobs:
        raise GpgError(f"No public keyring (pubring.kbx or pubring.gpg) in {home}")
    return Keyring.from_bytes(b"".join(blobs))


def homedir_secret_keys(homedir: Optional[str] = None) -> Tuple[List[SecretKey], List[str]]:
    """Every readable secret key of the homedir, and why the others were not read."""
    d = os.path.join(homedir or default_homedir(), "private-keys-v1.d")
    keys: List[SecretKey] = []
    problems: List[str] = []
    try:
        names = sorted(os.listdir(d))
    except OSError:
        return [], [f"no {d}"]
    for name in names:
        if name.endswith(".key"):
            try:
                keys.append(parse_gnupg_key_file(_read(os.path.join(d, name), MAX_KEY_FILE)))
            except OpenPGPError as e:
                problems.append(f"{name}: {e}")
    return keys, problems


def signing_candidates(cert: Certificate, query: str, now: Optional[float] = None) -> List[Key]:
    """The keys of ``cert`` gpg would sign with for ``query``: a key named with a
    trailing '!' exactly; otherwise usable signing subkeys, newest first, then
    the primary."""
    import time as _time
    now = _time.time() if now is None else now
    if query.endswith("!"):
        hexq = query.upper().removeprefix("0X").rstrip("!")
        return [k for k in cert.keys() if k.fingerprint.endswith(hexq)]
    if not cert.primary.valid or cert.primary.revoked or cert.primary.expired(now):
        return []
    subs = sorted((k for k in cert.subkeys if k.valid and k.back_signed and not k.revoked and not k.expired(now)
                   and k.flags is not None and k.flags & 0x02), key=lambda k: -k.created)
    return subs + ([cert.primary] if cert.primary.can_sign() else [])


def sign_detached(data: bytes, key_id: str, homedir: Optional[str] = None) -> bytes:
    """A binary v4 signature packet over ``data`` made with the secret key that
    ``key_id`` (key id, fingerprint or user ID) names in the GnuPG ``homedir``."""
    keyring = homedir_keyring(homedir)
    certs = keyring.select(key_id)
    if not certs:
        raise GpgError(f'No public key for "{key_id}" in {homedir or default_homedir()}')
    secrets, problems = homedir_secret_keys(homedir)
    for cert in certs:
        for key in signing_candidates(cert, key_id):
            mine = tuple(m.lstrip(b"\0") for m in key.packet.material) if key.packet.algorithm in (1, 3) \
                else key.packet.material
            for sk in secrets:
                if sk.public_material() == mine:
                    return sign_data(data, key, sk)
    why = ("; ".join(problems)) if problems else "no matching key in private-keys-v1.d"
    raise GpgError(f'No usable secret key for "{key_id}": {why}')


def signature_is_by(sig: SignaturePacket, key_id: str, homedir: Optional[str] = None) -> bool:
    """Whether ``sig`` was made by a key of the certificate ``key_id`` names (as
    ostree_gpg_verify_result_lookup decides it, so a subkey's signature counts
    for its primary's id): looked up in the homedir, or matched as hex."""
    try:
        fprs = {k.fingerprint for c in homedir_keyring(homedir).select(key_id) for k in c.keys()}
    except OpenPGPError:
        fprs = set()
    issuer = sig.issuer_fingerprint or sig.issuer_key_id or ""
    hexq = key_id.upper().removeprefix("0X").rstrip("!")
    return bool(issuer) and (any(f.endswith(issuer) for f in fprs) or issuer.endswith(hexq[-16:]) and len(hexq) >= 8)


# ----------------------------------------------------------------------------- commits

def _gpg_sigs(meta: Optional[Mapping[str, Variant]]) -> List[bytes]:
    v = (meta or {}).get(GPGSIGS)
    return [bytes(x) for x in v.value] if isinstance(v, Variant) and v.type == "aay" else []


def add_gpg_signatures(meta: Optional[Mapping[str, Variant]], data: bytes, key_ids: Sequence[str],
                       homedir: Optional[str] = None) -> Dict[str, Variant]:
    """``meta`` with a signature of ``data`` by each of ``key_ids`` appended to its
    ``ostree.gpgsigs``: the form of both ``.commitmeta`` and ``summary.sig``.
    A key that already signed is refused, as ostree_repo_sign_commit refuses it."""
    out = dict(meta or {})
    sigs = _gpg_sigs(out)
    for key_id in key_ids:
        for raw in sigs:
            try:
                [old] = split_signatures(raw)
            except (OpenPGPError, ValueError):
                continue
            if signature_is_by(old, key_id, homedir):
                raise SignatureError(f"Commit is already signed with GPG key {key_id}")
        sigs.append(sign_detached(data, key_id, homedir))
    out[GPGSIGS] = Variant("aay", sigs)
    return out


def gpg_sign_commit(repo: Repo, rev: str, key_ids: Sequence[str], homedir: Optional[str] = None) -> str:
    """Sign the commit ``rev`` resolves to with each GnuPG key of ``key_ids``
    (as ``ostree gpg-sign``); returns the commit checksum."""
    csum = repo.resolve_rev(rev)
    assert csum is not None
    data = repo.load_metadata(ObjectType.COMMIT, csum)
    repo.write_commit_detached_metadata(
        csum, add_gpg_signatures(repo.read_commit_detached_metadata(csum), data, key_ids, homedir))
    return csum


def gpg_delete_signatures(repo: Repo, rev: str, key_ids: Sequence[str], homedir: Optional[str] = None) -> int:
    """Drop the commit's GPG signatures made by any of ``key_ids`` (``ostree
    gpg-sign --delete``); the number dropped."""
    csum = repo.resolve_rev(rev)
    assert csum is not None
    meta = dict(repo.read_commit_detached_metadata(csum) or {})
    keep: List[bytes] = []
    for raw in _gpg_sigs(meta):
        try:
            [sig] = split_signatures(raw)
            by = any(signature_is_by(sig, k, homedir) for k in key_ids)
        except (OpenPGPError, ValueError):
            by = False
        if not by:
            keep.append(raw)
    dropped = len(_gpg_sigs(meta)) - len(keep)
    if dropped:
        if keep:
            meta[GPGSIGS] = Variant("aay", keep)
        else:
            meta.pop(GPGSIGS, None)
        repo.write_commit_detached_metadata(csum, meta or None)
    return dropped
