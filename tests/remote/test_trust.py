"""The trust policy of a pull against the real ostree: a commit and a summary we
sign with GPG pass Debian's ``ostree pull`` with gpg-verify on; what the peer
signs passes our :mod:`ostreepy.remote.trust`; keyrings are found, imported and
listed as libostree does it; ed25519 against the upstream peer (or vectors it
made)."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys

import pytest

from ostreepy.errors import ChecksumMismatchError, SignatureError
from ostreepy.remote import trust
from ostreepy.remote.config import Remote, RemoteError
from ostreepy.remote.keyring import import_keys, keyring_files, list_keys
from ostreepy.store.gvariant import Variant
from ostreepy.store.objects import ObjectType, serialize_commitmeta
from ostreepy.store.repo import Repo
from ostreepy.remote.openpgp import add_gpg_signatures, gpg_sign_commit

from core.gpgkeys import GpgHome, revoke, shared_home
from upstream_peer import available as upstream_available, needs_upstream, peer_bin

pytestmark = pytest.mark.skipif(shutil.which("gpg") is None or shutil.which("ostree") is None,
                                reason="needs gpg and Debian's ostree (apt-get install gnupg ostree)")


def ostree(repo, *args, check=True, input=None):
    p = subprocess.run(["ostree", f"--repo={repo}", *map(str, args)], capture_output=True, input=input,
                       env=dict(os.environ, LC_ALL="C.UTF-8"))
    if check and p.returncode != 0:
        raise AssertionError(f"ostree {args} failed: {p.stderr.decode()}")
    return p


@pytest.fixture(scope="module")
def home():
    return shared_home()


@pytest.fixture(scope="module")
def served(home, tmp_path_factory):
    """An archive repo with one commit signed by us (ed + rsa) and a summary."""
    d = tmp_path_factory.mktemp("srv")
    (d / "tree").mkdir()
    (d / "tree" / "f").write_text("signed content\n")
    srv = d / "repo"
    ostree(srv, "init", "--mode=archive")
    csum = ostree(srv, "commit", "-b", "os/x", "--no-bindings", d / "tree").stdout.decode().strip()
    with Repo.open(str(srv)) as r:
        assert gpg_sign_commit(r, "os/x", [home.email("ed"), home.email("rsa")], home.path) == csum
    ostree(srv, "summary", "-u")
    return srv, csum


def client(tmp_path, srv, name="c", **opts):
    repo = tmp_path / name
    ostree(repo, "init", "--mode=archive")
    sets = [f"--set={k.replace('_', '-')}={v}" for k, v in {"gpg_verify": "true", **opts}.items()]
    ostree(repo, "remote", "add", *sets, "origin", f"file://{srv}")
    return repo


def remote_of(repo) -> Remote:
    with Repo.open(str(repo)) as r:
        opts = tuple(sorted(r.config.items('remote "origin"')))
    return Remote("origin", dict(opts)["url"], opts)


def commit_parts(repo, csum):
    with Repo.open(str(repo)) as r:
        return r.load_metadata(ObjectType.COMMIT, csum), r.read_commit_detached_metadata(csum)


def test_ostree_pull_verifies_our_gpg_signatures(home: GpgHome, served, tmp_path):
    srv, csum = served
    # keyring imported by the peer
    c1 = client(tmp_path, srv, "c1")
    out = ostree(c1, "remote", "gpg-import", "--stdin", "origin", input=home.export("ed", armor=True))
    assert out.stdout.decode().strip() == 'Imported 1 GPG key to remote "origin"'
    ostree(c1, "pull", "origin", "os/x")
    assert ostree(c1, "rev-parse", "origin:os/x").stdout.decode().strip() == csum
    # keyring imported by us: the peer reads it, and lists it as we do
    c2 = client(tmp_path, srv, "c2")
    with Repo.open(str(c2)) as r:
        assert import_keys(r, "origin", home.export("rsa", armor=True)) == 1
        assert import_keys(r, "origin", home.export("rsa", "sub")) == 1  # rsa is there already
        listed = "".join(k.describe() for k in list_keys(r, "origin"))
    assert listed == ostree(c2, "remote", "gpg-list-keys", "origin").stdout.decode()
    assert ostree(c2, "remote", "gpg-import", "--stdin", "origin", input=home.export("sub")).stdout.decode().strip() \
        == 'Imported 0 GPG keys to remote "origin"'
    ostree(c2, "pull", "origin", "os/x")
    # a keyring without our keys: the peer refuses, so the checks above were real
    c3 = client(tmp_path, srv, "c3")
    ostree(c3, "remote", "gpg-import", "--stdin", "origin", input=home.export("other"))
    bad = ostree(c3, "pull", "origin", "os/x", check=False)
    assert bad.returncode != 0 and "public key not found" in bad.stderr.decode(), bad.stderr
    # and our own policy agrees with the peer on both
    data, meta = commit_parts(srv, csum)
    with Repo.open(str(c1)) as r:
        trust.verify_commit(remote_of(c1), csum, data, meta, repo=r)
    with Repo.open(str(c3)) as r, pytest.raises(SignatureError) as err:
        trust.verify_commit(remote_of(c3), csum, data, meta, repo=r)
    assert f"error: {err.value}\n" == bad.stderr.decode()  # word for word


def test_peer_signed_commit_verifies_with_us(home: GpgHome, served, tmp_path):
    srv, _ = served
    repo = tmp_path / "peer"
    ostree(repo, "init", "--mode=archive")
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "g").write_text("peer\n")
    csum = ostree(repo, "commit", "-b", "b", tmp_path / "t").stdout.decode().strip()
    data, meta = commit_parts(repo, csum)
    c = client(tmp_path, srv)
    remote = remote_of(c)
    with Repo.open(str(c)) as r:
        import_keys(r, "origin", home.export("sub"))
        with pytest.raises(SignatureError, match="GPG verification enabled, but no signatures found"):
            trust.verify_commit(remote, csum, data, meta, repo=r)
        ostree(repo, "gpg-sign", f"--gpg-homedir={home.path}", csum, home.fpr["sub"])
        data, meta = commit_parts(repo, csum)
        trust.verify_commit(remote, csum, data, meta, repo=r)  # by the signing subkey
        with pytest.raises(ChecksumMismatchError):
            trust.verify_commit(remote, csum, data + b"\0", meta, repo=r)
        # the same signature moved under other commit bytes does not verify
        other = bytearray(data)
        other[-1] ^= 1
        import hashlib
        with pytest.raises(SignatureError, match="BAD signature"):
            trust.verify_commit(remote, hashlib.sha256(other).hexdigest(), bytes(other), meta, repo=r)
    # gpg-verify=false: nothing is asked
    trust.verify_commit(Remote("origin", "file:///x", (("gpg-verify", "false"),)), csum, data, None)


def test_summary_signatures(home: GpgHome, served, tmp_path):
    srv, _ = served
    summary = (srv / "summary").read_bytes()
    # summary.sig signed by us: Debian's ostree checks it on pull
    meta = add_gpg_signatures(None, summary, [home.email("rsa")], home.path)
    (srv / "summary.sig").write_bytes(serialize_commitmeta(meta))
    c = client(tmp_path, srv, gpg_verify_summary="true")
    ostree(c, "remote", "gpg-import", "--stdin", "origin", input=home.export("rsa"))
    ostree(c, "pull", "origin", "os/x")
    remote = remote_of(c)
    with Repo.open(str(c)) as r:
        trust.verify_summary(remote, summary, (srv / "summary.sig").read_bytes(), repo=r)
        with pytest.raises(SignatureError, match="no summary.sig found"):
            trust.verify_summary(remote, summary, None, repo=r)
        with pytest.raises(SignatureError, match="BAD signature"):
            trust.verify_summary(remote, summary + b"\0", (srv / "summary.sig").read_bytes(), repo=r)
    # signed by the peer with the ed key: refused by a keyring with only rsa, accepted with ed
    ostree(srv, "summary", "-u", f"--gpg-homedir={home.path}", f"--gpg-sign={home.fpr['ed']}")
    summary, sig = (srv / "summary").read_bytes(), (srv / "summary.sig").read_bytes()
    refused = ostree(c, "pull", "origin", "os/x", check=False)
    with Repo.open(str(c)) as r:
        with pytest.raises(SignatureError, match="public key not found") as err:
            trust.verify_summary(remote, summary, sig, repo=r)
        assert refused.returncode == 1 and refused.stderr.decode() == f"error: {err.value}\n"  # word for word
        import_keys(r, "origin", home.export("ed"))
        trust.verify_summary(remote, summary, sig, repo=r)
    ostree(srv, "summary", "-u")  # leave the module's served repo unsigned again
    (srv / "summary.sig").unlink(missing_ok=True)


def test_keyring_locations(home: GpgHome, served, tmp_path, monkeypatch):
    srv, csum = served
    data, meta = commit_parts(srv, csum)
    keydir = tmp_path / "keys"
    keydir.mkdir()
    (keydir / "ed.asc").write_bytes(home.export("ed", armor=True))
    glob = tmp_path / "global"
    glob.mkdir()
    (glob / "rsa.gpg").write_bytes(home.export("rsa"))
    (glob / "trustdb.gpg").write_bytes(b"not a keyring")
    monkeypatch.setenv("OSTREE_GPG_HOME", str(glob))
    # no keyring of its own: the global directory's *.gpg (not trustdb.gpg) counts
    c = client(tmp_path, srv)
    with Repo.open(str(c)) as r:
        assert keyring_files(r, remote_of(c)) == [str(glob / "rsa.gpg")]
        trust.verify_commit(remote_of(c), csum, data, meta, repo=r)
        # a keyring of its own (holding only "other") turns the global one off
        import_keys(r, "origin", home.export("other"))
        with pytest.raises(SignatureError):
            trust.verify_commit(remote_of(c), csum, data, meta, repo=r)
        # bad input changes nothing; an unknown remote is refused
        before = (c / "origin.trustedkeys.gpg").read_bytes()
        with pytest.raises(SignatureError, match="Unable to import keys"):
            import_keys(r, "origin", home.export("ed")[:-7])
        with pytest.raises(RemoteError):
            import_keys(r, "nope", home.export("ed"))
        with pytest.raises(SignatureError, match='Unable to find key "rsa@example.com"'):
            import_keys(r, "origin", home.export("ed"), key_ids=["rsa@example.com"])
        assert (c / "origin.trustedkeys.gpg").read_bytes() == before
        assert [k.fingerprint for k in list_keys(r, "origin", [home.fpr["other"][-8:]])] == [home.fpr["other"]]
    # gpgkeypath: a directory of key files, or one file, adds to it
    for path in (keydir, keydir / "ed.asc"):
        c2 = client(tmp_path, srv, f"k{len(str(path))}", gpgkeypath=str(path))
        with Repo.open(str(c2)) as r:
            import_keys(r, "origin", home.export("other"))
            trust.verify_commit(remote_of(c2), csum, data, meta, repo=r)
        if path == keydir:
            ostree(c2, "pull", "origin", "os/x")  # the peer reads gpgkeypath the same way


# ----------------------------------------------------------------------------- ed25519 (signapi)

# made by upstream ostree 2026.4: `ostree commit --timestamp=2026-01-01 -s vec` of one file, then
# `ostree sign --sign-type=ed25519 COMMIT SECRET`; `ostree sign --verify` accepted it with PUBLIC
VEC_COMMIT = bytes.fromhex(
    "6f73747265652e7265662d62696e64696e67000000000000610002006173131f7665630000000000000000006955b900"
    "0a7e4733bddb1e78d621e7840f5b092dfb27fe7fa486baf1f425bafc493ced98446a0ef11b7cc167f3b603e585c7eeee"
    "b675faa412d5ec73f62988eb0b6c5488502524202020")
VEC_CHECKSUM = "00d9a14d0c7b6bf5146ab446c437cda0454b60c79f336be8738ef8e33bf6d639"
VEC_PUBLIC = "9KTsjyJmJ0erasmKkn/uauwXpGtPhL1EGKbZvzUVDXA="
VEC_SIG = bytes.fromhex("b3db00210fbd0ee7e83a55543977544b80190591fb808ce3f66425e653202cdc"
                        "7bb31283f1c6d71333d200284ac005c3af605bd6868596b872e88fa990c4b90e")


def _sign_remote(**opts) -> Remote:
    return Remote("origin", "file:///x", tuple(sorted({"gpg-verify": "false", **opts}.items())))


def test_ed25519_fixed_vector(tmp_path):
    meta = {"ostree.sign.ed25519": Variant("aay", [VEC_SIG])}
    trust.verify_commit(_sign_remote(**{"sign-verify": "true", "verification-ed25519-key": VEC_PUBLIC}),
                        VEC_CHECKSUM, VEC_COMMIT, meta)
    keyfile = tmp_path / "pub"
    keyfile.write_text(VEC_PUBLIC + "\n")
    trust.verify_commit(_sign_remote(**{"sign-verify": "ed25519", "verification-ed25519-file": str(keyfile)}),
                        VEC_CHECKSUM, VEC_COMMIT, meta)
    wrong = base64.b64encode(bytes(32)).decode()
    with pytest.raises(SignatureError, match="Can't verify commit: ed25519: Signature couldn't be verified"):
        trust.verify_commit(_sign_remote(**{"sign-verify": "true", "verification-ed25519-key": wrong}),
                            VEC_CHECKSUM, VEC_COMMIT, meta, key_dirs=())
    with pytest.raises(SignatureError, match="Can't verify commit: No signatures found"):
        trust.verify_commit(_sign_remote(**{"sign-verify": "true", "verification-ed25519-key": VEC_PUBLIC}),
                            VEC_CHECKSUM, VEC_COMMIT, {})
    with pytest.raises(SignatureError, match="No keys found for required signapi type ed25519"):
        trust.verify_commit(_sign_remote(**{"sign-verify": "ed25519"}), VEC_CHECKSUM, VEC_COMMIT, meta)
    # keys from the trusted directory when the remote names none
    (tmp_path / "trusted.ed25519.d").mkdir()
    (tmp_path / "trusted.ed25519.d" / "k").write_text(VEC_PUBLIC + "\n")
    trust.verify_commit(_sign_remote(**{"sign-verify": "true"}), VEC_CHECKSUM, VEC_COMMIT, meta,
                        key_dirs=(str(tmp_path),))
    # summary: summary.sig is the same a{sv}
    sig = serialize_commitmeta(meta)
    trust.verify_summary(_sign_remote(**{"sign-verify-summary": "true", "verification-ed25519-key": VEC_PUBLIC}),
                         VEC_COMMIT, sig)
    with pytest.raises(SignatureError, match="Can't verify summary"):
        trust.verify_summary(_sign_remote(**{"sign-verify-summary": "true", "verification-ed25519-key": VEC_PUBLIC}),
                             VEC_COMMIT + b"x", sig)


def test_ed25519_keys_loaded_once_for_a_pull(tmp_path):
    """check_remote_keys loads the verifiers as a pull starts; the pull's checks use those
    (libostree's _signapi_init_for_remote), not the key file read again for each."""
    meta = {"ostree.sign.ed25519": Variant("aay", [VEC_SIG])}
    keyfile = tmp_path / "pub"
    keyfile.write_text(VEC_PUBLIC + "\n")
    remote = _sign_remote(**{"sign-verify": "ed25519", "sign-verify-summary": "ed25519",
                             "verification-ed25519-file": str(keyfile)})
    keys = trust.check_remote_keys(remote)
    assert keys.commit is not None and keys.summary is not None
    assert keys.commit[0].public == (VEC_PUBLIC,)
    keyfile.unlink()
    trust.verify_commit(remote, VEC_CHECKSUM, VEC_COMMIT, meta, keys=keys)
    trust.verify_summary(remote, VEC_COMMIT, serialize_commitmeta(meta), keys=keys)
    with pytest.raises(SignatureError, match="Failed loading 'ed25519' keys"):
        trust.verify_commit(remote, VEC_CHECKSUM, VEC_COMMIT, meta)  # without them: the file is read
    assert trust.check_remote_keys(_sign_remote()) == trust.SignKeys(None, None)


@needs_upstream
def test_ed25519_signed_by_upstream_peer(tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes_raw()
    pub = key.public_key().public_bytes_raw()
    peer = peer_bin("ostree")
    repo = tmp_path / "r"
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "f").write_text("x\n")
    run = lambda *a: subprocess.run([peer, f"--repo={repo}", *map(str, a)], check=True,  # noqa: E731
                                    capture_output=True).stdout.decode().strip()
    run("init", "--mode=archive")
    csum = run("commit", "-b", "a", tmp_path / "t")
    secret = base64.b64encode(seed + pub).decode()
    run("sign", "--sign-type=ed25519", csum, secret)
    data, meta = commit_parts(repo, csum)
    remote = _sign_remote(**{"sign-verify": "true", "sign-verify-summary": "true",
                             "verification-ed25519-key": base64.b64encode(pub).decode()})
    trust.verify_commit(remote, csum, data, meta)
    run("summary", "-u", "--sign-type=ed25519", f"--sign={secret}")
    trust.verify_summary(remote, (repo / "summary").read_bytes(), (repo / "summary.sig").read_bytes())
    with pytest.raises(SignatureError, match="Can't verify summary"):
        trust.verify_summary(remote, (repo / "summary").read_bytes() + b"\0", (repo / "summary.sig").read_bytes())


def ostreepy(*args, check=True):
    """The CLI in this process (a subprocess per call would cost most of the test's time)."""
    import contextlib
    import io
    from ostreepy.cli.main import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in args])
    p = subprocess.CompletedProcess(args, rc, out.getvalue(), err.getvalue())
    if check and rc != 0:
        raise AssertionError(f"ostreepy {args} failed: {p.stderr}")
    return p


