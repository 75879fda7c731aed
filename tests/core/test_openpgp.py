"""OpenPGP signatures checked against the real gpg: what gpg signs we verify (and
refuse what gpg would refuse), what we sign gpg verifies."""

from __future__ import annotations

import os
import shutil

import pytest

from ostreepy.errors import SignatureError
from ociclient import pgpformat
from ostreepy.remote import openpgp
from ostreepy.remote.openpgp import Keyring, OpenPGPError, sign_detached, verify_detached

from .gpgkeys import GpgHome, revoke, shared_home

pytestmark = pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed (apt-get install gnupg)")

DATA = b"commit bytes stand-in\n" * 10


@pytest.fixture(scope="module")
def home():
    return shared_home()


@pytest.fixture(scope="module")
def keyring(home: GpgHome) -> Keyring:
    return Keyring.from_bytes(home.export("ed", "rsa", "sub", "old"))


@pytest.mark.parametrize("name,digest", [("ed", None), ("rsa", None), ("sub", None), ("rsa", "SHA1"),
                                         ("rsa", "SHA512"), ("ed", "SHA512")])
def test_gpg_signatures_verify(home, keyring, name, digest):
    sig = home.detach_sign(name, DATA, *(["--digest-algo", digest] if digest else []))
    [check] = verify_detached(DATA, sig, keyring)
    assert check.valid, check.describe()
    signer = home.fpr.get(name + "-sub", home.fpr[name])  # gpg signs with the signing subkey when there is one
    assert (check.fingerprint, check.primary_fingerprint) == (signer, home.fpr[name])
    assert check.user_id == f"{name.title()} <{name}@example.com>"
    # the armored form and a stream of several signatures (as ostree.gpgsigs are joined)
    assert verify_detached(DATA, home.detach_sign(name, DATA, "--armor"), keyring)[0].valid
    other = home.detach_sign("other", DATA)
    checks = verify_detached(DATA, other + sig, keyring)
    assert [c.status for c in checks] == [pgpformat.MISSING_KEY, pgpformat.VALID]
    assert pgpformat.require_valid(checks) is checks[1]
    # a signature of a version this does not read does not hide a good one
    v5 = pgpformat.packet_bytes(pgpformat.TAG_SIGNATURE, b"\x05" + bytes(40))
    checks = verify_detached(DATA, v5 + sig, keyring)
    assert [c.status for c in checks] == [pgpformat.UNSUPPORTED, pgpformat.VALID]
    assert checks[0].describe().startswith("Can't check signature: v5 signature")


def test_refused_signatures(home, keyring):
    sig = home.detach_sign("ed", DATA)
    assert verify_detached(DATA + b"x", sig, keyring)[0].status == pgpformat.BAD
    # the other key's signature, and a keyring without the signer
    other = home.detach_sign("other", DATA)
    [miss] = verify_detached(DATA, other, keyring)
    assert miss.status == pgpformat.MISSING_KEY and miss.key_id == home.fpr["other"][-16:]
    with pytest.raises(SignatureError, match="Can't check signature: public key not found"):
        openpgp.require_valid([miss])
    assert verify_detached(DATA, sig, Keyring.from_bytes(home.export("rsa")))[0].status == pgpformat.MISSING_KEY
    # a key that expired in 2021, signing while it was valid
    old = home.detach_sign("old", DATA, "--faked-system-time", "20200601T000000!")
    [exp] = verify_detached(DATA, old, keyring)
    assert exp.status == pgpformat.EXPIRED_KEY and "\nKey expired " in exp.describe()
    assert verify_detached(DATA, old, keyring, now=1593561600)[0].valid  # mid-2020: before it expired
    # a flipped bit in the signature value itself
    bad = bytearray(sig)
    bad[-5] ^= 1
    assert verify_detached(DATA, bytes(bad), keyring)[0].status == pgpformat.BAD
    assert gpg_agrees(home, DATA, bytes(bad)) is False


def gpg_agrees(home: GpgHome, data: bytes, sig: bytes) -> bool:
    out = home.verify(data, sig).stdout.decode()
    return "[GNUPG:] GOODSIG" in out or "[GNUPG:] EXPKEYSIG" in out


def test_revoked_key_refused(home, tmp_path):
    home = home.copy(str(tmp_path / "gnupg"))  # the revocation stays in this test
    sig = home.detach_sign("rev", DATA)
    assert verify_detached(DATA, sig, Keyring.from_bytes(home.export("rev")))[0].valid
    revoke(home, "rev")
    kr = Keyring.from_bytes(home.export("rev"))
    assert kr.certificates[0].primary.revoked
    assert verify_detached(DATA, sig, kr)[0].status == pgpformat.REVOKED_KEY
    assert "[GNUPG:] REVKEYSIG" in home.verify(DATA, sig).stdout.decode()
    home.close()


