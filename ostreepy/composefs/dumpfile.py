"""The composefs dump-file format (``composefs-dump``, ``mkcomposefs --from-file``).

One line per file: ``PATH SIZE MODE NLINK UID GID RDEV MTIME PAYLOAD CONTENT
DIGEST [XATTR=VALUE ...]``, fields separated by one space, ``-`` for an absent
optional field, ``\\\\ \\n \\r \\t \\xHH`` escapes, a ``@`` before MODE making
the line a hard link whose PAYLOAD is the target path. The parser reads a line
at a time (memory bounded by the longest line, itself capped) and is as strict
as libcomposefs's ``CFS_PARSE_STRICT``: every line ends with a newline,
symlink sizes match their targets, only devices carry a device number. Where
mkcomposefs silently takes a broken integer as 0 (a bad GID or RDEV when the
UID is non-zero), this parser refuses it: such lines are errors here. Names
``.``/``..``, empty names and paths whose parents are missing are refused
before anything is built. Pure code over bytes.
"""

from __future__ import annotations

import binascii
import stat

from .._process import gc_paused
from .tree import (INLINE_CONTENT_MAX, MAX_NAME_LENGTH, PATH_MAX, S_IFMT, ComposefsError, Leaf, Node, cstr,
                   follow_links, validate_mode)

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    import re
    from typing import BinaryIO, Callable, Iterable, Iterator

__all__ = ["parse_dump", "parse_dump_lines", "dump_lines", "escape"]

_MAX_XATTR_LINE = 0xFFFF
_MAX_LINE = 1 << 20  # a line longer than this cannot be valid (fields are capped far below)
_HEX = b"0123456789abcdefABCDEF"
_MODES: dict[bytes, int] = {}  # a tree has a handful of distinct mode fields
# link counts, ids, device numbers and small sizes are mostly these: a look-up, not a parse
_ONE_LINK_ROOT = [b"1", b"0", b"0", b"0"]   # nlink, uid, gid, rdev of most lines
# (a table of 256: one of 1024 took ~0.2 ms to make, of every create's start-up)
_SMALL_INTS = {b"%d" % i: i for i in range(256)}
# mode fields of the lines :meth:`_DumpBuilder.lines` takes (regular files, directories,
# symlinks, in plain octal digits) -> the mode
_FAST_MODES: dict[bytes, int] = {}
# the six fields between a line's size and payload ("MODE NLINK 0 0 0 0.0": owned by root, no
# device, no time), which a dump has a handful of, of lines :meth:`_DumpBuilder.lines` takes -> the
# mode, link count and whether it is a regular file's of one link
_MIDDLES: dict[bytes, tuple[int, int, bool]] = {}
_S_IFREG, _S_IFDIR, _S_IFLNK = stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK
_FTYPES = frozenset({stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK, stat.S_IFBLK, stat.S_IFCHR, stat.S_IFSOCK,
                     stat.S_IFIFO})


def _unescape(field: bytes) -> bytes:
    if b"\\" not in field:
        return field
    out = bytearray()
    i = 0
    n = len(field)
    while i < n:
        c = field[i]
        i += 1
        if c != 0x5C:
            out.append(c)
            continue
        if i >= n:
            raise ComposefsError("No character after escape")
        c = field[i]
        i += 1
        if c == 0x5C:
            out.append(0x5C)
        elif c == 0x6E:
            out.append(10)
        elif c == 0x72:
            out.append(13)
        elif c == 0x74:
            out.append(9)
        elif c == 0x78:
            if i + 2 > n:
                raise ComposefsError("No hex characters after hex escape")
            h = field[i:i + 2]
            i += 2
            if h[0] not in _HEX or h[1] not in _HEX:
                raise ComposefsError("Invalid hex characters after hex escape")
            out.append(int(h, 16))
        else:
            raise ComposefsError(f"Unsupported escape type {chr(c)}")
    return bytes(out)


