"""The composefs EROFS image, byte for byte as libcomposefs's writer
(``lcfs-writer-erofs.c``, composefs 1.0.8) lays it out, format versions 0 and 1.

Layout: a 32-byte composefs header, the EROFS superblock at 1024, then every
inode in breadth-first order (children sorted by name) each on a 32-byte slot
with its xattrs and inline tail, then the shared xattrs (values used by more
than one inode, in libcomposefs's canonical order), then whole 4 KiB blocks:
directory blocks, spilled symlink targets and the few inline files that do not
fit a tail. Regular files without inline content are chunk-based with null
chunk addresses and carry ``trusted.overlay.metacopy``/``redirect`` xattrs
naming their backing object; overlay xattrs already present are escaped and
0/0 character devices become overlay whiteouts. Every placement decision
(compact or extended inode, tail packing, padding so a tail never crosses a
block) follows the C code step by step, including its quirks, because the
point is identical bytes and so identical fs-verity digests.

:func:`write_image` streams the image to a writer while hashing it, so the
image digest (``mkcomposefs --print-digest``) comes for free. Pure code: a
:class:`~ostreepy.composefs.tree.Node` tree in, bytes out; the input tree is
not modified.
"""

from __future__ import annotations

import stat
import struct
from functools import lru_cache
from typing import Callable

from .fsverity import FsVerityHasher
from .tree import S_IFMT, ComposefsError, Node, chunking, follow_links, gc_paused, validate_mode

__all__ = ["write_image", "image_bytes", "LCFS_EROFS_MAGIC", "EROFS_SUPER_MAGIC", "BLOCK_SIZE"]

#: EROFS block size of composefs images.
BLOCK_SIZE = 4096
SLOT = 32
SUPER_OFFSET = 1024
#: Magic of the 32-byte composefs header at offset 0.
LCFS_EROFS_MAGIC = 0xD078629A
LCFS_EROFS_VERSION = 1
#: Magic of the EROFS superblock at offset 1024.
EROFS_SUPER_MAGIC = 0xE0F5E1E2
_FEATURE_COMPAT = 0x2 | 0x4  # MTIME | XATTR_FILTER
_COMPACT = 32
_EXTENDED = 64
_FLAT_PLAIN, _FLAT_INLINE, _CHUNK_BASED = 0, 2, 4
_XATTR_LONG_PREFIX = 0x80
_FILTER_SEED = 0x25BBE08F
_NULL_ADDR = b"\xff\xff\xff\xff"

_FT = {stat.S_IFREG: 1, stat.S_IFDIR: 2, stat.S_IFCHR: 3, stat.S_IFBLK: 4, stat.S_IFIFO: 5,
       stat.S_IFSOCK: 6, stat.S_IFLNK: 7}
_PREFIXES = ((b"user.", 1), (b"system.posix_acl_access", 2), (b"system.posix_acl_default", 3),
             (b"trusted.", 4), (b"security.", 6))

_OVL = b"trusted.overlay."
_OVL_ESCAPE = b"trusted.overlay.overlay."
_U32 = 0xFFFFFFFF


def _align(n: int, a: int) -> int:
    return (n + a - 1) & ~(a - 1)


@lru_cache(maxsize=4096)
def _xattr_index(key: bytes) -> tuple[int, bytes]:
    for prefix, index in _PREFIXES:
        if key.startswith(prefix):
            return index, key[len(prefix):]
    return 0, key


def _entry_size(key: bytes, value: bytes) -> int:
    return _align(4 + len(_xattr_index(key)[1]) + len(value), 4)


_P1, _P2, _P3, _P4, _P5 = 2654435761, 2246822519, 3266489917, 668265263, 374761393


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _U32