def test_subkey_counts_only_when_bound(home):
    """The subkey's binding signature dropped from the key: its signatures no longer count."""
    sig = home.detach_sign("sub", DATA)
    packets = list(pgpformat.iter_packets(home.export("sub")))
    sub_at = next(i for i, p in enumerate(packets) if p.tag == pgpformat.TAG_PUBLIC_SUBKEY)
    unbound = b"".join(p.raw for i, p in enumerate(packets) if i != sub_at + 1)
    kr = Keyring.from_bytes(unbound)
    assert not kr.certificates[0].subkeys[0].valid
    check = verify_detached(DATA, sig, kr)[0]
    assert check.status == pgpformat.BAD and "binding" in check.message and "BAD signature" in check.describe()


@pytest.mark.parametrize("name", ["ed", "rsa", "sub"])
def test_our_signatures_verify_with_gpg(home, keyring, name):
    sig = sign_detached(DATA, home.email(name), home.path)
    out = home.verify(DATA, sig).stdout.decode()
    signer = home.fpr.get(name + "-sub", home.fpr[name])
    assert f"[GNUPG:] VALIDSIG {signer} " in out, out
    assert verify_detached(DATA, sig, keyring)[0].valid
    # by fingerprint and by key id too, and refused over other data by gpg
    assert sign_detached(DATA, home.fpr[name], home.path) and sign_detached(DATA, home.fpr[name][-16:], home.path)
    assert not gpg_agrees(home, DATA + b"!", sig)


def test_signing_errors(home):
    with pytest.raises(OpenPGPError, match="protected by a passphrase"):
        sign_detached(DATA, home.email("pw"), home.path)
    with pytest.raises(OpenPGPError, match="No public key"):
        sign_detached(DATA, "nobody@example.com", home.path)
    with pytest.raises(OpenPGPError, match="No public keyring"):
        sign_detached(DATA, "x", os.path.dirname(home.path) + "/no-such-gnupg-home")


def test_framing():
    body = bytes(range(200)) * 3
    # new-format definite length, old-format lengths, partial body lengths all read the same body
    new = pgpformat.packet_bytes(11, body)
    old = bytes([0x80 | (11 << 2) | 1]) + len(body).to_bytes(2, "big") + body
    partial = bytes([0xC0 | 11, 0xE0 + 9]) + body[:512] + bytes([len(body) - 512]) + body[512:]
    indeterminate = bytes([0x80 | (11 << 2) | 3]) + body
    for raw in (new, old, partial, indeterminate):
        [p] = pgpformat.iter_packets(raw)
        assert (p.tag, p.body) == (11, body)
    for broken in (new[:-1], b"\x00", old[:2], partial[:-3], b"\xc2\xff\x00"):
        with pytest.raises(OpenPGPError):
            list(pgpformat.iter_packets(broken))
    arm = pgpformat.armor(new, "MESSAGE")
    assert pgpformat.dearmor(arm) == new
    with pytest.raises(OpenPGPError, match="CRC-24"):
        pgpformat.dearmor(arm.replace(arm.split(b"\n=")[1][:4], b"AAAA"))
    with pytest.raises(OpenPGPError):
        Keyring.from_bytes(b"not a key at all")


def test_gnupg_key_files():
    canonical = b"(11:private-key(3:rsa(1:n3:\x00\xc5\x01)(1:e1:\x03)(1:d1:\x07)(1:p1:\x0b)(1:q1:\x0d)))"
    sk = pgpformat.parse_gnupg_key_file(canonical)
    assert sk.algorithm == "rsa" and sk.public_material() == (b"\xc5\x01", b"\x03")
    protected = b"Created: 20260101T000000\nKey: (protected-private-key (ecc (curve Ed25519)\n (q #40AA#)))\n"
    with pytest.raises(OpenPGPError, match="protected"):
        pgpformat.parse_gnupg_key_file(protected)
    with pytest.raises(OpenPGPError):
        pgpformat.parse_gnupg_key_file(b"Key: (private-key (ecc (curve Ed25519)")
    assert openpgp.default_homedir()


# ----------------------------------------------------------------------------- keys built here
# (what gpg 2.2 cannot make: RFC 9580's Ed25519 algorithm, a subkey without a back-signature)

def _ed_key(algo: int, created: int = 1700000000):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    seed = bytes(range(algo, algo + 32))
    pub = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    if algo == pgpformat.PK_ED25519:
        body = bytes([4]) + created.to_bytes(4, "big") + bytes([27]) + pub
    else:
        body = (bytes([4]) + created.to_bytes(4, "big") + bytes([22, len(pgpformat.ED25519_OID)])
                + pgpformat.ED25519_OID + pgpformat.mpi_bytes(b"\x40" + pub))
    secret = pgpformat.SecretKey("ed25519", (("d", seed), ("q", b"\x40" + pub)))
    return pgpformat.parse_public_key(body), secret


def _cert(primary, secret, uid=b"Made <made@example.com>", flags=0x03):
    uid_prefix = b"\xb4" + len(uid).to_bytes(4, "big") + uid
    selfsig = pgpformat.make_signature([primary.hash_prefix(), uid_prefix], primary, secret, 0x13, 1700000001,
                                       hashed_extra=pgpformat.subpacket(pgpformat.SUB_KEY_FLAGS, bytes([flags])))
    return (pgpformat.packet_bytes(pgpformat.TAG_PUBLIC_KEY, primary.body)
            + pgpformat.packet_bytes(pgpformat.TAG_USER_ID, uid) + selfsig)


