"""A GnuPG home directory read natively, for signing without a gpg binary.

Design: the thin I/O layer over :mod:`ociclient.pgpformat`: public keys from
``pubring.kbx`` (keybox) or ``pubring.gpg``, secret keys from
``private-keys-v1.d/*.key`` and GnuPG 1's ``secring.gpg`` (see
:mod:`ociclient.pgpsecret`; unprotected ones, or passphrase-protected ones
given the passphrase), matched to a public key by
their key material rather than by keygrip (a keygrip of an ECC key needs
libgcrypt's curve tables; comparing the public point is exact and simple).
Used by ``ociclient copy --sign-by`` / ``standalone-sign`` and by ostreepy's
commit and summary signing.
"""

from __future__ import annotations

import os
from typing import List, Optional, Tuple

from .pgpformat import (Certificate, Key, Keyring, OpenPGPError, SecretKey, SignaturePacket, parse_gnupg_key_file,
                        parse_keybox, sign_data)
from .pgpsecret import read_secret_keys

MAX_KEY_FILE = 1024 * 1024


def default_homedir() -> str:
    """``$GNUPGHOME`` or ``~/.gnupg``, as gpg picks its home directory."""
    return os.environ.get("GNUPGHOME") or os.path.join(os.path.expanduser("~"), ".gnupg")


def _read(path: str, limit: int) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise OpenPGPError(f"Can't read {path}: {e.strerror}") from None
    if len(data) > limit:
        raise OpenPGPError(f"{path} is over {limit} bytes")
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
        raise OpenPGPError(f"No public keyring (pubring.kbx or pubring.gpg) in {home}")
    return Keyring.from_bytes(b"".join(blobs))


def homedir_secret_keys(homedir: Optional[str] = None,
                        passphrase: Optional[bytes] = None) -> Tuple[List[SecretKey], List[str]]:
    """Every readable secret key of the homedir (protected ones opened with
    ``passphrase``), and why the others were not read: GnuPG 2.1's
    ``private-keys-v1.d`` and GnuPG 1's ``secring.gpg`` (which gpg 2.1 and
    later migrate into the former on first use, so a home may hold both)."""
    home = homedir or default_homedir()
    d = os.path.join(home, "private-keys-v1.d")
    keys: List[SecretKey] = []
    problems: List[str] = []
    secring = os.path.join(home, "secring.gpg")
    if os.path.isfile(secring):
        found, why = read_secret_keys(_read(secring, 256 * 1024 * 1024), passphrase)
        keys.extend(k.secret for k in found)
        problems.extend(f"secring.gpg: {w}" for w in why)
    try:
        names = sorted(os.listdir(d))
    except OSError:
        return keys, problems + ([] if keys or problems else [f"no {d} or {secring}"])
    for name in names:
        if name.endswith(".key"):
            try:
                keys.append(parse_gnupg_key_file(_read(os.path.join(d, name), MAX_KEY_FILE), passphrase))
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


def sign_detached(data: bytes, key_id: str, homedir: Optional[str] = None,
                  passphrase: Optional[bytes] = None) -> bytes:
    """A binary v4 signature packet over ``data`` made with the secret key that
    ``key_id`` (key id, fingerprint or user ID) names in the GnuPG ``homedir``."""
    key, sk = find_secret(key_id, homedir, passphrase)
    return sign_data(data, key, sk)


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


def find_secret(key_id: str, homedir: Optional[str] = None,
                passphrase: Optional[bytes] = None) -> Tuple[Key, SecretKey]:
    """The public signing key and its secret for ``key_id`` (key id, fingerprint
    or user ID) in the GnuPG ``homedir``, chosen as gpg would."""
    keyring = homedir_keyring(homedir)
    certs = keyring.select(key_id)
    if not certs:
        raise OpenPGPError(f'No public key for "{key_id}" in {homedir or default_homedir()}')
    secrets, problems = homedir_secret_keys(homedir, passphrase)
    for cert in certs:
        for key in signing_candidates(cert, key_id):
            mine = tuple(m.lstrip(b"\0") for m in key.packet.material) if key.packet.algorithm in (1, 3) \
                else key.packet.material
            for sk in secrets:
                if sk.public_material() == mine:
                    return key, sk
    why = ("; ".join(problems)) if problems else "no matching key in private-keys-v1.d or secring.gpg"
    raise OpenPGPError(f'No usable secret key for "{key_id}": {why}')


MIGRATED_FLAG = ".gpg-v21-migrated"


def _signed_mpi(value: bytes) -> bytes:
    # libgcrypt's %m: a leading zero keeps a number with its top bit set positive
    value = value.lstrip(b"\0") or b"\0"
    return b"\0" + value if value[0] & 0x80 else value


def migrate_secring(homedir: Optional[str] = None) -> List[str]:
    """GnuPG 2.1's migration of ``secring.gpg`` (g10/migrate.c), which gpg runs
    on the first use of such a home (so ostree's gpgme signing runs it): every
    secret key into ``private-keys-v1.d/KEYGRIP.key``, then the
    ``.gpg-v21-migrated`` flag, so that a later gpg finds the keys where gpg-agent
    keeps them. Unprotected RSA keys are moved (gpg-agent's file for those is
    plain: ``(private-key(rsa(n)(e)(d)(p)(q)(u)))``, named by the SHA-1 of n);
    the flag is written only when that was every key, so that gpg still
    migrates the others (protected keys, Ed25519, whose keygrip needs
    libgcrypt's curve parameters). Returns the keygrips written; a home that
    cannot be written is left as it is."""
    import hashlib

    from .pgpformat import PK_RSA, TAG_SECRET_KEY, TAG_SECRET_SUBKEY, canonical_sexp, iter_packets
    from .pgpsecret import parse_secret_key_packet
    home = homedir or default_homedir()
    secring = os.path.join(home, "secring.gpg")
    if not os.path.isfile(secring) or os.path.lexists(os.path.join(home, MIGRATED_FLAG)):
        return []
    files = []
    complete = True
    try:
        packets = list(iter_packets(_read(secring, 256 * 1024 * 1024)))
    except OpenPGPError:
        return []
    for p in packets:
        if p.tag not in (TAG_SECRET_KEY, TAG_SECRET_SUBKEY):
            continue
        try:
            k = parse_secret_key_packet(p.body)
        except OpenPGPError:
            complete = False
            continue
        if k.public.algorithm not in PK_RSA:
            complete = False
            continue
        n, e, d, pp, q = (_signed_mpi(k.secret.param(x)) for x in "nedpq")
        try:  # libgcrypt's u is p^-1 mod q, as OpenPGP's
            inv = pow(int.from_bytes(pp, "big"), -1, int.from_bytes(q, "big"))
        except ValueError:
            complete = False
            continue
        u = _signed_mpi(inv.to_bytes((inv.bit_length() + 7) // 8 or 1, "big"))
        sexp = canonical_sexp([b"private-key", [b"rsa", [b"n", n], [b"e", e], [b"d", d], [b"p", pp],
                                                [b"q", q], [b"u", u]]])
        files.append((hashlib.sha1(n).hexdigest().upper(), sexp))
    d_keys = os.path.join(home, "private-keys-v1.d")
    written = []
    try:
        os.makedirs(d_keys, mode=0o700, exist_ok=True)
        for grip, sexp in files:
            path = os.path.join(d_keys, grip + ".key")
            if os.path.exists(path):
                continue
            tmp = f"{path}.{os.getpid()}.tmp"
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
                f.write(sexp)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, path)
            written.append(grip)
        if complete:
            with open(os.path.join(home, MIGRATED_FLAG), "w"):
                pass
    except OSError:
        pass
    return written
