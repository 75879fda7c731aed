"""``summary -u``/``--view``/``--raw`` and ``summary.sig`` against the real tools.

Byte comparisons take the peer's ``ostree.summary.last-modified`` (and, with a
collection ID, the peer's ``ostree-metadata`` commit time) and build ours with
the same clock values: everything else must be equal byte for byte.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import hashlib
import random
import shutil
import string
import subprocess
import time
from pathlib import Path
from typing import List, Tuple

import pytest

from ostreepy.remote.publish import build_summary, regenerate_summary
from ostreepy.remote.summary import parse_summary
from ostreepy.store import gvariant
from ostreepy.store.glibhash import ordered
from ostreepy.store.gvariant import Variant
from ostreepy.store.repo import Repo
from upstream_peer import available, needs_upstream, peer_bin

from .conftest import TOOL_ENV as ENV
from .conftest import ours, peer

# a fixed ed25519 key: seed 00..1f
SEED = bytes(range(32))


def _keys() -> Tuple[str, str]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    pub = Ed25519PrivateKey.from_private_bytes(SEED).public_key().public_bytes_raw()
    return base64.b64encode(SEED + pub).decode(), base64.b64encode(pub).decode()


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def last_modified(data: bytes) -> int:
    return gvariant.bswap64(parse_summary(data).metadata["ostree.summary.last-modified"].value)


def _commit(repo: Path, tree: Path, ref: str, *extra: str) -> None:
    rc, _, err = peer("commit", f"--repo={repo}", "-b", ref, "--timestamp=2024-01-01T00:00Z", *extra, tree)
    assert rc == 0, err


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    t = tmp_path / "tree"
    t.mkdir()
    (t / "f").write_text("x\n")
    return t


def _twin(tmp_path: Path, src: Path) -> Path:
    dst = tmp_path / (src.name + "-ours")
    shutil.copytree(src, dst, symlinks=True)
    return dst


# ------------------------------------------------------------------ GHashTable order


def test_hash_order_is_glibs() -> None:
    """The GVariantDict order libostree's summary metadata comes out in, against libglib itself."""
    path = ctypes.util.find_library("glib-2.0")
    if not path:
        pytest.skip("libglib-2.0 not installed (apt-get install libglib2.0-0)")
    g = ctypes.CDLL(path)
    g.g_hash_table_new.restype = ctypes.c_void_p
    g.g_hash_table_new.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    g.g_hash_table_insert.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    g.g_hash_table_iter_init.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    g.g_hash_table_iter_next.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]
    g.g_hash_table_unref.argtypes = [ctypes.c_void_p]
    fns = (ctypes.cast(g.g_str_hash, ctypes.c_void_p), ctypes.cast(g.g_str_equal, ctypes.c_void_p))

    def glib_order(keys: List[str]) -> List[str]:
        table = g.g_hash_table_new(*fns)
        bufs = [ctypes.create_string_buffer(k.encode()) for k in keys]
        for b in bufs:
            g.g_hash_table_insert(table, ctypes.addressof(b), None)
        it = ctypes.create_string_buffer(64)
        g.g_hash_table_iter_init(it, table)
        out, k = [], ctypes.c_void_p()
        while g.g_hash_table_iter_next(it, ctypes.byref(k), None):
            out.append(ctypes.string_at(k.value).decode())
        g.g_hash_table_unref(table)
        return out

    rng = random.Random(8)
    for n in list(range(1, 40)) + [100, 300]:
        keys = ["".join(rng.choice(string.ascii_letters + ".-é") for _ in range(rng.randint(1, 30)))
                for _ in range(n)]
        keys += rng.sample(keys, min(3, n))  # replaced values keep their place
        assert list(ordered((k, None) for k in keys)) == glib_order(keys), n


# ------------------------------------------------------------------ summary -u


