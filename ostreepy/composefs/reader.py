"""Reading composefs EROFS images back into a tree (``composefs-info``'s
``ls``, ``dump`` and ``objects``; fsck of ``.ostree.cfs``).

The reader undoes what the writer adds, as libcomposefs's reader does: the
overlay ``redirect``/``metacopy`` xattrs become the payload and digest, escaped
``trusted.overlay.overlay.*`` xattrs are unescaped, escaped whiteouts become
0/0 character devices again, real whiteouts (the writer's ``00``–``ff``) are
dropped, an inode reached twice is a hard link.

Unlike the C reader it trusts nothing: every offset, count and size is checked
against the image before use, each inode is read at most once (so loops and
shared directories end, in time linear in the image), a directory reached
twice, a name with ``/`` or NUL or an empty one are errors. Hostile input gives
:class:`~ostreepy.composefs.tree.ComposefsError`, never an exception from
deeper down, never unbounded work. Pure code over a bytes-like image.
"""

from __future__ import annotations

import stat
import struct
from typing import Iterator

from .tree import S_IFMT, ComposefsError, Node, validate_mode

__all__ = ["read_image", "ls_lines", "object_paths", "image_version"]

BLOCK = 4096
_LCFS_MAGIC = 0xD078629A
_EROFS_MAGIC = 0xE0F5E1E2
_PREFIX = {1: b"user.", 2: b"system.posix_acl_access", 3: b"system.posix_acl_default", 4: b"trusted.",
           6: b"security."}
_MAX_INLINE = 5000
_PATH_MAX = 4096


def image_version(data: bytes | memoryview) -> int:
    """The composefs format version an image declares."""
    if len(data) < 32:
        raise ComposefsError("Not a composefs image: too short")
    magic, version, _flags, cfs_version = struct.unpack_from("<IIII", data, 0)
    if magic != _LCFS_MAGIC:
        raise ComposefsError("Not a composefs image: wrong magic")
    if version != 1:
        raise ComposefsError(f"Unsupported composefs image version {version}")
    return cfs_version


