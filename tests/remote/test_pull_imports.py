"""Start-up of a plain ``pull`` (issue 8): the command line builds no attrs value and imports
neither attrs, typing nor argparse; and the light reads its walk makes (commits, summaries,
file headers) refuse what the value classes' parses refuse."""

from __future__ import annotations

import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from ostreepy.errors import OstreeError
from ostreepy.remote.summary import SUMMARY_TYPE, parse_summary, parse_summary_light
from ostreepy.store import gvariant
from ostreepy.store import objects as obj

from .conftest import ostree_commit, run, small_tree, write_tree

#: what a plain pull must not load (ctypes: the transaction's syncfs is called through _ctypes; urllib.parse:
#: its plain URL is read by remote.urls)
HEAVY = {"attrs", "attr", "typing", "argparse", "inspect", "ostreepy.porcelain", "ctypes",
         "urllib.parse", "ipaddress"}


def _imported(argv: list) -> tuple[str, set]:
    p = subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout, {line.rsplit("|", 1)[1].strip() for line in p.stderr.splitlines()
                      if line.startswith("import time:")}


def _pull(repo: Path, *args: str) -> tuple[str, set]:
    """``python -m ostreepy --repo=REPO pull ARGS`` (the program's entry): its output and the
    modules it imported (``-X importtime``) beyond those the interpreter's start-up imports
    here (an editable install's finder imports pathlib, with urllib.parse)."""
    out, mods = _imported(["-m", "ostreepy", f"--repo={repo}", "pull", *args])
    return out, mods - _imported(["-c", "pass"])[1]


def test_a_plain_pull_and_a_noop_load_neither_attrs_nor_typing_nor_argparse(web_server, served_repo, tmp_path):
    r = served_repo("imports")
    dest = tmp_path / "dest"
    ostreepy = [sys.executable, "-m", "ostreepy", f"--repo={dest}"]
    subprocess.run(ostreepy + ["init", "--mode=bare"], check=True)
    subprocess.run(ostreepy + ["remote", "add", "--no-gpg-verify", "origin", f"{web_server.url}{r.urlpath}"],
                   check=True)
    out, mods = _pull(dest, "origin", r.ref)
    assert "content objects fetched" in out
    assert not HEAVY & mods, HEAVY & mods
    # a second commit, a few files changed: the second pull (the benchmark's) walks the tree
    # it has, fetches what changed, and loads no more
    files = small_tree()
    files["usr/share/d0/f0.txt"] = b"changed\n"
    files["usr/share/d1/new"] = b"new\n"
    tree = tmp_path / "tree2"
    write_tree(tree, files)
    second = ostree_commit(r.path, tree, r.ref, subject="second")
    run("ostree", f"--repo={r.path}", "summary", "-u")
    peer = tmp_path / "peer"
    run("cp", "-a", str(dest), str(peer))
    # (ostree since 2023.9 counts no missing .commitmeta; Debian's 2022.7 does)
    upstream = "/opt/peers/bin/ostree" if os.access("/opt/peers/bin/ostree", os.X_OK) else None
    if upstream is not None:
        peer_out = run(upstream, f"--repo={peer}", "pull", "origin", r.ref).stdout.decode()
    out, mods = _pull(dest, "origin", r.ref)
    # what was fetched, counted as ostree counts it
    if upstream is not None:
        assert out.split(";")[0] == peer_out.strip().split(";")[0], (out, peer_out)
    assert not HEAVY & mods, HEAVY & mods
    assert run("ostree", f"--repo={dest}", "rev-parse", f"origin:{r.ref}").stdout.decode().strip() == second
    assert "no errors found" in run("ostree", f"--repo={dest}", "fsck").stdout.decode()
    # nothing new: the no-op
    out, mods = _pull(dest, "origin", r.ref)
    assert out.startswith("1 metadata, 0 content objects fetched"), out
    assert not HEAVY & mods, HEAVY & mods
    # the library's pull still returns its attrs values
    from ostreepy.remote.pull import RepoPullResult, pull_remote
    from ostreepy.store.repo import Repo
    with Repo.open(str(dest)) as repo:
        result = pull_remote(repo, "origin", [r.ref])
    assert isinstance(result, RepoPullResult) and result.commits == {r.ref: second} and result.refs == ()


