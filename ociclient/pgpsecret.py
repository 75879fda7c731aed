"""OpenPGP secret keys as GnuPG 1 keeps them (``secring.gpg``) and as ``gpg
--export-secret-keys`` writes them: transferable secret keys, pure (bytes in,
keys out).

Design: a secret key or subkey packet (tags 5 and 7, RFC 4880 section 5.5.3)
is its public key packet followed by the secret part; the public part is
measured here (its length is not stored) and handed to
:func:`ociclient.pgpformat.parse_public_key`, so a secret key has the same
fingerprint and key id as its public key.  The secret part is read when it is

* unprotected (S2K usage 0, a two-octet checksum after the numbers), or
* protected with a passphrase the caller gives: usage 254 (SHA-1 check
  inside the encryption, gpg's default since 1.4) or 255 (two-octet
  checksum), an S2K specifier of type simple, salted or iterated-and-salted
  with SHA-1/SHA-2, and AES-128/192/256 in OpenPGP's CFB mode over the
  numbers.

Refused with an :class:`~ociclient.pgpformat.OpenPGPError` that says so: a
protected key without a passphrase, a wrong passphrase (its check fails),
GnuPG's stub keys (S2K 101: ``gnu-dummy`` of ``--export-secret-subkeys`` and
keys held on a card), the pre-RFC 2440 protection (a cipher id in the usage
octet, MD5 as key derivation), AEAD protection (usage 253) and Argon2 S2K of
RFC 9580, ciphers other than AES, and keys of algorithms :func:`sign_data`
cannot use (RSA and Ed25519, in either OpenPGP form, are read).  A key ring
yields every key it can read, with one line per key it could not.
"""

from __future__ import annotations

import hashlib
import struct
from typing import List, Optional, Tuple

import attrs

from .pgpformat import (s2k_feed, ALGO_NAMES, PK_ED25519, PK_EDDSA_LEGACY, PK_RSA, TAG_SECRET_KEY, TAG_SECRET_SUBKEY,
                        BadPassphrase, OpenPGPError, PassphraseNeeded, PublicKeyPacket, SecretKey, _Reader,
                        iter_packets, parse_public_key, public_part_length)

#: S2K usage octets (RFC 4880 5.5.3, RFC 9580 3.7.2.1)
USAGE_CLEAR = 0
USAGE_AEAD = 253
USAGE_SHA1 = 254
USAGE_CHECKSUM = 255

#: symmetric ciphers read: id -> key length (all AES, block 16)
AES_KEY_BYTES = {7: 16, 8: 24, 9: 32}
CIPHER_NAMES = {1: "IDEA", 2: "3DES", 3: "CAST5", 4: "Blowfish", 7: "AES-128", 8: "AES-192", 9: "AES-256",
                10: "Twofish", 11: "Camellia-128", 12: "Camellia-192", 13: "Camellia-256"}
S2K_HASHES = {2: "sha1", 8: "sha256", 9: "sha384", 10: "sha512", 11: "sha224"}

#: gpg's largest coded count is 65011712; beyond a few times that is hostile
MAX_S2K_COUNT = 1 << 31


@attrs.frozen
class S2K:
    """A string-to-key specifier: type 0 (simple), 1 (salted) or 3 (iterated
    and salted, ``count`` octets hashed)."""

    type: int
    hash_name: str
    salt: bytes = b""
    count: int = 0

    def derive(self, passphrase: bytes, keylen: int) -> bytes:
        """The key: as many hash contexts as the key needs, the i-th preloaded
        with i zero octets (RFC 4880 3.7.1)."""
        data = self.salt + passphrase
        count = max(self.count, len(data)) if self.type == 3 else len(data)
        out = b""
        i = 0
        while len(out) < keylen:
            h = hashlib.new(self.hash_name)
            h.update(b"\0" * i)
            s2k_feed(h, data, count)
            out += h.digest()
            i += 1
        return out[:keylen]


def parse_s2k(r: _Reader) -> S2K:
    """An S2K specifier from ``r``; GnuPG's stubs (type 101) and the types this
    cannot derive are refused."""
    kind = r.u8()
    if kind == 101:
        ext = r.take(5)[1:] if len(r.data) - r.pos >= 5 else b""  # hash octet, then "GNU" and the mode
        mode = ext[3] if len(ext) == 4 and ext[:3] == b"GNU" else -1
        what = {1: "a stub without its secret (gnu-dummy, as --export-secret-subkeys writes it)",
                2: "held on a smartcard (divert-to-card)"}.get(mode, "a GnuPG extension stub")
        raise OpenPGPError(f"The secret key is {what}; it cannot sign here")
    if kind not in (0, 1, 3):
        raise OpenPGPError(f"Unsupported S2K type {kind} protecting the secret key (0, 1 and 3 are supported)")
    hid = r.u8()
    if hid not in S2K_HASHES:
        raise OpenPGPError(f"Unsupported S2K hash algorithm {hid} protecting the secret key")
    salt = r.take(8) if kind in (1, 3) else b""
    count = 0
    if kind == 3:
        c = r.u8()
        count = (16 + (c & 15)) << ((c >> 4) + 6)
        if count > MAX_S2K_COUNT:
            raise OpenPGPError(f"S2K count {count} refused")
    return S2K(kind, S2K_HASHES[hid], salt, count)


