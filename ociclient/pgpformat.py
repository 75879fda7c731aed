"""OpenPGP as OSTree and containers simple signing use it, pure: bytes in,
values out, no files or sockets.

It lives in ociclient (which knows nothing of ostreepy) so that both the
image-trust code here and ostreepy's OSTree GPG verification share one verifier.

Design: a detached signature (``ostree.gpgsigs`` holds one binary signature
packet per entry) is checked against a :class:`Keyring` built from
transferable public keys (a remote's ``.trustedkeys.gpg``, an exported key,
armored or binary).  The layers are

* framing: old and new packet headers, partial body lengths, ASCII armor
  with its CRC-24 (RFC 4880 section 4, 6; RFC 9580 keeps them);
* packets: v4 public keys and subkeys (RSA, legacy EdDSA on Ed25519, and
  RFC 9580's Ed25519 algorithm 27), user IDs, v4 signatures with their
  subpackets;
* keys: a primary key counts only with a valid self-signature; a subkey only
  with a valid binding signature from its primary (and, to sign, a valid
  back-signature, as gpg requires); revocations and expiry come from those
  signatures, read the way gpg reads them (newest self-signature wins);
* verification: the v4 hash trailer over data (signature type 0x00) and over
  keys and user IDs, then the public-key operation with ``cryptography``.

Keys of other algorithms or versions are parsed far enough to skip them and
can never make a signature valid.  Every malformed input raises
:class:`OpenPGPError`; sizes and counts are capped so hostile input costs
bounded work.  Secret keys come in as GnuPG's S-expressions (the extended
key format of ``private-keys-v1.d``: plain, protected with gpg-agent's
openpgp-s2k3-ocb-aes or older openpgp-s2k3-sha1-aes-cbc, or in the
openpgp-native form a migration leaves), parsed here too, so that
:func:`sign_data` can make signatures that gpg and gpgme accept; OpenPGP
secret key packets (``secring.gpg``) are :mod:`ociclient.pgpsecret`'s.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
import struct
import time
from typing import TYPE_CHECKING, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import attrs

from .errors import OciError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

#: caps on hostile input
MAX_INPUT = 64 * 1024 * 1024
MAX_PACKETS = 200_000
MAX_MPI_BITS = 16384
MAX_SUBPACKETS = 512
MAX_SEXP_DEPTH = 16

# packet tags
TAG_SIGNATURE = 2
TAG_SECRET_KEY = 5
TAG_PUBLIC_KEY = 6
TAG_SECRET_SUBKEY = 7
TAG_MARKER = 10
TAG_TRUST = 12
TAG_USER_ID = 13
TAG_PUBLIC_SUBKEY = 14
TAG_USER_ATTRIBUTE = 17

# public-key algorithms
PK_RSA = (1, 3)  # RSA (sign+encrypt) and RSA sign-only
PK_EDDSA_LEGACY = 22
PK_ED25519 = 27
ALGO_NAMES = {1: "RSA", 2: "RSA", 3: "RSA", 16: "ELG", 17: "DSA", 18: "ECDH", 19: "ECDSA",
              22: "EdDSA", 25: "X25519", 27: "Ed25519"}
ED25519_OID = bytes.fromhex("2b06010401da470f01")  # 1.3.6.1.4.1.11591.15.1

# hash algorithms gpg emits for signatures (MD5 and RIPEMD-160 are refused, as gpg does)
HASHES = {2: "sha1", 8: "sha256", 9: "sha384", 10: "sha512", 11: "sha224"}
HASH_IDS = {v: k for k, v in HASHES.items()}

# signature types
SIG_BINARY = 0x00
SIG_CERTS = (0x10, 0x11, 0x12, 0x13)
SIG_SUBKEY_BINDING = 0x18
SIG_PRIMARY_BINDING = 0x19
SIG_DIRECT_KEY = 0x1F
SIG_KEY_REVOCATION = 0x20
SIG_SUBKEY_REVOCATION = 0x28
SIG_CERT_REVOCATION = 0x30

# signature subpackets
SUB_CREATED = 2
SUB_SIG_EXPIRES = 3
SUB_KEY_EXPIRES = 9
SUB_ISSUER = 16
SUB_PRIMARY_UID = 25
SUB_KEY_FLAGS = 27
SUB_EMBEDDED_SIG = 32
SUB_ISSUER_FPR = 33
KNOWN_SUBPACKETS = frozenset({2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 16, 20, 21, 22, 23, 24, 25, 26, 27, 28,
                              29, 30, 31, 32, 33, 34, 35, 37, 38, 39})
FLAG_CERTIFY = 0x01
FLAG_SIGN = 0x02


class OpenPGPError(OciError):
    """OpenPGP data (a key, keyring, signature or secret key) that is malformed
    or of a kind this implementation does not handle."""


class PassphraseNeeded(OpenPGPError):
    """The secret key is protected by a passphrase and none was given."""


class BadPassphrase(OpenPGPError):
    """The passphrase given does not open the secret key."""


class SignatureRejected(OciError):
    """Well-formed signatures of which none is valid for the keys given."""


# ----------------------------------------------------------------------------- framing

@attrs.frozen
class Packet:
    """One packet: its tag, body, and the exact bytes it was read from."""

    tag: int
    body: bytes
    raw: bytes


def _new_length(data: bytes, pos: int) -> Tuple[int, int, bool]:
    """(length, new position, partial) of a new-format length at ``pos``."""
    if pos >= len(data):
        raise OpenPGPError("OpenPGP packet header cut short")
    o1 = data[pos]
    if o1 < 192:
        return o1, pos + 1, False
    if o1 < 224:
        if pos + 1 >= len(data):
            raise OpenPGPError("OpenPGP packet header cut short")
        return ((o1 - 192) << 8) + data[pos + 1] + 192, pos + 2, False
    if o1 == 255:
        if pos + 5 > len(data):
            raise OpenPGPError("OpenPGP packet header cut short")
        return struct.unpack_from(">I", data, pos + 1)[0], pos + 5, False
    return 1 << (o1 & 0x1F), pos + 1, True


def iter_packets(data: bytes) -> Iterator[Packet]:
    """The packets of binary OpenPGP data, in order."""
    if len(data) > MAX_INPUT:
        raise OpenPGPError(f"OpenPGP data of {len(data)} bytes is over the {MAX_INPUT}-byte limit")
    pos = 0
    count = 0
    while pos < len(data):
        count += 1
        if count > MAX_PACKETS:
            raise OpenPGPError(f"More than {MAX_PACKETS} OpenPGP packets")
        start = pos
        ctb = data[pos]
        pos += 1
        if not ctb & 0x80:
            raise OpenPGPError(f"Not OpenPGP data (byte {ctb:#04x} at offset {start} is no packet header)")
        if ctb & 0x40:
            tag = ctb & 0x3F
            length, pos, partial = _new_length(data, pos)
            chunks = []
            while partial:
                if pos + length > len(data):
                    raise OpenPGPError(f"OpenPGP packet (tag {tag}) cut short")
                chunks.append(data[pos:pos + length])
                pos += length
                length, pos, partial = _new_length(data, pos)
            if pos + length > len(data):
                raise OpenPGPError(f"OpenPGP packet (tag {tag}) cut short")
            chunks.append(data[pos:pos + length])
            pos += length
            body = b"".join(chunks)
        else:
            tag = (ctb >> 2) & 0x0F
            ltype = ctb & 3
            if ltype == 3:
                length = len(data) - pos
            else:
                n = (1, 2, 4)[ltype]
                if pos + n > len(data):
                    raise OpenPGPError("OpenPGP packet header cut short")
                length = int.from_bytes(data[pos:pos + n], "big")
                pos += n
            if pos + length > len(data):
                raise OpenPGPError(f"OpenPGP packet (tag {tag}) cut short")
            body = data[pos:pos + length]
            pos += length
        if tag == 0:
            raise OpenPGPError("OpenPGP packet with reserved tag 0")
        yield Packet(tag, body, data[start:pos])


def packet_bytes(tag: int, body: bytes) -> bytes:
    """A new-format packet (header with a definite length, as RFC 9580 prefers)."""
    n = len(body)
    if n < 192:
        head = bytes([n])
    elif n < 8384:
        n -= 192
        head = bytes([192 + (n >> 8), n & 0xFF])
    else:
        head = b"\xff" + struct.pack(">I", n)
    return bytes([0xC0 | tag]) + head + body


_ARMOR = re.compile(rb"-----BEGIN PGP ([A-Z ,/0-9]+)-----\r?\n(.*?)-----END PGP \1-----", re.S)


def _crc24(data: bytes) -> int:
    crc = 0xB704CE
    for b in data:
        crc ^= b << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def dearmor(data: bytes) -> bytes:
    """Binary OpenPGP data from ``data``: armored blocks decoded and joined, or
    ``data`` itself when it is binary already."""
    stripped = data.lstrip()
    if not stripped.startswith(b"-----BEGIN PGP "):
        return data
    out = []
    for m in _ARMOR.finditer(data):
        lines = m.group(2).replace(b"\r", b"").split(b"\n")
        # armor headers ("Version: ...") end at the first blank line
        if b"" in lines and any(b":" in ln for ln in lines[:lines.index(b"")]):
            lines = lines[lines.index(b"") + 1:]
        body = [ln.strip() for ln in lines if ln.strip()]
        crc = None
        if body and body[-1].startswith(b"=") and len(body[-1]) == 5:
            crc = body.pop()[1:]
        try:
            raw = base64.b64decode(b"".join(body), validate=True)
            want = int.from_bytes(base64.b64decode(crc, validate=True), "big") if crc else None
        except (binascii.Error, ValueError):
            raise OpenPGPError("Malformed base64 in ASCII-armored OpenPGP data") from None
        if want is not None and _crc24(raw) != want:
            raise OpenPGPError("ASCII-armored OpenPGP data fails its CRC-24 check")
        out.append(raw)
    if not out:
        raise OpenPGPError("Malformed ASCII armor (no complete BEGIN/END block)")
    return b"".join(out)


def armor(data: bytes, kind: str = "SIGNATURE") -> bytes:
    """ASCII armor (``-----BEGIN PGP <kind>-----``, base64, CRC-24) around binary data."""
    b64 = base64.b64encode(data)
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    crc = base64.b64encode(_crc24(data).to_bytes(3, "big"))
    return (f"-----BEGIN PGP {kind}-----\n\n".encode() + b"\n".join(lines) + b"\n=" + crc
            + f"\n-----END PGP {kind}-----\n".encode())


# ----------------------------------------------------------------------------- reading fields

class _Reader:
    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise OpenPGPError(f"{self.what} cut short")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def mpi(self) -> bytes:
        bits = self.u16()
        if bits > MAX_MPI_BITS:
            raise OpenPGPError(f"{self.what}: a {bits}-bit number is over the {MAX_MPI_BITS}-bit limit")
        return self.take((bits + 7) // 8)

    def rest(self) -> bytes:
        out = self.data[self.pos:]
        self.pos = len(self.data)
        return out


def mpi_bytes(value: bytes) -> bytes:
    """A big-endian number as an OpenPGP MPI: bit count, then the bytes without leading zeros."""
    value = value.lstrip(b"\0")
    bits = (len(value) - 1) * 8 + value[0].bit_length() if value else 0
    return struct.pack(">H", bits) + value


# ----------------------------------------------------------------------------- public keys

@attrs.frozen
class PublicKeyPacket:
    """A public key or subkey packet; ``material`` holds what verification needs
    (RSA: (n, e); EdDSA/Ed25519: (32-byte point,)), empty when unsupported."""

    version: int
    created: int
    algorithm: int
    material: Tuple[bytes, ...]
    body: bytes
    fingerprint: str  # upper-case hex, "" for versions this cannot fingerprint
    supported: bool

    @property
    def key_id(self) -> str:
        return self.fingerprint[-16:]

    def hash_prefix(self) -> bytes:
        """How a v4 key is fed to a signature's hash (and to its fingerprint)."""
        return b"\x99" + struct.pack(">H", len(self.body)) + self.body