def test_a_delta_pull_loads_neither_attrs_nor_typing(web_server, served_repo, tmp_path):
    """A pull that runs a static delta (issue 9): the superblock's commit is checked as the walk
    checks commits, the summary's delta listing read as the walk reads it, the totals kept plain."""
    r = served_repo("delta-imports")
    dest = tmp_path / "dest"
    ostreepy = [sys.executable, "-m", "ostreepy", f"--repo={dest}"]
    subprocess.run(ostreepy + ["init", "--mode=bare-user"], check=True)
    subprocess.run(ostreepy + ["remote", "add", "--no-gpg-verify", "origin", f"{web_server.url}{r.urlpath}"],
                   check=True)
    _pull(dest, "origin", r.ref)
    files = small_tree()
    files["usr/share/d0/f0.txt"] = b"changed\n" * 50
    files["usr/share/d1/new"] = b"new\n"
    tree = tmp_path / "tree2"
    write_tree(tree, files)
    second = ostree_commit(r.path, tree, r.ref, subject="second")
    run("ostree", f"--repo={r.path}", "static-delta", "generate", "--from", f"{r.ref}^", "--to", r.ref)
    run("ostree", f"--repo={r.path}", "summary", "-u")
    out, mods = _pull(dest, "--require-static-deltas", "origin", r.ref)
    assert out.startswith("1 delta parts"), out
    assert not HEAVY & mods, HEAVY & mods
    assert run("ostree", f"--repo={dest}", "rev-parse", f"origin:{r.ref}").stdout.decode().strip() == second
    assert "no errors found" in run("ostree", f"--repo={dest}", "fsck").stdout.decode()
    # the library's pull returns its attrs values, the deltas' totals among them
    from ostreepy.remote.deltas.fetch import DeltaTotals
    from ostreepy.remote.pull import pull_remote
    from ostreepy.store.repo import Repo
    third = dict(files)
    third["usr/share/d0/f0.txt"] = b"changed again\n" * 50
    write_tree(tmp_path / "tree3", third)
    ostree_commit(r.path, tmp_path / "tree3", r.ref, subject="third")
    run("ostree", f"--repo={r.path}", "static-delta", "generate", "--from", f"{r.ref}^", "--to", r.ref)
    run("ostree", f"--repo={r.path}", "summary", "-u")
    with Repo.open(str(dest)) as repo:
        result = pull_remote(repo, "origin", [r.ref], require_static_deltas=True)
    assert isinstance(result.deltas, DeltaTotals)
    assert (result.deltas.fetched_parts, result.deltas.superblocks) == (1, 1)


# ------------------------------------------------------------------ the light reads refuse what the parses refuse


def _same_verdict(parse, light, data: bytes) -> None:
    """``light(data)`` refuses ``data`` exactly when ``parse(data)`` does, with the same error
    type and message."""
    try:
        parse(data)
    except OstreeError as e:
        with pytest.raises(type(e)) as got:
            light(data)
        assert str(got.value) == str(e)
        return
    light(data)


def _mutations(data: bytes):
    yield data
    yield b""
    for n in range(len(data)):
        yield data[:n]
    for i in range(len(data)):
        for b in (0x00, 0xFF, data[i] ^ 0x01, data[i] ^ 0x80):
            yield data[:i] + bytes((b,)) + data[i + 1:]


def test_parse_commit_light_refuses_what_commit_parse_refuses():
    V = gvariant.Variant
    commit = obj.Commit(root_tree="ab" * 32, root_meta="cd" * 32, subject="s", body="b", timestamp=1700000000,
                        parent="ef" * 32, related=(("x", "12" * 32),),
                        metadata={"ostree.ref-binding": V("as", ["main"]), "version": V("s", "1"),
                                  "nested": V("a{sv}", {"k": V("t", 5)}), "maybe": V("mv", V("u", 1))})
    data = commit.serialize()
    meta, parent, related, subject, body, ts, tree, dmeta = obj.parse_commit_light(data)
    assert (parent, related, subject, body, ts, tree, dmeta) == (
        commit.parent, commit.related, commit.subject, commit.body, commit.timestamp, commit.root_tree,
        commit.root_meta)
    assert gvariant.boxed(meta) == commit.metadata
    assert meta["ostree.ref-binding"].type == "as" and meta["ostree.ref-binding"].value == ["main"]
    for bad in _mutations(data):
        _same_verdict(obj.Commit.parse, obj.parse_commit_light, bad)
    # a 31-byte root, an empty metadata key, a bad parent length
    for c in (obj.Commit(root_tree="ab" * 32, root_meta="cd" * 32, metadata={"": V("s", "x")}),):
        _same_verdict(obj.Commit.parse, obj.parse_commit_light, c.serialize())
    raw = gvariant.serialize(obj.COMMIT_TYPE, ({}, b"\x01" * 5, [], "", "", 0, b"\x01" * 32, b"\x02" * 32))
    _same_verdict(obj.Commit.parse, obj.parse_commit_light, raw)
    raw = gvariant.serialize(obj.COMMIT_TYPE, ({}, b"", [], "", "", 0, b"\x01" * 31, b"\x02" * 32))
    _same_verdict(obj.Commit.parse, obj.parse_commit_light, raw)


