"""OpenPGP (GPG) signatures for ostreepy: the public face of :mod:`ociclient.pgpformat`
plus the one piece of I/O it needs, reading a GnuPG home directory to sign.

Verification is pure and lives in :mod:`ociclient.pgpformat` (re-exported here;
it sits in ociclient so container simple signing shares it). Errors this
module raises itself are :class:`GpgError`, both a SignatureError and an
OpenPGPError.
Signing reads the homedir natively (no gpg binary) through
:mod:`ociclient.gpghome`, which container signing shares: GnuPG 2.1's
``private-keys-v1.d`` and GnuPG 1's ``secring.gpg`` (migrated into the former
first, as gpg does on its first use of such a home). A passphrase-protected
key is opened with the passphrase the caller gives, else the first line of the
file ``$OSTREEPY_GPG_PASSPHRASE_FILE`` names (there is no pinentry).
"""

from __future__ import annotations

import os
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


#: ostree asks gpg-agent, which asks a pinentry; ostreepy has neither, so a
#: passphrase-protected key is opened with the first line of this file
PASSPHRASE_FILE_ENV = "OSTREEPY_GPG_PASSPHRASE_FILE"


def _env_passphrase() -> Optional[bytes]:
    path = os.environ.get(PASSPHRASE_FILE_ENV)
    if not path:
        return None
    try:
        with open(path, "rb") as f:
            return f.read(64 * 1024).split(b"\n", 1)[0].rstrip(b"\r")
    except OSError as e:
        raise GpgError(f"Can't read the passphrase file {path} (${PASSPHRASE_FILE_ENV}): {e.strerror}") from None


def sign_detached(data: bytes, key_id: str, homedir: Optional[str] = None,
                  passphrase: Optional[bytes] = None) -> bytes:
    """A binary v4 signature packet over ``data`` made with the secret key that
    ``key_id`` (key id, fingerprint or user ID) names in the GnuPG ``homedir``
    (``private-keys-v1.d`` or GnuPG 1's ``secring.gpg``); a protected key is
    opened with ``passphrase``, else with the file ``$OSTREEPY_GPG_PASSPHRASE_FILE`` names."""
    # gpg, which ostree's gpgme signing runs, moves a GnuPG 1 secring.gpg into
    # private-keys-v1.d on first use; later gpg commands in the same home expect it
    gpghome.migrate_secring(homedir)
    try:
        key, sk = gpghome.find_secret(key_id, homedir, passphrase if passphrase is not None else _env_passphrase())
        return sign_data(data, key, sk)
    except GpgError:
        raise
    except OpenPGPError as e:
        msg = str(e).replace("give the passphrase (--sign-passphrase-file)",
                             f"ostreepy has no pinentry: name a file holding the passphrase in ${PASSPHRASE_FILE_ENV}")
        if "protected by a passphrase" in msg and PASSPHRASE_FILE_ENV not in msg:
            msg += f" (ostreepy has no pinentry: name a file holding the passphrase in ${PASSPHRASE_FILE_ENV})"
        raise GpgError(msg) from None


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
        # an emptied dictionary is written, not the file removed (delete_signatures in
        # ot-builtin-gpg-sign.c): a puller then fetches the empty .commitmeta and drops its
        # copy of the signatures, where a 404 would leave them (test-commit-sign)
        repo.write_commit_detached_metadata(csum, meta)
    return dropped