def parse_public_key(body: bytes) -> PublicKeyPacket:
    """A public key or subkey packet's body; keys of other versions or algorithms
    come back unsupported rather than as an error (a keyring may hold them)."""
    r = _Reader(body, "OpenPGP public key packet")
    version = r.u8()
    if version != 4:
        # v3 keys are obsolete and v5/v6 need other fingerprints: kept, never usable
        created = r.u32() if version in (3, 5, 6) else 0
        return PublicKeyPacket(version, created, 0, (), body, "", False)
    if len(body) > 0xFFFF:
        raise OpenPGPError("OpenPGP v4 public key packet over 65535 bytes")
    created = r.u32()
    algo = r.u8()
    material: Tuple[bytes, ...] = ()
    supported = False
    if algo in PK_RSA:
        n, e = r.mpi(), r.mpi()
        material, supported = (n, e), bool(n) and bool(e)
    elif algo == PK_EDDSA_LEGACY:
        oid = r.take(r.u8())
        point = r.mpi()
        if oid == ED25519_OID and len(point) == 33 and point[0] == 0x40:
            material, supported = (point[1:],), True
    elif algo == PK_ED25519:
        material, supported = (r.take(32),), True
    fpr = hashlib.sha1(b"\x99" + struct.pack(">H", len(body)) + body).hexdigest().upper()
    return PublicKeyPacket(4, created, algo, material, body, fpr, supported)


def public_part_length(body: bytes) -> int:
    """How many octets of a v4 secret key packet are its public key packet (the
    secret part follows; a secret key's fingerprint is its public part's)."""
    r = _Reader(body, "OpenPGP secret key packet")
    if r.u8() != 4:
        raise OpenPGPError(f"OpenPGP v{body[0]} secret keys are not supported (v4 are)")
    r.u32()
    algo = r.u8()
    if algo in PK_RSA:
        r.mpi(), r.mpi()
    elif algo == 17:  # DSA: p q g y
        for _ in range(4):
            r.mpi()
    elif algo in (16, 20):  # ElGamal: p g y
        for _ in range(3):
            r.mpi()
    elif algo in (PK_EDDSA_LEGACY, 19):  # EdDSA, ECDSA: OID, point
        r.take(r.u8())
        r.mpi()
    elif algo == 18:  # ECDH: OID, point, KDF parameters
        r.take(r.u8())
        r.mpi()
        r.take(r.u8())
    elif algo in (PK_ED25519, 25):
        r.take(32)
    elif algo in (26, 28):  # X448, Ed448
        r.take(56 if algo == 26 else 57)
    else:
        raise OpenPGPError(f"OpenPGP secret key of unknown algorithm {algo}")
    return r.pos


def key_packet_public_body(p: Packet) -> bytes:
    """The public key packet body of a public or secret (sub)key packet."""
    if p.tag not in (TAG_SECRET_KEY, TAG_SECRET_SUBKEY):
        return p.body
    try:
        return p.body[:public_part_length(p.body)]
    except OpenPGPError:
        return p.body  # another version or algorithm: parse_public_key marks it unusable


# ----------------------------------------------------------------------------- signatures

@attrs.frozen
class Subpacket:
    """One signature subpacket: its type, critical bit and data."""

    type: int
    critical: bool
    data: bytes


