"""The composefs image of an OSTree commit written from a stream of inode records, in
memory that grows with the commit's directories, not its files.

:func:`~ostreepy.composefs.erofs.write_image` lays out a whole
:class:`~ostreepy.composefs.tree.Node` tree; a commit's tree at 100,000 files is tens
of MB (a node per file, and the layout's arrays). Here the commit is walked once
(``_Walk``), breadth first with children by name (the image's inode order), each
directory's entries made as the tree builder makes them (commit_image's ``_Builder``
reads and measures every file object), rewritten as the layout's first walk rewrites
them (erofs's ``_prepare``, the root's whiteouts), then written as records (a tuple per
inode, ``marshal``-ed in runs) to an unnamed scratch file, and each directory's entry
names to another. What the layout needs of the whole tree is kept aside meanwhile, and
is small: the xattr values counted (a tree has few distinct ones), and for the redirect
and metacopy values, unique to a file but for files sharing an object or a content, the
object paths and digests in a :class:`~ostreepy.store.spill.SpilledKeys` each (spilled in
buckets) to find the repeated ones:
those, and only those, go to the shared area.

The records are then read back twice, a run at a time, each run made into the nodes the
tree writer would have had there (``_nodes``): once to place every inode (erofs's
``_Layout.place``; the image's inode numbers and file types, 5 bytes an inode, are what
is kept of the whole image, with each run's places in a third scratch file), once to
write them (``_write_inodes``, whose directory entries name inodes placed later than
their directory); the whole blocks, which follow the inodes and the shared xattrs, are
staged in a fourth meanwhile. Every placement and encoding is erofs.py's, so the bytes
are the tree writer's; only the order of the work differs. Where there is no scratch
file to be had (an unwritable or full ``TMPDIR``) what is left stays in memory, as
marshalled bytes.
"""

from __future__ import annotations

import marshal
import os
import stat
import struct

from .erofs import (BLOCK_SIZE, SLOT, SUPER_OFFSET, _FT_REG, _METACOPY, _NO_SPLITS, _REDIRECT, _Layout,
                    _Out, _add_dots, _add_root_whiteouts, _align, _new_out, _prepare, _write_blocks, _write_head,
                    _write_inodes, _write_shared, _zeros)
from ..store.spill import SpilledKeys, scratch_file
from .tree import S_IFMT, ComposefsError, Leaf, Node

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import Any, Callable, Iterator, Protocol, Sequence

    class _Builder(Protocol):
        """What the walk asks of commit_image's builder (named here, not imported: it imports this)."""

        seen: dict[str, Node | Leaf]

        def dirmeta(self, meta_csum: str) -> tuple[int, int, int, tuple[tuple[bytes, bytes], ...]]: ...

        def entries(self, d: Node, tree_csum: str) -> dict[bytes, str]: ...

__all__ = ["add_root_dirs", "write_commit_stream"]

_DIR, _REG = stat.S_IFDIR, stat.S_IFREG
_ACL_KEYS = (b"system.posix_acl_access", b"system.posix_acl_default")
_LEN = struct.Struct("<I")
_RUN = 1024        # records a run (a marshalled list) holds
_RUN_DIRS = 64     # directories a run holds
_NAMES_RUN = 4096  # directory entries the listings of a run hold (about)
# The builder's nodes of the objects met, by checksum, so that an object met again is not read
# again, are kept up to this many, then dropped (a node kept for every object would be memory by
# the file, ~300 bytes each): an object met again far away in a large tree is read again
_SEEN_MAX = 1024
#: the length of an object's path below objects/ (``ab/cdef….file``), a file's redirect
_OBJECT_PATH = 2 + 1 + 62 + 5
#: what libostree adds to a commit's image root, as empty 0755 directories, where missing
_ROOT_DIRS = (b"usr", b"etc", b"boot", b"var", b"sysroot")


def add_root_dirs(root: Node) -> None:
    """The directories libostree's composefs image of a commit has at its root whether or not the
    commit does (:data:`_ROOT_DIRS`), added to ``root`` where missing."""
    for name in _ROOT_DIRS:
        if name not in root.children:
            root.add_child(name, Node(_DIR | 0o755))