def _same(field: bytes) -> bytes:
    return field


def _optional(field: bytes, unescape: Callable[[bytes], bytes] = _unescape) -> bytes | None:
    return None if field == b"-" else unescape(field)


_SPACE = b" \t\n\v\f\r"
_BAD_NAMES = frozenset((b"", b".", b".."))   # names no line may give


# strtoull's forms beyond plain digits, compiled when first met (most dumps have none: start-up)
_INT_RE: dict[int, re.Pattern[bytes]] = {}
_INT_PATTERNS = {10: rb"[ \t\n\v\f\r]*([+-]?)([0-9]+)", 8: rb"[ \t\n\v\f\r]*([+-]?)([0-7]+)"}


def _int(field: bytes, base: int) -> int:
    """strtoull's reading of ``field``, refusing trailing junk and empty input."""
    if field.isdigit() and (base == 10 or b"8" not in field and b"9" not in field):
        # the common case, plain digits, without the regular expression
        v = int(field, base)
        return v if v < 1 << 64 else (1 << 64) - 1
    pattern = _INT_RE.get(base)
    if pattern is None:
        import re
        pattern = _INT_RE[base] = re.compile(_INT_PATTERNS[base])
    m = pattern.fullmatch(field)
    if m is None:
        raise ComposefsError(f"Invalid integer {field.decode('latin-1')}")
    v = int(m.group(2), base)
    if v >= 1 << 64:
        return (1 << 64) - 1
    return (-v) & ((1 << 64) - 1) if m.group(1) == b"-" else v