@attrs.frozen
class SignaturePacket:
    """A v4 signature packet, with the pieces its hash trailer needs."""

    version: int
    sig_type: int
    algorithm: int
    hash_algorithm: int
    hashed_area: bytes  # version .. end of hashed subpackets: what the trailer hashes
    hashed: Tuple[Subpacket, ...]
    unhashed: Tuple[Subpacket, ...]
    left16: bytes
    values: Tuple[bytes, ...]
    raw: bytes = b""

    def _first(self, type_: int, unhashed_too: bool = False) -> Optional[bytes]:
        for sp in self.hashed + (self.unhashed if unhashed_too else ()):
            if sp.type == type_:
                return sp.data
        return None

    @property
    def created(self) -> Optional[int]:
        v = self._first(SUB_CREATED)
        return int.from_bytes(v, "big") if v is not None and len(v) == 4 else None

    @property
    def expires_after(self) -> Optional[int]:
        v = self._first(SUB_SIG_EXPIRES)
        return int.from_bytes(v, "big") if v is not None and len(v) == 4 else None

    @property
    def key_expires_after(self) -> Optional[int]:
        v = self._first(SUB_KEY_EXPIRES)
        return int.from_bytes(v, "big") if v is not None and len(v) == 4 else None

    @property
    def key_flags(self) -> Optional[int]:
        v = self._first(SUB_KEY_FLAGS)
        return v[0] if v else (0 if v is not None else None)

    @property
    def issuer_fingerprint(self) -> Optional[str]:
        v = self._first(SUB_ISSUER_FPR, True)
        if v is not None and len(v) == 21 and v[0] == 4:
            return v[1:].hex().upper()
        return None

    @property
    def issuer_key_id(self) -> Optional[str]:
        fpr = self.issuer_fingerprint
        if fpr:
            return fpr[-16:]
        v = self._first(SUB_ISSUER, True)
        return v.hex().upper() if v is not None and len(v) == 8 else None

    @property
    def primary_uid(self) -> bool:
        v = self._first(SUB_PRIMARY_UID)
        return bool(v and v[0])

    def embedded(self) -> Optional["SignaturePacket"]:
        v = self._first(SUB_EMBEDDED_SIG, True)
        return parse_signature(v) if v is not None else None

    def unknown_critical(self) -> bool:
        return any(sp.critical and sp.type not in KNOWN_SUBPACKETS for sp in self.hashed)


def _subpackets(area: bytes) -> Tuple[Subpacket, ...]:
    out: List[Subpacket] = []
    r = _Reader(area, "OpenPGP signature subpacket")
    while r.pos < len(area):
        if len(out) >= MAX_SUBPACKETS:
            raise OpenPGPError(f"More than {MAX_SUBPACKETS} subpackets in an OpenPGP signature")
        o1 = r.u8()
        if o1 < 192:
            n = o1
        elif o1 < 255:
            n = ((o1 - 192) << 8) + r.u8() + 192
        else:
            n = r.u32()
        if n == 0:
            raise OpenPGPError("OpenPGP signature subpacket without a type")
        body = r.take(n)
        out.append(Subpacket(body[0] & 0x7F, bool(body[0] & 0x80), body[1:]))
    return tuple(out)


def parse_signature(body: bytes, raw: bytes = b"") -> SignaturePacket:
    """A signature packet's body (v4 only; other versions are an :class:`OpenPGPError`)."""
    r = _Reader(body, "OpenPGP signature packet")
    version = r.u8()
    if version != 4:
        raise OpenPGPError(f"OpenPGP signature version {version} is not supported (only v4)")
    sig_type, algo, halgo = r.u8(), r.u8(), r.u8()
    hashed_raw = r.take(r.u16())
    hashed_area = body[:6 + len(hashed_raw)]
    unhashed_raw = r.take(r.u16())
    left16 = r.take(2)
    if algo in PK_RSA:
        values: Tuple[bytes, ...] = (r.mpi(),)
    elif algo == PK_EDDSA_LEGACY:
        values = (r.mpi(), r.mpi())
    elif algo == PK_ED25519:
        values = (r.take(64),)
    else:
        values = (r.rest(),)
    if algo in PK_RSA + (PK_EDDSA_LEGACY, PK_ED25519) and r.pos != len(body):
        raise OpenPGPError("Trailing bytes in an OpenPGP signature packet")
    return SignaturePacket(version, sig_type, algo, halgo, hashed_area, _subpackets(hashed_raw),
                           _subpackets(unhashed_raw), left16, values, raw)


def _trailer(sig: SignaturePacket) -> bytes:
    return sig.hashed_area + b"\x04\xff" + struct.pack(">I", len(sig.hashed_area))


def _hash(sig: SignaturePacket, parts: Sequence[bytes]) -> Optional[bytes]:
    name = HASHES.get(sig.hash_algorithm)
    if name is None:
        return None
    h = hashlib.new(name)
    for p in parts:
        h.update(p)
    h.update(_trailer(sig))
    return h.digest()


def _check(sig: SignaturePacket, key: PublicKeyPacket, parts: Sequence[bytes]) -> bool:
    """Whether ``sig`` over ``parts`` is a good signature by ``key`` (math only)."""
    if not key.supported or sig.algorithm != key.algorithm and not (
            sig.algorithm in PK_RSA and key.algorithm in PK_RSA):
        return False
    if sig.unknown_critical():
        return False
    digest = _hash(sig, parts)
    if digest is None or digest[:2] != sig.left16:
        return False
    from cryptography.exceptions import InvalidSignature
    try:
        if key.algorithm in PK_RSA:
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.asymmetric import padding, rsa
            from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
            n, e = (int.from_bytes(x, "big") for x in key.material)
            if n.bit_length() < 1024:
                return False
            size = (n.bit_length() + 7) // 8
            s = sig.values[0]
            if len(s) > size:
                return False
            pub = rsa.RSAPublicNumbers(e, n).public_key()
            algo = getattr(hashes, HASHES[sig.hash_algorithm].upper())()
            pub.verify(s.rjust(size, b"\0"), digest, padding.PKCS1v15(), Prehashed(algo))
            return True
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        if sig.hash_algorithm == 2:  # EdDSA needs a hash of at least 256 bits (RFC 9580 5.2.3.4)
            return False
        if sig.algorithm == PK_EDDSA_LEGACY:
            r_, s_ = sig.values
            if len(r_) > 32 or len(s_) > 32:
                return False
            raw = r_.rjust(32, b"\0") + s_.rjust(32, b"\0")
        else:
            raw = sig.values[0]
        Ed25519PublicKey.from_public_bytes(key.material[0]).verify(raw, digest)
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


# ----------------------------------------------------------------------------- keys and keyrings

@attrs.frozen
class UserID:
    """A user ID of a certificate, as its newest self-signature and revocations leave it."""

    text: str
    revoked: bool
    valid: bool  # has a good self-signature
    primary: bool = False
    created: int = 0


@attrs.frozen
class Key:
    """A primary key or subkey with what its self-signatures say of it."""

    packet: PublicKeyPacket
    valid: bool  # bound (a subkey) or self-signed (a primary)
    revoked: bool
    expires: Optional[int]  # absolute seconds since the epoch
    flags: Optional[int]  # key flags from the binding/self-signature, None when it says none
    back_signed: bool = True  # for a signing subkey: has a good primary-key binding signature

    @property
    def fingerprint(self) -> str:
        return self.packet.fingerprint

    @property
    def key_id(self) -> str:
        return self.packet.key_id

    @property
    def created(self) -> int:
        return self.packet.created

    def expired(self, now: float) -> bool:
        return self.expires is not None and now >= self.expires

    def can_sign(self) -> bool:
        return self.flags is None or bool(self.flags & FLAG_SIGN)


@attrs.frozen
class Certificate:
    """A transferable public key: the primary, its user IDs and subkeys, and the
    packets it was read from (to write a keyring back)."""

    primary: Key
    user_ids: Tuple[UserID, ...]
    subkeys: Tuple[Key, ...]
    packets: Tuple[Packet, ...]

    @property
    def fingerprint(self) -> str:
        return self.primary.fingerprint

    def keys(self) -> Tuple[Key, ...]:
        return (self.primary,) + self.subkeys

    def matches(self, query: str) -> bool:
        """gpg's ways of naming a key: key id, fingerprint (with optional 0x and
        trailing !), or a user ID substring / <email>."""
        q = query.strip()
        hexq = q.upper().removeprefix("0X").rstrip("!").replace(" ", "")
        if re.fullmatch(r"[0-9A-F]{8}|[0-9A-F]{16}|[0-9A-F]{40}", hexq):
            return any(k.fingerprint.endswith(hexq) for k in self.keys())
        if q.startswith("<") and q.endswith(">"):
            return any(q.lower() in u.text.lower() for u in self.user_ids)
        return any(q.lower().lstrip("=") in u.text.lower() for u in self.user_ids)