def test_gpg_sign_verbs(home: GpgHome, tmp_path):
    srv = tmp_path / "srv"
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "f").write_text("cli\n")
    ostreepy(f"--repo={srv}", "init", "--mode=archive")
    csum = ostreepy(f"--repo={srv}", "commit", "-b", "os/y", f"--gpg-sign={home.email('ed')}",
                    f"--gpg-homedir={home.path}", tmp_path / "t").stdout.strip()
    ostreepy(f"--repo={srv}", "gpg-sign", f"--gpg-homedir={home.path}", csum, home.fpr["rsa"][-16:])
    again = ostreepy(f"--repo={srv}", "gpg-sign", f"--gpg-homedir={home.path}", "os/y", home.email("rsa"),
                     check=False)
    assert (again.returncode, again.stderr) == (1, f"error: Commit is already signed with GPG key "
                                                   f"{home.email('rsa')}\n")
    # Debian's ostree does not notice: ostree_repo_sign_commit looks for the key among the
    # homedir's *.gpg files (_ostree_gpg_verifier_add_keyring_dir_at), and gpg 2.2 keeps pubring.kbx
    ostree(srv, "gpg-sign", f"--gpg-homedir={home.path}", csum, home.fpr["ed"])
    ostree(srv, "summary", "-u")
    c = client(tmp_path, srv)
    ostree(c, "remote", "gpg-import", "--stdin", "origin", input=home.export("rsa"))
    ostree(c, "pull", "origin", "os/y")
    assert ostreepy(f"--repo={srv}", "gpg-sign", "--delete", f"--gpg-homedir={home.path}", csum,
                    home.email("rsa")).stdout == "Signatures deleted: 1\n"
    # the peer finds no key to delete by, for the same reason as above; we find ours and the peer's
    assert ostree(srv, "gpg-sign", "--delete", f"--gpg-homedir={home.path}", csum,
                  home.fpr["ed"]).stdout.decode() == "Signatures deleted: 0\n"
    assert ostreepy(f"--repo={srv}", "gpg-sign", "--delete", f"--gpg-homedir={home.path}", csum,
                    home.fpr["ed"]).stdout == "Signatures deleted: 2\n"
    # the emptied dictionary stays as a file, as ostree writes it (delete_signatures), so that
    # a client's re-pull fetches it and drops its copy of the signatures (test-commit-sign)
    assert (srv / "objects" / csum[:2] / f"{csum[2:]}.commitmeta").read_bytes() == b""
    assert ostreepy(f"--repo={srv}", "gpg-sign", "--delete", csum, "0x1234567890ABCDEF").stdout \
        == "Signatures deleted: 0\n"
    c2 = client(tmp_path, srv, "c2")
    ostree(c2, "remote", "gpg-import", "--stdin", "origin", input=home.export("rsa"))
    assert "GPG verification enabled, but no signatures found" in ostree(c2, "pull", "origin", "os/y",
                                                                         check=False).stderr.decode()
    usage = ostreepy(f"--repo={srv}", "gpg-sign", csum, check=False)
    assert usage.returncode == 1 and "Need at least one GPG KEY-ID to sign with" in usage.stderr


