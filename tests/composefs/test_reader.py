"""Reading composefs images back (composefs-info ls/dump/objects) and refusing hostile ones."""

from __future__ import annotations

import functools
import os
import random
import subprocess
import time

import pytest

from ostreepy.cli.main import main as cli_main
from ostreepy.composefs.dumpfile import dump_lines, parse_dump
from ostreepy.composefs.erofs import image_bytes
from ostreepy.composefs.reader import ls_lines, object_paths, read_image
from ostreepy.composefs.tree import ComposefsError

from upstream_peer import peer_bin
from .test_image import load


@functools.lru_cache(maxsize=None)
def _image(name: str, max_version: int = 1) -> bytes:
    return image_bytes(parse_dump(load(name), strict=False), max_version=max_version)[0]


def test_read_back_is_the_dump() -> None:
    """What we read from an image dumps as the tree it was built from (mtimes aside: compact inodes keep one)."""
    src = parse_dump(load("special.dump"))
    back = read_image(_image("special.dump", max_version=0))
    assert b"".join(dump_lines(back)) == b"".join(dump_lines(src))


@pytest.mark.parametrize("name", ["special.dump", "longlink.dump", "honggfuzz-bigfile-with-acl.dump",
                                  "config.dump"])
def test_same_as_composefs_info(tmp_path, name: str) -> None:
    info = peer_bin("composefs-info")
    img = tmp_path / "img"
    img.write_bytes(_image(name))
    root = read_image(img.read_bytes())
    for action, ours in (("dump", b"".join(dump_lines(root))), ("ls", b"".join(ls_lines(root))),
                         ("objects", b"".join(p + b"\n" for p in object_paths(root)))):
        ref = subprocess.run([info, action, str(img)], check=True, capture_output=True).stdout
        assert ours == ref, action


def test_objects_are_the_backing_files() -> None:
    src = parse_dump(load("config.dump"))
    expected = sorted({n.payload for _, n in src.walk()
                       if n.ftype == 0o100000 and n.payload and n.content is None and n.size})
    assert object_paths(read_image(_image("config.dump"))) == expected and expected


def test_hostile_images_bounded() -> None:
    """Random corruption of metadata: an error or a tree, never a crash, quickly."""
    img = _image("special.dump")
    rng = random.Random(7)
    start = time.monotonic()
    for _ in range(400):
        b = bytearray(img)
        for _ in range(rng.randint(1, 6)):
            b[rng.randrange(1024, 8192)] = rng.randrange(256)
        try:
            read_image(bytes(b))
        except ComposefsError:
            pass
    assert time.monotonic() - start < 10


def test_directory_loop_and_truncation_refused() -> None:
    img = bytearray(_image("special.dump"))
    with pytest.raises(ComposefsError):
        read_image(bytes(img[:2048]))
    with pytest.raises(ComposefsError):
        read_image(b"\0" * 8192)
    # point every dirent of a subdirectory's inline block at the root: a loop
    import struct
    from ostreepy.composefs.reader import _Reader
    img = bytearray(image_bytes(parse_dump(b"/ 0 40755 2 0 0 0 0.0 - - -\n/d 0 40755 2 0 0 0 0.0 - - -\n"
                                           b"/d/f 0 100644 1 0 0 0 0.0 - - -\n"))[0])
    r = _Reader(bytes(img))
    root_nid = r.root_nid
    d_nid = dict(r.inode(root_nid)[1])[b"d"]
    off = d_nid * 32
    fmt, icount = struct.unpack_from("<HH", img, off)
    isize = 32 if fmt & 1 == 0 else 64
    xsize = 0 if icount == 0 else 12 + 4 * (icount - 1)
    d = off + isize + xsize
    n = struct.unpack_from("<H", img, d + 8)[0] // 12
    for i in range(n):
        struct.pack_into("<Q", img, d + 12 * i, root_nid)
    with pytest.raises(ComposefsError):
        read_image(bytes(img))


def test_cli_create_from_directory_like_mkcomposefs(tmp_path, capsys) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a").write_bytes(b"small\n")
    (src / "sub" / "big").write_bytes(bytes(range(256)) * 40)
    os.symlink("a", src / "l")
    for p in (src, src / "sub"):
        os.chmod(p, 0o755)
    assert cli_main(["composefs", "create", "--use-epoch", "--print-digest", f"--digest-store={tmp_path / 'st'}",
                     str(src), str(tmp_path / "ours.img")]) == 0
    digest = capsys.readouterr().out.strip()
    (store_dir,) = os.listdir(tmp_path / "st")
    assert cli_main(["composefs", "info", "objects", str(tmp_path / "ours.img")]) == 0
    assert capsys.readouterr().out.startswith(store_dir + "/")
    mk = peer_bin("mkcomposefs")
    out = subprocess.run([mk, "--use-epoch", "--print-digest", str(src), str(tmp_path / "peer.img")],
                         check=True, capture_output=True, text=True).stdout.strip()
    assert out == digest
    assert (tmp_path / "ours.img").read_bytes() == (tmp_path / "peer.img").read_bytes()