def _group(packets: Sequence[Packet]) -> List[List[Packet]]:
    """Split a keyring's packets into one list per primary key."""
    blocks: List[List[Packet]] = []
    for p in packets:
        if p.tag in (TAG_PUBLIC_KEY, TAG_SECRET_KEY):
            blocks.append([p])
        elif p.tag in (TAG_TRUST, TAG_MARKER):
            continue
        elif blocks:
            blocks[-1].append(p)
        elif p.tag != TAG_SIGNATURE:
            raise OpenPGPError(f"OpenPGP keyring starts with a packet of tag {p.tag}, not a public key")
    return blocks


def _newest(sigs: List[Tuple[SignaturePacket, int]]) -> Optional[SignaturePacket]:
    return max(sigs, key=lambda x: x[1])[0] if sigs else None


def _abs_expiry(created: int, sig: Optional[SignaturePacket]) -> Optional[int]:
    if sig is None:
        return None
    after = sig.key_expires_after
    return created + after if after else None


def _sig_ok_at(sig: SignaturePacket, now: float) -> bool:
    c = sig.created
    if c is None:
        return False
    exp = sig.expires_after
    return not (exp and now >= c + exp)


def parse_certificate(block: Sequence[Packet], now: Optional[float] = None) -> Certificate:
    """One transferable public key from its packets, self-signatures checked."""
    now = time.time() if now is None else now
    if block[0].tag not in (TAG_PUBLIC_KEY, TAG_SECRET_KEY):
        raise OpenPGPError("OpenPGP key block does not start with a public key")
    primary = parse_public_key(key_packet_public_body(block[0]))
    pk = primary.hash_prefix()

    def own(sig: SignaturePacket) -> bool:
        iss = sig.issuer_key_id
        return iss is None or iss == primary.key_id

    revoked = False
    direct: List[Tuple[SignaturePacket, int]] = []
    uid_sigs: List[Tuple[SignaturePacket, int]] = []
    uids: List[UserID] = []
    subkeys: List[Key] = []
    i = 1
    while i < len(block):
        p = block[i]
        if p.tag == TAG_SIGNATURE:
            sig = _maybe_sig(p)
            if sig and own(sig) and sig.sig_type == SIG_KEY_REVOCATION and _check(sig, primary, [pk]):
                revoked = True
            elif sig and own(sig) and sig.sig_type == SIG_DIRECT_KEY and _sig_ok_at(sig, now) \
                    and _check(sig, primary, [pk]):
                direct.append((sig, sig.created or 0))
            i += 1
        elif p.tag in (TAG_USER_ID, TAG_USER_ATTRIBUTE):
            j = i + 1
            good: List[Tuple[SignaturePacket, int]] = []
            rev: List[int] = []
            prefix = (b"\xb4" if p.tag == TAG_USER_ID else b"\xd1") + struct.pack(">I", len(p.body)) + p.body
            while j < len(block) and block[j].tag == TAG_SIGNATURE:
                sig = _maybe_sig(block[j])
                j += 1
                if not sig or not own(sig):
                    continue
                if sig.sig_type in SIG_CERTS and _sig_ok_at(sig, now) and _check(sig, primary, [pk, prefix]):
                    good.append((sig, sig.created or 0))
                elif sig.sig_type == SIG_CERT_REVOCATION and _check(sig, primary, [pk, prefix]):
                    rev.append(sig.created or 0)
            if p.tag == TAG_USER_ID:
                newest = _newest(good)
                is_revoked = bool(rev) and (newest is None or max(rev) >= (newest.created or 0))
                uids.append(UserID(p.body.decode("utf-8", "replace"), is_revoked, newest is not None,
                                   bool(newest and newest.primary_uid), (newest.created or 0) if newest else 0))
                if newest is not None and not is_revoked:
                    uid_sigs.append((newest, (1 << 40 if newest.primary_uid else 0) + (newest.created or 0)))
            i = j
        elif p.tag in (TAG_PUBLIC_SUBKEY, TAG_SECRET_SUBKEY):
            sub = parse_public_key(key_packet_public_body(p))
            j = i + 1
            binds: List[Tuple[SignaturePacket, int]] = []
            sub_revoked = False
            while j < len(block) and block[j].tag == TAG_SIGNATURE:
                sig = _maybe_sig(block[j])
                j += 1
                if not sig or not own(sig) or not sub.supported and sub.version != 4:
                    continue
                parts = [pk, sub.hash_prefix()]
                if sig.sig_type == SIG_SUBKEY_BINDING and _sig_ok_at(sig, now) and _check(sig, primary, parts):
                    binds.append((sig, sig.created or 0))
                elif sig.sig_type == SIG_SUBKEY_REVOCATION and _check(sig, primary, parts):
                    sub_revoked = True
            bind = _newest(binds)
            back = False
            if bind is not None:
                try:
                    emb = bind.embedded()
                except OpenPGPError:
                    emb = None
                back = bool(emb and emb.sig_type == SIG_PRIMARY_BINDING
                            and _check(emb, sub, [pk, sub.hash_prefix()]))
            subkeys.append(Key(sub, bind is not None and sub.version == 4, sub_revoked,
                               _abs_expiry(sub.created, bind), bind.key_flags if bind else None, back))
            i = j
        else:
            i += 1  # user attributes' photos, unknown packets: not needed to verify
    # gpg takes expiry and flags from the primary user ID's newest self-signature
    # (or a direct-key signature when there is no user ID)
    selfsig = _newest(uid_sigs) or _newest(direct)
    pkey = Key(primary, selfsig is not None and primary.version == 4, revoked,
               _abs_expiry(primary.created, selfsig), selfsig.key_flags if selfsig else None)
    return Certificate(pkey, tuple(uids), tuple(subkeys), tuple(block))


def _maybe_sig(p: Packet) -> Optional[SignaturePacket]:
    """A key's signature packet, or None for one of a version or form this does
    not read (gpg skips those too rather than reject the key)."""
    try:
        return parse_signature(p.body, p.raw)
    except OpenPGPError:
        return None


@attrs.frozen
class Keyring:
    """Certificates in the order they were read."""

    certificates: Tuple[Certificate, ...] = ()

    @classmethod
    def from_bytes(cls, data: bytes, now: Optional[float] = None) -> "Keyring":
        """Armored or binary keys (several blocks may be concatenated)."""
        return cls(tuple(parse_certificate(b, now) for b in _group(list(iter_packets(dearmor(data))))))

    def __add__(self, other: "Keyring") -> "Keyring":
        return Keyring(self.certificates + other.certificates)

    def find(self, key_id: str) -> List[Tuple[Certificate, Key]]:
        """The keys (primary or subkey) whose id or fingerprint ends with ``key_id``."""
        kid = key_id.upper()
        return [(c, k) for c in self.certificates for k in c.keys() if k.fingerprint and k.fingerprint.endswith(kid)]

    def select(self, query: str) -> List[Certificate]:
        return [c for c in self.certificates if c.matches(query)]


# ----------------------------------------------------------------------------- verification

def glib_c_time(t: int) -> str:
    """A time as ostree prints it: g_date_time_format(local, "%c") in the C
    locale, "%a %b %e %H:%M:%S %Y" with %e padded by U+2007 FIGURE SPACE."""
    tm = time.localtime(t)
    day = f"\u2007{tm.tm_mday}" if tm.tm_mday < 10 else str(tm.tm_mday)
    return time.strftime(f"%a %b {day} %H:%M:%S %Y", tm)


VALID = "valid"
MISSING_KEY = "missing-key"
BAD = "bad"
EXPIRED_KEY = "expired-key"
REVOKED_KEY = "revoked-key"
EXPIRED_SIG = "expired-signature"
UNSUPPORTED = "unsupported"


