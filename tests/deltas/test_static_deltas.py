"""Static deltas against the real ostree: its deltas apply with ostreepy, ours
apply with it, ``show`` prints the same, broken deltas leave no commit, and
signed superblocks verify both ways (upstream ostree for ed25519)."""

from __future__ import annotations

import base64
import os
import random
import shutil
from pathlib import Path

import pytest

from ostreepy.remote.deltas import format as fmt
from ostreepy.remote.deltas.apply import apply_offline, execute_part, open_part
from ostreepy.remote.deltas.bsdiff import bsdiff_bytes, bspatch, offtin, offtout
from ostreepy.remote.deltas.compile import GenerateOptions, generate
from ostreepy.remote.deltas.format import DeltaError
from ostreepy.remote.deltas.rollsum import compute_matches
from ostreepy.remote.deltas.store import delta_index_entries, list_deltas, show_lines
from ostreepy.store.objects import ObjectType
from ostreepy.store.repo import Repo

from upstream_peer import peer_bin

from .conftest import fresh_repo, ostree, ostreepy

# Fixed vectors, from ostree 2022.7 on this tree's commits
FROM = "b7219d2bdd53d42c1922e0a3dcfd5fb4125ccf16fbc7d2ca3f20c7b0d9adb066"
TO = "851259717005ac248c6374e5fd33e333b663fd26b037d9ba813efb6a25b393fd"
TO_DIR = "deltas/ty/GdK91T1CwZIuCj3P1ftBJczxb7x9LKPyDHsNmtsGY-hRJZcXAFrCSMY3Tl_TPjM7Zj_SawN9m6gT77aiWzk_0"
# ed25519 key pair (seed 00..1f) of the signing tests
SECRET = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8DoQe/884Qvh1w3RjnS8CZZ+TWMJulDV8d3IZkElUxuA=="
PUBLIC = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="


# ------------------------------------------------------------------ pure format

def test_delta_paths_use_modified_base64() -> None:
    assert fmt.delta_dir(FROM, TO) == TO_DIR
    assert fmt.delta_path(None, TO) == "deltas/hR/JZcXAFrCSMY3Tl_TPjM7Zj_SawN9m6gT77aiWzk_0/superblock"
    assert fmt.index_path(TO) == "delta-indexes/hR/JZcXAFrCSMY3Tl_TPjM7Zj_SawN9m6gT77aiWzk_0.index"
    outer, inner = TO_DIR.split("/")[1:]
    assert fmt.name_from_dir_entries(outer, inner) == f"{FROM}-{TO}"
    assert fmt.parse_delta_name(f"{FROM}-{TO}") == (FROM, TO)
    with pytest.raises(DeltaError):
        fmt.parse_delta_name("nope")


def test_varints_and_bsdiff_offsets() -> None:
    for v in (0, 1, 127, 128, 300, 2**32, 2**64 - 1):
        assert fmt.read_varuint64(fmt.write_varuint64(v) + b"x", 0) == (v, len(fmt.write_varuint64(v)))
    with pytest.raises(DeltaError):
        fmt.read_varuint64(b"\x80\x80", 0)
    # sign-magnitude little-endian, as bsdiff's offtout
    assert offtout(-5) == bytes([5, 0, 0, 0, 0, 0, 0, 0x80])
    assert offtin(offtout(-(2**40) - 3)) == -(2**40) - 3


