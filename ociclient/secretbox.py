"""NaCl secretbox (XSalsa20-Poly1305), pure: bytes in, bytes out.

Design: cosign-format private keys are sealed with NaCl's ``secretbox``, and
``cryptography`` has Poly1305 but no (X)Salsa20, so the stream cipher is
written here after Bernstein's specification (Salsa20/20, HSalsa20 for the
extended 192-bit nonce).  Plain Python integers are slow, but the only
payloads are PKCS#8 keys of a few hundred bytes; :data:`MAX_PLAINTEXT` keeps
anyone from feeding it more.  The box layout is NaCl's ``crypto_secretbox_easy``:
the 16-byte Poly1305 tag, then the ciphertext; the Poly1305 key is the first
32 bytes of the keystream and the message is XORed with the keystream from
byte 32 on.  Tags are checked in constant time by ``cryptography``.
"""

from __future__ import annotations

import struct
from typing import List

from .errors import OciError

KEY_SIZE = 32
NONCE_SIZE = 24
TAG_SIZE = 16
MAX_PLAINTEXT = 64 * 1024

_SIGMA = (0x61707865, 0x3320646E, 0x79622D32, 0x6B206574)  # "expand 32-byte k"
_M = 0xFFFFFFFF


class SecretboxError(OciError):
    """A box that does not open (wrong key, tampered), or bad sizes."""


def _rounds(x: List[int]) -> List[int]:
    """Salsa20's 20 rounds (10 double rounds) over a copy of the 16-word state."""
    x = list(x)

    def qr(a: int, b: int, c: int, d: int) -> None:
        t = (x[a] + x[d]) & _M
        x[b] ^= ((t << 7) | (t >> 25)) & _M
        t = (x[b] + x[a]) & _M
        x[c] ^= ((t << 9) | (t >> 23)) & _M
        t = (x[c] + x[b]) & _M
        x[d] ^= ((t << 13) | (t >> 19)) & _M
        t = (x[d] + x[c]) & _M
        x[a] ^= ((t << 18) | (t >> 14)) & _M

    for _ in range(10):
        qr(0, 4, 8, 12)   # columns
        qr(5, 9, 13, 1)
        qr(10, 14, 2, 6)
        qr(15, 3, 7, 11)
        qr(0, 1, 2, 3)    # rows
        qr(5, 6, 7, 4)
        qr(10, 11, 8, 9)
        qr(15, 12, 13, 14)
    return x


def _state(key: bytes, middle: bytes) -> List[int]:
    k = struct.unpack("<8I", key)
    m = struct.unpack("<4I", middle)
    return [_SIGMA[0], *k[:4], _SIGMA[1], *m, _SIGMA[2], *k[4:], _SIGMA[3]]


def hsalsa20(key: bytes, nonce16: bytes) -> bytes:
    """The 32-byte subkey XSalsa20 derives from ``key`` and the nonce's first 16 bytes."""
    if len(key) != KEY_SIZE or len(nonce16) != 16:
        raise SecretboxError("hsalsa20 needs a 32-byte key and a 16-byte input")
    x = _rounds(_state(key, nonce16))
    return struct.pack("<8I", x[0], x[5], x[10], x[15], x[6], x[7], x[8], x[9])


def salsa20_stream(key: bytes, nonce8: bytes, length: int, counter: int = 0) -> bytes:
    """``length`` bytes of Salsa20/20 keystream for a 32-byte key and 8-byte nonce."""
    if len(key) != KEY_SIZE or len(nonce8) != 8:
        raise SecretboxError("salsa20 needs a 32-byte key and an 8-byte nonce")
    out = bytearray()
    while len(out) < length:
        s = _state(key, nonce8 + struct.pack("<Q", counter))
        x = _rounds(s)
        out += struct.pack("<16I", *((a + b) & _M for a, b in zip(x, s)))
        counter += 1
    return bytes(out[:length])


def xsalsa20_stream(key: bytes, nonce: bytes, length: int) -> bytes:
    """``length`` bytes of XSalsa20 keystream (24-byte nonce)."""
    if len(nonce) != NONCE_SIZE:
        raise SecretboxError(f"xsalsa20 needs a {NONCE_SIZE}-byte nonce")
    return salsa20_stream(hsalsa20(key, nonce[:16]), nonce[16:], length)


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "little") ^ int.from_bytes(b[:len(a)], "little")).to_bytes(len(a), "little")


def seal(message: bytes, nonce: bytes, key: bytes) -> bytes:
    """``crypto_secretbox_easy``: tag followed by ciphertext."""
    from cryptography.hazmat.primitives.poly1305 import Poly1305
    if len(message) > MAX_PLAINTEXT:
        raise SecretboxError(f"secretbox message over {MAX_PLAINTEXT} bytes")
    stream = xsalsa20_stream(key, nonce, 32 + len(message))
    ct = _xor(message, stream[32:])
    return Poly1305.generate_tag(stream[:32], ct) + ct


def open_box(box: bytes, nonce: bytes, key: bytes) -> bytes:
    """The message of a box :func:`seal` made, if ``key`` and ``nonce`` are right."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.poly1305 import Poly1305
    if len(box) < TAG_SIZE:
        raise SecretboxError("secretbox shorter than its tag")
    if len(box) - TAG_SIZE > MAX_PLAINTEXT:
        raise SecretboxError(f"secretbox message over {MAX_PLAINTEXT} bytes")
    tag, ct = box[:TAG_SIZE], box[TAG_SIZE:]
    stream = xsalsa20_stream(key, nonce, 32 + len(ct))
    try:
        Poly1305.verify_tag(stream[:32], ct, tag)
    except InvalidSignature:
        raise SecretboxError("secretbox does not open: wrong key or tampered") from None
    return _xor(ct, stream[32:])
