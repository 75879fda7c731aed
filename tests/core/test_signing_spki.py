"""The ``spki`` signature type (ostree 2025.2+, test-signed-commit-spki.sh at v2026.4)
against the upstream ostree 2026.4 peer: each side verifies the other's signatures,
deterministic ones are byte-equal, key files are PEM, and the failures read alike."""

from __future__ import annotations

import base64
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa
from upstream_peer import needs_upstream, peer_bin

from ostreepy.errors import SignatureError
from ostreepy.store import spki
from ostreepy.store.repo import Repo
from ostreepy.store.signing import commit_signatures


def run(*argv, check=True):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=check)


def ours(*argv, check=True):
    return run(sys.executable, "-m", "ostreepy", *argv, check=check)


def peer(*argv, check=True):
    return run(peer_bin(), *argv, check=check)


def _keys(key):
    sk = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption())
    pk = key.public_key().public_bytes(serialization.Encoding.DER,
                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return base64.b64encode(sk).decode(), base64.b64encode(pk).decode(), pem


def _sigs(repo, commit):
    """The signatures as bytes, after checking both tools print them alike."""
    printed = {tool(f"--repo={repo}", "show", commit, "--print-detached-metadata-key=ostree.sign.spki").stdout
               for tool in (ours, peer)}
    assert len(printed) == 1
    return commit_signatures(Repo.open(str(repo)), commit, "spki")


@needs_upstream
def test_spki_signatures_interoperate_with_ostree_2026(tmp_path):
    repo = tmp_path / "repo"
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "f").write_text("spki\n")
    peer(f"--repo={repo}", "init", "--mode=archive")
    sk, pk, pem = _keys(ed448.Ed448PrivateKey.generate())
    c1 = ours(f"--repo={repo}", "commit", "-b", "main", f"--tree=dir={tree}", "--sign-type=spki",
              f"--sign={sk}").stdout.strip()
    expect = f"spki: Signature verified successfully with key '{base64.b64decode(pk).hex()}'\n"
    assert peer(f"--repo={repo}", "sign", "--verify", "--sign-type=spki", c1, pk).stdout == expect
    # Ed448 is deterministic: the peer's signature of the same commit is the same bytes
    (mine,) = _sigs(repo, c1)
    assert len(mine) == 114
    peer(f"--repo={repo}", "sign", "--sign-type=spki", c1, sk)
    assert _sigs(repo, c1) == [mine, mine]
    # PEM key files, a wrong key first
    _, _, wrong_pem = _keys(ed448.Ed448PrivateKey.generate())
    keys = tmp_path / "keys.pem"
    keys.write_text(wrong_pem + pem)
    for tool in (ours, peer):
        assert tool(f"--repo={repo}", "sign", "--verify", "--sign-type=spki", f"--keys-file={keys}",
                    c1).stdout == expect
    # four wrong keys, two signatures: every pair counts, the same error from both
    keys.write_text("".join(_keys(ed448.Ed448PrivateKey.generate())[2] for _ in range(4)))
    errs = [tool(f"--repo={repo}", "sign", "--verify", "--sign-type=spki", f"--keys-file={keys}", c1,
                 check=False) for tool in (ours, peer)]
    assert [e.returncode for e in errs] == [1, 1]
    assert errs[0].stderr == errs[1].stderr == "error: spki: Signature couldn't be verified; tried 8 keys\n"
    # a revoked key in a keys directory no longer verifies, for either
    kd = tmp_path / "kd"
    (kd / "trusted.spki.d").mkdir(parents=True)
    (kd / "trusted.spki.d/k").write_text(pem)
    for tool in (ours, peer):
        assert tool(f"--repo={repo}", "sign", "--verify", "--sign-type=spki", f"--keys-dir={kd}", c1).returncode == 0
    (kd / "revoked.spki.d").mkdir()
    (kd / "revoked.spki.d/k").write_text(pem)
    for tool in (ours, peer):
        assert tool(f"--repo={repo}", "sign", "--verify", "--sign-type=spki", f"--keys-dir={kd}", c1,
                    check=False).returncode == 1
    # RSA (PKCS#1 v1.5, SHA-256: byte-equal) and ECDSA keys, a PEM secret key file
    for key in (rsa.generate_private_key(65537, 2048), ec.generate_private_key(ec.SECP256R1())):
        sk, pk, _ = _keys(key)
        c = peer(f"--repo={repo}", "commit", "-b", "main", f"--tree=dir={tree}", "-s", type(key).__name__,
                 "--sign-type=spki", f"--sign={sk}").stdout.strip()
        skfile = tmp_path / "sk.pem"
        skfile.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
        ours(f"--repo={repo}", "sign", "--sign-type=spki", f"--keys-file={skfile}", c)
        for tool in (ours, peer):
            assert "verified successfully" in tool(f"--repo={repo}", "sign", "--verify", "--sign-type=spki",
                                                   c, pk).stdout
        theirs, mine = _sigs(repo, c)
        assert (theirs == mine) == isinstance(key, rsa.RSAPrivateKey)
    peer(f"--repo={repo}", "fsck")


def test_pem_blocks_as_libostree_reads_them():
    der = b"\x30\x05abcde"
    b64 = base64.b64encode(der).decode()
    text = f"junk\n  -----BEGIN PUBLIC KEY-----  \n{b64[:4]}\n\n{b64[4:]}\n-----END PUBLIC KEY-----\ntrailing\n"
    assert spki.pem_blocks(text, "PUBLIC KEY") == [der]
    assert spki.pem_blocks(text * 2, "PUBLIC KEY") == [der, der]
    with pytest.raises(SignatureError, match='Unexpected label "PUBLIC KEY"'):
        spki.pem_blocks(text, "PRIVATE KEY")
    with pytest.raises(SignatureError, match="Unmatched PEM header"):
        spki.pem_blocks("-----BEGIN A-----\nAA==\n-----END B-----\n", "A")
    with pytest.raises(SignatureError, match="Failed to initialize spki key"):
        spki.verify(b"not der", b"sig", b"data")
