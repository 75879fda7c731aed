"""Signing from GnuPG homes as ostree's own tests give them (a GnuPG 1
``secring.gpg`` beside ``pubring.gpg``) and as gpg-agent leaves them
(``private-keys-v1.d`` in its older CBC protection and the openpgp-native form
of a migration), checked against the real gpg and Debian's ostree; and the
keyring and pull rules test-remote-gpg-import.sh holds ostree to."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

import pytest

from ociclient import gpghome, pgpformat, pgpsecret
from ociclient.pgpformat import BadPassphrase, OpenPGPError, PassphraseNeeded
from ostreepy.errors import SignatureError
from ostreepy.remote import keyring as keyring_mod
from ostreepy.remote.config import Remote
from ostreepy.remote.openpgp import sign_detached
from ostreepy.store.objects import ObjectType
from ostreepy.store.repo import Repo

from core.gpgkeys import GpgHome, shared_home

from .test_trust import ostree, ostreepy

pytestmark = pytest.mark.skipif(shutil.which("gpg") is None or shutil.which("ostree") is None,
                                reason="needs gpg and Debian's ostree (apt-get install gnupg ostree)")

DATA = b"commit bytes stand-in\n"


@pytest.fixture(scope="module")
def home() -> GpgHome:
    return shared_home()


def _gpg(path, *args, input=None, check=True):
    return subprocess.run(["gpg", "--homedir", str(path), "--batch", "--no-tty", "-q", *map(str, args)],
                          input=input, capture_output=True, check=check)


def _kill_agent(path) -> None:
    subprocess.run(["gpgconf", "--homedir", str(path), "--kill", "gpg-agent"], capture_output=True)


def gnupg1_home(home: GpgHome, dest, *names: str, passphrase: str = "") -> str:
    """A home in GnuPG 1's layout, as ostree's tests/gpghome: pubring.gpg and
    secring.gpg (``gpg --export-secret-keys``: the same secret key packets)."""
    os.makedirs(dest, mode=0o700)
    emails = [home.email(n) for n in names]
    with open(os.path.join(dest, "pubring.gpg"), "wb") as f:
        f.write(home.gpg("--export", *emails).stdout)
    with open(os.path.join(dest, "secring.gpg"), "wb") as f:
        f.write(home.gpg("--pinentry-mode", "loopback", "--passphrase", passphrase,
                         "--export-secret-keys", *emails).stdout)
    return str(dest)


def test_secring_home_signs_commits_ostree_and_gpg_verify(home: GpgHome, tmp_path):
    """ostree's tests sign with `commit --gpg-sign=KEYID --gpg-homedir=tests/gpghome`:
    our commit verifies with Debian's `ostree show` and `ostree pull` and with gpg;
    the home is migrated as gpg migrates it, so gpg itself signs from it afterwards."""
    gh = gnupg1_home(home, tmp_path / "gh", "rsa", "ed")
    srv = tmp_path / "srv"
    ostree(srv, "init", "--mode=archive")
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "f").write_text("x\n")
    ostreepy(f"--repo={srv}", "commit", "-b", "main", f"--tree=dir={tmp_path / 't'}",
             f"--gpg-sign={home.fpr['rsa'][-8:]}", "--gpg-homedir", gh)
    csum = ostree(srv, "rev-parse", "main").stdout.decode().strip()
    ostreepy(f"--repo={srv}", "gpg-sign", "main", home.email("ed"), "--gpg-homedir", gh)
    ostree(srv, "remote", "add", "--gpg-import", os.path.join(gh, "pubring.gpg"), "self", f"file://{srv}")
    shown = ostree(srv, "show", "--gpg-verify-remote=self", "main").stdout.decode()
    assert "Found 2 signatures:" in shown and shown.count("Good signature from") == 2, shown
    cl = tmp_path / "cl"
    ostree(cl, "init", "--mode=archive")
    ostree(cl, "remote", "add", "--gpg-import", os.path.join(gh, "pubring.gpg"), "o", f"file://{srv}")
    ostree(cl, "pull", "o", "main")
    # gpg's own verdict on the signature packets
    with Repo.open(str(srv)) as r:
        data = r.load_metadata(ObjectType.COMMIT, csum)
        sigs = [bytes(x) for x in r.read_commit_detached_metadata(csum)["ostree.gpgsigs"].value]
    for sig, name in zip(sigs, ("rsa", "ed")):
        assert f"[GNUPG:] VALIDSIG {home.fpr[name]} " in home.verify(data, sig).stdout.decode()
    # migration: the RSA key went to private-keys-v1.d by its keygrip; the Ed25519 one
    # is left for gpg, so no flag yet
    grips = os.listdir(os.path.join(gh, "private-keys-v1.d"))
    listed = _gpg(gh, "--with-colons", "--with-keygrip", "--list-keys", home.email("rsa")).stdout.decode()
    assert [f"{ln.split(':')[9]}.key" for ln in listed.splitlines() if ln.startswith("grp:")] == grips
    assert not os.path.exists(os.path.join(gh, ".gpg-v21-migrated"))
    try:
        _gpg(gh, "-u", home.fpr["rsa"] + "!", "--detach-sign", "-o", tmp_path / "d.sig", "--pinentry-mode",
             "error", input=b"", check=True)
    finally:
        _kill_agent(gh)


def test_secret_key_packets_with_a_passphrase(home: GpgHome, tmp_path, monkeypatch):
    """``gpg --export-secret-keys`` of a protected key: S2K usage 254, AES-128,
    iterated SHA-1; opened with the passphrase only, and signing for gpg."""
    gh = gnupg1_home(home, tmp_path / "gh", "pw", passphrase="secret")
    with open(os.path.join(gh, "secring.gpg"), "rb") as f:
        ring = f.read()
    keys, problems = pgpsecret.read_secret_keys(ring)
    assert keys == [] and problems and all("protected by a passphrase" in p for p in problems)
    keys, problems = pgpsecret.read_secret_keys(ring, b"secret")
    assert not problems and keys[0].public.fingerprint == home.fpr["pw"]
    with pytest.raises(BadPassphrase):
        [body] = [p.body for p in pgpformat.iter_packets(ring) if p.tag == pgpformat.TAG_SECRET_KEY]
        pgpsecret.parse_secret_key_packet(body, b"wrong")
    with pytest.raises(SignatureError, match="OSTREEPY_GPG_PASSPHRASE_FILE"):
        sign_detached(DATA, home.email("pw"), gh)
    (tmp_path / "pass").write_text("secret\n")
    monkeypatch.setenv("OSTREEPY_GPG_PASSPHRASE_FILE", str(tmp_path / "pass"))
    sig = sign_detached(DATA, home.email("pw"), gh)
    assert f"[GNUPG:] VALIDSIG {home.fpr['pw']} " in home.verify(DATA, sig).stdout.decode()


def test_stub_and_malformed_secret_keys(home: GpgHome):
    """A primary exported by --export-secret-subkeys is gnu-dummy (S2K 101): refused
    by name, its subkey still read; cut or altered packets give OpenPGPError."""
    ring = home.gpg("--export-secret-subkeys", home.email("sub")).stdout
    keys, problems = pgpsecret.read_secret_keys(ring)
    assert [k.public.fingerprint for k in keys] == [home.fpr["sub-sub"]]
    assert len(problems) == 1 and "gnu-dummy" in problems[0]
    [body] = [p.body for p in pgpformat.iter_packets(home.gpg("--export-secret-keys", home.email("ed")).stdout)
              if p.tag == pgpformat.TAG_SECRET_KEY]
    for bad in (body[:-1], body[:-3] + bytes([body[-3] ^ 1]) + body[-2:], body[:20]):
        with pytest.raises(OpenPGPError):
            pgpsecret.parse_secret_key_packet(bad)
    publen = pgpformat.public_part_length(body)
    for usage, what in ((253, "AEAD"), (3, "obsolete")):
        with pytest.raises(OpenPGPError, match=what):
            pgpsecret.parse_secret_key_packet(body[:publen] + bytes([usage]) + body[publen + 1:])


def _norm(sk: pgpformat.SecretKey) -> tuple:
    # GnuPG's files keep libgcrypt's leading zero on numbers with the top bit set
    return sk.algorithm, tuple((k, v.lstrip(b"\0")) for k, v in sk.params)


def _protect_cbc(key_file: bytes, passphrase: bytes) -> bytes:
    """gpg-agent's openpgp-s2k3-sha1-aes-cbc protection (GnuPG 2.0/2.1; gpg 2.2
    writes OCB but still reads this), built here as agent/protect.c builds it."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    sexp = pgpformat.parse_sexp(key_file[key_file.index(b"Key:") + 4:])
    algo = sexp[1]
    secret_names = {b"rsa": (b"d", b"p", b"q", b"u"), b"ecc": (b"d",)}[algo[0]]
    public = [i for i in algo if not (isinstance(i, list) and i[0] in secret_names)]
    secret = [i for i in algo if isinstance(i, list) and i[0] in secret_names]
    stamp = [b"protected-at", b"20260101T000000"]
    mic = hashlib.sha1(pgpformat.canonical_sexp(public + secret + [stamp])).digest()
    clear = b"((" + b"".join(pgpformat.canonical_sexp(i) for i in secret) + b")(4:hash4:sha120:" + mic + b"))"
    clear += os.urandom(-len(clear) % 16)
    salt, iv = os.urandom(8), os.urandom(16)
    enc = Cipher(algorithms.AES(pgpformat.s2k_iterated_sha1(passphrase, salt, 65536, 16)), modes.CBC(iv)).encryptor()
    prot = [b"protected", b"openpgp-s2k3-sha1-aes-cbc", [[b"sha1", salt, b"65536"], iv],
            enc.update(clear) + enc.finalize()]
    return pgpformat.canonical_sexp([b"protected-private-key", public + [prot, stamp]])