def test_show_describes_signatures_as_ostree(home: GpgHome, tmp_path):
    repo = tmp_path / "r"
    ostree(repo, "init", "--mode=archive")
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "f").write_text("show\n")
    csum = ostree(repo, "commit", "-b", "s", tmp_path / "t").stdout.decode().strip()
    with Repo.open(str(repo)) as r:
        gpg_sign_commit(r, csum, [home.email(n) for n in ("ed", "sub", "other")], home.path)
    ostree(repo, "remote", "add", "origin", "file:///nowhere")
    ostree(repo, "remote", "gpg-import", "--stdin", "origin", input=home.export("ed", "sub"))
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "k.gpg").write_bytes(home.export("other"))
    (keys / "pubring.kbx").write_bytes(b"ignored: libostree reads *.gpg only")
    seen = {}
    for extra in ([], ["--gpg-verify-remote=origin"], [f"--gpg-homedir={keys}"]):
        theirs = ostree(repo, "show", *extra, "s").stdout.decode()
        assert ostreepy(f"--repo={repo}", "show", *extra, "s").stdout == theirs
        seen[tuple(extra)] = theirs
    # no remote named: every remote's keyring counts (OSTREE_ALL_REMOTES), so ed and sub are good
    assert seen[()].count("Good signature") == 2 and "Primary key ID" in seen[()]
    assert seen[(f"--gpg-homedir={keys}",)].count("Good signature") == 3


