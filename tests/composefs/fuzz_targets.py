"""Fuzz targets for composefs's parsers of untrusted input: dump files (``mkcomposefs --from-file``)
and EROFS images (``composefs-info``, fsck of ``.ostree.cfs``), in the shape of
tests/hardening/fuzz_targets.py's ``TARGETS`` (name, target, strategy, examples in the suite).

Each target takes valid input (small generated trees, written as a dump or an image) with a few
bytes changed, inserted, removed or cut, and asserts the contract of the issue's "bad input"
bullet: :class:`ComposefsError` (an ``OstreeError``) or a result, never another exception, in time
bounded by the input's size; an accepted dump's image must read back, and an accepted image must
list, dump and name its objects."""

from __future__ import annotations

import time
from typing import Any, List, Tuple

from hypothesis import strategies as st

from hardening.fuzz_targets import mutated as _mutated

from ostreepy.composefs import dumpfile
from ostreepy.composefs.dumpfile import dump_lines, parse_dump
from ostreepy.composefs.erofs import image_bytes
from ostreepy.composefs.reader import ls_lines, object_paths, read_image
from ostreepy.composefs.tree import ComposefsError, Node

_NAMES = st.sampled_from(["a", "b", "c", "d", "dir", "x y", "é", "00", "ff", "-", "\\", "n\nl", "." * 3])
_XATTR = st.tuples(st.sampled_from(["user.a", "user.b", "trusted.overlay.x", "security.selinux",
                                    "system.posix_acl_access", "trusted.overlay.opaque"]),
                   st.binary(max_size=8))
_DIGEST = st.binary(min_size=32, max_size=32).map(bytes.hex)


def _esc(b: bytes) -> bytes:
    return b"".join(bytes([c]) if 0x21 <= c < 0x7F and c not in b"\\=" else b"\\x%02x" % c for c in b)


@st.composite
def valid_dumps(draw: Any) -> bytes:
    """A small tree as a dump: directories, inline and external files, symlinks, devices, whiteouts,
    fifos, hard links, xattrs and escapes."""
    lines = [b"/ 4096 40755 2 0 0 0 0.0 - - -"]
    dirs = [b""]
    files: List[bytes] = []
    for _ in range(draw(st.integers(0, 12))):
        parent = draw(st.sampled_from(dirs))
        path = parent + b"/" + draw(_NAMES).encode()
        if any(ln.split(b" ", 1)[0] == _esc(path) for ln in lines):
            continue
        kind = draw(st.sampled_from(["dir", "inline", "external", "symlink", "chr", "whiteout", "fifo", "link"]))
        ep = _esc(path)
        if kind == "dir":
            line = ep + b" 4096 40755 2 0 0 0 0.0 - - -"
            dirs.append(path)
        elif kind == "inline":
            data = draw(st.binary(max_size=40))
            line = ep + b" %d 100644 1 0 0 0 0.0 - %s -" % (len(data), _esc(data) if data else b"-")
            files.append(path)
        elif kind == "external":
            size = draw(st.sampled_from([1, 4096, 4097, 1 << 32, (1 << 44) + 1]))
            line = ep + b" %d 100755 1 %d %d 0 %d.%d ab/cd - %s" % (
                size, draw(st.integers(0, 70000)), draw(st.integers(0, 3)), draw(st.integers(0, 5)),
                draw(st.integers(0, 999)), draw(_DIGEST).encode())
            files.append(path)
        elif kind == "symlink":
            target = draw(st.binary(min_size=1, max_size=20).filter(lambda b: b"\0" not in b))
            line = ep + b" %d 120777 1 0 0 0 0.0 %s - -" % (len(target), _esc(target))
        elif kind in ("chr", "whiteout"):
            line = ep + b" 0 20644 1 0 0 %d 0.0 - - -" % (0 if kind == "whiteout" else 259)
        elif kind == "fifo":
            line = ep + b" 0 10644 1 0 0 0 0.0 - - -"
        else:
            if not files:
                continue
            line = ep + b" 0 @100644 1 0 0 0 0.0 %s - -" % _esc(draw(st.sampled_from(files)))
        for k, v in draw(st.lists(_XATTR, max_size=3, unique_by=lambda kv: kv[0])):
            line += b" " + k.encode() + b"=" + _esc(v)
        lines.append(line)
    return b"\n".join(lines) + b"\n"