class _DumpBuilder:
    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.root: Node | None = None
        self.fixups: list[tuple[Node, bytes | None]] = []
        self.parents: dict[bytes, Node] = {}
        # the parent of the last plain path, which the next line most often shares
        self.last_prefix = b""
        self.last_i = -2   # matches no rfind() result
        self.last_parent: Node | None = None

    def _parent_of(self, path: bytes) -> tuple[Node, bytes]:
        assert self.root is not None
        # a dump lists a directory's entries together: remember the parents of plain
        # "/a/b/name" paths instead of walking from the root for each line
        i = path.rfind(b"/")
        if i == self.last_i and path.startswith(self.last_prefix):
            return self.last_parent, path[i + 1:]  # type: ignore[return-value]
        plain = i > 0 and path[:1] == b"/" and b"//" not in path
        if plain:
            prefix = path[:i]
            node = self.parents.get(prefix)  # type: ignore[assignment]
            if node is None:
                node, _ = self._walk_parent(path)
                self.parents[prefix] = node
            self.last_prefix, self.last_i, self.last_parent = prefix, i, node
            return node, path[i + 1:]
        return self._walk_parent(path)

    def _walk_parent(self, path: bytes) -> tuple[Node, bytes]:
        assert self.root is not None
        node = self.root
        parts = path.lstrip(b"/")
        while True:
            i = parts.find(b"/")
            if i < 0:
                return node, parts
            name = parts[:i]
            child = node.children.get(name)
            if child is None:
                raise ComposefsError(f"Parent directory missing for {path.decode('utf-8', 'replace')}")
            node = child
            parts = parts[i + 1:].lstrip(b"/")

    def lookup(self, path: bytes) -> Node | None:
        """The node at ``path``, a hard link's target: a Node (a :class:`Leaf` there, which has
        no link count, parent or name of its own to change or name it by, is made one)."""
        node = self.root
        parent = node
        name = b""
        for name in path.split(b"/"):
            if not name:
                continue
            assert node is not None
            parent = node
            node = node.children.get(name)
            if node is None:
                return None
        if type(node) is Leaf:
            leaf = node
            node = parent.children[name] = Node(leaf.mode)   # type: ignore[union-attr]
            node.uid, node.gid, node.size, node.payload, node.digest = (leaf.uid, leaf.gid, leaf.size, leaf.payload,
                                                                        leaf.digest)
            node.parent, node.name = parent, name
        return node

    def add(self, path: bytes, node: Node) -> None:
        if path == b"/":
            if not node.is_dir():
                raise ComposefsError("Root must be a directory")
            if self.root is not None:
                raise ComposefsError("Can't have multiple roots")
            self.root = node
            return
        if self.root is None:
            raise ComposefsError("Root node not present")
        parent, name = self._parent_of(path)
        if not parent.is_dir():
            raise ComposefsError(f"Parent must be a directory for {path.decode('utf-8', 'replace')}")
        if name in (b".", b".."):
            raise ComposefsError(f"Invalid . or .. in path: {path.decode('utf-8', 'replace')}")
        children = parent.children
        if type(children) is not dict:
            parent.add_child(name, node)
            return
        # Node.add_child, inlined: the name has no NUL (the path was cut at the first)
        if not name:
            raise ComposefsError("Invalid empty name")
        if len(name) > MAX_NAME_LENGTH:
            raise ComposefsError(f"Name too long: {name!r}")
        if name in children:
            raise ComposefsError(f"Path {name.decode('utf-8', 'replace')} already exists")
        children[name] = node
        node.parent = parent
        node.name = name

    def lines(self, lines: list[bytes], special: bool = True) -> None:
        """:meth:`line` of each line. The lines most of a dump is made of (a regular file, a
        directory or a symlink, no xattrs, no escapes, plain numbers, in a directory met
        before) are taken here without it, with everything it would refuse checked first:
        nothing changes before a line goes to it instead, and it refuses as it would.
        ``special``: a line may hold a backslash or a NUL (then each line is looked at for them)."""
        modes = _FAST_MODES
        middles = _MIDDLES
        nlink: int | None
        uid: int | None
        gid: int | None
        sec: int | None
        nsec: int | None
        small = _SMALL_INTS
        parents = self.parents
        last_i, last_prefix, last_parent = self.last_i, self.last_prefix, self.last_parent
        unhexlify = binascii.unhexlify
        strict = self.strict
        for raw in lines:
            if not (special and (b"\\" in raw or b"\0" in raw)):
                # cut as path, size, the six fields between (the "middle") and the last three: a line
                # of any other number of fields has a middle of other than six, never in ``middles``
                try:
                    head, payload, content, digest = raw.rsplit(b" ", 3)
                    path, size_f, middle = head.split(b" ", 2)
                except ValueError:   # (fewer than six fields: to line(), which refuses it)
                    path = size_f = middle = payload = content = digest = b""
                # (a file's size is mostly past the small ints': parsed, not looked up)
                size = int(size_f) if size_f.isdigit() and len(size_f) < 19 else None
                # the parent (the last line's, or looked up) and the digest, of every line
                i = path.rfind(b"/")
                if i == last_i and path.startswith(last_prefix):
                    parent = last_parent
                elif i > 0 and path[:1] == b"/" and b"//" not in path:
                    parent = parents.get(path[:i])
                else:
                    parent = None
                name = path[i + 1:]
                d = None
                if digest and digest != b"-":
                    try:
                        d = unhexlify(digest) if len(digest) == 64 else None
                    except binascii.Error:
                        pass
                    if d is None:
                        parent = None   # line() refuses it
                kind = middles.get(middle)
                if kind is not None and kind[2] and content == b"-":
                    # a regular file of one link owned by root, no time, no inline content (most
                    # lines): the path below for it alone, without what it has not
                    if not (size is None or parent is None or name in _BAD_NAMES or len(name) > MAX_NAME_LENGTH
                            or name in parent.children or len(payload) >= PATH_MAX):
                        if parent is not last_parent:
                            last_i, last_prefix, last_parent = i, path[:i], parent
                        parent.children[name] = Leaf(kind[0], 0, 0, size, None if payload == b"-" else payload, d)  # type: ignore[assignment]
                        continue
                    mode = 0   # to line()
                elif kind is not None:
                    # owned by root, no device, no mtime (most lines): the mode and link count the
                    # middle was found to hold when first met
                    mode, nlink, _ = kind
                    uid = gid = sec = nsec = 0
                    plain = nlink == 1
                else:
                    plain = False
                    m = middle.split(b" ")
                    if len(m) != 6:
                        mode = 0   # to line()
                    else:
                        mode_f, nlink_f, uid_f, gid_f, rdev_f, mtime_f = m
                        mode = modes.get(mode_f, 0)
                        nlink = small.get(nlink_f)
                        if nlink is None and nlink_f.isdigit() and len(nlink_f) < 10:
                            nlink = int(nlink_f)
                        uid = small.get(uid_f)
                        if uid is None and uid_f.isdigit() and len(uid_f) < 10:
                            uid = int(uid_f)
                        gid = small.get(gid_f)
                        if gid is None and gid_f.isdigit() and len(gid_f) < 10:
                            gid = int(gid_f)
                        if mtime_f == b"0.0":
                            sec = nsec = 0
                        else:
                            sec_f, _, nsec_f = mtime_f.partition(b".")
                            sec = int(sec_f) if sec_f.isdigit() and len(sec_f) < 19 else None
                            nsec = int(nsec_f) if nsec_f.isdigit() and len(nsec_f) < 10 else None
                        if (nlink is None or uid is None or gid is None or rdev_f != b"0" or sec is None
                                or nsec is None):
                            mode = 0   # to line()
                        elif not uid and not gid and not sec and not nsec:
                            plain = nlink == 1
                            if mode and len(middles) < 1024:
                                middles[middle] = (mode, nlink, nlink == 1 and mode & S_IFMT == _S_IFREG)
                ftype = mode & S_IFMT
                # (a parent found is a directory: only directories are in ``parents`` and last_parent
                # once a line is taken; line() refuses a line below anything else, ending the parse)
                if not (mode == 0 or size is None or parent is None or name in _BAD_NAMES or len(name) > MAX_NAME_LENGTH
                        or name in parent.children or len(payload) >= PATH_MAX
                        or (content != b"-" and (ftype != _S_IFREG or len(content) != size
                                                 or len(content) > INLINE_CONTENT_MAX))
                        or (ftype == _S_IFLNK
                            and (not payload or payload == b"-" or (strict and size != len(payload))))):
                    if parent is not last_parent:
                        last_i, last_prefix, last_parent = i, path[:i], parent
                    if plain and ftype != _S_IFDIR and content == b"-":
                        # a file or symlink of nothing but a size, payload and digest (most lines): a
                        # Leaf, which the writer takes as it takes a Node (half its size, one call)
                        if ftype == _S_IFLNK:
                            parent.children[name] = Leaf(mode, 0, 0, len(payload), payload, d)  # type: ignore[assignment]
                        else:
                            parent.children[name] = Leaf(mode, 0, 0, size, None if payload == b"-" else payload, d)  # type: ignore[assignment]
                        continue
                    node = Node(mode)
                    parent.children[name] = node
                    node.parent = parent
                    node.name = name
                    if ftype == _S_IFLNK:
                        node.payload = payload
                        node.size = len(payload)
                    else:
                        node.size = size
                        if payload != b"-":
                            node.payload = payload
                        if ftype == _S_IFDIR:
                            if path[:1] == b"/" and b"//" not in path:
                                # what _parent_of would find walking to it from the root
                                parents[path] = node
                        elif content != b"-" and content:
                            node.content = content
                    if d is not None:
                        node.digest = d
                    if not plain:   # (none of them None: mode was 0 then)
                        if nlink != 1:
                            node.nlink = nlink  # type: ignore[assignment]
                        if uid:
                            node.uid = uid
                        if gid:
                            node.gid = gid
                        if sec:
                            node.mtime_sec = sec
                        if nsec:
                            node.mtime_nsec = nsec
                    continue
            self.last_i, self.last_prefix, self.last_parent = last_i, last_prefix, last_parent
            self.line(raw)
            last_i, last_prefix, last_parent = self.last_i, self.last_prefix, self.last_parent
        self.last_i, self.last_prefix, self.last_parent = last_i, last_prefix, last_parent

    def line(self, line: bytes) -> None:
        if b"\0" in line:
            raise ComposefsError("Invalid embedded NUL character at position %d" % line.index(b"\0"))
        fields = line.split(b" ", 11)
        rest = fields[11] if len(fields) == 12 else b""
        if len(fields) < 11:
            fields += [b""] * (11 - len(fields))
        # most lines have no escapes at all: then every field is taken as it is
        unesc = _unescape if b"\\" in line else _same
        path = fields[0] if unesc is _same else cstr(_unescape(fields[0]))
        if not path:
            raise ComposefsError("Invalid empty path")
        mode_f = fields[2]
        is_link = mode_f[:1] == b"@"
        if is_link:
            mode_f = mode_f[1:]
        mode = _MODES.get(mode_f)
        if mode is None:
            mode = _int(mode_f, 8) & 0xFFFFFFFF
            if len(_MODES) < 256:
                _MODES[mode_f] = mode
        if not is_link and mode_f not in _FAST_MODES and mode & S_IFMT in (_S_IFREG, _S_IFDIR, _S_IFLNK) \
                and len(_FAST_MODES) < 256:
            _FAST_MODES[mode_f] = mode
        if mode & S_IFMT not in _FTYPES:
            validate_mode(mode)
        node = Node(mode)
        i = path.rfind(b"/")
        if i == self.last_i and path.startswith(self.last_prefix):
            # add() of a path in the directory of the line before (most lines), without its two calls;
            # anything it would refuse goes through it, for its checks in its order
            parent = self.last_parent
            assert parent is not None
            name = path[i + 1:]
            children = parent.children
            if (parent.mode & S_IFMT != stat.S_IFDIR or type(children) is not dict or not name
                    or len(name) > MAX_NAME_LENGTH or name in children or name == b"." or name == b".."):
                self.add(path, node)
            else:
                children[name] = node
                node.parent = parent
                node.name = name
        else:
            self.add(path, node)
        if is_link:
            if mode & S_IFMT == stat.S_IFDIR:
                raise ComposefsError("Directories can't be hardlinked")
            target = _optional(fields[8], unesc)
            self.fixups.append((node, None if target is None else cstr(target)))
            return
        small = _SMALL_INTS
        f = fields[1]
        size = small.get(f)
        if size is None:
            size = _int(f, 10)
        nlink: int | None
        uid: int | None
        gid: int | None
        rdev: int | None
        if fields[3:7] == _ONE_LINK_ROOT:
            # most lines: nlink 1, uid and gid 0, no device; the node's defaults
            nlink = 1
            uid = gid = rdev = 0
        else:
            f = fields[3]
            nlink = small.get(f)
            if nlink is None:
                nlink = _int(f, 10)
            f = fields[4]
            uid = small.get(f)
            if uid is None:
                uid = _int(f, 10)
            f = fields[5]
            gid = small.get(f)
            if gid is None:
                gid = _int(f, 10)
            f = fields[6]
            rdev = small.get(f)
            if rdev is None:
                rdev = _int(f, 10)
        f = fields[7]
        if f == b"0.0":
            sec = nsec = 0
        else:
            sec_f, dot, nsec_f = f.partition(b".")
            sec = _int(sec_f, 10)
            nsec = _int(nsec_f if dot else b"", 10)
        f = fields[8]
        payload = None if f == b"-" else unesc(f)
        f = fields[9]
        content = None if f == b"-" else unesc(f)
        if content is not None and len(content) != size:
            raise ComposefsError(f"Invalid content size {len(content)}, must match size {size}")
        f = fields[10]
        digest = None if f == b"-" else unesc(f)
        ftype = mode & S_IFMT
        if ftype != stat.S_IFLNK:
            node.size = size  # a new node: nothing to drop
        if nlink != 1:
            node.nlink = nlink & 0xFFFFFFFF
        if uid:
            node.uid = uid & 0xFFFFFFFF
        if gid:
            node.gid = gid & 0xFFFFFFFF
        if ftype == stat.S_IFCHR or ftype == stat.S_IFBLK:
            node.rdev = rdev & 0xFFFFFFFF
        elif rdev != 0 and self.strict:
            raise ComposefsError("Non-zero devnum on non-device")
        if sec:
            sec &= (1 << 64) - 1
            node.mtime_sec = sec - (1 << 64) if sec >= 1 << 63 else sec
        if nsec:
            node.mtime_nsec = nsec & 0xFFFFFFFF
        if ftype == stat.S_IFLNK:
            node.set_symlink_payload(payload)
            if self.strict:
                assert node.payload is not None
                if size != len(node.payload):
                    raise ComposefsError(f"Invalid symlink size {len(node.payload)}, must match size {size}")
                if content:
                    raise ComposefsError("Symlink cannot have content")
        else:
            if payload is not None:
                if unesc is _same:   # no escapes, so no NUL to cut at: Node.set_payload's check only
                    if len(payload) >= PATH_MAX:
                        raise ComposefsError("payload too long")
                    node.payload = payload
                else:
                    node.set_payload(payload)
            if content is not None:
                node.set_content(content)
        if digest:
            # An empty field means no digest (mkcomposefs would take uninitialised bytes).
            if unesc is not _same:
                digest = cstr(digest)
            try:
                if len(digest) != 64:
                    raise binascii.Error
                node.digest = binascii.unhexlify(digest)
            except binascii.Error:
                raise ComposefsError(f"Invalid digest {digest.decode('latin-1')}") from None
        if rest:
            if len(rest) > _MAX_XATTR_LINE:
                raise ComposefsError("Too many xattrs")
            for item in rest.split(b" "):
                key, eq, value = item.partition(b"=")
                if not eq:
                    raise ComposefsError("Missing = in xattr")
                node.set_xattr(unesc(key), unesc(value))

    def finish(self) -> Node:
        if self.root is None:
            raise ComposefsError("No files in dump file")
        # mkcomposefs resolves links last line first; the order decides which loops are caught early.
        for node, target_path in reversed(self.fixups):
            if target_path is None:
                raise ComposefsError("No target path for the hardlink")
            target = self.lookup(target_path)
            if target is None:
                raise ComposefsError(f"No target at {target_path.decode('utf-8', 'replace')} for hardlink")
            if target is node:
                raise ComposefsError(f"Self-referential hardlink {target_path.decode('utf-8', 'replace')}")
            old = target.nlink
            node.make_hardlink(target)
            target.nlink = old
        return self.root