def test_summary_bytes_equal_ostrees(tmp_path: Path, tree: Path) -> None:
    a = tmp_path / "plain"
    assert peer("init", f"--repo={a}", "--mode=archive")[0] == 0
    _commit(a, tree, "main")
    _commit(a, tree, "os/x86_64/stable", "--add-metadata-string=version=1.2")
    _commit(a, tree, "exampleos/aarch64/devel")
    assert peer("refs", f"--repo={a}", "--create=origin:remote-ref", "main")[0] == 0
    assert peer("config", f"--repo={a}", "set", "core.tombstone-commits", "true")[0] == 0
    b = _twin(tmp_path, a)
    (b / "summary.sig").write_bytes(b"stale")
    extra = ["--add-metadata=foo='bar'", "--add-metadata=n=uint32 5", "-m", "ostree.summary.expires=uint64 7"]
    rc, _, err = peer("summary", "-u", f"--repo={a}", *extra)
    assert rc == 0, err
    rc, out, err = ours("summary", "-u", f"--repo={b}", *extra)
    assert (rc, out) == (0, ""), err
    theirs, mine = (a / "summary").read_bytes(), (b / "summary").read_bytes()
    assert not (b / "summary.sig").exists()
    assert (a / "config").read_bytes() == (b / "config").read_bytes()  # core.indexed-deltas=true in both
    # the CLI's file: equal once parsed, with the clock the only difference
    p, o = parse_summary(theirs), parse_summary(mine)
    assert p.refs == o.refs and list(p.refs) == ["exampleos/aarch64/devel", "main", "os/x86_64/stable"]
    assert {k: v for k, v in p.metadata.items() if k != "ostree.summary.last-modified"} == \
           {k: v for k, v in o.metadata.items() if k != "ostree.summary.last-modified"}
    # the bytes: equal with the peer's clock
    meta = {"foo": Variant("s", "bar"), "n": Variant("u", 5), "ostree.summary.expires": Variant("t", 7)}
    assert build_summary(Repo.open(str(b)), meta, now=last_modified(theirs)) == theirs
    # ostree reads ours; our view of its file is its view, byte for byte
    # (ostree >= 2026.3 says after the view that the summary is unsigned: 2022.7 does not)
    for flag, extra in (("--view", "Summary is unsigned\n"), ("--raw", "")):
        rc, text, err = peer("summary", flag, f"--repo={a}")
        assert rc == 0, err
        assert ours("summary", flag, f"--repo={a}")[1] == text + extra
        assert peer("summary", flag, f"--repo={b}")[1] + extra == ours("summary", flag, f"--repo={b}")[1]
    for cmd in (["--list-metadata-keys"], ["--print-metadata-key=ostree.summary.mode"], ["--print-metadata-key=n"]):
        if available():  # 2022.7 has neither option
            assert ours("summary", f"--repo={b}", *cmd)[1] == \
                peer("summary", f"--repo={b}", *cmd, tool=peer_bin("ostree"))[1]
    # as ostree: ot_dump_variant byteswaps the whole value, host-order integers too
    assert ours("summary", f"--repo={b}", "--print-metadata-key=n")[1] == "uint32 83886080\n"


def test_collection_summary_and_metadata_commit_equal_ostrees(tmp_path: Path, tree: Path) -> None:
    a = tmp_path / "coll"
    assert peer("init", f"--repo={a}", "--mode=archive", "--collection-id=org.example.Main")[0] == 0
    _commit(a, tree, "main")
    _commit(a, tree, "other", "--add-metadata-string=version=3")
    csum = peer("rev-parse", f"--repo={a}", "main")[1].strip()
    assert peer("refs", f"--repo={a}", "--collections", "--create=org.example.Other:mirrored", csum)[0] == 0
    b = _twin(tmp_path, a)
    assert peer("summary", "-u", f"--repo={a}")[0] == 0
    theirs = (a / "summary").read_bytes()
    pa = Repo.open(str(a))
    meta_commit = pa.read_ref("ostree-metadata")
    assert meta_commit is not None
    mine = Repo.open(str(b))
    update = regenerate_summary(mine, now=pa.load_commit(meta_commit).timestamp)
    assert update.metadata_commit == meta_commit  # the same commit, byte for byte
    assert update.refs == ("main", "ostree-metadata", "other")
    assert update.collection_refs == (("org.example.Other", "mirrored"),)
    assert build_summary(mine, now=last_modified(theirs)) == theirs
    # a second run chains the metadata commits, as ostree's
    assert regenerate_summary(mine).metadata_commit != meta_commit
    assert mine.load_commit(mine.read_ref("ostree-metadata") or "").parent == meta_commit
    assert peer("summary", "--view", f"--repo={a}")[1] + "Summary is unsigned\n" == \
        ours("summary", "--view", f"--repo={a}")[1]  # ostree >= 2026.3 adds the line