@pytest.mark.parametrize("case", ["expired-key", "bad-signature", "unbound-subkey", "revoked-key"])
def test_refusals_read_as_ostree_pull(home: GpgHome, tmp_path, case):
    """What Debian's ostree pull says when it refuses a commit is what we say."""
    srv = tmp_path / "srv"
    ostree(srv, "init", "--mode=archive")
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "f").write_text(case)
    csum = ostree(srv, "commit", "-b", "b", tmp_path / "t").stdout.decode().strip()
    data, _ = commit_parts(srv, csum)
    keys = home.export("old" if case == "expired-key" else "ed" if case == "bad-signature" else "sub")
    if case == "expired-key":
        sig = home.detach_sign("old", data, "--faked-system-time", "20200601T000000!")
    elif case == "bad-signature":
        sig = bytearray(home.detach_sign("ed", data))
        sig[-3] ^= 1
        sig = bytes(sig)
    elif case == "revoked-key":
        from ostreepy.remote import openpgp
        home = home.copy(str(tmp_path / "gnupg"))  # the revocation stays in this test
        [cert] = openpgp.homedir_keyring(home.path).select(home.email("rev"))
        material = cert.primary.packet.material
        sk = next(s for s in openpgp.homedir_secret_keys(home.path)[0] if s.public_material() == material)
        sig = openpgp.sign_data(data, cert.primary, sk)  # made directly: gpg will not sign with a revoked key
        revoke(home, "rev")
        keys = home.export("rev")
    else:
        from ociclient import pgpformat
        sig = home.detach_sign("sub", data)
        packets = list(pgpformat.iter_packets(keys))
        at = next(i for i, p in enumerate(packets) if p.tag == pgpformat.TAG_PUBLIC_SUBKEY)
        keys = b"".join(p.raw for i, p in enumerate(packets) if i != at + 1)  # the binding signature dropped
    with Repo.open(str(srv)) as r:
        r.write_commit_detached_metadata(csum, {"ostree.gpgsigs": Variant("aay", [sig])})
    c = client(tmp_path, srv)
    with Repo.open(str(c)) as r:
        import_keys(r, "origin", keys) if case != "unbound-subkey" else (c / "origin.trustedkeys.gpg").write_bytes(keys)
        with pytest.raises(SignatureError) as err:
            trust.verify_commit(remote_of(c), csum, *commit_parts(srv, csum), repo=r)
    refused = ostree(c, "pull", "origin", "b", check=False)
    assert refused.returncode == 1
    assert refused.stderr.decode() == f"error: {err.value}\n", refused.stderr.decode()