def parse_dump_lines(lines: Iterable[bytes], strict: bool = True) -> Node:
    """Build a tree from dump-file lines (each with its trailing ``\\n`` but the possibly unterminated last)."""
    return _parse((([raw], True) for raw in _strip_newlines(lines, strict)), strict)


def _parse(batches: Iterable[tuple[list[bytes], bool]], strict: bool) -> Node:
    """The tree of lines without their newlines, a list of them at a time with whether any may
    hold a backslash or a NUL (each line checked for length by the caller)."""
    b = _DumpBuilder(strict)
    with gc_paused():
        lines = b.lines
        for batch, special in batches:
            lines(batch, special)
        return b.finish()


def _strip_newlines(lines: Iterable[bytes], strict: bool) -> Iterator[bytes]:
    for raw in lines:
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        elif strict:
            raise ComposefsError("Missing trailing newline")
        if len(raw) > _MAX_LINE:
            raise ComposefsError("Line too long")
        yield raw


_CHUNK = 1 << 17


def _split_lines(chunks: Iterable[bytes], strict: bool) -> Iterator[tuple[list[bytes], bool]]:
    """The lines of a dump read a piece at a time, without their newlines, a list per piece
    with whether the piece holds a backslash or a NUL (looked for in the piece, not in a copy
    of its lines joined: a MiB more to touch): memory bounded by the piece and the longest
    line, itself capped."""
    rest = b""
    for chunk in chunks:
        if rest:
            chunk = rest + chunk
        lines = chunk.split(b"\n")
        rest = lines.pop()
        if len(rest) > _MAX_LINE or (lines and max(map(len, lines)) > _MAX_LINE):
            raise ComposefsError("Line too long")
        yield lines, b"\\" in chunk or b"\0" in chunk
    if rest:
        if strict:
            raise ComposefsError("Missing trailing newline")
        yield [rest], True