def test_static_deltas_listed_as_ostree_does(tmp_path: Path, tree: Path) -> None:
    a = tmp_path / "deltas"
    assert peer("init", f"--repo={a}", "--mode=archive")[0] == 0
    _commit(a, tree, "main")
    (tree / "g").write_text("more\n")
    _commit(a, tree, "main")
    assert peer("static-delta", "generate", f"--repo={a}", "main")[0] == 0
    assert peer("static-delta", "generate", f"--repo={a}", "--empty", "main")[0] == 0
    b = _twin(tmp_path, a)
    assert peer("summary", "-u", f"--repo={a}")[0] == 0
    theirs = (a / "summary").read_bytes()
    assert len(parse_summary(theirs).metadata["ostree.static-deltas"].value) == 2
    assert build_summary(Repo.open(str(b)), now=last_modified(theirs)) == theirs
    # the delta indexes and the config flag telling clients to use them
    assert ours("summary", "-u", f"--repo={b}")[0] == 0

    def indexes(repo: Path) -> dict:
        return {str(p.relative_to(repo)): p.read_bytes() for p in sorted((repo / "delta-indexes").rglob("*"))
                if p.is_file()}
    assert indexes(a) == indexes(b) and len(indexes(b)) == 1
    assert (a / "config").read_text() == (b / "config").read_text()
    assert "indexed-deltas=true" in (b / "config").read_text()
    # deltas gone: their index goes too
    for repo in (a, b):
        shutil.rmtree(repo / "deltas")
    assert peer("summary", "-u", f"--repo={a}")[0] == 0 and ours("summary", "-u", f"--repo={b}")[0] == 0
    assert indexes(a) == indexes(b) == {}
    assert peer("config", f"--repo={b}", "set", "core.no-deltas-in-summary", "true")[0] == 0
    assert "ostree.static-deltas" not in parse_summary(build_summary(Repo.open(str(b)))).metadata


# ------------------------------------------------------------------ summary.sig


# summary.sig of the fixed summary below signed with SEED (ed25519 is deterministic);
# upstream 2026.4 makes the same bytes (test_ed25519_summary_sig_upstream)
FIXED_SUMMARY = gvariant.serialize("(a(s(taya{sv}))a{sv})", ([], {"ostree.summary.mode": Variant("s", "archive-z2")}))
FIXED_SIG_SHA256 = "2128d3262430122a726ed0fda7ffa58353f3af561235d1e9551c0492af1cdd49"


def test_ed25519_summary_sig_layout(tmp_path: Path, tree: Path) -> None:
    from ostreepy.store.signing import Signer
    sec, pub = _keys()
    a = tmp_path / "signed"
    assert peer("init", f"--repo={a}", "--mode=archive")[0] == 0
    _commit(a, tree, "main")
    keys = tmp_path / "keys"
    keys.write_text(sec + "\n")
    rc, _, err = ours("summary", "-u", f"--repo={a}", f"--keys-file={keys}")
    assert rc == 0, err
    data, sig = (a / "summary").read_bytes(), (a / "summary.sig").read_bytes()
    sigs = gvariant.deserialize("a{sv}", sig)
    assert list(sigs) == ["ostree.sign.ed25519"] and sigs["ostree.sign.ed25519"].type == "aay"
    assert Signer("ed25519", public=(pub,)).verify(data, sigs["ostree.sign.ed25519"].value)
    assert (a / "summary").stat().st_mtime_ns == (a / "summary.sig").stat().st_mtime_ns
    # unsigned again: the stale signature goes
    assert ours("summary", "-u", f"--repo={a}")[0] == 0
    assert not (a / "summary.sig").exists()