@attrs.frozen
class SignatureCheck:
    """The outcome of one signature, as ``ostree`` describes it."""

    status: str
    key_id: str  # the issuer's key id (hex), "" when the signature names none
    created: Optional[int]
    algorithm: int
    fingerprint: str = ""  # of the signing (sub)key, when found
    primary_fingerprint: str = ""
    user_id: str = ""
    message: str = ""  # why, when the key's state is not the whole story
    sig_expires: Optional[int] = None
    key_expires: Optional[int] = None
    primary_expires: Optional[int] = None
    now: float = 0.0

    @property
    def valid(self) -> bool:
        return self.status == VALID

    @property
    def signer(self) -> str:
        """The user ID as ostree prints it: gpgme's name and email, ``NAME <EMAIL>``
        (a comment dropped, an absent email empty: ``Test Key 1 <>``)."""
        uid = self.user_id
        m = re.search(r"<([^<>]*)>", uid)
        email = m.group(1) if m else ""
        name = uid[:m.start()] if m else uid
        name = re.sub(r"\([^()]*\)", "", name).strip()
        return f"{name} <{email}>"

    def describe(self) -> str:
        """ostree_gpg_verify_result_describe_variant's text, without its final newline."""
        if self.status == UNSUPPORTED and self.created is None:
            return f"Can't check signature: {self.message}"
        algo = ALGO_NAMES.get(self.algorithm, "[unknown name]")
        lines = [f"Signature made {glib_c_time(self.created or 0)} using {algo} key ID {self.key_id}"]
        if self.status == MISSING_KEY:
            lines.append("Can't check signature: public key not found")
        elif self.status == VALID:
            lines.append(f'Good signature from "{self.signer}"')
        elif self.status == REVOKED_KEY:
            lines.append("Key revoked")
        elif self.status == EXPIRED_SIG:
            lines.append(f'Expired signature from "{self.signer}"')
        else:
            lines.append(f'BAD signature from "{self.signer}"')
        if self.status != MISSING_KEY and self.fingerprint != self.primary_fingerprint:
            lines.append(f"Primary key ID {self.primary_fingerprint[-16:]}")
        for what, t in (("Signature", self.sig_expires), ("Key", self.key_expires)) + (
                (("Primary key", self.primary_expires),) if self.fingerprint != self.primary_fingerprint else ()):
            if t:
                lines.append(f"{what} {'expired' if self.now >= t else 'expires'} {glib_c_time(t)}")
        return "\n".join(lines)


def split_signatures(data: bytes) -> List[SignaturePacket]:
    """The signature packets of a detached signature (armored or binary)."""
    out = []
    for p in iter_packets(dearmor(data)):
        if p.tag == TAG_SIGNATURE:
            out.append(parse_signature(p.body, p.raw))
        elif p.tag not in (TAG_MARKER, TAG_TRUST):
            raise OpenPGPError(f"Unexpected OpenPGP packet (tag {p.tag}) in a detached signature")
    return out


def check_signature(data: bytes, sig: SignaturePacket, keyring: Keyring,
                    now: Optional[float] = None) -> SignatureCheck:
    """One detached signature over ``data``, judged against ``keyring``."""
    now = time.time() if now is None else now
    kid = sig.issuer_key_id or ""
    exp = sig.expires_after
    base = SignatureCheck(MISSING_KEY, kid, sig.created, sig.algorithm, now=now,
                          sig_expires=(sig.created or 0) + exp if exp else None)
    if sig.sig_type not in (SIG_BINARY, 0x01):
        return attrs.evolve(base, status=BAD, message=f"signature type {sig.sig_type:#04x} is not over data")
    if sig.hash_algorithm not in HASHES:
        return attrs.evolve(base, status=UNSUPPORTED, message=f"unsupported hash algorithm {sig.hash_algorithm}")
    candidates = keyring.find(sig.issuer_fingerprint or kid) if kid else []
    outcome: SignatureCheck = base
    for cert, key in candidates:
        uid = next((u.text for u in cert.user_ids if u.valid and not u.revoked and u.primary), None) \
            or next((u.text for u in cert.user_ids if u.valid and not u.revoked), "")
        info = attrs.evolve(base, fingerprint=key.fingerprint, primary_fingerprint=cert.fingerprint, user_id=uid,
                            key_expires=key.expires, primary_expires=cert.primary.expires)
        if not key.packet.supported:
            res = attrs.evolve(info, status=UNSUPPORTED, message="unsupported public key algorithm or version")
        elif not _check(sig, key.packet, [data]):
            # gpg reports a signature whose value fails with no time, algorithm or
            # fingerprint (only the issuer's key id); ostree's text shows that
            res = attrs.evolve(info, status=BAD, created=None, algorithm=0, fingerprint=kid, key_expires=None)
        elif not cert.primary.valid or (key is not cert.primary and not key.valid):
            res = attrs.evolve(info, status=BAD, message="the key has no valid self-signature or binding")
        elif key is not cert.primary and not key.back_signed:
            res = attrs.evolve(info, status=BAD, message=f"signing subkey {key.key_id} is not cross-certified")
        elif not key.can_sign():
            res = attrs.evolve(info, status=BAD, message=f"key {key.key_id} may not sign data")
        elif cert.primary.revoked or key.revoked:
            res = attrs.evolve(info, status=REVOKED_KEY)
        elif cert.primary.expired(now) or key.expired(now):
            res = attrs.evolve(info, status=EXPIRED_KEY)
        elif sig.created is None or not _sig_ok_at(sig, now):
            res = attrs.evolve(info, status=EXPIRED_SIG)
        elif sig.created < key.created:
            res = attrs.evolve(info, status=BAD, message="the signature is older than its key")
        else:
            return attrs.evolve(info, status=VALID)
        if outcome is base:
            outcome = res
    return outcome


def verify_detached(data: bytes, signatures: bytes, keyring: Keyring,
                    now: Optional[float] = None) -> List[SignatureCheck]:
    """Every signature in ``signatures`` (one or more packets) checked over ``data``.
    A signature packet this cannot read (another version, a cut value) is an
    UNSUPPORTED result rather than an error, so it does not hide a good one."""
    out = []
    for p in iter_packets(dearmor(signatures)):
        if p.tag in (TAG_MARKER, TAG_TRUST):
            continue
        if p.tag != TAG_SIGNATURE:
            raise OpenPGPError(f"Unexpected OpenPGP packet (tag {p.tag}) in a detached signature")
        try:
            sig = parse_signature(p.body, p.raw)
        except OpenPGPError as e:
            version = p.body[0] if p.body else 0
            out.append(SignatureCheck(UNSUPPORTED, "", None, 0, message=f"v{version} signature: {e}",
                                      now=time.time() if now is None else now))
            continue
        out.append(check_signature(data, sig, keyring, now))
    return out


def require_valid(checks: Sequence[SignatureCheck]) -> SignatureCheck:
    """The first valid signature, or SignatureRejected describing all of them (newest
    last, as ostree_gpg_verify_result_require_valid_signature does)."""
    for c in checks:
        if c.valid:
            return c
    if not checks:
        raise SignatureRejected("No GPG signatures found")
    raise SignatureRejected("\n".join(c.describe() for c in reversed(checks)))


# ----------------------------------------------------------------------------- GnuPG secret keys

SExp = Union[bytes, List["SExp"]]
_TOKEN = re.compile(rb"[A-Za-z0-9\-./_:*+=]+")


def parse_sexp(data: bytes) -> SExp:
    """A canonical or advanced S-expression (libgcrypt's, as in GnuPG key files)."""
    pos = 0
    stack: List[List[SExp]] = []
    result: Optional[SExp] = None
    n = len(data)
    while pos < n:
        c = data[pos:pos + 1]
        if c in b" \t\r\n":
            pos += 1
        elif c == b"(":
            if len(stack) >= MAX_SEXP_DEPTH:
                raise OpenPGPError("S-expression nested too deep")
            stack.append([])
            pos += 1
        elif c == b")":
            if not stack:
                raise OpenPGPError("Unbalanced ')' in S-expression")
            done = stack.pop()
            pos += 1
            if stack:
                stack[-1].append(done)
            else:
                result = done
                break
        else:
            if not stack:
                raise OpenPGPError("S-expression does not start with '('")
            if c == b"#":
                end = data.find(b"#", pos + 1)
                if end < 0:
                    raise OpenPGPError("Unterminated hex string in S-expression")
                try:
                    atom = bytes.fromhex(re.sub(rb"\s", b"", data[pos + 1:end]).decode("ascii"))
                except (ValueError, UnicodeDecodeError):
                    raise OpenPGPError("Malformed hex string in S-expression") from None
                pos = end + 1
            elif c == b"|":
                end = data.find(b"|", pos + 1)
                if end < 0:
                    raise OpenPGPError("Unterminated base64 string in S-expression")
                try:
                    atom = base64.b64decode(re.sub(rb"\s", b"", data[pos + 1:end]), validate=True)
                except (binascii.Error, ValueError):
                    raise OpenPGPError("Malformed base64 in S-expression") from None
                pos = end + 1
            elif c == b'"':
                atom, pos = _quoted(data, pos + 1)
            else:
                m = re.match(rb"(\d+):", data[pos:pos + 12])
                if m:
                    ln = int(m.group(1))
                    start = pos + len(m.group(0))
                    if start + ln > n:
                        raise OpenPGPError("S-expression string cut short")
                    atom = data[start:start + ln]
                    pos = start + ln
                else:
                    t = _TOKEN.match(data, pos)
                    if not t:
                        raise OpenPGPError(f"Unexpected byte {data[pos]:#04x} in S-expression")
                    atom = t.group(0)
                    pos = t.end()
            stack[-1].append(atom)
    if result is None:
        raise OpenPGPError("Incomplete S-expression")
    return result


