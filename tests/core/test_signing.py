"""Commit signatures: the detached-metadata plumbing against ostree's dummy signer,
Ed25519 against openssl's implementation."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import pytest

from ostreepy.errors import SignatureError
from ostreepy.store.objects import ObjectType
from ostreepy.store.repo import Repo
from ostreepy.store.signing import Signer, commit_signatures, sign_commit, verify_commit

DUMMY_ENV = dict(os.environ, OSTREE_DUMMY_SIGN_ENABLED="1")


def run(*argv, check=True, env=None):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=check, env=env)


def ostreepy(*argv, check=True, env=None):
    return run(sys.executable, "-m", "ostreepy", *argv, check=check, env=env)


@pytest.fixture
def signed_repo(tmp_path):
    repo = tmp_path / "repo"
    run("ostree", f"--repo={repo}", "init", "--mode=archive")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "f").write_text("content\n")
    commit = run("ostree", f"--repo={repo}", "commit", "-b", "os/x", tree).stdout.strip()
    return repo, commit


def test_dummy_signatures_interoperate_with_ostree(signed_repo):
    repo, commit = signed_repo
    ostreepy(f"--repo={repo}", "sign", "--sign-type=dummy", commit, "ours", env=DUMMY_ENV)
    out = run("ostree", f"--repo={repo}", "sign", "--verify", "--sign-type=dummy", commit, "ours", env=DUMMY_ENV)
    assert out.stdout.strip() == "dummy: Signature verified"
    run("ostree", f"--repo={repo}", "sign", "--sign-type=dummy", commit, "theirs", env=DUMMY_ENV)
    for key in ("ours", "theirs"):
        res = ostreepy(f"--repo={repo}", "sign", "--verify", "--sign-type=dummy", commit, key, env=DUMMY_ENV)
        assert res.stdout.strip() == "dummy: Signature verified"
    bad = ostreepy(f"--repo={repo}", "sign", "--verify", "--sign-type=dummy", commit, "nope", env=DUMMY_ENV,
                   check=False)
    # a key given on the command line: its own error is dropped, as ot-builtin-sign.c does
    theirs = run("ostree", f"--repo={repo}", "sign", "--verify", "--sign-type=dummy", commit, "nope", env=DUMMY_ENV,
                 check=False)
    assert bad.returncode == theirs.returncode == 1
    assert bad.stderr == theirs.stderr == "error: No valid signatures found\n"
    # without the switch the test signer is refused, as in ostree
    off = ostreepy(f"--repo={repo}", "sign", "--sign-type=dummy", commit, "x", check=False,
                   env={k: v for k, v in os.environ.items() if k != "OSTREE_DUMMY_SIGN_ENABLED"})
    assert off.returncode == 1 and "only for ostree testing" in off.stderr
    run("ostree", f"--repo={repo}", "fsck")


def _openssl_key(tmp_path):
    key = tmp_path / "ed.pem"
    run("openssl", "genpkey", "-algorithm", "ed25519", "-out", key)
    der = subprocess.run(["openssl", "pkey", "-in", str(key), "-outform", "DER"], capture_output=True,
                         check=True).stdout
    pub = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-outform", "DER"], capture_output=True,
                         check=True).stdout
    seed, public = der[-32:], pub[-32:]
    run("openssl", "pkey", "-in", key, "-pubout", "-out", tmp_path / "pub.pem")
    return base64.b64encode(seed + public).decode(), base64.b64encode(public).decode(), tmp_path / "pub.pem"


def test_ed25519_signature_verifies_with_openssl(signed_repo, tmp_path):
    repo, commit = signed_repo
    secret, public, pub_pem = _openssl_key(tmp_path)
    ostreepy(f"--repo={repo}", "sign", commit, secret)
    r = Repo.open(str(repo))
    sigs = commit_signatures(r, commit, "ed25519")
    assert len(sigs) == 1 and len(sigs[0]) == 64
    data = tmp_path / "commit"
    data.write_bytes(r.load_metadata(ObjectType.COMMIT, commit))
    (tmp_path / "sig").write_bytes(sigs[0])
    ok = run("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub_pem, "-rawin", "-in", data,
             "-sigfile", tmp_path / "sig")
    assert "Signature Verified Successfully" in ok.stdout

    res = ostreepy(f"--repo={repo}", "sign", "--verify", commit, public)
    assert res.stdout.strip() == f"ed25519: Signature verified successfully with key '{base64.b64decode(public).hex()}'"
    # a keys directory, and a revoked key there
    keys = tmp_path / "keys"
    (keys / "trusted.ed25519.d").mkdir(parents=True)
    (keys / "trusted.ed25519.d" / "k").write_text(public + "\n")
    ostreepy(f"--repo={repo}", "sign", "--verify", f"--keys-dir={keys}", commit)
    (keys / "revoked.ed25519").write_text(public + "\n")
    res = ostreepy(f"--repo={repo}", "sign", "--verify", f"--keys-dir={keys}", commit, check=False)
    assert res.returncode == 1 and res.stderr.startswith("error: ")
    run("ostree", f"--repo={repo}", "fsck")


def test_ed25519_rejects_other_keys_and_other_data(signed_repo, tmp_path):
    repo, commit = signed_repo
    secret, public, _ = _openssl_key(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, other_public, _ = _openssl_key(other)
    r = Repo.open(str(repo))
    sign_commit(r, commit, Signer("ed25519", secret=secret))
    assert verify_commit(r, commit, Signer("ed25519", public=(public,))).startswith("ed25519: Signature verified")
    with pytest.raises(SignatureError, match="couldn't be verified"):
        verify_commit(r, commit, Signer("ed25519", public=(other_public,)))
    with pytest.raises(SignatureError):
        Signer("ed25519", public=(public,)).verify(b"other data", commit_signatures(r, commit, "ed25519"))
    with pytest.raises(SignatureError):
        Signer("ed25519", secret="not base64!").sign(b"x")
    unsigned = run("ostree", f"--repo={repo}", "commit", "--orphan", other).stdout.strip()
    with pytest.raises(SignatureError, match="no signatures"):
        verify_commit(r, unsigned, Signer("ed25519", public=(public,)))
