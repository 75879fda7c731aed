"""ostree-ext tar format v1: writing as ostree-ext does, importing with every object
verified, against commits made by the real ``ostree`` CLI."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from typing import List, Tuple

import pytest

from ostreepy.store import gvariant
from ostreepy.errors import ChecksumMismatchError, CorruptObjectError, OstreeError, TarError
from ostreepy.store.objects import XATTRS_TYPE, ObjectType
from ostreepy.store.repo import Repo
from ostreepy.container import tarformat as tf
from ostreepy.container.tarformat import (
    DIRTYPE, LNKTYPE, REGTYPE, SYMTYPE, TarReader, TarWriter, _Exporter, _Header,
    import_commit_tar, import_object_set_tar, object_path, write_commit_tar,
)

from .conftest import LONG, run, snapshot

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def export(repo_path: str, rev: str) -> bytes:
    buf = io.BytesIO()
    with Repo.open(repo_path) as r:
        write_commit_tar(r, rev, buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def main_tar(source) -> bytes:
    return export(source["repo"], "main")


def members(data: bytes) -> List[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as t:
        return t.getmembers()


# ------------------------------------------------------------------ the writer


def test_header_bytes_match_tar_rs():
    """The sequence of data/tarrs/main.rs, replayed with our tar-rs emulation, gives
    the bytes tar-rs wrote (leftovers of reused headers, L/K records, PAX, base-256)."""
    buf = io.BytesIO()
    b = TarWriter(buf)
    h = _Header.gnu(); h.set_entry_type(DIRTYPE); h.set_size(0); h.set_uid(0); h.set_gid(0); h.set_mode(0o755)
    b.append_data(h, b"./")
    h = _Header.gnu(); h.set_entry_type(DIRTYPE); h.set_size(0); h.set_uid(12); h.set_gid(34); h.set_mode(0o1777)
    b.append_data(h, b"./usr/etc")
    csum = b"cdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
    h = _Header.gnu(); h.set_entry_type(REGTYPE); h.set_uid(0); h.set_gid(0); h.set_mode(0o644); h.set_size(5)
    b.append_data(h, b"sysroot/ostree/repo/objects/ab/" + csum + b".dirtree", b"hello")
    b.append_pax_extensions([(b"SCHILY.xattr.user.a", bytes([0, 255, 10, 61])), (b"SCHILY.xattr.user.bb", b"x")])
    op = b"sysroot/ostree/repo/objects/ab/" + csum + b".file"
    h = _Header.gnu(); h.set_uid(3000000); h.set_gid(5); h.set_mode(0o4755); h.set_entry_type(REGTYPE); h.set_size(3)
    b.append_data(h, op, b"abc")
    for dest in [b"usr/bin/x", b"usr/share/" + LONG.encode() + b"/file", "etc/é".encode()]:
        h2 = h.copy(); h2.set_size(0); h2.set_entry_type(LNKTYPE); h2.set_link_name(op)
        b.append_data(h2, dest)
    sp = b"sysroot/ostree/repo/objects/01/" + csum + b".file"
    h = _Header.gnu(); h.set_uid(0); h.set_gid(0); h.set_mode(0o777); h.set_entry_type(SYMTYPE); h.set_size(0)
    b.append_link(h, sp, b"../../" + b"x" * 120)
    h2 = h.copy(); h2.set_size(0); h2.set_entry_type(LNKTYPE); h2.set_link_name(sp)
    b.append_data(h2, b"usr/lib/l")
    h = _Header.gnu(); h.set_uid(0); h.set_gid(0); h.set_mode(0o777); h.set_entry_type(SYMTYPE); h.set_size(0)
    h.set_link_name_literal(b"../a//b")
    b.append_data(h, sp)
    h = _Header.gnu(); h.set_uid(0); h.set_gid(0); h.set_mode(0o644); h.set_entry_type(REGTYPE); h.set_size(0)
    b.append_data(h, op)
    h2 = h.copy(); h2.set_size(0)
    b.append_data(h2, b"usr/share/empty")
    b.finish()
    with open(os.path.join(DATA, "tarrs_golden.tar"), "rb") as f:
        assert buf.getvalue() == f.read()


def test_stream_layout(source, main_tar):
    """The order of export_final_chunk: ./, repo skeleton, config, commit, commitmeta,
    root dirmeta, structure, var/tmp, then per object (checksum order) xattrs, object,
    hardlinks."""
    ms = members(main_tar)
    names = [m.name for m in ms]
    assert names[0] == "." and ms[0].isdir()  # stored as "./"
    assert main_tar[:2] == b"./"
    assert names[1:5] == ["sysroot", "sysroot/ostree", "sysroot/ostree/repo", "sysroot/ostree/repo/objects"]
    assert names[5:261] == [f"sysroot/ostree/repo/objects/{i:02x}" for i in range(256)]
    assert names[261:269] == [f"sysroot/ostree/repo/{d}" for d in (
        "extensions", "refs", "refs/heads", "refs/mirrors", "refs/remotes", "state", "tmp", "tmp/cache")]
    assert names[269] == "sysroot/ostree/repo/config"
    assert ms[269].size == len(tf.REPO_CONFIG)
    csum = source["main"]
    assert names[270] == object_path(ObjectType.COMMIT, csum)
    assert names[271] == object_path(ObjectType.COMMIT_META, csum)
    assert names[272].endswith(".dirmeta")
    assert all(m.mtime == 0 and m.uname == "" and m.gname == "" for m in ms)
    # directories: usr/etc is written as etc, and "usr" not "./usr"
    dirs = [m.name for m in ms if m.isdir() and not m.name.startswith("sysroot")]
    assert "usr" in dirs and "etc" in dirs and "etc/sub" in dirs and "usr/etc" not in dirs
    vartmp = [m for m in ms if m.name == "var/tmp"]
    assert len(vartmp) == 1 and vartmp[0].mode == 0o1777
    # structure before content; content in checksum order, each preceded by its xattrs
    first_file = next(i for i, n in enumerate(names) if n.endswith(".file"))
    assert names.index("var/tmp") < first_file
    objs = [n for n in names if n.endswith(".file")]
    assert objs == sorted(objs)
    for i, n in enumerate(names):
        if n.endswith(".file"):
            assert names[i - 1] == n + "-xattrs-link" and ms[i - 1].isreg()
    # hardlinks: both names of the hardlinked file point at one object; the empty file is regular
    by_name = {m.name: m for m in ms}
    assert by_name["usr/bin/hello"].islnk() and by_name["usr/bin/hello2"].islnk()
    assert by_name["usr/bin/hello"].linkname == by_name["usr/bin/hello2"].linkname
    assert by_name["usr/bin/hello"].mode == 0o4755
    assert by_name["etc/foo.conf"].uid == 12 and by_name["etc/foo.conf"].gid == 34
    assert by_name["usr/share/empty"].isreg() and by_name["usr/share/empty"].size == 0
    assert by_name[f"usr/share/{LONG}/file"].islnk()
    # PAX xattrs on objects, but never security.selinux
    hello_obj = by_name[by_name["usr/bin/hello"].linkname]
    assert hello_obj.pax_headers["SCHILY.xattr.user.bin"].encode("utf-8", "surrogateescape") == b"\x00\xff\x10\n="
    conf_obj = by_name[by_name["etc/foo.conf"].linkname]
    assert not any("selinux" in k for k in conf_obj.pax_headers)
    # the xattrs-link file holds the a(ayay) bytes of the object's xattrs
    with tarfile.open(fileobj=io.BytesIO(main_tar), mode="r:") as t:
        raw = t.extractfile(by_name["etc/foo.conf"].linkname + "-xattrs-link").read()
    assert dict(gvariant.deserialize(XATTRS_TYPE, raw))[b"security.selinux\x00"] == b"system_u:object_r:etc_t:s0\x00"
    # symlink objects, literal denormal target, long target
    targets = {m.linkname for m in ms if m.issym()}
    assert {"hello", "../..//sbin/chkconfig", "../../" + "x" * 120} <= targets


def test_gnu_tar_lists_and_extracts(tmp_path, main_tar):
    t = tmp_path / "layer.tar"
    t.write_bytes(main_tar)
    listing = run("tar", "tvf", str(t)).stdout
    assert "usr/bin/hello link to sysroot/ostree/repo/objects/" in listing
    assert f"usr/share/{LONG}/file link to" in listing
    out = tmp_path / "x"
    out.mkdir()
    run("tar", "xf", str(t), "-C", str(out), "--xattrs", "--xattrs-include=*")
    assert (out / "usr/bin/hello").read_bytes() == b"#!/bin/sh\necho hello\n"
    assert (out / "etc/foo.conf").read_bytes() == b"conf=1\n"
    assert (out / f"usr/share/{LONG}/file").read_bytes() == b"deep\n"
    assert os.readlink(out / "usr/share/longlink") == "../../" + "x" * 120
    assert os.readlink(out / "usr/lib/denormal") == "../..//sbin/chkconfig"
    assert os.getxattr(out / "usr/bin/hello", "user.bin") == b"\x00\xff\x10\n="
    assert os.stat(out / "usr/bin/hello").st_ino == os.stat(out / "usr/bin/hello2").st_ino
    assert len(os.listdir(out / "usr/share/many")) == 310


@pytest.mark.parametrize("mode", ["archive", "bare", "bare-user"])
def test_round_trip_every_mode(tmp_path, source, main_tar, mode):
    dst = str(tmp_path / "dst")
    with Repo.init(dst, mode) as r:
        csum = import_commit_tar(r, io.BytesIO(main_tar))
        assert csum == source["main"]
        assert not r.commit_is_partial(csum)
        r.set_ref("main", csum)
        assert r.read_commit_detached_metadata(csum)["signed-by"].value == "nobody"
    assert "no errors found" in run("ostree", "fsck", f"--repo={dst}").stdout
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    user = ["-U"] if mode == "bare-user" else []
    run("ostree", "checkout", f"--repo={source['repo']}", *user, "main", a)
    run("ostree", "checkout", f"--repo={dst}", *user, "main", b)
    assert snapshot(a) == snapshot(b)
    # and the tar we write from the imported commit is the same stream
    assert export(dst, "main") == main_tar


def test_round_trip_bare_user_only(tmp_path, source):
    data = export(source["repo"], "canon")
    dst = str(tmp_path / "dst")
    with Repo.init(dst, "bare-user-only") as r:
        assert import_commit_tar(r, io.BytesIO(data)) == source["canon"]
        r.set_ref("canon", source["canon"])
    assert "no errors found" in run("ostree", "fsck", f"--repo={dst}").stdout
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    run("ostree", "checkout", f"--repo={source['repo']}", "-U", "canon", a)
    run("ostree", "checkout", f"--repo={dst}", "-U", "canon", b)
    assert snapshot(a) == snapshot(b)


def test_expected_commit(tmp_path, source, main_tar):
    with Repo.init(str(tmp_path / "r"), "bare") as r:
        with pytest.raises(CorruptObjectError, match="expected"):
            import_commit_tar(r, io.BytesIO(main_tar), expected_commit="0" * 64)
        assert not r.has_object(source["main"], ObjectType.COMMIT)


# ------------------------------------------------------------------ older encodings


def _legacy_tar(repo_path: str, rev: str, style: str) -> bytes:
    """The objects of a commit with xattrs as older exporters wrote them:
    ``link`` = ``.file-xattrs`` (by xattrs sha256) + hardlink ``.file-xattrs-link``;
    ``v0`` = ``xattrs/<sha>`` + hardlink ``.file.xattrs``."""
    buf = io.BytesIO()
    r = Repo.open(repo_path)
    csum = r.resolve_rev(rev)
    reach = r.traverse_commit(csum)
    with tarfile.open(fileobj=buf, mode="w|", format=tarfile.GNU_FORMAT) as t:
        def add(name: str, data: bytes = b"", **kw) -> None:
            ti = tarfile.TarInfo(name)
            for k, v in kw.items():
                setattr(ti, k, v)
            if ti.type == tarfile.REGTYPE:
                ti.size = len(data)
            t.addfile(ti, io.BytesIO(data) if ti.type == tarfile.REGTYPE else None)

        add("sysroot/ostree/repo/objects/" + csum[:2] + "/" + csum[2:] + ".commit",
            r.load_metadata(ObjectType.COMMIT, csum))
        for c, ty in reach:
            if ty in (ObjectType.DIR_TREE, ObjectType.DIR_META):
                add(object_path(ty, c), r.load_metadata(ty, c))
        seen = set()
        for c, ty in sorted(reach):
            if ty != ObjectType.FILE:
                continue
            header, stream = r.load_file(c)
            xb = gvariant.serialize(XATTRS_TYPE, list(header.xattrs))
            xs = hashlib.sha256(xb).hexdigest()
            obj = object_path(ObjectType.FILE, c)
            if style == "link":
                xpath = f"sysroot/ostree/repo/objects/{xs[:2]}/{xs[2:]}.file-xattrs"
                if xs not in seen:
                    add(xpath, xb)
                add(obj + "-xattrs-link", type=tarfile.LNKTYPE, linkname=xpath)
            else:
                xpath = f"sysroot/ostree/repo/xattrs/{xs}"
                if xs not in seen:
                    add(xpath, xb)
                add(obj + ".xattrs", type=tarfile.LNKTYPE, linkname=xpath)
            seen.add(xs)
            kw = dict(uid=header.uid, gid=header.gid, mode=stat.S_IMODE(header.mode))
            if header.is_symlink:
                add(obj, type=tarfile.SYMTYPE, linkname=header.symlink_target, **kw)
            else:
                with stream:
                    add(obj, stream.read(), **kw)
    r.close()
    return buf.getvalue()


@pytest.mark.parametrize("style", ["link", "v0"])
def test_older_xattr_encodings(tmp_path, source, style):
    data = _legacy_tar(source["repo"], "main", style)
    with Repo.init(str(tmp_path / "r"), "bare") as r:
        assert import_commit_tar(r, io.BytesIO(data)) == source["main"]


# ------------------------------------------------------------------ chunk layers


def _chunk_tar(repo_path: str, rev: str, checksums: List[str]) -> bytes:
    """An ``export_chunk`` layer: repo skeleton, then the given content objects."""
    buf = io.BytesIO()
    with Repo.open(repo_path) as r:
        exp = _Exporter(r, r.resolve_rev(rev), buf, None)
        exp._repo_structure()
        for c in checksums:
            objpath, h = exp._content(c)
            exp._hardlink(objpath, h.copy(), f"usr/share/chunk-{c[:8]}")
        exp.w.finish()
    return buf.getvalue()


def test_object_set(tmp_path, source):
    with Repo.open(source["repo"]) as src:
        files = sorted(c for c, t in src.traverse_commit(source["main"]) if t == ObjectType.FILE)[:20]
    data = _chunk_tar(source["repo"], "main", files)
    dst = str(tmp_path / "dst")
    with Repo.init(dst, "bare") as r:
        commit = import_object_set_tar(r, io.BytesIO(data))
        c = r.load_commit(commit)
        assert c.timestamp == 0 and c.parent is None and c.subject == "" and not c.metadata
        meta = r.load_dirmeta(c.root_meta)
        assert (meta.uid, meta.gid, meta.mode, meta.xattrs) == (0, 0, 0o40755, ())
        tree = r.load_dirtree(c.root_tree)
        assert tree.files == tuple((f, f) for f in files) and tree.dirs == ()
        r.set_ref("chunk", commit)
    assert "no errors found" in run("ostree", "fsck", f"--repo={dst}").stdout
    # metadata objects are refused in a chunk
    with Repo.init(str(tmp_path / "r2"), "bare") as r:
        with pytest.raises(CorruptObjectError, match="multiple commit"):
            import_object_set_tar(r, io.BytesIO(export(source["repo"], "main")))
        no_commit = _rewrite(export(source["repo"], "main"),
                             lambda items: [(m, d) for m, d in items if not m.name.endswith(".commit")])
        with pytest.raises(CorruptObjectError, match="object set mode"):
            import_object_set_tar(r, io.BytesIO(no_commit))


# ------------------------------------------------------------------ hostile and corrupt streams


def _rewrite(data: bytes, edit) -> bytes:
    """Re-emit a tar with tarfile after ``edit(members) -> [(TarInfo, bytes)]``."""
    items = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as t:
        for m in t.getmembers():
            items.append((m, t.extractfile(m).read() if m.isreg() else b""))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
        for m, d in edit(items):
            m.size = len(d) if m.isreg() else 0
            t.addfile(m, io.BytesIO(d) if m.isreg() else None)
    return out.getvalue()


def _import_fails(tmp_path, data: bytes, exc, match=None):
    parent = tmp_path / "area"
    parent.mkdir(exist_ok=True)
    repo_path = str(parent / "repo")
    r = Repo.init(repo_path, "bare")
    before = sorted(os.listdir(parent))
    with pytest.raises(exc, match=match):
        import_commit_tar(r, io.BytesIO(data))
    assert sorted(os.listdir(parent)) == before  # nothing written beside the repo
    assert not os.listdir(os.path.join(repo_path, "refs/heads"))
    return r


def test_corrupt_file_content(tmp_path, source, main_tar):
    with Repo.open(source["repo"]) as src:
        target = next(c for c, t in sorted(src.traverse_commit(source["main"])) if t == ObjectType.FILE
                      and src.content_size(c) > 10)
    name = object_path(ObjectType.FILE, target)

    def edit(items):
        return [(m, (bytes([d[0] ^ 1]) + d[1:]) if m.name == name else d) for m, d in items]

    r = _import_fails(tmp_path, _rewrite(main_tar, edit), ChecksumMismatchError, target)
    assert not r.has_object(target, ObjectType.FILE)
    assert r.commit_is_partial(source["main"])
    assert not [n for n in os.listdir(os.path.join(r.path, "tmp")) if n.startswith("tmpobj")]


def test_corrupt_in_place_same_length(tmp_path, main_tar, source):
    """A flipped byte in our own stream (no re-packing): object content, then a dirtree."""
    with Repo.open(source["repo"]) as src:
        big = next(c for c, t in src.traverse_commit(source["main"])
                   if t == ObjectType.FILE and src.content_size(c) == 320000)
    pos = main_tar.index(object_path(ObjectType.FILE, big).encode() + b"\x00")
    data = bytearray(main_tar)
    data[pos + 512 + 1000] ^= 0xFF  # inside the 320 KB object's data
    r = _import_fails(tmp_path, bytes(data), ChecksumMismatchError)
    assert not r.has_object(big, ObjectType.FILE)


def test_commit_bytes_not_matching_name(tmp_path, main_tar, source):
    name = object_path(ObjectType.COMMIT, source["main"])

    def edit(items):
        return [(m, d[:-1] + bytes([d[-1] ^ 1]) if m.name == name else d) for m, d in items]

    r = _import_fails(tmp_path, _rewrite(main_tar, edit), ChecksumMismatchError, "commit object")
    assert not r.has_object(source["main"], ObjectType.COMMIT)
    assert not r.commit_is_partial(source["main"])


def test_truncated(tmp_path, main_tar):
    for cut in (len(main_tar) // 2, len(main_tar) - 1024, 300 * 512 + 100):
        _import_fails(tmp_path, main_tar[:cut], TarError, "Truncated")


def test_missing_object_leaves_commit_partial(tmp_path, main_tar, source):
    def edit(items):
        drop = next(m.name for m, _ in items if m.name.endswith(".dirtree"))
        return [(m, d) for m, d in items if m.name != drop]

    r = _import_fails(tmp_path, _rewrite(main_tar, edit), CorruptObjectError, "incomplete")
    assert r.commit_is_partial(source["main"])


def _minimal(extra: List[Tuple[tarfile.TarInfo, bytes]], source, main_tar) -> bytes:
    def edit(items):
        keep = [(m, d) for m, d in items if m.name.endswith(".commit")]
        return keep + extra
    return _rewrite(main_tar, edit)


def _ti(name: str, type=tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = type
    ti.linkname = linkname
    return ti


@pytest.mark.parametrize("name,msg", [
    ("../escape", "'\\.\\.'"),
    ("sysroot/ostree/repo/objects/../../../../x", "'\\.\\.'"),
    ("/etc/passwd", "absolute"),
])
def test_hostile_paths(tmp_path, source, main_tar, name, msg):
    data = _minimal([(_ti(name), b"evil")], source, main_tar)
    _import_fails(tmp_path, data, TarError, msg)
    assert not os.path.exists(tmp_path / "escape")


def test_nul_in_long_name(tmp_path, source, main_tar):
    data = bytearray(_minimal([(_ti("usr/" + "a" * 120), b"x")], source, main_tar))
    # tarfile wrote the long name as a PAX path record; plant a NUL inside it
    pos = data.index(b"path=usr/aaa")
    data[pos + 8] = 0
    _import_fails(tmp_path, bytes(data), TarError, "NUL")


def test_lying_sizes(tmp_path, source, main_tar):
    # a PAX size record contradicting the header
    data = bytearray(_minimal([(_ti("usr/x"), b"0123456789")], source, main_tar))
    hdr = data.index(b"usr/x\x00")
    pax = io.BytesIO()
    w = TarWriter(pax)
    w.append_pax_extensions([(b"size", b"3")])
    data[hdr:hdr] = pax.getvalue()
    _import_fails(tmp_path, bytes(data), TarError, "contradicts")
    # a header claiming more data than the stream has
    data = bytearray(_minimal([(_ti("usr/x"), b"0123456789")], source, main_tar))
    hdr = data.index(b"usr/x\x00")
    data[hdr + 124:hdr + 136] = b"%011o\x00" % (1 << 30)
    data[hdr + 148:hdr + 156] = b"        "
    data[hdr + 148:hdr + 156] = b"%06o\x00 " % sum(data[hdr:hdr + 512])
    _import_fails(tmp_path, bytes(data), TarError, "Truncated")


def test_oversized_metadata_and_xattrs(tmp_path, source, main_tar):
    """Sizes are checked from the header, before any data is read or buffered."""
    with Repo.open(source["repo"]) as src:
        commit_bytes = src.load_metadata(ObjectType.COMMIT, source["main"])

    def with_claim(name: str, size: int) -> bytes:
        buf = io.BytesIO()
        w = TarWriter(buf)
        h = _Header.gnu(); h.set_entry_type(REGTYPE); h.set_mode(0o644); h.set_size(len(commit_bytes))
        w.append_data(h, object_path(ObjectType.COMMIT, source["main"]).encode(), commit_bytes)
        h = _Header.gnu(); h.set_entry_type(REGTYPE); h.set_mode(0o644); h.set_size(size)
        w._prepare_path(h, name.encode())
        h.set_cksum()
        buf.write(bytes(h.buf))  # and no data: the claim alone must be refused
        return buf.getvalue()

    c = "ab" * 32
    _import_fails(tmp_path, with_claim(f"sysroot/ostree/repo/objects/{c[:2]}/{c[2:]}.dirtree", 11 << 20),
                  CorruptObjectError, "exceeds")
    _import_fails(tmp_path, with_claim(f"sysroot/ostree/repo/objects/{c[:2]}/{c[2:]}.file-xattrs-link", 2 << 20),
                  CorruptObjectError, "xattr size")
    _import_fails(tmp_path, with_claim(object_path(ObjectType.COMMIT_META, source["main"]), 11 << 20),
                  CorruptObjectError, "exceeds")


def test_xattr_link_errors(tmp_path, source, main_tar):
    c = "cd" * 32
    obj = f"sysroot/ostree/repo/objects/{c[:2]}/{c[2:]}.file"
    dangling = _ti(obj + "-xattrs-link", tarfile.LNKTYPE, "sysroot/ostree/repo/objects/ee/" + "e" * 62 + ".file-xattrs")
    _import_fails(tmp_path, _minimal([(dangling, b"")], source, main_tar), CorruptObjectError, "unknown xattrs")
    twice = [(_ti(obj + "-xattrs-link"), b""), (_ti(obj + "-xattrs-link"), b"")]
    _import_fails(tmp_path, _minimal(twice, source, main_tar), CorruptObjectError, "dangling")
    other = "ef" * 32
    mismatch = [(_ti(obj + "-xattrs-link"), b""), (_ti(f"sysroot/ostree/repo/objects/ef/{other[2:]}.file"), b"x")]
    _import_fails(tmp_path, _minimal(mismatch, source, main_tar), CorruptObjectError, "mismatch")
    missing = [(_ti(obj), b"x")]
    _import_fails(tmp_path, _minimal(missing, source, main_tar), CorruptObjectError, "Missing xattrs")
    at_end = [(_ti(obj + "-xattrs-link"), b"")]
    _import_fails(tmp_path, _minimal(at_end, source, main_tar), CorruptObjectError, "end of stream")


def test_first_object_must_be_commit(tmp_path, main_tar):
    def edit(items):
        return [(m, d) for m, d in items if not m.name.endswith(".commit")]
    _import_fails(tmp_path, _rewrite(main_tar, edit), CorruptObjectError, "Expected commit object")


def test_reader_rejects_bad_checksum():
    buf = io.BytesIO()
    w = TarWriter(buf)
    h = _Header.gnu(); h.set_entry_type(REGTYPE); h.set_mode(0o644); h.set_size(1)
    w.append_data(h, b"a", b"x")
    w.finish()
    data = bytearray(buf.getvalue())
    data[0] = ord("b")
    with pytest.raises(TarError, match="checksum"):
        list(TarReader(io.BytesIO(bytes(data))))
    with pytest.raises(TarError, match="end-of-archive"):
        list(TarReader(io.BytesIO(buf.getvalue()[:1024])))
    entries = [(e.path, e.read_all()) for e in TarReader(io.BytesIO(buf.getvalue()))]
    assert entries == [("a", b"x")]


def test_corrupt_repo_object_is_not_exported(tmp_path, source):
    """Exporting reads through verifying streams: a corrupted object in the repo raises."""
    dst = str(tmp_path / "r")
    with Repo.init(dst, "bare") as r:
        import_commit_tar(r, io.BytesIO(export(source["repo"], "main")))
        big = next(c for c, t in r.traverse_commit(source["main"])
                   if t == ObjectType.FILE and r.content_size(c) == 320000)
        p = r.object_path(big, ObjectType.FILE)
        with open(p, "r+b") as f:
            f.seek(5)
            f.write(b"Z")
        with pytest.raises(OstreeError):
            write_commit_tar(r, source["main"], io.BytesIO())