@attrs.frozen
class SecretKeyPacket:
    """A secret key packet read: its public key and, when it could be opened,
    the secret for :func:`ociclient.pgpformat.sign_data`."""

    public: PublicKeyPacket
    secret: SecretKey


def cfb_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES in full-block CFB mode, as OpenPGP encrypts secret key numbers: each
    plaintext block is its ciphertext block XOR the encryption of the previous
    ciphertext block (the IV first). Built on ECB, one call for all blocks, as
    cryptography moves its CFB mode to the deprecated ciphers."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    prev = iv + data[:max(0, len(data) - 1) // 16 * 16]
    e = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    stream = e.update(prev) + e.finalize()
    n = len(data)
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream[:n], "big")).to_bytes(n, "big") if n else b""


def _secret_numbers(algo: int, clear: bytes) -> Tuple[Tuple[bytes, ...], int]:
    """The secret numbers at the start of ``clear`` and where they end."""
    r = _Reader(clear, "OpenPGP secret key material")
    if algo in PK_RSA:
        return (r.mpi(), r.mpi(), r.mpi(), r.mpi()), r.pos  # d, p, q, u
    if algo == PK_EDDSA_LEGACY:
        return (r.mpi(),), r.pos
    return (r.take(32),), r.pos  # PK_ED25519: native octets


def parse_secret_key_packet(body: bytes, passphrase: Optional[bytes] = None) -> SecretKeyPacket:
    """A v4 secret key or subkey packet's body, opened with ``passphrase`` when
    it is protected."""
    publen = public_part_length(body)
    pub = parse_public_key(body[:publen])
    if pub.algorithm not in PK_RSA + (PK_EDDSA_LEGACY, PK_ED25519) or not pub.supported:
        name = ALGO_NAMES.get(pub.algorithm, str(pub.algorithm))
        raise OpenPGPError(f"Secret key {pub.key_id}: {name} keys cannot sign here (RSA and Ed25519 can)")
    r = _Reader(body[publen:], f"OpenPGP secret key {pub.key_id}")
    usage = r.u8()
    if usage == USAGE_CLEAR:
        rest = r.rest()
        numbers, end = _secret_numbers(pub.algorithm, rest)
        if rest[end:end + 2] != struct.pack(">H", sum(rest[:end]) & 0xFFFF) or len(rest) != end + 2:
            raise OpenPGPError(f"Secret key {pub.key_id}: checksum of the secret numbers does not match")
    elif usage in (USAGE_SHA1, USAGE_CHECKSUM):
        cipher = r.u8()
        s2k = parse_s2k(r)  # first: GnuPG's stubs name no cipher
        if cipher not in AES_KEY_BYTES:
            raise OpenPGPError(f"Secret key {pub.key_id} is protected with {CIPHER_NAMES.get(cipher, cipher)}"
                               " (AES is supported)")
        iv = r.take(16)
        encrypted = r.rest()
        if passphrase is None:
            raise PassphraseNeeded(f"Secret key {pub.key_id} is protected by a passphrase")
        clear = cfb_decrypt(s2k.derive(passphrase, AES_KEY_BYTES[cipher]), iv, encrypted)
        try:
            numbers, end = _secret_numbers(pub.algorithm, clear)
        except OpenPGPError:
            raise BadPassphrase(f"Bad passphrase for secret key {pub.key_id}") from None
        check = hashlib.sha1(clear[:end]).digest() if usage == USAGE_SHA1 \
            else struct.pack(">H", sum(clear[:end]) & 0xFFFF)
        if clear[end:] != check:
            raise BadPassphrase(f"Bad passphrase for secret key {pub.key_id}")
    elif usage == USAGE_AEAD:
        raise OpenPGPError(f"Secret key {pub.key_id} uses AEAD protection (RFC 9580), which is not supported")
    else:
        raise OpenPGPError(f"Secret key {pub.key_id} uses the obsolete pre-RFC 2440 protection "
                           f"(cipher {usage} keyed by MD5), which is not supported")
    if pub.algorithm in PK_RSA:
        n, e = pub.material
        d, p, q, _u = numbers
        return SecretKeyPacket(pub, SecretKey("rsa", (("n", n), ("e", e), ("d", d), ("p", p), ("q", q))))
    seed = numbers[0].lstrip(b"\0").rjust(32, b"\0")
    if len(seed) != 32:
        raise OpenPGPError(f"Secret key {pub.key_id}: Ed25519 secret of the wrong size")
    return SecretKeyPacket(pub, SecretKey("ed25519", (("d", seed), ("q", b"\x40" + pub.material[0]))))


def read_secret_keys(data: bytes, passphrase: Optional[bytes] = None
                     ) -> Tuple[List[SecretKeyPacket], List[str]]:
    """Every secret key and subkey of a key ring (``secring.gpg``, an export)
    that can be opened, and one line for each that could not."""
    keys: List[SecretKeyPacket] = []
    problems: List[str] = []
    for p in iter_packets(data):
        if p.tag in (TAG_SECRET_KEY, TAG_SECRET_SUBKEY):
            try:
                keys.append(parse_secret_key_packet(p.body, passphrase))
            except OpenPGPError as e:
                problems.append(str(e))
    return keys, problems