_ESCAPES = {ord("b"): 8, ord("t"): 9, ord("v"): 11, ord("n"): 10, ord("f"): 12, ord("r"): 13, ord('"'): 34,
            ord("'"): 39, ord("\\"): 92}


def _quoted(data: bytes, pos: int) -> Tuple[bytes, int]:
    """A quoted string of the advanced form from just after its opening quote: its bytes and
    the position after the closing one. libgcrypt prints any atom whose bytes are printable
    this way (a key file's 8-byte salt is, about one time in eight) with C escapes:
    ``\\b \\t \\v \\n \\f \\r \\" \\' \\\\``, ``\\xHH``, three octal digits, and a
    backslash before a line end continues the line (sexp.c, sexp_sscan)."""
    out = bytearray()
    n = len(data)
    while True:
        end = data.find(b'"', pos)
        esc = data.find(b"\\", pos, end if end >= 0 else n)
        if esc < 0:
            if end < 0:
                raise OpenPGPError("Unterminated string in S-expression")
            out += data[pos:end]
            return bytes(out), end + 1
        out += data[pos:esc]
        if esc + 1 >= n:
            raise OpenPGPError("Unterminated string in S-expression")
        e = data[esc + 1]
        if e in _ESCAPES:
            out.append(_ESCAPES[e])
            pos = esc + 2
        elif e == 0x78:  # \xHH
            digits = data[esc + 2:esc + 4]
            if len(digits) != 2 or not all(d in b"0123456789abcdefABCDEF" for d in digits):
                raise OpenPGPError("Bad \\x escape in an S-expression string")
            out.append(int(digits, 16))
            pos = esc + 4
        elif 0x30 <= e <= 0x37:  # \ooo
            digits = data[esc + 1:esc + 4]
            if len(digits) != 3 or not all(0x30 <= d <= 0x37 for d in digits) or int(digits, 8) > 255:
                raise OpenPGPError("Bad octal escape in an S-expression string")
            out.append(int(digits, 8))
            pos = esc + 4
        elif e in (10, 13):  # a continued line: the line end (CR LF or LF CR too) is dropped
            pos = esc + 2
            if pos < n and data[pos] in (10, 13) and data[pos] != e:
                pos += 1
        else:
            raise OpenPGPError(f"Bad escape \\{chr(e)} in an S-expression string")


@attrs.frozen
class SecretKey:
    """Secret key material from GnuPG: RSA (n, e, d, p, q) or Ed25519 (seed, point)."""

    algorithm: str  # "rsa" or "ed25519"
    params: Tuple[Tuple[str, bytes], ...]

    def param(self, name: str) -> bytes:
        for k, v in self.params:
            if k == name:
                return v
        raise OpenPGPError(f"Secret key has no '{name}' parameter")

    def public_material(self) -> Tuple[bytes, ...]:
        if self.algorithm == "rsa":
            return (self.param("n").lstrip(b"\0"), self.param("e").lstrip(b"\0"))
        q = self.param("q")
        return (q[1:] if len(q) == 33 and q[0] == 0x40 else q,)


def canonical_sexp(x: SExp) -> bytes:
    """The canonical encoding of an S-expression (``(3:ecc(5:curve7:Ed25519)...)``)."""
    if isinstance(x, bytes):
        return str(len(x)).encode() + b":" + x
    return b"(" + b"".join(canonical_sexp(i) for i in x) + b")"


MAX_S2K_COUNT = 1 << 31  # gpg-agent calibrates to ~100 ms (tens of millions); beyond this is hostile


def s2k_iterated_sha1(passphrase: bytes, salt: bytes, count: int, keylen: int) -> bytes:
    """OpenPGP S2K mode 3 (iterated and salted) with SHA-1, ``count`` bytes hashed
    (gpg-agent's hash_passphrase; keys up to 20 bytes need one SHA-1 context)."""
    if keylen > 20:
        raise OpenPGPError("S2K keys over 20 bytes are not supported")
    data = salt + passphrase
    count = max(count, len(data))
    h = hashlib.sha1()
    s2k_feed(h, data, count)
    return h.digest()[:keylen]