def test_our_pull_applies_the_policy_as_ostree_pull(home: GpgHome, served, tmp_path):
    """``ostreepy pull`` with gpg-verify on: the commit signed by a key in the
    remote's keyring is pulled; with only another key, or no keyring at all,
    the pull fails with ostree's words and writes no ref and no content."""
    import sys
    srv, csum = served

    def ours(repo, *args):
        return subprocess.run([sys.executable, "-m", "ostreepy", f"--repo={repo}", *map(str, args)],
                              capture_output=True, text=True)

    good = client(tmp_path, srv, "good")
    ours(good, "remote", "gpg-import", "--stdin", "origin")  # nothing on stdin: imports nothing
    with Repo.open(str(good)) as r:
        assert import_keys(r, "origin", home.export("ed", armor=True)) == 1
    p = ours(good, "pull", "origin", "os/x")
    assert p.returncode == 0, p.stderr
    assert ostree(good, "rev-parse", "origin:os/x").stdout.decode().strip() == csum
    assert "no errors found" in ostree(good, "fsck").stdout.decode()
    for name, key in (("wrongkey", "other"), ("nokey", None)):
        bad = client(tmp_path, srv, name)
        if key is not None:
            with Repo.open(str(bad)) as r:
                import_keys(r, "origin", home.export(key))
        theirs = ostree(bad, "pull", "origin", "os/x", check=False)
        shutil.rmtree(bad / "objects")
        (bad / "objects").mkdir()
        p = ours(bad, "pull", "origin", "os/x")
        assert p.returncode == 1 and theirs.returncode != 0
        assert p.stderr == theirs.stderr.decode(), (p.stderr, theirs.stderr)
        assert ostree(bad, "refs").stdout.decode() == ""
        assert not [f for f in (bad / "objects").rglob("*") if f.is_file() and f.suffix != ".commit"]


