"""OpenPGP (GPG) signatures for ostreepy: the public face of :mod:`ociclient.pgpformat`
plus the one piece of I/O it needs, reading a GnuPG home directory to sign.

Verification is pure and lives in :mod:`ociclient.pgpformat` (re-exported here;
it sits in ociclient so container simple signing shares it). Errors this
module raises itself are :class:`GpgError`, both a SignatureError and an
OpenPGPError.
Signing reads the homedir natively (no gpg binary) through
:mod:`ociclient.gpghome`, which container signing shares.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from ociclient import gpghome, pgpformat
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
    return gpghome.default_homedir()


def homedir_keyring(homedir: Optional[str] = None) -> Keyring:
    """The public keys of a GnuPG home directory."""
    try:
        return gpghome.homedir_keyring(homedir)
    except OpenPGPError as e:
        raise GpgError(str(e)) from None


def homedir_secret_keys(homedir: Optional[str] = None) -> Tuple[List[SecretKey], List[str]]:
    """Every readable secret key of the homedir, and why the others were not read."""
    return gpghome.homedir_secret_keys(homedir)


def sign_detached(data: bytes, key_id: str, homedir: Optional[str] = None) -> bytes:
    """A binary v4 signature packet over ``data`` made with the secret key that
    ``key_id`` (key id, fingerprint or user ID) names in the GnuPG ``homedir``."""
    try:
        key, sk = gpghome.find_secret(key_id, homedir)
        return sign_data(data, key, sk)
    except GpgError:
        raise
    except OpenPGPError as e:
        raise GpgError(str(e)) from None


signing_candidates = gpghome.signing_candidates
signature_is_by = gpghome.signature_is_by


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