def s2k_feed(h: "hashlib._Hash", data: bytes, count: int) -> None:
    """Hash ``data`` repeated until ``count`` octets went in (the last copy cut short), the
    core of OpenPGP's iterated S2K; fed 64 KiB at a time, not octet by octet."""
    if not data:
        return
    chunk = data * max(1, 65536 // len(data))
    done = 0
    while count - done >= len(chunk):
        h.update(chunk)
        done += len(chunk)
    rest = count - done
    h.update((data * (rest // len(data) + 1))[:rest])


def _unprotect_gnupg(sexp: List[SExp], passphrase: bytes) -> List[SExp]:
    """The ``private-key`` form of gpg-agent's ``protected-private-key`` (mode
    openpgp-s2k3-ocb-aes, gpg 2.2.x's default): AES-128-OCB keyed by S2K3-SHA1 of
    the passphrase, the public parameters and protected-at as associated data
    (agent/protect.c, agent_unprotect)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESOCB3
    algo_list = sexp[1]
    if not isinstance(algo_list, list) or not algo_list:
        raise OpenPGPError("Malformed protected GnuPG key")
    prot = next((i for i in algo_list if isinstance(i, list) and i and i[0] == b"protected"), None)
    if prot is None or len(prot) != 4 or not isinstance(prot[1], bytes):
        raise OpenPGPError("Malformed protected GnuPG key: no (protected ...) list")
    if prot[1] not in (b"openpgp-s2k3-ocb-aes", b"openpgp-s2k3-sha1-aes-cbc"):
        raise OpenPGPError(f"Unsupported GnuPG key protection {prot[1][:40].decode('ascii', 'replace')} "
                           "(openpgp-s2k3-ocb-aes and openpgp-s2k3-sha1-aes-cbc are supported)")
    try:
        (hashname, salt, count_s), nonce = prot[2]  # type: ignore[misc]
        count = int(count_s)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise OpenPGPError("Malformed GnuPG key protection parameters") from None
    cbc = prot[1] == b"openpgp-s2k3-sha1-aes-cbc"
    if hashname != b"sha1" or not isinstance(salt, bytes) or len(salt) != 8 or not isinstance(nonce, bytes) \
            or len(nonce) != (16 if cbc else 12) or not isinstance(prot[3], bytes):
        raise OpenPGPError("Malformed GnuPG key protection parameters")
    if count < 256:  # the old one-byte OpenPGP coding
        count = (16 + (count & 15)) << ((count >> 4) + 6)
    if not 65536 <= count <= MAX_S2K_COUNT:
        raise OpenPGPError(f"GnuPG key protection with an S2K count of {count} refused")
    key = s2k_iterated_sha1(passphrase, salt, count, 16)
    if cbc:
        return _unprotect_gnupg_cbc(algo_list, prot, key, nonce)
    aad = b"(" + b"".join(canonical_sexp(i) for i in algo_list if i is not prot) + b")"
    try:
        clear = AESOCB3(key).decrypt(nonce, prot[3], aad)
    except (InvalidTag, ValueError):
        raise BadPassphrase("Bad passphrase for the GnuPG secret key") from None
    secret = parse_sexp(clear)
    if not isinstance(secret, list) or len(secret) != 1 or not isinstance(secret[0], list):
        raise OpenPGPError("Malformed protected GnuPG key: unexpected cleartext")
    kept = [i for i in algo_list if i is not prot and not (isinstance(i, list) and i and i[0] == b"protected-at")]
    return [b"private-key", kept + list(secret[0])]


def _unprotect_gnupg_cbc(algo_list: List[SExp], prot: List[SExp], key: bytes, iv: bytes) -> List[SExp]:
    """gpg-agent's older protection (GnuPG 2.0 and 2.1, and keys they left
    behind): AES-128-CBC over ``((PARAMS)(hash sha1 MIC))`` plus padding, where
    the MIC is SHA-1 over the unprotected algorithm list with its protected-at
    item (agent/protect.c, merge_lists and calculate_mic). A wrong passphrase
    shows as cleartext that does not parse or a MIC that does not match."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    data = prot[3]
    assert isinstance(data, bytes)
    if not data or len(data) % 16:
        raise OpenPGPError("Malformed GnuPG key protection: ciphertext not whole AES blocks")
    d = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    clear = d.update(data) + d.finalize()
    bad = BadPassphrase("Bad passphrase for the GnuPG secret key")
    if not clear.startswith(b"(("):
        raise bad
    try:
        parsed = parse_sexp(clear)
    except OpenPGPError:
        raise bad from None
    if not (isinstance(parsed, list) and len(parsed) == 2 and isinstance(parsed[0], list)
            and isinstance(parsed[1], list) and len(parsed[1]) == 3 and parsed[1][:2] == [b"hash", b"sha1"]
            and all(isinstance(i, list) and len(i) == 2 for i in parsed[0])):
        raise bad
    mic = parsed[1][2]
    merged: List[SExp] = []
    for item in algo_list:
        merged.extend(parsed[0] if item is prot else [item])
    if not isinstance(mic, bytes) or hashlib.sha1(canonical_sexp(merged)).digest() != mic:
        raise bad
    kept = [i for i in merged if not (isinstance(i, list) and i and i[0] == b"protected-at")]
    return [b"private-key", kept]


def _openpgp_native(sexp: List[SExp]) -> Optional[List[SExp]]:
    """gpg-agent's ``openpgp-native`` protection: the OpenPGP secret key as gpg
    handed it over on import (agent/cvt-openpgp.c), kept until the agent first
    uses it -- how gpg 2.1's migration of ``secring.gpg`` leaves every key.
    ``(protection none)`` is read (as ``private-key``); a passphrase-protected
    one is refused, as is anything else (None: not this form)."""
    algo_list = sexp[1] if len(sexp) > 1 else None
    if not isinstance(algo_list, list) or not algo_list:
        return None
    prot = next((i for i in algo_list if isinstance(i, list) and i and i[0] == b"protected"), None)
    if prot is None or len(prot) < 3 or prot[1] != b"openpgp-native" or not isinstance(prot[2], list):
        return None
    fields = {i[0]: i[1:] for i in prot[2][1:] if isinstance(i, list) and i and isinstance(i[0], bytes)}
    protection = fields.get(b"protection", [b""])
    if protection[:1] != [b"none"]:
        raise PassphraseNeeded("The secret key is in gpg-agent's openpgp-native form protected by a passphrase "
                               "(as imported, not yet used by gpg-agent); have gpg use it once, "
                               "or use an unprotected key")
    skey = fields.get(b"skey", [])
    values = [skey[i + 1] for i in range(0, len(skey) - 1, 2) if skey[i] == b"_"]
    if not all(isinstance(v, bytes) for v in values) or len(values) * 2 != len(skey):
        raise OpenPGPError("Malformed openpgp-native GnuPG key")
    algo = (fields.get(b"algo") or [b""])[0]
    algo = algo.upper() if isinstance(algo, bytes) else b""
    if algo == b"RSA" and len(values) == 6:
        names = [b"n", b"e", b"d", b"p", b"q", b"u"]
        return [b"private-key", [b"rsa"] + [[k, v] for k, v in zip(names, values)]]
    curve = (fields.get(b"curve") or [b""])[0]
    if algo in (b"EDDSA", b"ECDSA") and isinstance(curve, bytes) and curve.lower() == b"ed25519" and len(values) == 2:
        return [b"private-key", [b"ecc", [b"curve", b"Ed25519"], [b"q", values[0]], [b"d", values[1]]]]
    raise OpenPGPError(f"Unsupported openpgp-native GnuPG key ({algo!r}; RSA and Ed25519 are supported)")


def parse_gnupg_key_file(data: bytes, passphrase: Optional[bytes] = None) -> SecretKey:
    """A ``private-keys-v1.d/*.key`` file: the extended format (``Key: (...)``
    among name-value lines) or the older bare S-expression; a key protected by
    a passphrase is opened with ``passphrase`` (refused without one)."""
    if data.lstrip().startswith(b"("):
        sexp = parse_sexp(data)
    else:
        key_lines: List[bytes] = []
        in_key = False
        for line in data.split(b"\n"):
            if line.startswith(b"Key:"):
                in_key = True
                key_lines.append(line[4:])
            elif in_key and line[:1] in (b" ", b"\t"):
                key_lines.append(line)
            else:
                in_key = False
        if not key_lines:
            raise OpenPGPError("No 'Key:' item in the GnuPG key file")
        sexp = parse_sexp(b"\n".join(key_lines))
    if not isinstance(sexp, list) or not sexp or not isinstance(sexp[0], bytes):
        raise OpenPGPError("Malformed GnuPG secret key")
    kind = sexp[0]
    if kind == b"protected-private-key":
        native = _openpgp_native(sexp)
        if native is not None:
            sexp, kind = native, b"private-key"
    if kind == b"protected-private-key" and passphrase is not None:
        sexp = _unprotect_gnupg(sexp, passphrase)
        kind = b"private-key"
    if kind == b"protected-private-key":
        raise PassphraseNeeded("The secret key is protected by a passphrase; "
                               "give the passphrase (--sign-passphrase-file) or use an unprotected key")
    if kind == b"shadowed-private-key":
        raise OpenPGPError("The secret key is held on a smartcard (a shadowed key); it cannot sign here")
    if kind != b"private-key" or len(sexp) < 2 or not isinstance(sexp[1], list) or not sexp[1]:
        raise OpenPGPError(f"Not a GnuPG private key ({kind[:30]!r})")
    algo = sexp[1][0]
    params: Dict[str, bytes] = {}
    for item in sexp[1][1:]:
        if isinstance(item, list) and len(item) >= 2 and isinstance(item[0], bytes) and isinstance(item[1], bytes):
            params[item[0].decode("ascii", "replace")] = item[1]
    if algo == b"rsa":
        for need in "nedpq":
            if need not in params:
                raise OpenPGPError(f"GnuPG RSA secret key lacks '{need}'")
        return SecretKey("rsa", tuple((k, params[k]) for k in "nedpq"))
    if algo == b"ecc" and params.get("curve", b"").lower() == b"ed25519" and "d" in params and "q" in params:
        d = params["d"].lstrip(b"\0").rjust(32, b"\0")
        if len(d) != 32:
            raise OpenPGPError("GnuPG Ed25519 secret key of the wrong size")
        return SecretKey("ed25519", (("d", d), ("q", params["q"])))
    raise OpenPGPError(f"Unsupported GnuPG secret key algorithm {algo[:20]!r} (RSA and Ed25519 are)")


def parse_keybox(data: bytes) -> bytes:
    """The OpenPGP key blocks of a GnuPG keybox (``pubring.kbx``), concatenated."""
    out = []
    pos = 0
    while pos + 5 <= len(data):
        length = struct.unpack_from(">I", data, pos)[0]
        if length < 5 or pos + length > len(data):
            raise OpenPGPError("Malformed keybox blob")
        blob = data[pos:pos + length]
        if blob[4] == 2:  # OpenPGP blob
            if len(blob) < 16:
                raise OpenPGPError("Keybox OpenPGP blob cut short")
            off, ln = struct.unpack_from(">II", blob, 8)
            if off + ln > len(blob):
                raise OpenPGPError("Keybox key block outside its blob")
            out.append(blob[off:off + ln])
        pos += length
    return b"".join(out)


def sign_data(data: bytes, key: Key, secret: SecretKey, created: Optional[int] = None,
              hash_name: str = "sha256") -> bytes:
    """A binary v4 signature packet (type 0x00) over ``data`` by ``key``, whose
    public material must match ``secret``; laid out as gpg 2.2 lays it out
    (issuer fingerprint and creation time hashed, issuer key id unhashed)."""
    return make_signature([data], key.packet, secret, SIG_BINARY, created, hash_name)


def make_signature(parts: Sequence[bytes], pub: PublicKeyPacket, secret: SecretKey, sig_type: int,
                   created: Optional[int] = None, hash_name: str = "sha256", hashed_extra: bytes = b"",
                   unhashed_extra: bytes = b"") -> bytes:
    """A v4 signature packet of any type over ``parts`` (the data, or the key and
    user ID / subkey prefixes a certification hashes), with extra subpackets
    (already encoded) in its hashed or unhashed area."""
    if not pub.supported or secret.public_material() != tuple(m.lstrip(b"\0") if pub.algorithm in PK_RSA else m
                                                              for m in pub.material):
        raise OpenPGPError(f"The secret key does not belong to key {pub.key_id}")
    created = int(time.time()) if created is None else created
    hashed = (bytes([22, SUB_ISSUER_FPR, 4]) + bytes.fromhex(pub.fingerprint)
              + bytes([5, SUB_CREATED]) + struct.pack(">I", created) + hashed_extra)
    unhashed = bytes([9, SUB_ISSUER]) + bytes.fromhex(pub.key_id) + unhashed_extra
    algo = pub.algorithm
    head = bytes([4, sig_type, algo, HASH_IDS[hash_name]]) + struct.pack(">H", len(hashed)) + hashed
    h = hashlib.new(hash_name)
    for part in parts:
        h.update(part)
    h.update(head + b"\x04\xff" + struct.pack(">I", len(head)))
    digest = h.digest()
    if secret.algorithm == "rsa":
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
        priv = _rsa_private(tuple(secret.param(x) for x in "nedpq"))
        s = priv.sign(digest, padding.PKCS1v15(), Prehashed(getattr(hashes, hash_name.upper())()))
        values = mpi_bytes(s)
    else:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        raw = Ed25519PrivateKey.from_private_bytes(secret.param("d")).sign(digest)
        values = mpi_bytes(raw[:32]) + mpi_bytes(raw[32:]) if algo == PK_EDDSA_LEGACY else raw
    body = head + struct.pack(">H", len(unhashed)) + unhashed + digest[:2] + values
    return packet_bytes(TAG_SIGNATURE, body)


@functools.lru_cache(maxsize=8)
def _rsa_private(params: Tuple[bytes, ...]) -> "RSAPrivateKey":
    """cryptography checks an RSA key when it loads one, which costs more than a
    signature: keep the few keys a process signs with."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    n, e, d, p, q = (int.from_bytes(x, "big") for x in params)
    try:
        return rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p),
                                     rsa.RSAPublicNumbers(e, n)).private_key()
    except (ValueError, ZeroDivisionError):
        raise OpenPGPError("The GnuPG RSA secret key is inconsistent") from None


def subpacket(type_: int, data: bytes) -> bytes:
    """One encoded signature subpacket."""
    n = len(data) + 1
    if n < 192:
        head = bytes([n])
    elif n < 16320:
        head = bytes([((n - 192) >> 8) + 192, (n - 192) & 0xFF])
    else:
        head = b"\xff" + struct.pack(">I", n)
    return head + bytes([type_]) + data


# ----------------------------------------------------------------------------- signed messages

TAG_COMPRESSED = 8
TAG_ONE_PASS = 4
TAG_LITERAL = 11
#: a signed message's content is small (a simple-signing payload); cap what decompression may make
MAX_MESSAGE = 4 * 1024 * 1024


def _inflate(algo: int, body: bytes) -> bytes:
    import bz2
    import zlib
    try:
        if algo == 0:
            return body
        if algo in (1, 2):
            d = zlib.decompressobj(-15 if algo == 1 else 15)
            out = d.decompress(body, MAX_MESSAGE + 1)
        elif algo == 3:
            b = bz2.BZ2Decompressor()
            out = b.decompress(body, MAX_MESSAGE + 1)
        else:
            raise OpenPGPError(f"Unsupported OpenPGP compression algorithm {algo}")
    except (zlib.error, OSError, EOFError, ValueError) as e:
        raise OpenPGPError(f"Corrupt compressed OpenPGP data: {e}") from None
    if len(out) > MAX_MESSAGE:
        raise OpenPGPError(f"Compressed OpenPGP data expands past {MAX_MESSAGE} bytes")
    return out


def open_signed_message(message: bytes) -> Tuple[bytes, List[SignaturePacket]]:
    """The literal content and the signatures of an OpenPGP signed message (what
    ``gpg --sign`` makes: optionally compressed one-pass signatures, one literal
    data packet, the signatures), armored or binary. Exactly one literal packet
    is allowed, so the signed bytes are never ambiguous."""
    packets = list(iter_packets(dearmor(message)))
    if len(packets) == 1 and packets[0].tag == TAG_COMPRESSED:
        body = packets[0].body
        if not body:
            raise OpenPGPError("Empty compressed OpenPGP packet")
        packets = list(iter_packets(_inflate(body[0], body[1:])))
    literal: Optional[bytes] = None
    sigs: List[SignaturePacket] = []
    for p in packets:
        if p.tag == TAG_LITERAL:
            if literal is not None:
                raise OpenPGPError("More than one literal data packet in a signed message")
            if len(p.body) < 6 or len(p.body) < 6 + p.body[1]:
                raise OpenPGPError("Literal data packet cut short")
            literal = p.body[6 + p.body[1]:]
        elif p.tag == TAG_SIGNATURE:
            sigs.append(parse_signature(p.body, p.raw))
        elif p.tag not in (TAG_ONE_PASS, TAG_MARKER):
            raise OpenPGPError(f"Unexpected OpenPGP packet (tag {p.tag}) in a signed message")
    if literal is None:
        raise OpenPGPError("No literal data in the signed message")
    if not sigs:
        raise OpenPGPError("The OpenPGP message is not signed")
    return literal, sigs


def verify_message(message: bytes, keyring: Keyring,
                   now: Optional[float] = None) -> Tuple[bytes, List[SignatureCheck]]:
    """The content of a signed message and every signature on it checked against
    ``keyring``; only binary-document signatures (type 0x00) can be valid, as
    a text signature would need line-ending canonicalization of the content."""
    literal, sigs = open_signed_message(message)
    checks = []
    for sig in sigs:
        if sig.sig_type != SIG_BINARY:
            checks.append(SignatureCheck(BAD, sig.issuer_key_id or "", sig.created, sig.algorithm,
                                         message=f"signature type {sig.sig_type:#04x} is not a binary document",
                                         now=time.time() if now is None else now))
        else:
            checks.append(check_signature(literal, sig, keyring, now))
    return literal, checks


def sign_message(data: bytes, key: Key, secret: SecretKey, created: Optional[int] = None) -> bytes:
    """A binary signed message (one-pass signature, literal data, signature;
    uncompressed), what ``gpg --sign --compress-level 0`` makes and gpgme reads."""
    sig = sign_data(data, key, secret, created)
    [p] = list(iter_packets(sig))
    parsed = parse_signature(p.body, p.raw)
    key_id = bytes.fromhex(key.fingerprint[-16:])
    one_pass = bytes([3, SIG_BINARY, parsed.hash_algorithm, parsed.algorithm]) + key_id + b"\x01"
    literal = b"b\x00" + (parsed.created or 0).to_bytes(4, "big") + data
    return packet_bytes(TAG_ONE_PASS, one_pass) + packet_bytes(TAG_LITERAL, literal) + sig