class _Spool:
    """Pieces of bytes written in order and read back in order, as often as wanted: in a scratch
    file, or in memory where there is none."""

    def __init__(self) -> None:
        self.fd = scratch_file()
        self.end = 0
        self.pieces: list[bytes] = []

    def add(self, data: bytes | bytearray) -> None:
        if self.fd is not None and not self.pieces:
            try:
                piece = _LEN.pack(len(data)) + data
                if os.pwrite(self.fd, piece, self.end) == len(piece):
                    self.end += len(piece)
                    return
            except OSError:
                pass
            # (a full TMPDIR): what was written is read back from it, the rest from memory
        self.pieces.append(bytes(data))

    def __iter__(self) -> Iterator[bytes]:
        pos = 0
        fd = self.fd
        while pos < self.end:
            assert fd is not None
            (n,) = _LEN.unpack(os.pread(fd, 4, pos))
            data = os.pread(fd, n, pos + 4)
            if len(data) != n:
                raise ComposefsError("composefs: reading back its scratch file: short read")
            pos += 4 + n
            yield data
        yield from self.pieces

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.pieces = []


def _record(c: Node | Leaf) -> tuple:
    """An inode's record: a Leaf's fields (6), a directory's (4), or another node's with its
    xattrs (7); its xattrs sorted, as the layout sorts them."""
    if type(c) is Leaf:
        return (c.mode, c.uid, c.gid, c.size, c.payload, c.digest)
    xattrs = tuple(sorted((k, v) for k, v in c.xattrs))
    if c.mode & S_IFMT == _DIR:
        return (c.mode, c.uid, c.gid, xattrs)
    return (c.mode, c.uid, c.gid, c.size, c.payload, c.digest, xattrs)


