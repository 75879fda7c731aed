"""The in-memory tree a composefs image is built from, with libcomposefs's rules.

A :class:`Node` is one inode (or, with ``link_to`` set, a hard link to one)
named in its parent's ``children``. The rules that decide which inputs are
refused, and the bookkeeping that decides when an xattr no longer fits, follow
libcomposefs (``lcfs-writer.c``) to the letter, because they decide which trees
give an image at all: the same tree must be accepted or refused as
``mkcomposefs`` does. Names, payloads and xattr keys are bytes (C strings:
the first NUL ends them); xattr values and inline content are arbitrary bytes.
"""

from __future__ import annotations

import stat

from .._process import gc_paused  # a name of this module's too (in __all__)
from ..errors import OstreeError

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from types import MappingProxyType
    from typing import Iterator, Mapping
else:
    MappingProxyType = type(type.__dict__)   # without importing types: start-up of every command

__all__ = [
    "ComposefsError", "Node", "Leaf", "INLINE_CONTENT_MAX", "RECOMMENDED_INLINE_CONTENT_MAX", "MAX_NAME_LENGTH",
    "MAX_NONINLINE_CHUNKS", "follow_links", "chunking", "digest_object_path", "gc_paused",
]


class ComposefsError(OstreeError):
    """A composefs dump file, tree or image that breaks the format's rules."""


#: Largest inline file a dump file may carry (``LCFS_INLINE_CONTENT_MAX``).
INLINE_CONTENT_MAX = 5000
#: Files up to this size are inlined when read from a directory.
RECOMMENDED_INLINE_CONTENT_MAX = 64
#: Longest file name.
MAX_NAME_LENGTH = 255
#: Most chunks an external file may have (so its chunk table fits a block).
MAX_NONINLINE_CHUNKS = 1024
PATH_MAX = 4096
XATTR_NAME_MAX = 255
_XATTR_META = 4                      # LCFS_INODE_XATTRMETA_SIZE
_XATTR_HEADER = 12
EXTERNAL_XATTR_MAX = 0xFFFF // 2    # LCFS_INODE_EXTERNAL_XATTR_MAX
BLOCK_BITS = 12
_CHUNK_BLKBITS_MASK = 0x1F

S_IFMT = 0o170000
_S_IFDIR = stat.S_IFDIR
_VALID_TYPES = frozenset({stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK, stat.S_IFBLK, stat.S_IFCHR,
                          stat.S_IFSOCK, stat.S_IFIFO})


def cstr(b: bytes) -> bytes:
    """``b`` as C code sees it: up to the first NUL."""
    if b"\0" not in b:
        return b
    i = b.find(b"\0")
    return b if i < 0 else b[:i]