class _Reader:
    def __init__(self, data: bytes | memoryview) -> None:
        self.data = memoryview(data).cast("B") if not isinstance(data, bytes) else data
        self.size = len(data)
        if self.size < BLOCK:
            raise ComposefsError("Not a composefs image: shorter than one block")
        image_version(data)
        (magic, _csum, _compat, blkbits, _ext, root_nid, _inos, build_time, build_nsec, _blocks, meta_blk,
         xattr_blk) = struct.unpack_from("<IIIBBHQQIIII", data, 1024)
        if magic != _EROFS_MAGIC:
            raise ComposefsError("Not a composefs image: wrong EROFS magic")
        if blkbits != 12:
            raise ComposefsError(f"Unsupported EROFS block size 2^{blkbits}")
        self.meta = meta_blk * BLOCK
        self.xattr_base = xattr_blk * BLOCK
        if self.meta >= self.size or self.xattr_base >= self.size:
            raise ComposefsError("EROFS metadata outside the image")
        self.build_time = build_time - (1 << 64) if build_time >= 1 << 63 else build_time
        self.build_nsec = build_nsec
        self.root_nid = root_nid
        self.nodes: dict[int, Node] = {}

    def _need(self, off: int, n: int, what: str) -> None:
        if off < 0 or n < 0 or off + n > self.size:
            raise ComposefsError(f"Corrupt composefs image: {what} out of range")

    def _xattr_name(self, index: int, name: bytes) -> bytes:
        if index == 0:
            return name
        prefix = _PREFIX.get(index)
        if prefix is None:
            raise ComposefsError(f"Corrupt composefs image: unknown xattr prefix {index}")
        return prefix + name

    def _apply_xattr(self, node: Node, key: bytes, value: bytes) -> None:
        ftype = node.mode & S_IFMT
        if key == b"trusted.overlay.redirect":
            if ftype == stat.S_IFREG:
                if len(value) > 1 and value[:1] == b"/":
                    value = value[1:]
                node.set_payload(value)
            return
        if key == b"trusted.overlay.metacopy":
            if ftype == stat.S_IFREG and len(value) == 36:
                node.digest = value[4:]
            return
        if key == b"trusted.overlay.overlay.whiteout" and ftype == stat.S_IFREG:
            node.mode = (node.mode & ~S_IFMT) | stat.S_IFCHR
            node.rdev = 0
            node.size = 0
            return
        if key in (b"trusted.overlay.overlay.whiteouts", b"user.overlay.whiteout", b"user.overlay.whiteouts"):
            return
        if key.startswith(b"trusted.overlay."):
            if not key.startswith(b"trusted.overlay.overlay."):
                return
            key = b"trusted." + key[len(b"trusted.overlay."):]
        node.set_xattr(key, value, limit=0xFFFF)

    def _entry(self, off: int, end: int) -> tuple[bytes, bytes, int]:
        if off + 4 > end:
            raise ComposefsError("Corrupt composefs image: xattr entry out of range")
        name_len, index, value_size = struct.unpack_from("<BBH", self.data, off)
        total = 4 + name_len + value_size
        if off + total > end:
            raise ComposefsError("Corrupt composefs image: xattr entry out of range")
        name = bytes(self.data[off + 4:off + 4 + name_len])
        value = bytes(self.data[off + 4 + name_len:off + total])
        return self._xattr_name(index, name), value, (total + 3) & ~3

    def inode(self, nid: int) -> tuple[Node, list[tuple[bytes, int]], bool]:
        """(node, dirents of a directory, whether it is a real whiteout) of the inode ``nid``."""
        off = self.meta + nid * 32
        self._need(off, 32, "inode")
        data = self.data
        (fmt,) = struct.unpack_from("<H", data, off)
        if fmt & ~0xF:
            raise ComposefsError("Corrupt composefs image: unknown inode format")
        compact = fmt & 1 == 0
        layout = (fmt >> 1) & 7
        node = Node()
        if compact:
            (_f, icount, mode, nlink, size, _r, i_u, _ino, uid, gid, _r2) = struct.unpack_from(
                "<HHHHIIIIHHI", data, off)
            isize = 32
            node.mtime_sec, node.mtime_nsec = self.build_time, self.build_nsec
        else:
            self._need(off, 64, "inode")
            (_f, icount, mode, _r, size, i_u, _ino, uid, gid, mtime, mtime_nsec, nlink) = struct.unpack_from(
                "<HHHHQIIIIqII", data, off)
            isize = 64
            node.mtime_sec, node.mtime_nsec = mtime, mtime_nsec
        validate_mode(mode)
        node.mode, node.nlink, node.uid, node.gid, node.size = mode, nlink, uid, gid, size
        ftype = mode & S_IFMT
        if ftype in (stat.S_IFCHR, stat.S_IFBLK):
            node.rdev = i_u
            if ftype == stat.S_IFCHR and i_u == 0:
                return node, [], True
        xattr_size = 0 if icount == 0 else 12 + 4 * (icount - 1)
        xoff = off + isize
        self._need(xoff, xattr_size, "xattrs")
        tail_off = xoff + xattr_size
        tailpacked = layout == 2
        if layout not in (0, 2, 4):
            raise ComposefsError(f"Corrupt composefs image: unsupported data layout {layout}")
        n_blocks = -(-size // BLOCK)
        tail_size = size % BLOCK if tailpacked else 0
        if tailpacked and tail_size == 0 and size:
            raise ComposefsError("Corrupt composefs image: inline tail of a block-sized file")
        last_oob = n_blocks - 1 if tailpacked else n_blocks
        oob = i_u * BLOCK
        dirents: list[tuple[bytes, int]] = []
        if ftype == stat.S_IFDIR:
            if layout == 4:
                raise ComposefsError("Corrupt composefs image: chunked directory")
            self._need(oob, last_oob * BLOCK if last_oob else 0, "directory blocks")
            for b in range(last_oob):
                bsize = BLOCK
                if not tailpacked and b + 1 == last_oob and size % BLOCK:
                    bsize = size % BLOCK
                self._dirents(oob + b * BLOCK, bsize, dirents)
            if tailpacked:
                self._need(tail_off, tail_size, "directory tail")
                self._dirents(tail_off, tail_size, dirents)
        elif ftype == stat.S_IFLNK:
            if size == 0 or size >= _PATH_MAX:
                raise ComposefsError("Corrupt composefs image: bad symlink size")
            src = tail_off if tailpacked else oob
            self._need(src, size, "symlink target")
            target = bytes(data[src:src + size])
            if b"\0" in target:
                raise ComposefsError("Corrupt composefs image: NUL in symlink target")
            node.set_symlink_payload(target)
        elif ftype == stat.S_IFREG and size:
            if layout in (0, 2):
                if size > _MAX_INLINE:
                    raise ComposefsError("Corrupt composefs image: inline file too big")
                oob_size = last_oob * BLOCK if tailpacked else size
                self._need(oob, oob_size, "file data")
                content = bytes(data[oob:oob + oob_size])
                if tailpacked:
                    self._need(tail_off, tail_size, "file tail")
                    content += bytes(data[tail_off:tail_off + tail_size])
                node.set_content(content)
        if icount:
            end = xoff + xattr_size
            shared_count = data[xoff + 4]
            p = xoff + 12 + 4 * shared_count
            if p > end:
                raise ComposefsError("Corrupt composefs image: shared xattr count out of range")
            while p + 4 < end:
                k, v, step = self._entry(p, end)
                self._apply_xattr(node, k, v)
                p += step
            for i in range(shared_count):
                (idx,) = struct.unpack_from("<I", data, xoff + 12 + 4 * i)
                k, v, _ = self._entry(self.xattr_base + idx * 4, self.size)
                self._apply_xattr(node, k, v)
        return node, dirents, False

    def _dirents(self, off: int, bsize: int, out: list[tuple[bytes, int]]) -> None:
        if bsize < 12:
            raise ComposefsError("Corrupt composefs image: directory block too small")
        data = self.data
        (first_nameoff,) = struct.unpack_from("<H", data, off + 8)
        if first_nameoff % 12 or first_nameoff == 0 or first_nameoff > bsize:
            raise ComposefsError("Corrupt composefs image: bad directory block")
        n = first_nameoff // 12
        ents = [struct.unpack_from("<QHBB", data, off + 12 * i) for i in range(n)]
        for i, (nid, nameoff, _ft, _r) in enumerate(ents):
            end = ents[i + 1][1] if i + 1 < n else bsize
            if nameoff < first_nameoff or end > bsize or end <= nameoff:
                raise ComposefsError("Corrupt composefs image: bad directory entry name")
            name = bytes(data[off + nameoff:off + end])
            if i + 1 == n:
                z = name.find(b"\0")
                if z >= 0:
                    name = name[:z]
            if name in (b".", b".."):
                continue
            if not name or b"/" in name or b"\0" in name or len(name) > 255:
                raise ComposefsError(f"Corrupt composefs image: invalid name {name!r}")
            out.append((name, nid))

    def read(self) -> Node:
        root, dirents, whiteout = self.inode(self.root_nid)
        if whiteout or not root.is_dir():
            raise ComposefsError("Corrupt composefs image: root is not a directory")
        self.nodes[self.root_nid] = root
        todo = [(root, dirents)]
        while todo:
            parent, ents = todo.pop()
            for name, nid in ents:
                existing = self.nodes.get(nid)
                if existing is not None:
                    if existing.is_dir():
                        raise ComposefsError("Corrupt composefs image: directory reached twice")
                    link = Node()  # as libcomposefs: a link has no mode of its own
                    link.link_to = existing
                    parent.add_child(name, link)
                    continue
                node, sub, whiteout = self.inode(nid)
                if whiteout:
                    continue
                self.nodes[nid] = node
                parent.add_child(name, node)
                if node.is_dir():
                    todo.append((node, sub))
        return root


def read_image(data: bytes | memoryview) -> Node:
    """The tree of a composefs image (hard links as ``link_to``)."""
    try:
        return _Reader(data).read()
    except struct.error as e:
        raise ComposefsError(f"Corrupt composefs image: {e}") from None


def ls_lines(root: Node) -> Iterator[bytes]:
    """``composefs-info ls``: one line per entry, depth first in name order."""
    from .dumpfile import escape
    stack: list[tuple[bytes, Node]] = [(b"", root)]
    while stack:
        parent_path, node = stack.pop()
        for name, child in reversed(node.sorted_children()):
            if name in (b".", b".."):
                continue
            stack.append((parent_path + b"/" + name, child))
        if node is root:
            continue
        ftype = node.mode & S_IFMT
        line = escape(parent_path, noescape_space=True)
        if ftype == stat.S_IFDIR:
            line += b"/\t"
        elif ftype == stat.S_IFLNK:
            line += b"\t-> " + escape(node.payload or b"")
        elif ftype == stat.S_IFREG and node.payload is not None:
            line += b"\t@ " + escape(node.payload)
        yield line + b"\n"


def object_paths(root: Node) -> list[bytes]:
    """``composefs-info objects``: the backing files an image refers to, sorted, once each."""
    seen = set()
    stack = [root]
    while stack:
        n = stack.pop()
        if n.ftype == stat.S_IFREG and n.payload:
            seen.add(n.payload)
        stack.extend(c for name, c in n.children.items() if name not in (b".", b".."))
    return sorted(seen)