class _Walk:
    """Pass 1: the commit's inodes as records, and what the layout needs of the whole tree."""

    def __init__(self, builder: _Builder) -> None:
        self.builder = builder
        self.records = _Spool()
        self.listings = _Spool()
        self.run: list[tuple] = []
        self.run_dirs = 0
        self.lists: list[tuple] = []
        self.list_names = 0
        self.count = 0
        self.counts: dict[bytes, dict[bytes, int]] = {}
        self.has_acl = False
        # (an object's path is its key as it is: by its first character, 16 buckets are used)
        self.digests = SpilledKeys(32, "composefs digests")
        self.objects = SpilledKeys(_OBJECT_PATH, "composefs redirects")
        self.no_digest = 0
        self.externals = 0

    def close(self) -> None:
        for s in (self.records, self.listings, self.digests, self.objects):
            s.close()

    def _emit(self, nodes: Sequence[Node | Leaf]) -> None:
        """The records of these inodes, next in inode order; their xattrs and external files
        noted for the shared area."""
        run = self.run
        counts = self.counts
        add_digest = self.digests.add
        add_object = self.objects.add
        rec: tuple
        for c in nodes:
            if type(c) is Leaf:
                mode = c.mode
                size = c.size
                rec = (mode, c.uid, c.gid, size, c.payload, c.digest)
            else:
                rec = _record(c)
                mode = rec[0]
                size = rec[3] if len(rec) == 7 else 0
                for k, v in rec[-1]:
                    values = counts.get(k)
                    if values is None:
                        values = counts[k] = {}
                    values[v] = values.get(v, 0) + 1
                    if k in _ACL_KEYS:
                        self.has_acl = True
            run.append(rec)
            if len(rec) == 4:
                # a run's directories are made with their entries' names (see _nodes): so many, and
                # the run ends, whatever their number of entries
                self.run_dirs += 1
                if self.run_dirs >= _RUN_DIRS:
                    self.records.add(marshal.dumps(run))
                    self.run = run = []
                    self.run_dirs = 0
            if size > 0 and mode & S_IFMT == _REG:
                self.externals += 1
                d = rec[5]
                if d is None:
                    self.no_digest += 1
                else:
                    if len(d) != 32:
                        raise ComposefsError("internal error: a digest of other than 32 bytes")
                    add_digest(d)
                p = rec[4]
                # (an object's path below objects/, commit_image._payload: the same for one object)
                if len(p) != _OBJECT_PATH:
                    raise ComposefsError("internal error: an object path of unexpected form")
                add_object(p)
        self.count += len(nodes)
        if len(run) >= _RUN:
            self.records.add(marshal.dumps(run))
            self.run = []
            self.run_dirs = 0

    def _listing(self, names: list[bytes], parent: int, first: int, nlink: int) -> None:
        self.lists.append((names, parent, first, nlink))
        self.list_names += len(names) + 1
        if self.list_names >= _NAMES_RUN:
            self.flush_lists()

    def flush_lists(self) -> None:
        if self.lists:
            self.listings.add(marshal.dumps(self.lists))
            self.lists = []
            self.list_names = 0

    def flush(self) -> None:
        if self.run:
            self.records.add(marshal.dumps(self.run))
            self.run = []
        self.flush_lists()

    def walk(self, root_tree: str, root_meta: str) -> None:
        builder = self.builder
        uid, gid, mode, xattrs = builder.dirmeta(root_meta)
        root = Node(mode)
        root.uid, root.gid = uid, gid
        for k, v in xattrs:
            root.set_xattr(k, v)
        if not root.is_dir():
            raise ComposefsError("Root checkout of composefs must be directory")
        subtrees = builder.entries(root, root_tree)
        add_root_dirs(root)
        # the layout's first walk: the root, then its own entries, rewritten before its
        # whiteouts are added (and those are not)
        _prepare(root, 0)
        for c in root.children.values():
            if type(c) is not Leaf:
                self._prepare(c)
        _add_root_whiteouts(root)
        self._emit([root])
        # the directories to visit, in inode order: (dirtree or None, inode number, parent's)
        queue: list[tuple[str | None, int, int]] = []
        self._entries(root, 0, 0, subtrees, queue)
        qi = 0
        while qi < len(queue):
            tree, own, parent = queue[qi]
            queue[qi] = None  # type: ignore[call-overload]  # (visited: its entry goes)
            qi += 1
            d = Node(_DIR | 0o755)
            subtrees = builder.entries(d, tree) if tree is not None else {}
            if len(builder.seen) > _SEEN_MAX:
                builder.seen.clear()
            for c in d.children.values():
                if type(c) is not Leaf:
                    self._prepare(c)
            self._entries(d, own, parent, subtrees, queue)
        self.flush()

    def _prepare(self, c: Node) -> None:
        if c.mode & S_IFMT == stat.S_IFCHR and c.rdev == 0:
            # (no commit holds one: its content objects are files and symlinks)
            raise ComposefsError("internal error: a whiteout in a commit")
        _prepare(c, 0)

    def _entries(self, d: Node, own: int, parent: int, subtrees: dict[bytes, str],
                 queue: list[tuple[str | None, int, int]]) -> None:
        """Emit the records of the entries of ``d`` (inode ``own``, in ``parent``) and its listing;
        queue its directories."""
        children = d.children
        names = sorted(children)
        first = self.count
        nodes = [children[name] for name in names]
        ndirs = 0
        for i, c in enumerate(nodes, first):
            if c.mode & S_IFMT == _DIR and type(c) is not Leaf:
                ndirs += 1
                queue.append((subtrees.get(c.name), i, own))   # type: ignore[arg-type]
        self._emit(nodes)
        self._listing(names, parent, first, 2 + ndirs)
        # (the entries' links up to ``d`` stay; its map of them goes, so no cycle outlives it)
        d.children = {}


def _nodes(run: list[tuple], listings: Iterator[tuple], first: int) -> tuple[list, dict, list]:
    """The nodes of a run of records numbered from ``first``, and its directories' entries (names
    and the inode numbers they name, "." and ".." among them) as the layout's first walk makes them."""
    nodes: list[Node | Leaf] = []
    dirs: dict[Node, list] = {}
    where: list[tuple[int, list]] = []
    for i, r in enumerate(run, first):
        n = len(r)
        if n == 6:
            nodes.append(Leaf(*r))
            continue
        node = Node(r[0])
        node.uid, node.gid = r[1], r[2]
        if r[-1]:
            node.xattrs = [list(x) for x in r[-1]]
        if n == 7:
            node.size, node.payload, node.digest = r[3], r[4], r[5]
        else:
            names, parent, start, nlink = next(listings)
            node.nlink = nlink
            kids = list(range(start, start + len(names)))
            _add_dots(names, kids, i, parent)
            dirs[node] = entry = [names, kids, _NO_SPLITS]
            # (and its place in the run: see write_commit_stream)
            where.append((i - first, entry))
        nodes.append(node)
    return nodes, dirs, where