def test_parse_summary_light_refuses_what_parse_summary_refuses():
    V = gvariant.Variant
    refs = [("a", (10, b"\x01" * 32, {"ostree.commit.timestamp": V("t", 7)})),
            ("b", (20, b"\x02" * 32, {}))]
    meta = {"ostree.summary.collection-map": V("a{sa(s(taya{sv}))}", {"org.x": [("c", (1, b"\x03" * 32, {}))]}),
            "ostree.static-deltas": V("a{sv}", {"d": V("ay", b"\x04" * 32)})}
    data = gvariant.serialize(SUMMARY_TYPE, (refs, meta))
    full, light = parse_summary(data), parse_summary_light(data)
    assert {n: (r.checksum, r.size) for n, r in light.refs.items()} == \
        {n: (r.checksum, r.size) for n, r in full.refs.items()}
    assert gvariant.boxed(dict(light.metadata)) == full.metadata
    assert {k: (r.checksum, r.size) for k, r in light.collection_refs().items()} == \
        {k: (r.checksum, r.size) for k, r in full.collection_refs().items()}
    for bad in _mutations(data[:200]) if len(data) > 200 else _mutations(data):
        _same_verdict(parse_summary, parse_summary_light, bad)
    short = gvariant.serialize(SUMMARY_TYPE, ([("a", (1, b"\x01" * 31, {}))], {}))
    _same_verdict(parse_summary, parse_summary_light, short)


def test_the_light_file_header_refuses_what_parse_zlib_refuses():
    for header in (obj.FileHeader(0, 0, 0o100644), obj.FileHeader(0, 0, 0o120777, "target"),
                   obj.FileHeader(1, 2, 0o100755, "", ((b"user.a\0", b"v"),))):
        data = header.serialize_zlib(5)
        light, size = obj.parse_zlib_header_light(data)
        assert (size, light.serialize(), light.serialize_zlib(5)) == (5, header.serialize(), data)
        for bad in _mutations(data):
            _same_verdict(obj.FileHeader.parse_zlib, obj.parse_zlib_header_light, bad)
    # a device, a regular file with a target, a symlink without one
    for fields in ((0, 0, 0o020644, ""), (0, 0, 0o100644, "t"), (0, 0, 0o120777, "")):
        raw = obj.LightHeader(*fields).serialize_zlib(0)
        _same_verdict(obj.FileHeader.parse_zlib, obj.parse_zlib_header_light, raw)
    # and the whole .filez, as the walk inflates it
    payload = b"x" * 100
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    h = obj.FileHeader(0, 0, 0o100644)
    filez = obj.lenprefix(h.serialize_zlib(len(payload))) + c.compress(payload) + c.flush()
    csum = obj.content_checksum(h, payload)
    got = obj.inflate_filez_light(filez, csum, 1 << 20)
    assert got is not None and got[1:] == (len(payload), payload)
    for bad in _mutations(filez[:40]):
        _same_verdict(lambda d: obj.inflate_filez(d, csum, 1 << 20),
                      lambda d: obj.inflate_filez_light(d, csum, 1 << 20), bad)


# ------------------------------------------------------------------ URLs without urllib.parse


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/repo", "http://127.0.0.1:8080/repo/", "HTTP://Example.COM/Path/To", "https://h",
    "http://h:0080/x", "http://h:65535/", "http://h:65536/", "http://h:/x", "http:///x", "file:///srv/repo",
    "file:///srv/re%20po", "file://host/x", "http://user:pw@h/x", "http://[::1]:80/x", "http://h/a b",
    "http://h/a?q=1", "http://h/a#f", " http://h/x", "http://h/x\n", "http://h/~a/b-c_d.e", "mirrorlist=http://h/l",
    "/just/a/path", "http:h/x", "1http://h/x", "http://h/%41", "http://h.example.org:1/ü",
    "http://h:1:2/x", "http://h/a:b", "ht_tp://h/x", "http://h:１/x", "http://h/a://b", "http://h:123456/x",
    "http://", "://h/x", "http://h_h/x",
])
def test_split_reads_a_url_as_urlsplit_does(url):
    from urllib.parse import quote, unquote, urlsplit

    from ostreepy.remote import urls

    try:
        want = urlsplit(url)
        expected = (want.scheme, want.netloc, want.path, want.query, want.fragment, want.hostname, want.username,
                    want.password)
        port: object = want.port
    except ValueError as e:
        with pytest.raises(ValueError) as got:
            p = urls.split(url)
            p.port
        assert str(got.value) == str(e)
        return
    got = urls.split(url)
    assert (got.scheme, got.netloc, got.path, got.query, got.fragment, got.hostname, got.username,
            got.password) == expected
    assert got.port == port
    assert urls.unquote(got.path) == unquote(want.path)
    assert urls.quote_path(got.path) == quote(want.path, safe="/")
    if isinstance(got, urls.PlainURL):
        assert got.geturl() == want.geturl()


def test_quote_path_is_quote():
    from urllib.parse import quote

    from ostreepy.remote import urls

    every_ascii = "".join(map(chr, range(128)))
    for path in ("objects/ab/cdef.filez", "deltas/Ab/c+d_e/superblock", every_ascii, "a b/ü/€", "%41", ""):
        assert urls.quote_path(path) == quote(path, safe="/"), path