def mutated(valid: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Valid bytes changed as the store's fuzz targets change theirs, with the octets and
    insertions that matter to a dump: spaces, newlines, slashes, escapes and '@'."""
    return _mutated(valid, set_values=(0, 1, 0x20, 0x2F, 0x5C, 0x7F, 0x80, 0xFF),
                    inserts=st.binary(min_size=1, max_size=4) | st.sampled_from([b" ", b"\n", b"/", b"@"]))


def _bounded(start: float, size: int) -> None:
    assert time.monotonic() - start < 2 + size / 1e5, "took too long for its size"


def dump_to_image(data: bytes) -> None:
    """A dump: refused with ComposefsError, or an image that reads back and dumps again."""
    start = time.monotonic()
    for strict in (True, False):
        try:
            img, _ = image_bytes(parse_dump(data, strict=strict))
        except ComposefsError:
            continue
        try:
            root = read_image(img)
        except ComposefsError as e:
            # a hard link whose target is a directory: mkcomposefs takes it too (it checks only the
            # link's own mode, tools/mkcomposefs.c) and writes the same bytes; the reader refuses
            # a directory with two names
            assert "directory reached twice" in str(e), e
            continue
        b"".join(dump_lines(root))
    _bounded(start, len(data))


def _valid_image(dump: bytes) -> bytes:
    try:
        return image_bytes(parse_dump(dump))[0]
    except ComposefsError:
        return image_bytes(parse_dump(b"/ 4096 40755 2 0 0 0 0.0 - - -\n"))[0]


_IMAGES = valid_dumps().map(_valid_image)


@st.composite
def mutated_images(draw: Any) -> bytes:
    """A valid image with a few bytes of its metadata (after the composefs header) changed."""
    data = bytearray(draw(_IMAGES))
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(32, len(data) - 1))
        data[pos] = draw(st.integers(0, 255) | st.sampled_from([0, 0xFF]))
    if draw(st.booleans()):
        del data[draw(st.integers(0, len(data))):]
    return bytes(data)


def image_read(data: bytes) -> None:
    """An image: refused with ComposefsError, or a tree that lists, dumps and names its objects."""
    start = time.monotonic()
    try:
        root = read_image(data)
    except ComposefsError:
        return
    list(ls_lines(root))
    b"".join(dump_lines(root))
    object_paths(root)
    _bounded(start, len(data))


@st.composite
def plain_dumps(draw: Any) -> bytes:
    """A dump of the lines most dumps are made of (what ``ostree checkout --composefs`` gives:
    directories, external and inline files, symlinks, no xattrs nor escapes), each with at most
    one field near the edges of what the parser's shortcut for them takes."""
    # below a directory: the shortcut takes no entry of the root
    lines = [b"/ 4096 40755 2 0 0 0 0.0 - - -", b"/d 4096 40755 2 0 0 0 0.0 - - -"]
    dirs = [b"/d"]
    number = st.sampled_from([b"0", b"1", b"7", b"1023", b"1024", b"99999", b"9" * 18, b"9" * 19, b"1" * 25, b"",
                              b"+1", b"-1", b"0x1"])
    for k in range(draw(st.integers(0, 16))):
        odd = draw(st.sampled_from(["name", "size", "ids", "mtime", "payload", "digest"])) \
            if draw(st.integers(0, 5)) == 0 else ""
        name = b"f%d" % k
        if odd == "name":
            name = draw(st.sampled_from([b"f0", b".", b"..", b"", b"n" * 255, b"n" * 256, b"a/", b"/a"]))
        path = draw(st.sampled_from(dirs)) + b"/" + name
        kind = draw(st.sampled_from(["dir", "inline", "external", "symlink"]))
        mtime = b"0.0"
        if odd == "mtime":
            mtime = draw(st.sampled_from([b"5.7", b"%s.%s" % (draw(number), draw(number)), b"1", b"1.", b".1"]))
        ids = b"1 0 0 0"
        if odd == "ids":
            ids = b" ".join(draw(st.sampled_from([b"0", b"1", b"2", draw(number)])) for _ in range(4))
        odd_number = draw(number)
        if kind == "dir":
            lines.append(path + b" 4096 40755 %s %s - - -" % (ids, mtime))
            dirs.append(path)
        elif kind == "inline":
            data = draw(st.binary(min_size=1, max_size=8).filter(lambda b: not set(b) & set(b" \n\\\0-")))
            size = odd_number if odd == "size" else b"%d" % len(data)
            lines.append(path + b" %s 100644 %s %s - %s -" % (size, ids, mtime, data))
        elif kind == "external":
            digest = draw(_DIGEST).encode()
            if odd == "digest":
                digest = draw(st.sampled_from([b"-", b"", b"ab", b"zz" * 32, b"a" * 65, b"A" * 64]))
            size = odd_number if odd == "size" else b"4097"
            payload = b"x" * 4096 if odd == "payload" else b"ab/cd"
            lines.append(path + b" %s 100755 %s %s %s - %s" % (size, ids, mtime, payload, digest))
        else:
            target = draw(st.sampled_from([b"-", b"x" * 4096])) if odd == "payload" else b"t"
            size = odd_number if odd == "size" else b"%d" % len(target)
            lines.append(path + b" %s 120777 %s %s %s - -" % (size, ids, mtime, target))
    return b"\n".join(lines) + b"\n"


def _line_by_line(data: bytes, strict: bool) -> Node:
    """parse_dump without its shortcut for plain lines: each line through _DumpBuilder.line."""
    b = dumpfile._DumpBuilder(strict)
    for batch, _ in dumpfile._split_lines([data], strict):
        for raw in batch:
            b.line(raw)
    return b.finish()


def shortcut_results(data: bytes) -> List[bytes]:
    """The parser's shortcut for plain lines: the same tree (its image) or the same refusal as
    without it; the images or refusals, strict then not."""
    out = []
    for strict in (True, False):
        try:
            want = image_bytes(_line_by_line(data, strict))[0]
        except ComposefsError as e:
            want = str(e).encode()
        try:
            got = image_bytes(parse_dump(data, strict=strict))[0]
        except ComposefsError as e:
            got = str(e).encode()
        assert got == want, strict
        out.append(got)
    return out


def dump_shortcut(data: bytes) -> None:
    shortcut_results(data)


TARGETS: List[Tuple[str, Any, Any, int]] = [
    ("composefs_dump_shortcut", dump_shortcut, mutated(plain_dumps()) | plain_dumps() | valid_dumps(), 200),
    ("composefs_dump", dump_to_image, mutated(valid_dumps()) | valid_dumps() | st.binary(max_size=200), 300),
    ("composefs_image", image_read, mutated_images(), 300),
]