def test_gpg_agent_key_file_forms(home: GpgHome, tmp_path):
    """The CBC-protected form opens with the passphrase as gpg-agent opens it (gpg
    signs with the same file), and gpg's own migration of a secring.gpg (the
    openpgp-native form, protection none) reads as the keys themselves."""
    gh = tmp_path / "gh"
    shutil.copytree(home.path, gh, ignore=shutil.ignore_patterns("S.*", "*.lock", "openpgp-revocs.d"))
    grip = {ln.split(":")[9] for ln in _gpg(gh, "--with-colons", "--with-keygrip", "-K", home.email("ed"))
            .stdout.decode().splitlines() if ln.startswith("grp:")}.pop()
    path = gh / "private-keys-v1.d" / f"{grip}.key"
    plain = pgpformat.parse_gnupg_key_file(path.read_bytes())
    protected = _protect_cbc(path.read_bytes(), b"pw")
    assert pgpformat.parse_gnupg_key_file(protected, b"pw") == plain
    with pytest.raises(BadPassphrase):
        pgpformat.parse_gnupg_key_file(protected, b"px")
    with pytest.raises(PassphraseNeeded):
        pgpformat.parse_gnupg_key_file(protected)
    path.write_bytes(protected)
    try:
        wrong = _gpg(gh, "--pinentry-mode", "loopback", "--passphrase", "px", "-u", home.email("ed"),
                     "--detach-sign", "-o", tmp_path / "w.sig", os.devnull, check=False)
        assert wrong.returncode != 0 and b"Bad passphrase" in wrong.stderr
        _gpg(gh, "--pinentry-mode", "loopback", "--passphrase", "pw", "-u", home.email("ed"),
             "--detach-sign", "-o", tmp_path / "r.sig", os.devnull)
    finally:
        _kill_agent(gh)
    # gpg migrating a GnuPG 1 home leaves openpgp-native files
    g1 = gnupg1_home(home, tmp_path / "g1", "rsa", "ed")
    try:
        _gpg(g1, "--import", input=b"", check=False)
    finally:
        _kill_agent(g1)
    files = sorted((tmp_path / "g1" / "private-keys-v1.d").iterdir())
    assert files and all(b"openpgp-native" in f.read_bytes() for f in files)
    with open(os.path.join(g1, "secring.gpg"), "rb") as f:
        packets, _ = pgpsecret.read_secret_keys(f.read())
    assert {_norm(pgpformat.parse_gnupg_key_file(f.read_bytes())) for f in files} == {_norm(k.secret) for k in packets}
    assert gpghome.migrate_secring(g1) == []  # gpg did it: the flag is there