def _read_chunks(stream: BinaryIO) -> Iterator[bytes]:
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            return
        yield chunk


def parse_dump(data: bytes | BinaryIO, strict: bool = True) -> Node:
    """Parse a whole dump file (bytes or a binary stream)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = bytes(data)
        return _parse(_split_lines((data[i:i + _CHUNK] for i in range(0, len(data), _CHUNK)), strict), strict)
    return _parse(_split_lines(_read_chunks(data), strict), strict)


# -- writing ------------------------------------------------------------------

_GRAPH = bytes(range(0x21, 0x7F))
_PRINT = bytes(range(0x20, 0x7F))


def escape(value: bytes, *, noescape_space: bool = False, escape_equal: bool = False,
           escape_lone_dash: bool = False) -> bytes:
    """composefs-info's escaping of one field."""
    if escape_lone_dash and value == b"-":
        return b"\\x2d"
    ok = _PRINT if noescape_space else _GRAPH
    out = bytearray()
    for c in value:
        if c == 0x5C:
            out += b"\\\\"
        elif c == 10:
            out += b"\\n"
        elif c == 13:
            out += b"\\r"
        elif c == 9:
            out += b"\\t"
        elif c == 0x3D and escape_equal:
            out += b"\\x3d"
        elif c in ok:
            out.append(c)
        else:
            out += b"\\x%02x" % c
    return bytes(out)