def _listings(spool: _Spool) -> Iterator[tuple]:
    for piece in spool:
        yield from marshal.loads(piece)


def _runs(spool: _Spool) -> Iterator[Any]:
    for piece in spool:
        yield marshal.loads(piece)


def write_commit_stream(builder: _Builder, root_tree: str, root_meta: str,
                        write: Callable[[bytes], object] | None, digest: bool = True) -> bytes:
    """Write the composefs image of the tree (``root_tree``, ``root_meta``) as
    :func:`~ostreepy.composefs.erofs.write_image` writes the tree commit_image's ``_tree`` builds
    (version 0: a commit has no whiteouts), ``builder`` reading its objects; return its fs-verity
    digest (``b""`` when not ``digest``)."""
    w = _Walk(builder)
    blocks = placed = None
    try:
        w.walk(root_tree, root_meta)
        layout = _Layout(Node(_DIR | 0o755), 0)
        counts = w.counts
        if w.externals:
            counts[_METACOPY] = {d: 2 for d in w.digests.repeated()}
            if w.no_digest > 1:
                counts[_METACOPY][b""] = 2
            counts[_REDIRECT] = {p: 2 for p in w.objects.repeated()}
        w.digests.close()
        w.objects.close()
        layout.counts = counts
        layout.has_acl = w.has_acl
        layout.min_mtime = (0, 0)
        layout.compute_shared_xattrs()
        n = w.count
        layout.nids = _zeros("I", n)
        layout.ftypes = bytearray(_FT_REG) * n

        # pass 2: every inode's place
        pos = SUPER_OFFSET + 128
        n_data = 0
        first = 0
        listings = _listings(w.listings)
        # what the place of each run's inodes is, kept for pass 3 (~25 bytes an inode): placed
        # again there, they cost as much as here
        placed = _Spool()
        for run in _runs(w.records):
            layout.nodes, layout.dirs, where = _nodes(run, listings, first)
            nd, pos = layout.place(layout.nodes, first, pos)
            placed.add(marshal.dumps((bytes(layout.ipads), bytes(layout.xattr_sizes), bytes(layout.blocks),
                                      bytes(layout.tails), bytes(layout.shared_masks), layout.wide_masks,
                                      {j: e[2] for j, e in where if e[2]})))
            n_data += nd
            first += len(run)
        layout.inodes_end = _align(pos, SLOT)
        layout.n_data_blocks = n_data

        # pass 3: again, written
        out = _new_out(write, digest)
        data_start = _write_head(layout, out, 0, n)
        blocks = _Spool()
        staged = _Out(blocks.add, None)
        first = 0
        current_end = data_start
        listings = _listings(w.listings)
        for run, at in zip(_runs(w.records), _runs(placed)):
            layout.nodes, layout.dirs, where = _nodes(run, listings, first)
            ipads, xattr_sizes, n_blocks, tails, layout.shared_masks, layout.wide_masks, splits = at
            layout.ipads, layout.blocks = memoryview(ipads).cast("Q"), memoryview(n_blocks).cast("Q")
            layout.xattr_sizes, layout.tails = memoryview(xattr_sizes).cast("I"), memoryview(tails).cast("I")
            if splits:
                for j, e in where:
                    if j in splits:
                        e[2] = splits[j]
            current_end = _write_inodes(layout, out, current_end, first)
            _write_blocks(layout, staged)
            first += len(run)
        staged.flush()
        layout.nodes, layout.dirs = [], {}
        _write_shared(layout, out)
        for piece in blocks:
            out.write(piece)
        out.flush()
        if out.pos != (data_start // BLOCK_SIZE + n_data) * BLOCK_SIZE:
            raise ComposefsError("internal error: data block count")
        return b"" if out.hasher is None else out.hasher.digest()
    finally:
        w.close()
        for spool in (blocks, placed):
            if spool is not None:
                spool.close()