def test_our_migration_is_gpgs(home: GpgHome, tmp_path):
    """Our migration of RSA keys writes the files gpg's migration writes (same
    keygrips, same key), and sets the flag when it moved every key."""
    ours = gnupg1_home(home, tmp_path / "ours", "rsa")
    theirs = gnupg1_home(home, tmp_path / "theirs", "rsa")
    grips = gpghome.migrate_secring(ours)
    assert os.path.exists(os.path.join(ours, ".gpg-v21-migrated"))
    try:
        _gpg(theirs, "--import", input=b"", check=False)
    finally:
        _kill_agent(theirs)
    d = os.path.join(theirs, "private-keys-v1.d")
    assert sorted(grips) == sorted(n[:-4] for n in os.listdir(d))
    for g in grips:
        with open(os.path.join(d, g + ".key"), "rb") as a, \
                open(os.path.join(ours, "private-keys-v1.d", g + ".key"), "rb") as b:
            assert _norm(pgpformat.parse_gnupg_key_file(a.read())) == _norm(pgpformat.parse_gnupg_key_file(b.read()))


def test_gpgkeypath_as_ostree_reads_it(home: GpgHome, tmp_path):
    """One separator kind; a leading separator is an empty path (opendir() fails);
    a trailing one is nothing; a directory's files without keys add none."""
    split = keyring_mod._keypath_list
    assert split("a") == ["a"] and split("a,b,") == ["a", "b"] and split(",b") == ["", "b"]
    assert split("a;b") == ["a", "b"]
    with pytest.raises(SignatureError, match="more than one separator"):
        split("a,b;c")
    d = tmp_path / "keys"
    d.mkdir()
    (d / "trustdb.gpg").write_bytes(b"\x01gpg\x03\x00")
    (d / "k.asc").write_bytes(home.export("ed", armor=True))

    def remote(value: str) -> Remote:
        return Remote("r", "file:///x", (("url", "file:///x"), ("gpgkeypath", value)))
    kr = keyring_mod.keyring_for(None, remote(str(d)))
    assert [c.fingerprint for c in kr.certificates] == [home.fpr["ed"]]
    for value, shown in ((f",{d}/k.asc", "opendir()"), (f"{d}/missing/", f"opendir({d}/missing/)")):
        with pytest.raises(SignatureError, match=rf"{shown}: No such file or directory".replace("(", r"\(")
                           .replace(")", r"\)")):
            keyring_mod.keyring_for(None, remote(value))
    # a keyring file proper still must be OpenPGP data
    with pytest.raises(SignatureError, match="Not OpenPGP data"):
        keyring_mod.keyring_from_files([str(d / "trustdb.gpg")])