def test_remote_gpg_verbs_as_ostree(home: GpgHome, tmp_path):
    """``remote add --gpg-import``, ``remote gpg-import --stdin``/``-k`` (all
    keys, or those KEY-IDs name) and ``remote gpg-list-keys`` print and store
    what ostree's do."""
    import sys
    keyfile = tmp_path / "keys.gpg"
    keyfile.write_bytes(home.export("ed") + home.export("rsa"))
    armored = home.export("other", armor=True)
    results = {}
    for who, argv in (("ours", [sys.executable, "-m", "ostreepy"]), ("theirs", ["ostree"])):
        repo = tmp_path / who
        ostree(repo, "init", "--mode=archive")

        def run(*args, input=None):
            p = subprocess.run([*argv, f"--repo={repo}", *map(str, args)], capture_output=True, input=input,
                               env=dict(os.environ, LC_ALL="C.UTF-8"))
            return p.returncode, p.stdout.decode(), p.stderr.decode().replace("ostreepy", "ostree")

        log = [run("remote", "add", f"--gpg-import={keyfile}", "a", "file:///nowhere"),
               run("remote", "add", "b", "file:///nowhere"),
               run("remote", "gpg-import", "--stdin", "b", input=armored),
               run("remote", "gpg-import", "-k", keyfile, "b", home.fpr["rsa"]),
               run("remote", "gpg-import", "-k", keyfile, "b"),
               run("remote", "gpg-list-keys", "a"),
               run("remote", "gpg-list-keys", "b", home.fpr["other"])]
        results[who] = (log, (repo / "a.trustedkeys.gpg").exists(), (repo / "b.trustedkeys.gpg").exists())
    for i, (o, t) in enumerate(zip(results["ours"][0], results["theirs"][0])):
        assert o == t, (i, o, t)
    assert results["ours"] == results["theirs"]
    log = results["ours"][0]
    assert log[0][1] == 'Imported 2 GPG keys to remote "a"\n'
    assert log[3][1] == 'Imported 1 GPG key to remote "b"\n' and log[4][1] == 'Imported 1 GPG key to remote "b"\n'
    assert home.fpr["ed"] in log[5][1] and home.fpr["rsa"] in log[5][1]