@lru_cache(maxsize=4096)
def _xxh32(data: bytes, seed: int) -> int:
    n = len(data)
    p = 0
    if n >= 16:
        v1 = (seed + _P1 + _P2) & _U32
        v2 = (seed + _P2) & _U32
        v3 = seed & _U32
        v4 = (seed - _P1) & _U32
        limit = n - 16
        while p <= limit:
            a, b, c, d = struct.unpack_from("<4I", data, p)
            v1 = (_rotl((v1 + a * _P2) & _U32, 13) * _P1) & _U32
            v2 = (_rotl((v2 + b * _P2) & _U32, 13) * _P1) & _U32
            v3 = (_rotl((v3 + c * _P2) & _U32, 13) * _P1) & _U32
            v4 = (_rotl((v4 + d * _P2) & _U32, 13) * _P1) & _U32
            p += 16
        h = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & _U32
    else:
        h = (seed + _P5) & _U32
    h = (h + n) & _U32
    while p + 4 <= n:
        (w,) = struct.unpack_from("<I", data, p)
        h = (_rotl((h + w * _P3) & _U32, 17) * _P4) & _U32
        p += 4
    while p < n:
        h = (_rotl((h + data[p] * _P5) & _U32, 11) * _P1) & _U32
        p += 1
    h ^= h >> 15
    h = (h * _P2) & _U32
    h ^= h >> 13
    h = (h * _P3) & _U32
    h ^= h >> 16
    return h


def _xattr_filter(xattrs: list[list[bytes]]) -> int:
    bits = 0
    for key, _ in xattrs:
        index, suffix = _xattr_index(key)
        bits |= 1 << (_xxh32(suffix, _FILTER_SEED + index) & 31)
    return _U32 & ~bits


# -- rewriting the tree as libcomposefs does before laying it out -------------

def _needs_v1(root: Node) -> bool:
    stack = [root]
    while stack:
        n = stack.pop()
        if n.ftype == stat.S_IFCHR and n.rdev == 0:
            return True
        stack.extend(c for c in n.children.values() if c.link_to is None)
    return False


def _add_overlay_xattrs(node: Node, version: int) -> None:
    for x in node.xattrs:
        if x[0].startswith(_OVL):
            x[0] = _OVL_ESCAPE + x[0][len(_OVL):]
    ftype = node.ftype
    if ftype == stat.S_IFREG and node.size > 0 and node.content is None:
        value = b""
        if node.digest is not None:
            value = bytes((0, 36, 0, 1)) + node.digest
        node.set_xattr(b"trusted.overlay.metacopy", value)
        if node.payload:
            node.set_xattr(b"trusted.overlay.redirect", b"/" + node.payload)
    if ftype == stat.S_IFCHR and node.rdev == 0:
        parent = node.parent
        assert parent is not None
        node.size = 0
        node.mode = stat.S_IFREG | (node.mode & ~S_IFMT)
        node.set_xattr(b"trusted.overlay.overlay.whiteout", b"")
        node.set_xattr(b"user.overlay.whiteout", b"")
        parent.set_xattr(b"trusted.overlay.overlay.whiteouts", b"")
        parent.set_xattr(b"user.overlay.whiteouts", b"")
        if version >= 1:
            parent.set_xattr(b"trusted.overlay.overlay.opaque", b"x")
            parent.set_xattr(b"user.overlay.opaque", b"x")


def _validate(node: Node) -> None:
    if node.link_to is None:
        validate_mode(node.mode)
    if node.link_invalid:
        raise ComposefsError("Invalid hardlink")
    if node.ftype == stat.S_IFREG and node.size > 0 and node.content is None:
        if chunking(node.size)[1] > 1024:
            raise ComposefsError(f"File too big: {node.size} bytes")


def _rewrite(root: Node, version: int) -> None:
    stack: list[tuple[Node, Node]] = [(root, root)]
    while stack:
        node, parent = stack.pop()
        _validate(node)
        _add_overlay_xattrs(node, version)
        if node.is_dir():
            if b"." not in node.children:
                dot = Node()
                dot.make_hardlink(node)
                node.add_child(b".", dot)
            if b".." not in node.children:
                dotdot = Node()
                dotdot.make_hardlink(parent)
                node.add_child(b"..", dotdot)
            # Depth first in name order, as the C recursion goes: parents get whiteout xattrs in that order.
            for _, child in reversed(node.sorted_children()):
                if child.link_to is None:
                    stack.append((child, node))
    root.set_xattr(b"trusted.overlay.opaque", b"y")
    selinux = root.get_xattr(b"security.selinux")
    for i in range(256):
        name = b"%02x" % i
        if name in root.children:
            continue
        w = Node(stat.S_IFCHR | 0o644)
        w.uid, w.gid, w.mtime_sec, w.mtime_nsec = root.uid, root.gid, root.mtime_sec, root.mtime_nsec
        if selinux is not None:
            w.set_xattr(b"security.selinux", selinux)
        root.add_child(name, w)