def test_bsdiff_roundtrip_and_bounds() -> None:
    rnd = random.Random(3)
    for _ in range(20):
        old = bytes(rnd.choice(b"abcdef\n") for _ in range(rnd.randint(0, 2000)))
        new = bytearray(old)
        for _ in range(rnd.randint(0, 10)):
            p = rnd.randint(0, len(new))
            new[p:p + rnd.randint(0, 30)] = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 30)))
        patch = bsdiff_bytes(old, bytes(new))
        assert b"".join(bspatch(old, len(new), patch)) == bytes(new)
    patch = bsdiff_bytes(b"hello world", b"hello there world")
    with pytest.raises(DeltaError):  # truncated patch
        b"".join(bspatch(b"hello world", 17, patch[:-3]))
    with pytest.raises(DeltaError):  # a control block writing past the new size
        b"".join(bspatch(b"", 1, offtout(5) + offtout(0) + offtout(0) + b"12345"))
    with pytest.raises(DeltaError):  # a negative diff length
        b"".join(bspatch(b"abc", 1, offtout(-1) + offtout(0) + offtout(0)))
    # hand-made triples, as bspatch.c reads them: a negative zero is a zero, a negative
    # seek goes back, diff bytes past either end of old are taken as they are
    neg0 = bytes(7) + b"\x80"
    triples = (offtout(3) + offtout(1) + offtout(-5) + b"\0\x01\0" + b"X"
               + offtout(4) + neg0 + offtout(0) + b"\x01\0\0\x02"
               + offtout(2) + offtout(0) + offtout(0) + b"\0\x05")
    assert b"".join(bspatch(b"abcdef", 10, memoryview(triples))) == b"accX\x01\0adci"
    # a long patch comes out in bounded pieces, the same bytes
    old = bytes(range(256)) * 20_000
    long_patch = b"".join(offtout(16) + offtout(1) + offtout(0) + bytes(16) + b"+" for _ in range(len(old) // 17))
    pieces = list(bspatch(old, len(old) // 17 * 17, long_patch))
    assert len(pieces) > 1 and max(map(len, pieces)) < 2 << 20
    expect = b"".join(old[k * 16:k * 16 + 16] + b"+" for k in range(len(old) // 17))
    assert b"".join(pieces) == expect


def test_rollsum_matches_shared_chunks() -> None:
    rnd = random.Random(5)
    old = bytes(rnd.getrandbits(8) for _ in range(200_000))
    new = old[:100_000] + b"inserted" + old[100_000:]
    m = compute_matches(old, new)
    assert m.bufmatches * 100 // m.total >= 50
    for length, to_start, from_start in m.matches:
        assert new[to_start:to_start + length] == old[from_start:from_start + length]
    # libostree keys chunks by the crc32 of the file's first bytes (ostree-rollsum.c
    # passes buf, not buf + start): a file whose first byte changed matches nothing
    assert compute_matches(old, b"X" + old[1:]).bufmatches == 0


# ------------------------------------------------------------------ ostree's deltas, our apply

@pytest.mark.parametrize("mode", ["archive", "bare-user"])
@pytest.mark.parametrize("kind", ["from", "scratch"])
def test_ostree_delta_applies_with_ostreepy(source, tmp_path: Path, mode: str, kind: str) -> None:
    frm = source["from"] if kind == "from" else None
    dst = fresh_repo(tmp_path, mode, source["from"] if frm else "", source["repo"])
    path = os.path.join(source["theirs"], fmt.delta_dir(frm, source["to"]))
    r = ostreepy("static-delta", "apply-offline", f"--repo={dst}", path)
    assert r.returncode == 0
    ostree("fsck", f"--repo={dst}")
    want = ostree("ls", "-R", "-X", f"--repo={source['repo']}", source["to"]).stdout
    assert ostree("ls", "-R", "-X", f"--repo={dst}", source["to"]).stdout == want
    if frm:  # the from->to delta of this tree exercises every opcode
        sb = fmt.parse_superblock(Path(path, "superblock").read_bytes())
        payload = open_part(Path(path, "0").read_bytes(), sb.parts[0].checksum)
        counts = fmt.count_ops(fmt.decode_ops(payload.ops, sb.parts[0].objects))
        assert all(counts), counts


# ------------------------------------------------------------------ our deltas, ostree's apply

@pytest.mark.parametrize("inline", [False, True])
def test_ostreepy_delta_applies_with_ostree(source, tmp_path: Path, inline: bool) -> None:
    ours = str(tmp_path / "ours")
    shutil.copytree(source["repo"], ours, symlinks=True)
    args = ["--inline"] if inline else []
    r = ostreepy("static-delta", "generate", f"--repo={ours}", "--to=main", *args)
    assert r.stdout.splitlines()[1:] == [f"  From: {source['from']}", f"  To:   {source['to']}"]
    # the same decisions as libostree: which files are modified, rollsum'd, bsdiff'd
    decisions = ("modified:", "new reachable:", "rollsum for ", "rollsum=", "bsdiff=")
    pick = lambda log: sorted(x for x in log.splitlines() if x.startswith(decisions))  # noqa: E731
    assert pick(r.stderr) == pick(source["log"])
    assert "bsdiff=2 objects" in r.stderr and "rollsum=3 objects" in r.stderr
    ostreepy("static-delta", "generate", f"--repo={ours}", "--empty", "--to=main", *args)
    assert sorted(ostree("static-delta", "list", f"--repo={ours}").stdout.split()) == \
        sorted([f"{source['from']}-{source['to']}", source["to"]])
    for frm in (source["from"], None):
        # Debian's ostree asserts on 'open' opcodes in archive repos (its own deltas too),
        # so the peer applies into bare-user
        dst = fresh_repo(tmp_path / (frm or "scratch"), "bare-user", frm or "", source["repo"])
        ostree("static-delta", "apply-offline", f"--repo={dst}",
               os.path.join(ours, fmt.delta_path(frm, source["to"])))
        ostree("fsck", f"--repo={dst}")
        assert ostree("rev-parse", f"--repo={dst}", source["to"]).stdout.strip() == source["to"]
    if not inline:  # ostree's show reads parts from files only, never inline ones
        for name in list_deltas(Repo.open(ours)):
            assert ostreepy("static-delta", "show", f"--repo={ours}", name).stdout == \
                ostree("static-delta", "show", f"--repo={ours}", name).stdout


def test_show_prints_what_ostree_prints(source) -> None:
    for name in ostree("static-delta", "list", f"--repo={source['theirs']}").stdout.split():
        ours = ostreepy("static-delta", "show", f"--repo={source['theirs']}", name).stdout
        assert ours == ostree("static-delta", "show", f"--repo={source['theirs']}", name).stdout
        assert "\u00a0kB" in ours  # g_format_size's no-break space


def test_reindex_writes_ostrees_index(source, tmp_path: Path) -> None:
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    shutil.copytree(source["theirs"], a, symlinks=True)
    shutil.copytree(source["theirs"], b, symlinks=True)
    ostree("static-delta", "reindex", f"--repo={a}")
    ostreepy("static-delta", "reindex", f"--repo={b}")
    idx = fmt.index_path(source["to"])
    # two deltas to one commit, in GLib's hash-table order: the same bytes
    assert Path(a, idx).read_bytes() == Path(b, idx).read_bytes()
    assert ostreepy("static-delta", "indexes", f"--repo={b}").stdout == \
        ostree("static-delta", "indexes", f"--repo={a}").stdout
    entries = delta_index_entries(Repo.open(b))
    assert set(entries) == {f"{source['from']}-{source['to']}", source["to"]}
    assert "indexed-deltas=true" in Path(b, "config").read_text()


# ------------------------------------------------------------------ broken deltas

@pytest.mark.parametrize("damage", ["truncated", "flipped", "missing", "superblock-cut"])
def test_broken_delta_leaves_no_commit(source, tmp_path: Path, damage: str) -> None:
    delta = tmp_path / "delta"
    shutil.copytree(os.path.join(source["theirs"], fmt.delta_dir(None, source["to"])), delta)
    part = delta / "0"
    data = part.read_bytes()
    if damage == "truncated":
        part.write_bytes(data[:len(data) // 2])
    elif damage == "flipped":
        part.write_bytes(data[:500] + bytes([data[500] ^ 1]) + data[501:])
    elif damage == "missing":
        part.unlink()
    else:
        sb = delta / "superblock"
        sb.write_bytes(sb.read_bytes()[:-40])
    dst = fresh_repo(tmp_path, "bare-user")
    r = ostreepy("static-delta", "apply-offline", f"--repo={dst}", str(delta), check=False)
    assert r.returncode == 1 and r.stderr.startswith("error: ")
    repo = Repo.open(dst)
    assert not repo.has_object(source["to"], ObjectType.COMMIT)
    if damage == "flipped":
        assert "Checksum mismatch in static delta part" in r.stderr
    # execute_part on its own refuses a part whose checksum is not the header's
    if damage in ("truncated", "flipped"):
        sb = fmt.parse_superblock((delta / "superblock").read_bytes())
        with pytest.raises(DeltaError):
            execute_part(repo, sb.parts[0], part.read_bytes())


def test_write_past_the_opened_size_refused(tmp_path: Path) -> None:
    """A part whose ``write`` goes past the size its ``open`` gave is refused there (the
    object is built in memory: it must not grow unbounded) and writes nothing."""
    from ostreepy.store.sizes import write_varuint64 as v
    repo = Repo.open(fresh_repo(tmp_path, "bare-user"))
    csum = "ab" * 32
    ops = b"o" + v(0) + v(0) + v(3) + b"w" + v(2) + v(0) + b"w" + v(2) + v(0) + b"c"
    payload = fmt.serialize_part_payload([(0, 0, 0o100644)], [[]], b"xyzw", ops)
    header = fmt.PartHeader(0, "00" * 32, 0, 3, bytes([int(ObjectType.FILE)]) + bytes.fromhex(csum))
    with pytest.raises(DeltaError, match="past its size 3"):
        execute_part(repo, header, b"\0" + payload, trusted=True)
    assert not repo.has_object(csum, ObjectType.FILE)


def test_fallbacks_refused_offline(source, tmp_path: Path) -> None:
    repo_path = str(tmp_path / "big")
    tree = tmp_path / "t"
    (tree / "usr").mkdir(parents=True)
    (tree / "usr/huge").write_bytes(b"\0" * 1_100_000)
    (tree / "usr/small").write_bytes(b"x")
    ostree("init", f"--repo={repo_path}", "--mode=archive")
    ostree("commit", f"--repo={repo_path}", "-b", "big", "--timestamp=2020-01-01T00:00Z", str(tree))
    ostree("static-delta", "generate", f"--repo={repo_path}", "--empty", "--to=big", "--min-fallback-size=1")
    rev = ostree("rev-parse", f"--repo={repo_path}", "big").stdout.strip()
    ostree_show = ostree("static-delta", "show", f"--repo={repo_path}", rev).stdout
    assert ostreepy("static-delta", "show", f"--repo={repo_path}", rev).stdout == ostree_show
    shutil.rmtree(os.path.join(repo_path, "deltas"))
    res = generate(Repo.open(repo_path), None, rev, GenerateOptions(min_fallback_size=1))
    assert res.n_fallback == 1
    ours_show = ostreepy("static-delta", "show", f"--repo={repo_path}", rev).stdout
    strip = lambda s: [x for x in s.splitlines() if not x.startswith(("Timestamp", "PartMeta", "Total Part",  # noqa: E731
                                                                        "Total Size", "Total Uncompressed"))]
    assert strip(ours_show) == strip(ostree_show)
    dst = fresh_repo(tmp_path, "bare-user")
    with pytest.raises(DeltaError, match="contains nonempty http fallback entries"):
        apply_offline(Repo.open(dst), os.path.join(repo_path, fmt.delta_dir(None, rev)))


# ------------------------------------------------------------------ signatures

def _signed_ours(source, tmp_path: Path) -> str:
    ours = str(tmp_path / "signed")
    shutil.copytree(source["repo"], ours, symlinks=True)
    ostreepy("static-delta", "generate", f"--repo={ours}", "--empty", "--to=main",
             f"--sign={SECRET}", "--sign-type=ed25519")
    return ours


def test_signed_superblock_format_and_our_verify(source, tmp_path: Path) -> None:
    ours = _signed_ours(source, tmp_path)
    sbpath = os.path.join(ours, fmt.delta_path(None, source["to"]))
    raw = Path(sbpath).read_bytes()
    assert raw[:8] == b"OSTSGNDT"  # the magic, as a big-endian t
    sb = fmt.parse_superblock(raw)
    assert sb.signed and set(sb.signatures) == {"ostree.sign.ed25519"}
    assert ostreepy("static-delta", "verify", f"--repo={ours}", source["to"], PUBLIC).stdout == "Verification OK\n"
    wrong = base64.b64encode(bytes(32)).decode()
    r = ostreepy("static-delta", "verify", f"--repo={ours}", source["to"], wrong, check=False)
    assert r.returncode == 1 and r.stdout == "Verification fails\n"
    dst = fresh_repo(tmp_path, "bare-user")
    r = ostreepy("static-delta", "apply-offline", f"--repo={dst}", sbpath, wrong, check=False)
    assert r.returncode == 1 and not Repo.open(dst).has_object(source["to"], ObjectType.COMMIT)
    ostreepy("static-delta", "apply-offline", f"--repo={dst}", sbpath, PUBLIC)
    ostree("fsck", f"--repo={dst}")


def test_signed_deltas_with_upstream_ostree(source, tmp_path: Path) -> None:
    up = peer_bin("ostree")
    ours = _signed_ours(source, tmp_path)
    r = ostree_up = __import__("subprocess").run(
        [up, "static-delta", "verify", f"--repo={ours}", source["to"], PUBLIC], capture_output=True, text=True)
    assert r.returncode == 0 and "Verification OK" in r.stdout, r.stderr
    dst = fresh_repo(tmp_path, "bare-user")
    r = __import__("subprocess").run([up, "static-delta", "apply-offline", f"--repo={dst}",
                                      os.path.join(ours, fmt.delta_path(None, source["to"])), PUBLIC],
                                     capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # and theirs, with ours
    theirs = str(tmp_path / "up")
    shutil.copytree(source["repo"], theirs, symlinks=True)
    ostree_up = __import__("subprocess").run(
        [up, "static-delta", "generate", f"--repo={theirs}", "--empty", "--to=main", f"--sign={SECRET}",
         "--sign-type=ed25519"], capture_output=True, text=True)
    assert ostree_up.returncode == 0, ostree_up.stderr
    assert ostreepy("static-delta", "verify", f"--repo={theirs}", source["to"], PUBLIC).stdout == \
        "Verification OK\n"
    dst2 = fresh_repo(tmp_path / "2", "bare-user")
    ostreepy("static-delta", "apply-offline", f"--repo={dst2}",
             os.path.join(theirs, fmt.delta_dir(None, source["to"])), PUBLIC)
    ostree("fsck", f"--repo={dst2}")


def test_cli_delete_and_if_not_exists(source, tmp_path: Path) -> None:
    repo = str(tmp_path / "r")
    shutil.copytree(source["theirs"], repo, symlinks=True)
    r = ostreepy("static-delta", "generate", f"--repo={repo}", "--empty", "--to=main", "-n")
    assert r.stdout == f"Delta {source['to']} already exists.\n"
    ostreepy("static-delta", "delete", f"--repo={repo}", source["to"])
    assert ostree("static-delta", "list", f"--repo={repo}").stdout.split() == [f"{source['from']}-{source['to']}"]
    r = ostreepy("static-delta", "delete", f"--repo={repo}", source["to"], check=False)
    assert r.returncode == 1 and r.stderr == f"error: Can't find delta {source['to']}\n"


def test_big_endian_deltas_both_ways(source, tmp_path: Path) -> None:
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    for r in (a, b):
        shutil.copytree(source["repo"], r, symlinks=True)
    ostree("static-delta", "generate", f"--repo={a}", "--empty", "--to=main", "--swap-endianness")
    ostreepy("static-delta", "generate", f"--repo={b}", "--empty", "--to=main", "--set-endianness=B")
    for r in (a, b):
        theirs = ostree("static-delta", "show", f"--repo={r}", source["to"]).stdout
        assert "Endianness: big\n" in theirs
        assert ostreepy("static-delta", "show", f"--repo={r}", source["to"]).stdout == theirs
    # the part sizes really are stored swapped, and read back right
    sb = fmt.parse_superblock(Path(b, fmt.delta_path(None, source["to"])).read_bytes())
    assert sb.big_endian and sb.parts[0].size == Path(b, fmt.part_path(None, source["to"], 0)).stat().st_size


def test_first_layout_and_progress(source, tmp_path: Path) -> None:
    """Deltas of ostree before 2015 sat in ``deltas/FROM-TO/`` (hex): shown and applied by
    name or path, but, as by libostree (ostree_repo_list_static_delta_names reads two
    directory levels), never listed, so summaries and indexes leave them out."""
    from ostreepy.progress import DeltaPartApplied
    repo = str(tmp_path / "old")
    shutil.copytree(source["theirs"], repo, symlinks=True)
    old = Path(repo, "deltas", source["to"])
    shutil.move(os.path.join(repo, fmt.delta_dir(None, source["to"])), old)
    assert source["to"] not in list_deltas(Repo.open(repo))
    assert ostreepy("static-delta", "list", f"--repo={repo}").stdout == \
        ostree("static-delta", "list", f"--repo={repo}").stdout
    assert show_lines(Repo.open(repo), source["to"])[3] == f"To: {source['to']}"
    dst = fresh_repo(tmp_path, "archive")
    events: list = []
    res = apply_offline(Repo.open(dst), str(old), progress=events.append)
    assert res.to_checksum == source["to"]
    assert events == [DeltaPartApplied(0, 1, res.parts[0].written, False)] and res.parts[0].written > 10
    ostree("fsck", f"--repo={dst}")


def test_inline_and_filename_deltas_cross(source, tmp_path: Path) -> None:
    """ostree's inline delta applies with ostreepy; ostreepy's --filename delta with ostree."""
    theirs = str(tmp_path / "theirs")
    shutil.copytree(source["repo"], theirs, symlinks=True)
    ostree("static-delta", "generate", f"--repo={theirs}", "--inline", "--empty", "--to=main")
    sb = Path(theirs, fmt.delta_path(None, source["to"]))
    assert sorted(p.name for p in sb.parent.iterdir()) == ["superblock"]
    dst = fresh_repo(tmp_path / "a", "archive")
    ostreepy("static-delta", "apply-offline", f"--repo={dst}", str(sb))
    ostree("fsck", f"--repo={dst}")
    out = tmp_path / "out"
    out.mkdir()
    ostreepy("static-delta", "generate", f"--repo={source['repo']}", "--empty", "--to=main",
             f"--filename={out / 'sb'}")
    assert sorted(p.name for p in out.iterdir()) == ["0", "sb"]
    assert not Path(source["repo"], "deltas").exists()
    dst2 = fresh_repo(tmp_path / "b", "bare-user")
    ostree("static-delta", "apply-offline", f"--repo={dst2}", str(out / "sb"))
    ostree("fsck", f"--repo={dst2}")


def test_modified_files_paired_as_ostree_pairs_them(tmp_path: Path) -> None:
    """The similarity pass reads the sizes of only those old files that share a name (or the
    part before the first dot) with a new one: the pairs it makes are still ostree's, among
    many same-named files of nearby sizes, renamed ones, and files no new one is named like."""
    rnd = random.Random(11)
    trees = [tmp_path / "t1", tmp_path / "t2"]
    for i in range(24):
        data = bytes(rnd.getrandbits(8) for _ in range(20_000 + 700 * i))
        old_name, new_name = [("lib.so.1", "lib.so.2"), ("conf", "conf"), ("tool.bin", "tool.bin")][i % 3]
        new = data[:9000] + b"changed" * 20 + data[9000:]
        for root, name, body in ((trees[0], old_name, data), (trees[1], new_name, new)):
            d = root / f"d{i % 5}" / f"e{i}"
            d.mkdir(parents=True)
            (d / name).write_bytes(body)
        (trees[0] / f"d{i % 5}" / f"e{i}" / f"other{i}.dat").write_bytes(data[::-1])  # unchanged
    repo = str(tmp_path / "src")
    ostree("init", f"--repo={repo}", "--mode=archive")
    for v, t in enumerate(trees, 1):
        ostree("commit", f"--repo={repo}", "-b", "main", f"--timestamp=2020-01-0{v}T00:00Z", str(t))
    logs = []
    for tool in (ostree, ostreepy):
        copy = str(tmp_path / tool.__name__)
        shutil.copytree(repo, copy, symlinks=True)
        logs.append(tool("static-delta", "generate", f"--repo={copy}", "--from=main^", "--to=main").stderr)
    decisions = ("modified:", "rollsum for ", "rollsum=", "bsdiff=")
    theirs, ours = (sorted(x for x in log.splitlines() if x.startswith(decisions)) for log in logs)
    assert ours == theirs
    assert "modified: 24" in theirs


@pytest.mark.parametrize("mode", ["bare", "bare-user", "bare-user-only"])
def test_read_source_is_a_regular_object_of_objects_or_staging(tmp_path: Path, mode: str) -> None:
    """A read source is opened in objects/ first (one descriptor for its type, xattr and
    mapping), else found through the staging directory; a symlink object is refused however
    the mode stores it (a real symlink, or bare-user's regular file with the link's mode),
    and a bare-user object without its user.ostreemeta is reported corrupt."""
    from ostreepy.errors import CorruptObjectError
    from ostreepy.remote.deltas.apply import _ReadSource
    from ostreepy.store.objects import FileHeader

    repo = Repo.init(str(tmp_path / "r"), mode)
    reg = repo.write_content_bytes(FileHeader(0, 0, 0o100644, "", ()), b"old data\n")
    link = repo.write_content(FileHeader(0, 0, 0o120777, "target", ()), None, 0)
    src = _ReadSource(repo, reg)
    assert bytes(src.data) == b"old data\n" and src.size == 9
    src.close()
    with pytest.raises(DeltaError, match="not a regular file"):
        _ReadSource(repo, link)
    with repo.transaction():
        staged = repo.write_content_bytes(FileHeader(0, 0, 0o100644, "", ()), b"staged\n")
        assert not os.path.exists(repo.object_dirs(staged[:2])[0] + "/" + staged[2:] + ".file")
        src = _ReadSource(repo, staged)
        assert bytes(src.data) == b"staged\n"
        src.close()
    if mode == "bare-user":
        os.removexattr(repo.object_path(reg, ObjectType.FILE), "user.ostreemeta")
        with pytest.raises(CorruptObjectError, match="user.ostreemeta"):
            _ReadSource(repo, reg)


def test_parts_read_ahead(source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """apply-offline reads part 0 on a thread from the command line on, and part i+1 while
    part i runs (partread): a prefetched part is taken only while the file there is the
    one read, and is judged as one read in place (a part swapped for a damaged copy after
    the read ahead is read again and refused)."""
    from ostreepy.remote.deltas import partread
    # a many-part delta of our own (parts of ~32 KB of objects: "MB" a KB), applied with part reads ahead
    repo = str(tmp_path / "src")
    shutil.copytree(source["repo"], repo, symlinks=True)
    monkeypatch.setattr("ostreepy.remote.deltas.compile.MB", 1024)
    res = generate(Repo.open(repo), source["from"], source["to"], GenerateOptions(min_fallback_size=1 << 20))
    assert res.n_parts >= 2
    delta = os.path.dirname(res.superblock_path)
    taken: list = []
    real_take = partread.take
    monkeypatch.setattr("ostreepy.remote.deltas.apply.take",
                        lambda p, limit: taken.append(real_take(p, limit)) or taken[-1])
    dst = fresh_repo(tmp_path / "a", "bare-user", source["from"], source["repo"])
    partread.prefetch(os.path.join(delta, "0"))
    apply_offline(Repo.open(dst), delta)
    ostree("fsck", f"--repo={dst}")
    assert len(taken) == res.n_parts and all(t is not None for t in taken)
    # swapped after the read ahead: read again, refused for its checksum
    part = Path(delta, "0")
    good = part.read_bytes()
    partread.prefetch(str(part))
    assert real_take(str(part), 1 << 20) is not None  # (that prefetch, taken: the next one is a new read)
    partread.prefetch(str(part))
    part.unlink()
    part.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    dst2 = fresh_repo(tmp_path / "b", "bare-user", source["from"], source["repo"])
    with pytest.raises(DeltaError, match="Checksum mismatch in static delta part"):
        apply_offline(Repo.open(dst2), delta)
    assert not Repo.open(dst2).has_object(source["to"], ObjectType.COMMIT)