@pytest.mark.parametrize("raw, types", [
    (None, None), ("", None), ("false", None), ("0", None), ("true", ()), ("1", ()),
    # GKeyFile's truthiness only: anything else is a list of type names, "no" included
    ("no", ("no",)), ("False", ("False",)), ("yes", ("yes",)), ("ed25519", ("ed25519",)),
    ("ed25519;dummy", ("ed25519", "dummy")), ("ed25519;", ("ed25519",)),
])
def test_sign_verify_read_as_libostree_reads_it(raw, types):
    opts = () if raw is None else (("sign-verify", raw), ("sign-verify-summary", raw))
    remote = Remote("o", "file:///x", opts)
    assert remote.sign_types("sign-verify") == remote.sign_types("sign-verify-summary") == types
    assert remote.sign_verify is remote.sign_verify_summary is (types is not None)


# `ostree pull o main` from an empty file:// repository (no summary, no summary.sig) with
# sign-verify-summary set to each value, as ostree 2026.4 answers (upstream peer; Debian's
# 2022.7 agrees but for "ed25519": its build has no libsodium, "Requested signature type is
# not implemented"). The types are loaded as the pull starts (_signapi_init_for_remote), and a
# pull looks for the summary.sig, not the summary. None: no signature error at all.
SUMMARY_POLICY_ANSWERS = {
    "no": "Requested signature type is not implemented",
    "False": "Requested signature type is not implemented",
    "yes": "Requested signature type is not implemented",
    "ed25519": "No keys found for required signapi type ed25519",
    "ed25519;dummy": "No keys found for required signapi type ed25519",
    "true": "Signatures verification enabled, but no summary.sig found (use sign-verify-summary=false in "
            "remote config to disable)",
    "false": None,
}