def test_rfc9580_ed25519_key():
    pub, secret = _ed_key(pgpformat.PK_ED25519)
    kr = Keyring.from_bytes(_cert(pub, secret))
    key = kr.certificates[0].primary
    assert key.valid and key.packet.algorithm == 27 and key.flags == 3
    sig = pgpformat.sign_data(DATA, key, secret)
    assert verify_detached(DATA, sig, kr)[0].valid
    assert verify_detached(DATA[1:], sig, kr)[0].status == pgpformat.BAD
    # a self-signature that does not verify leaves the key unusable
    broken = bytearray(_cert(pub, secret))
    broken[-3] ^= 0x40
    assert not Keyring.from_bytes(bytes(broken)).certificates[0].primary.valid


@pytest.mark.parametrize("backsig", [True, False])
def test_signing_subkey_needs_a_back_signature(backsig):
    primary, psecret = _ed_key(pgpformat.PK_EDDSA_LEGACY)
    sub, ssecret = _ed_key(pgpformat.PK_ED25519, 1700000100)
    parts = [primary.hash_prefix(), sub.hash_prefix()]
    extra = b""
    if backsig:
        back = pgpformat.make_signature(parts, sub, ssecret, pgpformat.SIG_PRIMARY_BINDING, 1700000101)
        extra = pgpformat.subpacket(pgpformat.SUB_EMBEDDED_SIG, next(pgpformat.iter_packets(back)).body)
    binding = pgpformat.make_signature(parts, primary, psecret, pgpformat.SIG_SUBKEY_BINDING, 1700000102,
                                       hashed_extra=pgpformat.subpacket(pgpformat.SUB_KEY_FLAGS, b"\x02"),
                                       unhashed_extra=extra)
    kr = Keyring.from_bytes(_cert(primary, psecret, flags=0x01)
                            + pgpformat.packet_bytes(pgpformat.TAG_PUBLIC_SUBKEY, sub.body) + binding)
    cert = kr.certificates[0]
    assert cert.subkeys[0].valid and cert.subkeys[0].back_signed is backsig
    sig = pgpformat.sign_data(DATA, cert.subkeys[0], ssecret)
    check = verify_detached(DATA, sig, kr)[0]
    assert check.valid is backsig
    if not backsig:
        assert "not cross-certified" in check.message and "BAD signature" in check.describe()
    # the primary is certify-only: its own data signatures are refused
    own = pgpformat.sign_data(DATA, cert.primary, psecret)
    assert "may not sign data" in verify_detached(DATA, own, kr)[0].message


def test_short_numbers_round_trip_through_gpg(home, keyring):
    """r, s (EdDSA) and RSA signatures whose top byte is 0 are written as shorter
    MPIs; gpg and we read them back (found by trying data)."""
    pub = openpgp.homedir_keyring(home.path)
    secrets, _ = openpgp.homedir_secret_keys(home.path)
    for name, short in (("ed", lambda v: len(v[0]) < 32 or len(v[1]) < 32), ("rsa", lambda v: len(v[0]) < 384)):
        [cert] = pub.select(home.email(name))
        material = tuple(m.lstrip(b"\0") for m in cert.primary.packet.material)
        sk = next(s for s in secrets if s.public_material() == material)
        for i in range(4000):
            data = DATA + str(i).encode()
            sig = pgpformat.sign_data(data, cert.primary, sk)
            if short(pgpformat.split_signatures(sig)[0].values):
                break
        else:
            pytest.fail("no short signature in 4000 tries")
        assert verify_detached(data, sig, keyring)[0].valid
        assert f"[GNUPG:] VALIDSIG {home.fpr[name]} " in home.verify(data, sig).stdout.decode()


@pytest.mark.parametrize("name", ["ed", "rsa"])
def test_mutated_signatures_judged_as_gpg_judges_them(home, keyring, name):
    """Bytes flipped in what a signature's hash and value cover (not the unhashed
    area, whose issuer key id gpg looks keys up by and we need not): we call a
    signature good exactly when gpg does."""
    import random
    rnd = random.Random(7)
    sig = home.detach_sign(name, DATA)
    [p] = pgpformat.iter_packets(sig)
    head = len(p.raw) - len(p.body)
    hashed_end = head + 6 + int.from_bytes(p.body[4:6], "big")
    unhashed_end = hashed_end + 2 + int.from_bytes(sig[hashed_end:hashed_end + 2], "big")
    spots = list(range(head, hashed_end)) + list(range(unhashed_end, len(sig)))
    agreed = 0
    for _ in range(12):
        bad = bytearray(sig)
        i = rnd.choice(spots)
        bad[i] ^= 1 << rnd.randrange(8)
        try:
            ours = any(c.valid for c in verify_detached(DATA, bytes(bad), keyring))
        except OpenPGPError:
            ours = False
        assert ours == gpg_agrees(home, DATA, bytes(bad)), (i, bytes(bad).hex())
        agreed += 1
    assert agreed == 12