class _Layout:
    def __init__(self, root: Node, version: int) -> None:
        self.root = root
        self.version = version
        self.nodes: list[Node] = []
        self.children: dict[int, list[tuple[bytes, Node]]] = {}
        self.min_mtime = (root.mtime_sec, root.mtime_nsec)
        self.has_acl = False
        self.shared: list[list[bytes]] = []
        self.shared_size = 0
        self.inodes_end = 0
        self.n_data_blocks = 0

    def compute_tree(self) -> None:
        nodes = self.nodes
        nodes.append(self.root)
        i = 0
        while i < len(nodes):
            node = nodes[i]
            if not node.is_dir() and node.children:
                raise ComposefsError("Only directories can have children")
            kids = node.sorted_children() if node.children else []
            self.children[id(node)] = kids
            if node.is_dir():
                node.nlink = 2 + sum(1 for _, c in kids if c.is_dir())
            node.xattrs.sort()  # keys are unique on a node, so this is by key
            mt = (node.mtime_sec, node.mtime_nsec)
            if mt < self.min_mtime:
                self.min_mtime = mt
            node.inode_num = i
            if not self.has_acl:
                for k, _ in node.xattrs:
                    if k in (b"system.posix_acl_access", b"system.posix_acl_default"):
                        self.has_acl = True
            for _, child in kids:
                if child.link_to is None:
                    nodes.append(child)
            i += 1
        in_tree = {id(n) for n in nodes}
        for node in nodes:
            for _, child in self.children[id(node)]:
                target = follow_links(child)
                if child.link_to is not None and id(target) not in in_tree:
                    raise ComposefsError("Hardlink to a file outside the tree")

    def compute_shared_xattrs(self) -> None:
        counts: dict[tuple[bytes, bytes], int] = {}
        for node in self.nodes:
            for k, v in node.xattrs:
                counts[(k, v)] = counts.get((k, v), 0) + 1
        # libcomposefs's canonical order: key descending, then longer values first, then bytes descending;
        # only the shared ones are placed, so only they need sorting (most pairs, redirects, are unique)
        order = sorted([kv for kv, c in counts.items() if c > 1], key=lambda kv: (kv[0], len(kv[1]), kv[1]),
                       reverse=True)
        offsets: dict[tuple[bytes, bytes], int] = {}
        off = 0
        for kv in order:
            offsets[kv] = off
            self.shared.append(list(kv))
            off += _entry_size(kv[0], kv[1])
        self.shared_size = off
        self.offsets = offsets
        for node in self.nodes:
            n_shared = 0
            flags = []
            for k, v in node.xattrs:
                if (k, v) in offsets and n_shared < _XATTR_LONG_PREFIX:
                    flags.append(True)
                    n_shared += 1
                else:
                    flags.append(False)
            node.shared = flags

    def _fits_compact(self, node: Node) -> bool:
        if (node.mtime_sec, node.mtime_nsec) != self.min_mtime:
            return False
        if node.nlink > 0xFFFF or node.uid > 0xFFFF or node.gid > 0xFFFF:
            return False
        size = node.n_blocks * BLOCK_SIZE + node.tailsize if node.is_dir() else node.size
        return size <= _U32

    def _inode_size(self, node: Node) -> None:
        ftype = node.ftype
        node.n_blocks = 0
        node.tailsize = 0
        if ftype == stat.S_IFDIR:
            n_blocks = 0
            block = 0
            for name, _ in self.children[id(node)]:
                ln = 12 + len(name)
                if block + ln > BLOCK_SIZE:
                    n_blocks += 1
                    block = 0
                block += ln
            if block > BLOCK_SIZE // 2:
                n_blocks += 1
                block = 0
            node.n_blocks, node.tailsize = n_blocks, block
        elif ftype == stat.S_IFLNK:
            assert node.payload is not None
            node.tailsize = len(node.payload)
        elif ftype == stat.S_IFREG and node.size > 0:
            if node.content is not None:
                node.n_blocks, node.tailsize = divmod(node.size, BLOCK_SIZE)
                if node.tailsize > BLOCK_SIZE // 2:
                    node.n_blocks += 1
                    node.tailsize = 0
            else:
                node.tailsize = chunking(node.size)[1] * 4

    @staticmethod
    def _xattr_isize(node: Node) -> int:
        if not node.xattrs:
            return 0
        n_shared = 0
        unshared = 0
        for (k, v), shared in zip(node.xattrs, node.shared):
            if shared:
                n_shared += 1
            else:
                unshared += _entry_size(k, v)
        return _align(12 + n_shared * 4 + unshared, 4)

    @staticmethod
    def _tail_padding(node: Node, pos: int, inode_size: int, xattr_size: int) -> int:
        non_tail = inode_size + xattr_size
        total = non_tail + node.tailsize
        if node.ftype == stat.S_IFLNK:
            if total // BLOCK_SIZE > 0:
                node.n_blocks += 1
                node.tailsize = 0
            if pos // BLOCK_SIZE != (pos + total - 1) // BLOCK_SIZE:
                return _align(pos, BLOCK_SIZE) - pos
            return 0
        remainder = BLOCK_SIZE - ((pos + non_tail) % BLOCK_SIZE)
        if remainder < node.tailsize:
            extra = _align(remainder, SLOT)
            remainder = BLOCK_SIZE - ((pos + non_tail + extra) % BLOCK_SIZE)
            if node.tailsize <= remainder:
                return extra
            node.n_blocks += 1
            node.tailsize = 0
            return _align(pos, BLOCK_SIZE) - pos
        return 0

    def compute_inodes(self) -> None:
        pos = SUPER_OFFSET + 128
        for node in self.nodes:
            self._inode_size(node)
            node.compact = self._fits_compact(node)
            inode_size = _COMPACT if node.compact else _EXTENDED
            node.xattr_isize = xattr_size = self._xattr_isize(node)
            ppos = pos
            pos = _align(pos, SLOT)
            node.ipad = pos - ppos
            extra = self._tail_padding(node, pos, inode_size, xattr_size)
            node.ipad += extra
            pos += extra
            node.isize = inode_size + xattr_size + node.tailsize
            self.n_data_blocks += node.n_blocks
            node.nid = pos // SLOT
            pos += node.isize
        self.inodes_end = _align(pos, SLOT)