def _pull_answer(tool, tmp_path, value):
    repo = tmp_path / f"dst-{os.path.basename(tool[-1])}-{len(os.listdir(tmp_path))}"
    ostree(repo, "init", "--mode=archive")
    ostree(repo, "remote", "add", "--no-gpg-verify", f"--set=sign-verify-summary={value}", "o",
           f"file://{tmp_path / 'src'}")
    p = subprocess.run([*tool, f"--repo={repo}", "pull", "o", "main"], capture_output=True, text=True)
    assert p.returncode != 0
    return p.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("value", sorted(SUMMARY_POLICY_ANSWERS))
def test_summary_policy_refusals_as_ostree_pull(tmp_path, value):
    ostree(tmp_path / "src", "init", "--mode=archive")
    ours = _pull_answer([sys.executable, "-m", "ostreepy"], tmp_path, value)
    expected = SUMMARY_POLICY_ANSWERS[value]
    if expected is None:
        assert "signature" not in ours.lower() and "verification" not in ours.lower(), ours
    else:
        # ostreepy adds the type it does not know after a colon
        assert ours.startswith(f"error: {expected}"), ours
    if upstream_available():
        peer = _pull_answer([peer_bin("ostree")], tmp_path, value)
        if expected is None:
            assert "signature" not in peer.lower(), peer
        else:
            assert peer == f"error: {expected}", peer