@needs_upstream
def test_ed25519_summary_sig_upstream(tmp_path: Path, tree: Path) -> None:
    tool = peer_bin("ostree")
    sec, pub = _keys()
    a = tmp_path / "up"
    assert peer("init", f"--repo={a}", "--mode=archive")[0] == 0
    _commit(a, tree, "main")
    b = _twin(tmp_path, a)
    assert peer("summary", "-u", f"--repo={a}", f"--sign={sec}", tool=tool)[0] == 0
    theirs = (a / "summary").read_bytes()
    # same summary bytes signed by us: the same summary.sig bytes
    mine = Repo.open(str(b))
    data = build_summary(mine, now=last_modified(theirs))
    assert data == theirs
    from ostreepy.remote.publish import sign_summary
    assert gvariant.serialize("a{sv}", sign_summary(data, [sec])) == (a / "summary.sig").read_bytes()
    # upstream trusts a summary we signed, and refuses one signed with another key
    assert ours("summary", "-u", f"--repo={b}", f"--sign={sec}")[0] == 0
    client = tmp_path / "client"
    assert peer("init", f"--repo={client}", "--mode=archive", tool=tool)[0] == 0
    assert peer("remote", "add", f"--repo={client}", f"--sign-verify=ed25519=inline:{pub}",
                "--set=sign-verify-summary=true", "--no-gpg-verify", "o", f"file://{b}", tool=tool)[0] == 0
    rc, out, err = peer("remote", "refs", f"--repo={client}", "o", tool=tool)
    assert (rc, out) == (0, "o:main\n"), err
    other = base64.b64encode(bytes(range(1, 33))).decode()
    assert ours("summary", "-u", f"--repo={b}", f"--sign={other}")[0] == 0
    rc, _, err = peer("remote", "refs", f"--repo={client}", "o", tool=tool)
    assert rc == 1 and "ed25519" in err
    # the fixed vector
    assert hashlib.sha256(gvariant.serialize("a{sv}", sign_summary(FIXED_SUMMARY, [sec]))).hexdigest() == \
        FIXED_SIG_SHA256


def test_ed25519_fixed_vector() -> None:
    from ostreepy.remote.publish import sign_summary
    sec, _ = _keys()
    sig = gvariant.serialize("a{sv}", sign_summary(FIXED_SUMMARY, [sec]))
    assert hashlib.sha256(sig).hexdigest() == FIXED_SIG_SHA256


def test_gpg_summary_signing(tmp_path: Path, tree: Path) -> None:
    try:
        from ostreepy.remote import openpgp  # noqa: F401
    except ImportError:
        pytest.skip("ostreepy.remote.openpgp (GPG signing) is not in this tree yet")
    if not hasattr(openpgp, "sign_detached"):
        pytest.skip("ostreepy.remote.openpgp has no sign_detached yet")
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    env = dict(ENV, GNUPGHOME=str(home))
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "test@example.com", "ed25519",
                    "sign", "never"], check=True, capture_output=True, env=env)
    a = tmp_path / "gpgrepo"
    assert peer("init", f"--repo={a}", "--mode=archive")[0] == 0
    _commit(a, tree, "main")
    rc, _, err = ours("summary", "-u", f"--repo={a}", "--gpg-sign=test@example.com", f"--gpg-homedir={home}")
    assert rc == 0, err
    sigs = gvariant.deserialize("a{sv}", (a / "summary.sig").read_bytes())
    assert sigs["ostree.gpgsigs"].type == "aay" and len(sigs["ostree.gpgsigs"].value) == 1