def _path_of(node: Node) -> bytes:
    parts = []
    n: Node | None = node
    while n is not None and n.name is not None:
        parts.append(n.name)
        n = n.parent
    return b"/" + b"/".join(reversed(parts))


def dump_lines(root: Node) -> Iterator[bytes]:
    """The dump file of a tree, line by line, as ``composefs-info dump`` prints it."""
    stack: list[tuple[bytes, Node]] = [(b"", root)]
    while stack:
        path, node = stack.pop()
        target = node.link_to
        link_path = _path_of(target) if target is not None else None
        t = target if target is not None else node
        fields = [
            escape(path or b"/"),
            b"%d" % t.size,
            (b"@" if link_path is not None else b"") + b"%o" % t.mode,
            b"%d %d %d %d" % (t.nlink, t.uid, t.gid, t.rdev),
            b"%d.%d" % (t.mtime_sec, t.mtime_nsec),
            b"-" if (link_path or t.payload) is None else escape(link_path or t.payload or b"",
                                                                 escape_lone_dash=True),
            b"-" if t.content is None else escape(t.content, escape_lone_dash=True),
            t.digest.hex().encode() if t.digest is not None else b"-",
        ]
        line = b" ".join(fields)
        for k, v in t.xattrs:
            line += b" " + escape(k, escape_equal=True) + b"=" + escape(v, escape_equal=True)
        yield line + b"\n"
        for name, child in reversed(node.sorted_children()):
            if name in (b".", b".."):
                continue
            stack.append((path + b"/" + name, child))


__all__ += ["follow_links"]