def chunking(size: int) -> tuple[int, int]:
    """(chunk bits, chunk count) of an external file of ``size`` bytes (erofs_compute_chunking)."""
    if size <= 1 << BLOCK_BITS:
        return BLOCK_BITS, 1 if size > 0 else 0
    bits = max((size - 1).bit_length() if size > 1 else 1, BLOCK_BITS)
    if size <= 1:
        bits = BLOCK_BITS
    if bits - BLOCK_BITS > _CHUNK_BLKBITS_MASK:
        bits = _CHUNK_BLKBITS_MASK + BLOCK_BITS
    return bits, -(-size // (1 << bits))


def digest_object_path(digest: bytes) -> str:
    """``ab/cdef…`` — where a digest store keeps the file with this fs-verity digest."""
    h = digest.hex()
    return f"{h[:2]}/{h[2:]}"


# What a node without children or xattrs holds: shared, read-only, instead of an empty dict and
# list per node (120 bytes each, of ~500 for a file node); the first child or xattr gets its own.
_NO_CHILDREN: Mapping[bytes, Node] = MappingProxyType({})
_NO_XATTRS: tuple[()] = ()


class Node:
    """One entry of the tree; mutable while a tree is being built."""

    __slots__ = ("mode", "nlink", "uid", "gid", "rdev", "size", "mtime_sec", "mtime_nsec", "payload",
                 "content", "xattrs", "xattr_size", "digest", "children", "parent", "name", "link_to",
                 "link_invalid")

    # (The image writer keeps an inode's layout, its number included, in arrays by inode
    # number, not on the node.)

    def __init__(self, mode: int = 0) -> None:
        self.mode = mode
        self.nlink = 1
        self.uid = 0
        self.gid = 0
        self.rdev = 0
        self.size = 0
        self.mtime_sec = 0
        self.mtime_nsec = 0
        self.payload: bytes | None = None
        self.content: bytes | None = None
        # [key, value] in insertion order until sorted
        self.xattrs: list[list[bytes]] = _NO_XATTRS  # type: ignore[assignment]
        self.xattr_size = 0
        self.digest: bytes | None = None
        self.children: dict[bytes, Node] = (
            {} if mode & S_IFMT == _S_IFDIR else _NO_CHILDREN)  # type: ignore[assignment]
        self.parent: Node | None = None
        self.name: bytes | None = None
        self.link_to: Node | None = None
        self.link_invalid = False
        # The image writer's fields (below) are set by it, as it lays out each inode.

    # -- kind ---------------------------------------------------------------
    @property
    def ftype(self) -> int:
        return self.mode & S_IFMT

    def is_dir(self) -> bool:
        return self.mode & S_IFMT == _S_IFDIR

    # -- data ---------------------------------------------------------------
    def set_payload(self, payload: bytes | None) -> None:
        if payload is not None:
            payload = cstr(payload)
            if len(payload) >= PATH_MAX:
                raise ComposefsError("payload too long")
        self.payload = payload

    def set_symlink_payload(self, payload: bytes | None) -> None:
        if not payload or not cstr(payload):
            raise ComposefsError("Invalid symlink")
        self.set_payload(payload)
        assert self.payload is not None
        self.size = len(self.payload)

    def set_content(self, data: bytes) -> None:
        if len(data) > INLINE_CONTENT_MAX:
            raise ComposefsError(f"Inline content size {len(data)} exceeds maximum {INLINE_CONTENT_MAX}")
        self.content = bytes(data) if data else None
        self.size = len(data)

    def set_size(self, size: int) -> None:
        if size != self.size:
            self.content = None
            self.size = size

    # -- xattrs (lcfs_node_set_xattr's accounting, which decides what fits) --
    def get_xattr(self, key: bytes) -> bytes | None:
        for k, v in self.xattrs:
            if k == key:
                return v
        return None

    def unset_xattr(self, key: bytes) -> bool:
        for i, (k, v) in enumerate(self.xattrs):
            if k == key:
                last = self.xattrs.pop()
                if i < len(self.xattrs):
                    self.xattrs[i] = last
                if self.xattrs:
                    self.xattr_size -= (2 * _XATTR_META - 1) + len(key) + len(v)
                else:
                    self.xattr_size = 0
                return True
        return False

    def set_xattr(self, key: bytes, value: bytes, limit: int = EXTERNAL_XATTR_MAX) -> None:
        key = cstr(key)
        if not key or len(key) > XATTR_NAME_MAX:
            raise ComposefsError(f"Invalid xattr name {key!r}")
        if len(value) > 0xFFFF:
            raise ComposefsError("xattr value too long")
        if self.xattrs:
            self.unset_xattr(key)
        entry = 2 * _XATTR_META - 1 + len(key) + len(value)
        if not self.xattrs:
            entry += _XATTR_HEADER
        if self.xattr_size + entry > limit:
            raise ComposefsError(f"Too much xattr data for {key!r}")
        if not self.xattrs:
            self.xattrs = []
        self.xattrs.append([key, bytes(value)])
        self.xattr_size += entry

    # -- structure ----------------------------------------------------------
    def add_child(self, name: bytes, child: Node) -> None:
        if not self.is_dir():
            raise ComposefsError("Parent must be a directory")
        name = cstr(name)
        if not name:
            raise ComposefsError("Invalid empty name")
        if len(name) > MAX_NAME_LENGTH:
            raise ComposefsError(f"Name too long: {name!r}")
        if child.name is not None:
            raise ComposefsError("Node added twice")
        children = self.children
        if name in children:
            raise ComposefsError(f"Path {name.decode('utf-8', 'replace')} already exists")
        if children is _NO_CHILDREN:   # a node made with another mode, a directory now
            children = self.children = {}
        children[name] = child
        child.parent = self
        child.name = name

    def make_hardlink(self, target: Node) -> None:
        if target is self:
            raise ComposefsError("Self-referential hardlink")
        try:
            follow_links(target)
        except ComposefsError:
            self.link_invalid = True
            return
        self.link_to = target
        target.nlink += 1

    def sorted_children(self) -> list[tuple[bytes, Node]]:
        return sorted(self.children.items())

    def walk(self) -> Iterator[tuple[bytes, Node]]:
        """(path, node) of this tree, depth first in name order; hard links are listed, not followed."""
        stack: list[tuple[bytes, Node]] = [(b"/", self)]
        while stack:
            path, node = stack.pop()
            yield path, node
            if node.link_to is None and node.children:
                base = path if path.endswith(b"/") else path + b"/"
                for name, child in reversed(node.sorted_children()):
                    if name in (b".", b".."):
                        continue
                    stack.append((base + name, child))

    def clone_tree(self) -> Node:
        """A deep copy whose hard links point into the copy."""
        mapping: dict[int, Node] = {}

        def copy(node: Node) -> Node:
            new = Node(node.mode)
            for attr in ("nlink", "uid", "gid", "rdev", "size", "mtime_sec", "mtime_nsec", "payload", "content",
                         "xattr_size", "digest", "link_invalid"):
                setattr(new, attr, getattr(node, attr))
            if node.xattrs:
                new.xattrs = [list(x) for x in node.xattrs]
            new.link_to = node.link_to
            mapping[id(node)] = new
            if node.children and new.children is _NO_CHILDREN:
                new.children = {}
            for name, child in node.children.items():
                c = copy(child)
                new.children[name] = c
                c.parent = new
                c.name = name
            return new

        root = copy(self)
        todo = [root]
        while todo:
            n = todo.pop()
            if n.link_to is not None:
                n.link_to = mapping.get(id(n.link_to), n.link_to)
            todo.extend(n.children.values())
        return root


class Leaf:
    """A regular file or symlink with no xattrs, inline content, hard link or time of its own:
    what a commit's tree is made of, by the hundred thousand. It holds only what varies (80 bytes
    against a :class:`Node`'s 176) and reads the rest from the class, as a Node without them
    would have it; it is in a directory's ``children`` but does not know its name or parent,
    which the image writer asks only of directories. Read-only (the writer keeps what it works
    out for an inode in its own arrays); :meth:`Node.clone_tree` copies it into a Node."""

    __slots__ = ("digest", "gid", "mode", "payload", "size", "uid")

    nlink = 1
    rdev = 0
    mtime_sec = 0
    mtime_nsec = 0
    content: bytes | None = None
    xattrs: tuple[()] = _NO_XATTRS
    children: Mapping[bytes, Node] = _NO_CHILDREN
    parent: Node | None = None
    name: bytes | None = None
    link_to: Node | None = None
    link_invalid = False
    xattr_size = 0

    def __init__(self, mode: int, uid: int, gid: int, size: int, payload: bytes | None,
                 digest: bytes | None) -> None:
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.payload = payload
        self.digest = digest

    @property
    def ftype(self) -> int:
        return self.mode & S_IFMT

    def is_dir(self) -> bool:
        return False

    def get_xattr(self, key: bytes) -> bytes | None:
        return None

    def sorted_children(self) -> list[tuple[bytes, Node]]:
        return []


def follow_links(node: Node) -> Node:
    """The inode a hard link chain ends at; a loop is an error."""
    start = node
    while node.link_to is not None:
        node = node.link_to
        if node is start:
            raise ComposefsError("Hardlink loop")
    return node


def validate_mode(mode: int) -> None:
    if mode & S_IFMT not in _VALID_TYPES:
        raise ComposefsError(f"Invalid mode {mode:o}")