class _Out:
    """Counts, hashes and forwards everything written."""

    def __init__(self, write: Callable[[bytes], object] | None, hasher: FsVerityHasher | None) -> None:
        self.write_cb = write
        self.hasher = hasher
        self.pos = 0
        self.buf: list[bytes] = []
        self.buffered = 0

    def write(self, data: bytes) -> None:
        self.pos += len(data)
        self.buf.append(data)
        self.buffered += len(data)
        if self.buffered >= 1 << 20:
            self.flush()

    def flush(self) -> None:
        if not self.buf:
            return
        data = b"".join(self.buf)
        self.buf = []
        self.buffered = 0
        if self.hasher is not None:
            self.hasher.update(data)
        if self.write_cb is not None:
            self.write_cb(data)

    def pad(self, n: int) -> None:
        if n:
            self.write(bytes(n))

    def align(self, a: int) -> None:
        self.pad(_align(self.pos, a) - self.pos)


def _xattr_entry(key: bytes, value: bytes) -> bytes:
    index, suffix = _xattr_index(key)
    e = struct.pack("<BBH", len(suffix), index, len(value)) + suffix + value
    return e + bytes(_align(len(e), 4) - len(e))


class _Writer:
    def __init__(self, layout: _Layout, out: _Out) -> None:
        self.l = layout
        self.out = out
        self.current_end = 0

    def dentries_chunk(self, kids: list[tuple[bytes, Node]], alignment: int) -> None:
        nameoff = len(kids) * 12
        heads = []
        for name, child in kids:
            target = follow_links(child)
            heads.append(struct.pack("<QHBB", target.nid, nameoff & 0xFFFF, _FT.get(target.ftype, 0), 0))
            nameoff += len(name)
        self.out.write(b"".join(heads) + b"".join(name for name, _ in kids))
        self.out.align(alignment)

    def dentries(self, node: Node, write_blocks: bool, write_tail: bool) -> None:
        kids = self.l.children[id(node)]
        block = 0
        written = 0
        first = 0
        for i, (name, _) in enumerate(kids):
            ln = 12 + len(name)
            if block + ln > BLOCK_SIZE:
                if write_blocks:
                    self.dentries_chunk(kids[first:i], BLOCK_SIZE)
                written += 1
                block = 0
                first = i
            block += ln
        if written < node.n_blocks:
            if write_blocks:
                self.dentries_chunk(kids[first:], BLOCK_SIZE)
            written += 1
            block = 0
            first = len(kids)
        if write_tail and block > 0:
            self.dentries_chunk(kids[first:], 1)

    def inode(self, node: Node) -> None:
        out = self.out
        validate_mode(node.mode)
        out.pad(node.ipad)
        ftype = node.ftype
        xattr_size = node.xattr_isize
        icount = 0 if xattr_size == 0 else (xattr_size - 12) // 4 + 1
        if icount > 0xFFFF:
            raise ComposefsError("Too many xattrs")
        datalayout = _FLAT_INLINE if node.tailsize > 0 else _FLAT_PLAIN
        chunk_count = 0
        chunk_format = 0
        if ftype == stat.S_IFDIR:
            size = node.n_blocks * BLOCK_SIZE + node.tailsize
        elif ftype == stat.S_IFREG:
            size = node.size
            if size > 0 and node.content is None:
                bits, chunk_count = chunking(size)
                datalayout = _CHUNK_BASED
                chunk_format = bits - 12
        elif ftype == stat.S_IFLNK:
            size = node.tailsize if node.n_blocks == 0 else node.size
        else:
            size = 0
        version = 0 if node.compact else 1
        fmt = datalayout << 1 | version
        i_u = 0
        if ftype in (stat.S_IFDIR, stat.S_IFREG, stat.S_IFLNK):
            if node.n_blocks > 0:
                i_u = (self.current_end // BLOCK_SIZE) & _U32
                self.current_end += BLOCK_SIZE * node.n_blocks
            if datalayout == _CHUNK_BASED:
                i_u = (i_u & 0xFFFF0000) | chunk_format
        elif ftype in (stat.S_IFCHR, stat.S_IFBLK):
            i_u = node.rdev & _U32
        if node.compact:
            out.write(struct.pack("<HHHHIIIIHHI", fmt, icount, node.mode & 0xFFFF, node.nlink & 0xFFFF,
                                  size & _U32, 0, i_u, node.inode_num, node.uid & 0xFFFF, node.gid & 0xFFFF, 0))
        else:
            out.write(struct.pack("<HHHHQIIIIqII16x", fmt, icount, node.mode & 0xFFFF, 0, size, i_u,
                                  node.inode_num, node.uid, node.gid, node.mtime_sec, node.mtime_nsec,
                                  node.nlink))
        if xattr_size:
            parts = [struct.pack("<IB7x", _xattr_filter(node.xattrs), sum(node.shared))]
            base = self.l.inodes_end % BLOCK_SIZE
            for (k, v), shared in zip(node.xattrs, node.shared):
                if shared:
                    parts.append(struct.pack("<I", ((base + self.l.offsets[(k, v)]) // 4) & _U32))
            for (k, v), shared in zip(node.xattrs, node.shared):
                if not shared:
                    parts.append(_xattr_entry(k, v))
            out.write(b"".join(parts))
        if ftype == stat.S_IFDIR:
            self.dentries(node, False, True)
        elif ftype == stat.S_IFLNK:
            if node.n_blocks == 0:
                assert node.payload is not None
                out.write(node.payload)
        elif ftype == stat.S_IFREG and node.tailsize > 0:
            if node.content is not None:
                out.write(node.content[node.size - node.tailsize:])
            else:
                out.write(_NULL_ADDR * chunk_count)

    def file_content(self, node: Node) -> None:
        ftype = node.ftype
        if node.n_blocks <= 0:
            return
        if ftype == stat.S_IFREG:
            if node.content is None:
                # The C writer always fills exactly one block of null chunk addresses here.
                self.out.write(_NULL_ADDR * 1024)
                return
            data = node.content
        elif ftype == stat.S_IFLNK:
            assert node.payload is not None
            data = node.payload
        else:
            return
        # libcomposefs writes only the first block and returns (its loop body ends in a return).
        self.out.write(data[:BLOCK_SIZE])
        self.out.align(BLOCK_SIZE)


def write_image(root: Node, write: Callable[[bytes], object] | None = None, *, min_version: int = 0,
                max_version: int = 1, consume: bool = False) -> bytes:
    """Write the composefs image of ``root`` through ``write`` (if given); return its fs-verity digest.

    The tree is copied first, unless ``consume``: then it is rewritten in place and spent."""
    with gc_paused():
        return _write_image(root, write, min_version, max_version, consume)


def _write_image(root: Node, write: Callable[[bytes], object] | None, min_version: int, max_version: int,
                 consume: bool) -> bytes:
    if min_version < 0 or max_version < 0 or min_version > 1 or max_version > 1:
        raise ComposefsError("composefs format versions are 0 and 1")
    version = min_version
    max_version = max(max_version, min_version)
    if version < 1 <= max_version and _needs_v1(root):
        version = 1
    if not consume:
        root = root.clone_tree()
    _rewrite(root, version)
    layout = _Layout(root, version)
    layout.compute_tree()
    layout.compute_shared_xattrs()
    layout.compute_inodes()

    hasher = FsVerityHasher()
    out = _Out(write, hasher)
    out.write(struct.pack("<IIII16x", LCFS_EROFS_MAGIC, LCFS_EROFS_VERSION, 1 if layout.has_acl else 0, version))
    out.pad(SUPER_OFFSET - 32)
    data_start = _align(layout.inodes_end + layout.shared_size, BLOCK_SIZE)
    if root.nid >= 0xFFFF:
        raise ComposefsError("root inode out of range")
    sec, nsec = layout.min_mtime
    out.write(struct.pack("<IIIBBHQQIIII", EROFS_SUPER_MAGIC, 0, _FEATURE_COMPAT, 12, 0, root.nid,
                          len(layout.nodes), sec & ((1 << 64) - 1), nsec & _U32,
                          (data_start // BLOCK_SIZE + layout.n_data_blocks) & _U32,
                          (SUPER_OFFSET + 128) // BLOCK_SIZE, (layout.inodes_end // BLOCK_SIZE) & _U32)
              + bytes(128 - 48))
    w = _Writer(layout, out)
    w.current_end = data_start
    for node in layout.nodes:
        w.inode(node)
    out.align(SLOT)
    if out.pos != layout.inodes_end:
        raise ComposefsError("internal error: inode area size")
    for k, v in layout.shared:
        out.write(_xattr_entry(k, v))
    out.align(BLOCK_SIZE)
    for node in layout.nodes:
        if node.is_dir():
            w.dentries(node, True, False)
        w.file_content(node)
    out.flush()
    return hasher.digest()


def image_bytes(root: Node, *, min_version: int = 0, max_version: int = 1) -> tuple[bytes, bytes]:
    """(image, fs-verity digest) of ``root``, in memory; for small trees and tests."""
    parts: list[bytes] = []
    digest = write_image(root, parts.append, min_version=min_version, max_version=max_version)
    return b"".join(parts), digest