def test_present_commit_is_held_to_the_remote_keys(home: GpgHome, tmp_path):
    """A commit pulled through one remote does not pass for another whose keys did
    not sign it (scan_commit_object verifies commits already in the repository);
    `pull-local --gpg-verify=true` reads as the flag, as GLib reads it."""
    srv = tmp_path / "srv"
    ostree(srv, "init", "--mode=archive")
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "f").write_text("x\n")
    ostreepy(f"--repo={srv}", "commit", "-b", "main", f"--tree=dir={tmp_path / 't'}",
             f"--gpg-sign={home.email('ed')}", "--gpg-homedir", home.path)
    (tmp_path / "ed.asc").write_bytes(home.export("ed", armor=True))
    (tmp_path / "other.asc").write_bytes(home.export("other", armor=True))
    cl = tmp_path / "cl"
    ostreepy(f"--repo={cl}", "init", "--mode=archive")
    for name, key in (("good", "ed"), ("bad", "other")):
        ostreepy(f"--repo={cl}", "remote", "add", f"--set=gpgkeypath={tmp_path / key}.asc", name, f"file://{srv}")
    ostreepy(f"--repo={cl}", "pull", "good", "main")
    theirs = ostree(cl, "pull", "bad", "main", check=False)
    ours = ostreepy(f"--repo={cl}", "pull", "bad", "main", check=False)
    assert theirs.returncode == ours.returncode == 1
    assert "public key not found" in theirs.stderr.decode() and "public key not found" in ours.stderr
    assert not os.path.exists(cl / "refs" / "remotes" / "bad")
    p = ostreepy(f"--repo={cl}", "pull-local", "--gpg-verify=true", "--remote=bad", srv, "main", check=False)
    assert p.returncode == 1 and "public key not found" in p.stderr
    # --gpg-verify-summary reads the source's summary, as ostree's file:// pull does
    args = ("pull-local", "--remote=good", "--gpg-verify-summary", srv, "main")
    for step in ("none", "unsigned", "signed"):
        if step == "unsigned":
            ostree(srv, "summary", "-u")
        elif step == "signed":
            ostree(srv, "summary", "-u", f"--gpg-sign={home.fpr['ed']}", f"--gpg-homedir={home.path}")
        theirs = ostree(cl, *args, check=False).returncode
        assert ostreepy(f"--repo={cl}", *args, check=False).returncode == theirs == (0 if step == "signed" else 1)


def test_signer_named_as_ostree_names_it(tmp_path):
    """ostree prints gpgme's name and email of the user ID: no email is ``<>``, a
    comment is dropped (test-gpg-signed-commit's "Test Key 1 <>")."""
    gh = tmp_path / "gh"
    gh.mkdir(mode=0o700)
    try:
        for uid in ("No Mail", "With Comment (a note) <c@example.com>"):
            _gpg(gh, "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign")
        srv = tmp_path / "srv"
        ostree(srv, "init", "--mode=archive")
        (tmp_path / "t").mkdir()
        ostreepy(f"--repo={srv}", "commit", "-b", "main", f"--tree=dir={tmp_path / 't'}", "--gpg-sign=No Mail",
                 "--gpg-sign=c@example.com", "--gpg-homedir", gh)
        (tmp_path / "k.gpg").write_bytes(_gpg(gh, "--export").stdout)
        ostree(srv, "remote", "add", f"--gpg-import={tmp_path / 'k.gpg'}", "o", "file:///x")
        theirs = ostree(srv, "show", "--gpg-verify-remote=o", "main").stdout.decode()
        assert ostreepy(f"--repo={srv}", "show", "--gpg-verify-remote=o", "main").stdout == theirs
        assert 'Good signature from "No Mail <>"' in theirs
        assert 'Good signature from "With Comment <c@example.com>"' in theirs
    finally:
        _kill_agent(gh)


def test_remote_summary_shows_the_summary_signatures_as_ostree(home, tmp_path):
    """``ostree remote summary`` prints the summary.sig's GPG signatures after the summary
    when the remote has gpg-verify-summary (test-pull-summary-sigs' "found 1 signature");
    not with --raw, nor when the remote does not verify them."""
    srv, cl, t = tmp_path / "srv", tmp_path / "cl", tmp_path / "t"
    t.mkdir()
    (t / "f").write_text("f")
    ostree(srv, "init", "--mode=archive")
    ostree(srv, "commit", "-b", "main", f"--tree=dir={t}", "--timestamp=2024-01-01 00:00:00 +0000")
    ostree(srv, "summary", "-u", f"--gpg-sign={home.fpr['ed']}", f"--gpg-sign={home.fpr['rsa']}",
           f"--gpg-homedir={home.path}")
    (tmp_path / "k.gpg").write_bytes(home.export("ed", "rsa"))
    ostree(cl, "init", "--mode=archive")
    for name, verify in (("v", "true"), ("nv", "false")):
        ostree(cl, "remote", "add", f"--gpg-import={tmp_path / 'k.gpg'}", f"--set=gpg-verify-summary={verify}",
               name, f"file://{srv}")
    outs = {}
    for args in (("v",), ("--raw", "v"), ("nv",)):
        outs[args] = ostree(cl, "remote", "summary", *args).stdout.decode()
        assert ostreepy(f"--repo={cl}", "remote", "summary", *args).stdout == outs[args], args
    assert "\nGPG: Verification enabled, found 2 signatures:\n\n  Signature made" in outs[("v",)]
    assert "GPG:" not in outs[("--raw", "v")] + outs[("nv",)]


def test_summary_view_shows_signatures_as_ostree_2026(home, tmp_path):
    """`summary --view` (ostree >= 2026.3, test-summary-view): after the summary, "Summary is
    unsigned", or its GPG signatures checked against --gpg-homedir's keyrings (a GnuPG 1
    home's pubring.gpg, as ostree's tests/gpghome); not with --raw."""
    import upstream_peer
    peer = upstream_peer.peer_bin("ostree")
    gh = gnupg1_home(home, tmp_path / "gh", "ed")
    srv, t = tmp_path / "srv", tmp_path / "t"
    t.mkdir()
    (t / "f").write_text("f")
    ostree(srv, "init", "--mode=archive")
    ostree(srv, "commit", "-b", "main", f"--tree=dir={t}", "--timestamp=2024-01-01 00:00:00 +0000")
    ostree(srv, "summary", "-u")
    outs = {}

    def both(*args):
        p = subprocess.run([peer, f"--repo={srv}", "summary", *args], capture_output=True, text=True)
        outs[args] = p.stdout
        assert ostreepy(f"--repo={srv}", "summary", *args, check=False).stdout == p.stdout, args

    both("--view")
    assert outs[("--view",)].endswith("\nSummary is unsigned\n")
    ostree(srv, "summary", "-u", f"--gpg-sign={home.fpr['ed']}", f"--gpg-homedir={home.path}")
    both("--view", f"--gpg-homedir={gh}")
    both("--view")  # no key for it: the signature is listed as unverifiable
    both("--raw", f"--gpg-homedir={gh}")
    assert "\nFound 1 signature on the summary:\n\n  Signature made" in outs[("--view", f"--gpg-homedir={gh}")]
    assert "Good signature from" in outs[("--view", f"--gpg-homedir={gh}")]
