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

import itertools
import stat
import struct

from .._process import gc_paused

try:   # what collections.Counter counts with (C), without importing collections: start-up
    from _collections import _count_elements
except ImportError:   # (another Python)
    def _count_elements(mapping: dict, iterable: list) -> None:   # type: ignore[misc]
        get = mapping.get
        for v in iterable:
            mapping[v] = get(v, 0) + 1
from .tree import EXTERNAL_XATTR_MAX, S_IFMT, ComposefsError, Leaf, Node, chunking, follow_links, validate_mode

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import Callable

    from .fsverity import FsVerityHasher

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
_FT_REG = b"\x01"
_FT_LNK = _FT[stat.S_IFLNK]
_FT_CHR = _FT[stat.S_IFCHR]
# the inodes of nothing but themselves: no data (a device's number is in the inode)
_DEVICES = frozenset({stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK})
_PREFIXES = ((b"user.", 1), (b"system.posix_acl_access", 2), (b"system.posix_acl_default", 3),
             (b"trusted.", 4), (b"security.", 6))

_DIR, _REG, _LNK, _CHR = stat.S_IFDIR, stat.S_IFREG, stat.S_IFLNK, stat.S_IFCHR
_OVL = b"trusted.overlay."
_OVL_ESCAPE = b"trusted.overlay.overlay."
_U32 = 0xFFFFFFFF


def _zeros(typecode: str, n: int) -> memoryview:
    """``n`` zeros of a C type (``array.array(typecode, [0]) * n`` as the array module would
    give; a memoryview of a bytearray, indexed and iterated alike, as compact, and without
    the module, whose import brings collections: ~1 ms of a small image's start-up)."""
    return memoryview(bytearray(n * 8)).cast("Q") if typecode == "Q" else memoryview(bytearray(n * 4)).cast("I")


def _packed_u32(values: list[int]) -> memoryview:
    """``values`` as 4-byte numbers a slot each (as an ``array.array("I")``, 4 bytes an entry
    where a list holds an int object and a pointer: ~36), writable for the hard links'
    numbers set once the walk is done."""
    return memoryview(bytearray(struct.pack(f"{len(values)}I", *values))).cast("I")


def _bisect_left(names: list[bytes], name: bytes) -> int:
    """Where ``name`` goes in the sorted ``names`` (bisect.bisect_left: its module is
    start-up, for two look-ups a directory)."""
    lo, hi = 0, len(names)
    while lo < hi:
        mid = (lo + hi) // 2
        if names[mid] < name:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _align(n: int, a: int) -> int:
    return (n + a - 1) & ~(a - 1)


#: xattr key -> (EROFS prefix index, suffix); keys repeat (a tree has a handful of distinct ones)
_XATTR_INDEX: dict[bytes, tuple[int, bytes]] = {}
#: xattr key -> its bit in an inode's xattr bloom filter
_FILTER_BIT: dict[bytes, int] = {}
_CACHE_MAX = 4096


def _xattr_index(key: bytes) -> tuple[int, bytes]:
    ix = _XATTR_INDEX.get(key)
    if ix is not None:
        return ix
    ix = (0, key)
    for prefix, index in _PREFIXES:
        if key.startswith(prefix):
            ix = (index, key[len(prefix):])
            break
    if len(_XATTR_INDEX) < _CACHE_MAX:
        _XATTR_INDEX[key] = ix
    return ix


def _filter_bit(key: bytes) -> int:
    index, suffix = _xattr_index(key)
    bit = 1 << (_xxh32(suffix, _FILTER_SEED + index) & 31)
    if len(_FILTER_BIT) < _CACHE_MAX:
        _FILTER_BIT[key] = bit
    return bit


_P1, _P2, _P3, _P4, _P5 = 2654435761, 2246822519, 3266489917, 668265263, 374761393


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _U32


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




# -- rewriting the tree as libcomposefs does before laying it out -------------


_METACOPY = b"trusted.overlay.metacopy"
_REDIRECT = b"trusted.overlay.redirect"
_METACOPY_HEAD = b"\0\x24\0\x01"


_XATTR_FIRST = 12                        # what the first xattr of a node adds in set_xattr's count
_METACOPY_ACCOUNT = 2 * 4 - 1 + len(_METACOPY)
_REDIRECT_ACCOUNT = 2 * 4 - 1 + len(_REDIRECT)


def _account_xattr(node: Node, key: bytes, value_len: int) -> None:
    """``set_xattr``'s accounting of a key the node cannot have yet (its overlay keys were
    escaped): the same error where the xattrs would not fit."""
    entry = 2 * 4 - 1 + len(key) + value_len
    if not node.xattrs and not node.xattr_size:
        entry += 12
    if node.xattr_size + entry > EXTERNAL_XATTR_MAX:
        raise ComposefsError(f"Too much xattr data for {key!r}")
    node.xattr_size += entry


def _external_xattrs(node: Node) -> list[list[bytes]]:
    """An external file's xattrs sorted by key, its metacopy and redirect among them as
    ``[key, digest or b""]`` and ``[key, payload]``: what the shared area is keyed by."""
    own = [[_METACOPY, node.digest or b""]]
    if node.payload:
        own.append([_REDIRECT, node.payload])
    if not node.xattrs:
        return own
    return sorted(node.xattrs + own)


def _entry_head_size(key: bytes) -> int:
    return 4 + len(_xattr_index(key)[1])


_METACOPY_ENTRY = _entry_head_size(_METACOPY)   # 20: both are 4-byte multiples, as 36 is
_REDIRECT_ENTRY = _entry_head_size(_REDIRECT)


def _real_value(key: bytes, value: bytes) -> bytes:
    """The value of an xattr as stored, from how :func:`_external_xattrs` holds it."""
    if key == _METACOPY:
        return _METACOPY_HEAD + value if value else b""
    if key == _REDIRECT:
        return b"/" + value
    return value


def _prepare(node: Node, version: int) -> None:
    """One inode's share of libcomposefs's rewrite before layout: its checks, its overlay xattrs
    escaped, metacopy/redirect for external files, a 0/0 character device made a whiteout."""
    mode = node.mode
    ftype = mode & S_IFMT
    if ftype not in _FT:
        validate_mode(mode)
    if node.link_invalid:
        raise ComposefsError("Invalid hardlink")
    for x in node.xattrs:
        if x[0].startswith(_OVL):
            x[0] = _OVL_ESCAPE + x[0][len(_OVL):]
    if ftype == stat.S_IFREG:
        size = node.size
        if size > 0 and node.content is None:
            if size > 1 << 43 and chunking(size)[1] > 1024:
                raise ComposefsError(f"File too big: {size} bytes")
            # its metacopy and redirect xattrs are counted here but made only as they are written,
            # from the digest and payload (two bytes objects and three lists a file less: ~25%
            # of the tree being written)
            if type(node) is Leaf:
                pass  # (the layout works out a Leaf's two, as for those below the root)
            elif not node.xattr_size:
                # the two alone, as _account_xattr counts them: far from the limit (a payload is
                # shorter than PATH_MAX)
                p = node.payload
                node.xattr_size = (_XATTR_FIRST + _METACOPY_ACCOUNT + (0 if node.digest is None else 36)
                                   + (_REDIRECT_ACCOUNT + 1 + len(p) if p else 0))
            else:
                _account_xattr(node, _METACOPY, 0 if node.digest is None else 36)
                if node.payload:
                    _account_xattr(node, _REDIRECT, 1 + len(node.payload))
    elif ftype == stat.S_IFCHR and node.rdev == 0:
        parent = node.parent
        assert parent is not None
        node.size = 0
        node.mode = stat.S_IFREG | (mode & ~S_IFMT)
        node.set_xattr(b"trusted.overlay.overlay.whiteout", b"")
        node.set_xattr(b"user.overlay.whiteout", b"")
        parent.set_xattr(b"trusted.overlay.overlay.whiteouts", b"")
        parent.set_xattr(b"user.overlay.whiteouts", b"")
        if version >= 1:
            parent.set_xattr(b"trusted.overlay.overlay.opaque", b"x")
            parent.set_xattr(b"user.overlay.opaque", b"x")


def _add_root_whiteouts(root: Node) -> None:
    root.set_xattr(b"trusted.overlay.opaque", b"y")
    selinux = root.get_xattr(b"security.selinux")
    children = root.children
    owner_and_time = root.uid, root.gid, root.mtime_sec, root.mtime_nsec
    # a Leaf (a quarter of a Node's making, and the layout's shortcut) where it can hold all a
    # whiteout has: no xattr, and the root's time a Leaf's, 0.0 (an ostree commit's)
    leaf = selinux is None and not root.mtime_sec and not root.mtime_nsec and type(children) is dict
    for i in range(256):
        name = b"%02x" % i
        if name in children:
            continue
        if leaf:
            children[name] = Leaf(_WHITEOUT_MODE, root.uid, root.gid, 0, None, None)  # type: ignore[assignment]
            continue
        w = Node(_WHITEOUT_MODE)
        w.uid, w.gid, w.mtime_sec, w.mtime_nsec = owner_and_time
        if selinux is not None:
            w.set_xattr(b"security.selinux", selinux)
        if type(children) is dict:
            # add_child's work but its checks, which a new node with such a name passes
            children[name] = w
            w.parent = root
            w.name = name
        else:
            root.add_child(name, w)
            children = root.children


_WHITEOUT_MODE = stat.S_IFCHR | 0o644
_ACL_KEYS = (b"system.posix_acl_access", b"system.posix_acl_default")
_NO_SPLITS: list[int] = []   # a directory whose entries fit one block (never changed)
_DOTS = (b".", b"..")


#: the longest list :func:`_repeated` counts by hash
_COUNT_BY_HASH_MAX = 20_000


def _repeated(values: list[bytes | None], none_is: bytes | None) -> dict[bytes, int]:
    """The values that occur more than once (all that the shared area takes, with a count over
    one), None counted as ``none_is`` (or not at all), b"" not at all but as that. Counted by
    hash (a 5k-file tree's two lists ~0.5 ms), not found by sorting the lists (~3 ms: tens of
    thousands of comparisons of 32-byte digests and object paths). A long list is sorted after
    all: a count for every value (~50 bytes each, most of them unique) was 5 MB more of a
    100,000-file deploy's peak, which must stay under 100 MB; the order leaves only which repeat."""
    if len(values) > _COUNT_BY_HASH_MAX:
        vals = [v for v in values if v] if none_is is None else [none_is if v is None else v for v in values]
        del values[:]
        vals.sort()  # type: ignore[call-overload]
        return {a: 2 for a, b in zip(vals, itertools.islice(vals, 1, None)) if a == b}  # type: ignore[misc]
    counts: dict[bytes | None, int] = {}
    _count_elements(counts, values)
    n = counts.pop(None, 0)
    if none_is is None:
        counts.pop(b"", None)
    elif n:
        counts[none_is] = counts.get(none_is, 0) + n
    if not counts or max(counts.values()) < 2:
        return {}
    return {v: c for v, c in counts.items() if c > 1}   # type: ignore[misc]


def _add_dots(names: list[bytes], kids: list[int], own: int, parent: int) -> None:
    """"." (inode ``own``) and ".." (``parent``) among a directory's sorted entries, where they
    sort, unless there already (a name of the tree's own)."""
    if not names or names[0] > b"..":
        # (most directories: every name sorts after both, which are then not among them)
        names[0:0] = _DOTS
        kids[0:0] = (own, parent)
        return
    for name, number in ((b".", own), (b"..", parent)):
        j = _bisect_left(names, name)
        if j == len(names) or names[j] != name:
            names.insert(j, name)
            kids.insert(j, number)


class _Layout:
    """Where everything goes. Each node's own rewrite (:func:`_prepare`) runs when its parent is
    visited, children in name order: the same sequence of changes per inode as libcomposefs's
    depth-first rewrite, since an inode is changed only by itself and its direct children."""

    def __init__(self, root: Node, version: int, max_version: int | None = None, spend: bool = False) -> None:
        self.root = root
        self.spend = spend   # the tree may be rewritten and emptied
        self.version = version
        # a whiteout, which only version 1 holds, raises the version to this when the walk meets
        # the first (before its rewrite, the one step the version changes)
        self.max_version = version if max_version is None else max_version
        self.nodes: list[Node] = []
        self.min_mtime = (root.mtime_sec, root.mtime_nsec)
        self.has_acl = False
        # per xattr key, how often each value occurs (nested, not keyed by (key, value): a tuple
        # per pair would cost ~100 bytes for each of the two xattrs of every external file)
        self.counts: dict[bytes, dict[bytes, int]] = {}
        self.shared: list[bytes] = []   # the shared xattr entries, in place order
        self.offsets: dict[bytes, dict[bytes, int]] = {}   # key -> value -> offset in the shared area
        self.shared_size = 0
        self.inodes_end = 0
        self.n_data_blocks = 0
        # per directory: its entries' names, the inodes they name and where its blocks start
        self.dirs: dict[Node, list] = {}
        # per inode, in inode order, as arrays rather than fields of every node (~35 bytes an
        # inode less): the padding before it (shifted by 3; bit 0: a compact inode, bits 1 and 2:
        # the writer's shortcuts, see compute_inodes), the size of its xattrs, its whole blocks and
        # its tail; and which of its xattrs are shared where any are
        self.ipads = _zeros("Q", 0)
        self.xattr_sizes = _zeros("I", 0)
        self.blocks = _zeros("Q", 0)
        self.tails = _zeros("I", 0)
        self.nids = _zeros("Q", 0)   # the inode's number in the image (its slot)
        # (a byte an inode: with no file digests the empty metacopy value is shared by every
        # external file, so most inodes have a mask; 255 means it is in ``wide_masks``)
        self.shared_masks = bytearray()
        self.ftypes = bytearray()
        self.wide_masks: dict[int, int] = {}

    def compute_tree(self) -> None:
        """Breadth first, children sorted by name: inode numbers, directory entries, xattr counts."""
        root = self.root
        version = self.version
        max_version = self.max_version
        if version < max_version and root.mode & S_IFMT == _CHR and root.rdev == 0:
            version = self.version = max_version
        _prepare(root, version)
        nodes = self.nodes
        nodes.append(root)
        counts = self.counts
        # every external file (but those the walk below takes with their xattrs), whose metacopy
        # values and redirects are counted once the walk is done to find the repeated ones: a list
        # costs 8 bytes a file where counting in a dict as it goes would cost ~50
        externals: list[Node] = []
        add_external = externals.append
        links: list[Node] = []
        # (entries array, position, target) of every hard link, numbered once the walk is done
        link_entries: list[tuple[memoryview | list[int], int, Node]] = []
        queued = [0]   # the inode numbers of the nodes in ``queue``
        dir_numbers: dict[int, int] = {id(root): 0}   # a directory's inode number, by id
        min_sec, min_nsec = self.min_mtime
        has_acl = False
        leaves = False   # a plain external Leaf was taken (its mtime, 0.0, not yet in the least)
        # the inodes that need more than the plain file's share of the work below: directories (in
        # the order they enter ``nodes``, so that stays breadth first) and nodes with xattrs or children
        queue = [root]
        for qi, node in enumerate(queue):   # grows while walked
            children = node.children
            if node.mode & S_IFMT == _DIR:
                names = sorted(children)
                if node is root:
                    # root's own entries are rewritten before its whiteouts are added (and are not)
                    for name in names:
                        c = children[name]
                        if c.link_to is None:
                            if version < max_version and c.mode & S_IFMT == _CHR and c.rdev == 0:
                                version = self.version = max_version
                            _prepare(c, version)
                    _add_root_whiteouts(root)
                    names = sorted(children)
                # entries as names and the inode numbers they name: a tuple per entry would cost
                # 64 bytes, and an inode number kept on each node an int object (32); the numbers
                # of its entries are those the directory's inodes get here, in order (a range), but
                # for its hard links' (0 until the walk is done), then packed (_packed_u32) if many
                first = len(nodes)
                ndirs = 0
                below_root = node is not root
                links_here = False
                for c in map(children.__getitem__, names):
                    ftype = c.mode & S_IFMT
                    if type(c) is Leaf and below_root and (ftype == _REG and 0 < c.size <= 1 << 43 or ftype == _LNK):
                        # a Leaf below the root (most of a commit's or a dump's tree): what it leaves out is
                        # its class's (no link, xattrs, content or children; mtime 0, taken into the least
                        # once, after the walk), read here no more (~18 ns a read); _prepare has nothing
                        # to do for it (its xattrs, metacopy and redirect, are far from the limit)
                        leaves = True
                        nodes.append(c)
                        if ftype == _REG:
                            add_external(c)
                        continue
                    if ftype == _DIR:
                        ndirs += 1
                    if c.link_to is None:
                        if below_root:
                            # _prepare(c) and the plain file's share of the work below, but for the
                            # plain external file (most of a tree) all done here: its rewrite changes
                            # only itself and its parent, so it may come just before its entry is taken
                            if (ftype == _REG and not c.xattrs and not c.xattr_size and c.content is None
                                    and 0 < c.size <= 1 << 43 and not c.link_invalid and not c.children):
                                p = c.payload
                                c.xattr_size = (_XATTR_FIRST + _METACOPY_ACCOUNT + (0 if c.digest is None else 36)
                                                + (_REDIRECT_ACCOUNT + 1 + len(p) if p else 0))
                                nodes.append(c)
                                add_external(c)
                                sec = c.mtime_sec
                                if sec <= min_sec and (sec < min_sec or c.mtime_nsec < min_nsec):
                                    min_sec, min_nsec = sec, c.mtime_nsec
                                continue
                            if version < max_version and ftype == _CHR and c.rdev == 0:
                                version = self.version = max_version
                            _prepare(c, version)
                            ftype = c.mode & S_IFMT
                        nodes.append(c)
                        if ftype == _DIR or c.xattrs or c.children:
                            queue.append(c)
                            queued.append(len(nodes) - 1)
                            if ftype == _DIR:
                                dir_numbers[id(c)] = len(nodes) - 1
                            continue
                        # a plain file: its share of the per-inode work below, done here
                        if ftype == _REG and c.size > 0 and c.content is None:
                            add_external(c)
                        sec = c.mtime_sec
                        if sec <= min_sec and (sec < min_sec or c.mtime_nsec < min_nsec):
                            min_sec, min_nsec = sec, c.mtime_nsec
                    else:
                        # resolved once every entry is rewritten, as before any was taken: the
                        # first refusal stays the same
                        links_here = True
                kids = list(range(first, len(nodes)))
                pending = []
                if links_here:
                    for j, name in enumerate(names):
                        if children[name].link_to is not None:
                            kids.insert(j, 0)
                            t = follow_links(children[name])
                            links.append(t)
                            pending.append((name, t))
                _add_dots(names, kids, queued[qi], 0 if node is root else dir_numbers[id(node.parent)])
                # (a list for a small directory, most of them: the packing's call and memoryview, ~200
                # bytes, cost more than the list's int objects there; ~0.8 ms of a 7k-inode tree's 5)
                packed = kids if len(kids) <= 16 else _packed_u32(kids)
                for name, t in pending:   # (where "." and ".." now put them)
                    link_entries.append((packed, _bisect_left(names, name), t))
                self.dirs[node] = [names, packed, _NO_SPLITS]
                if self.spend:
                    # names and inode numbers hold all the rest needs of the entries: a spent
                    # tree's map of them goes now, before the layout's arrays are made
                    node.children = {}
                node.nlink = 2 + ndirs
            elif children:
                raise ComposefsError("Only directories can have children")
            xattrs = node.xattrs
            if xattrs and len(xattrs) > 1:
                xattrs.sort()  # keys are unique on a node, so this is by key
            if node.mode & S_IFMT == _REG and node.size > 0 and node.content is None:
                add_external(node)
            if xattrs:
                for k, v in xattrs:
                    values = counts.get(k)
                    if values is None:
                        values = counts[k] = {}
                    values[v] = values.get(v, 0) + 1
                    if k in _ACL_KEYS:
                        has_acl = True
            sec = node.mtime_sec
            if sec <= min_sec and (sec < min_sec or node.mtime_nsec < min_nsec):
                min_sec, min_nsec = sec, node.mtime_nsec
        if leaves and 0 <= min_sec and (0 < min_sec or 0 < min_nsec):
            min_sec, min_nsec = 0, 0   # the Leaves' mtime
        if externals:
            # (a missing digest is the empty metacopy value; a missing or empty payload no redirect)
            counts[_METACOPY] = _repeated([c.digest for c in externals], b"")
            counts[_REDIRECT] = _repeated([c.payload for c in externals], None)
        self.min_mtime = (min_sec, min_nsec)
        self.has_acl = has_acl
        if links:
            in_tree = {id(n): i for i, n in enumerate(nodes)}
            for t in links:
                if id(t) not in in_tree:
                    raise ComposefsError("Hardlink to a file outside the tree")
            for entries, at, target in link_entries:
                entries[at] = in_tree[id(target)]

    def compute_shared_xattrs(self) -> None:
        # libcomposefs's canonical order: key descending, then longer values first, then bytes descending;
        # only the shared ones are placed, so only they need sorting (most pairs, redirects, are unique)
        # (key, value as stored, value as held: see _external_xattrs)
        order = sorted([(k, _real_value(k, v), v) for k, values in self.counts.items() for v, c in values.items()
                        if c > 1],
                       key=lambda kv: (kv[0], len(kv[1]), kv[1]),
                       reverse=True)
        off = 0
        for kv in order:
            self.offsets.setdefault(kv[0], {})[kv[2]] = off
            e = _xattr_entry(kv[0], kv[1])
            self.shared.append(e)
            off += len(e)
        self.shared_size = off
        self.counts = {}

    def compute_inodes(self) -> None:
        """Every inode's place, padding and parts, in arrays by inode number."""
        n = len(self.nodes)   # the arrays made whole at once: grown, they would be copied as they grow
        self.nids = _zeros("Q", n)
        # the directory entry's file type of each inode: a regular file's unless set below
        self.ftypes = bytearray(_FT_REG) * n
        self.n_data_blocks, pos = self.place(self.nodes, 0, SUPER_OFFSET + 128)
        self.inodes_end = _align(pos, SLOT)

    def place(self, nodes: list[Node], first: int, pos: int) -> tuple[int, int]:
        """Place ``nodes``, the inodes numbered from ``first`` on, the first at ``pos`` (or after its
        padding): their arrays (:attr:`ipads` and the rest) are made for them alone, their numbers in
        the image and file types set in :attr:`nids` and :attr:`ftypes` (of the whole image);
        (their whole blocks, the position after the last). Also what a streaming writer calls for
        a run of inodes at a time, again (the same answer) as it writes them."""
        offsets = self.offsets
        min_sec, min_nsec = self.min_mtime
        index = _XATTR_INDEX
        n_data = 0
        dirs = self.dirs
        self.wide_masks = wide = {}
        meta_offsets = offsets.get(_METACOPY, {})
        redirect_offsets = offsets.get(_REDIRECT, {})
        n = len(nodes)
        self.ipads = ipads = _zeros("Q", n)
        self.xattr_sizes = xattr_sizes = _zeros("I", n)
        self.blocks = blocks = _zeros("Q", n)
        self.tails = tails = _zeros("I", n)
        self.shared_masks = shared = bytearray(n)
        # (views of the image's arrays from ``first``: indexed as the others)
        nids = self.nids[first:first + n]
        ftypes = memoryview(self.ftypes)[first:first + n]
        ft = _FT
        leaf_time = min_sec == 0 and min_nsec == 0   # a Leaf's mtime is the least
        # the inode of the writer's shortcut (below) with its xattrs and tail, but for the redirect
        # entry's payload and padding: 32, 12 of the header, 56 of the metacopy entry, 4
        plain_size = _COMPACT + 12 + (_METACOPY_ENTRY + 32 + 4 + 3 & ~3) + 4 + _REDIRECT_ENTRY + 1 + 3
        # and of one without a digest whose metacopy value, empty, is shared (by every such file: a
        # checkout without fs-verity digests): the metacopy entry is a 4-byte reference (bit 2)
        shared_size = _COMPACT + 12 + 4 + 4 + _REDIRECT_ENTRY + 1 + 3
        empty_shared = b"" in meta_offsets
        for i, node in enumerate(nodes):
            if type(node) is Leaf and leaf_time:
                ftype = node.mode & S_IFMT
                if ftype == _REG:
                    p = node.payload
                    d = node.digest
                    size = node.size
                    if (p and d is not None and 0 < size <= _U32 and node.uid <= 0xFFFF and node.gid <= 0xFFFF
                            and len(d) == 32 and len(p) < 4096 and d not in meta_offsets
                            and p not in redirect_offsets):
                        # most of a tree: the path below for a compact external file whose digest and
                        # redirect are its own, which the writer's shortcut takes (bit 1). Its tail, 4
                        # bytes, never crosses a block: it ends 4-aligned, as everything before it does.
                        ipad = -pos % SLOT
                        pos += ipad
                        ipads[i] = (ipad << 12 | len(p)) << 3 | 3
                        nids[i] = pos // SLOT
                        pos += plain_size + len(p) & ~3
                        continue
                    if (not d and empty_shared and p and 0 < size <= _U32 and node.uid <= 0xFFFF
                            and node.gid <= 0xFFFF and len(p) < 4096 and p not in redirect_offsets):
                        # the same without a digest, its empty metacopy value shared (bit 2)
                        ipad = -pos % SLOT
                        pos += ipad
                        ipads[i] = (ipad << 12 | len(p)) << 3 | 7
                        shared[i] = 1
                        nids[i] = pos // SLOT
                        pos += shared_size + len(p) & ~3
                        continue
                elif ftype == _LNK and node.uid <= 0xFFFF and node.gid <= 0xFFFF and node.size <= _U32:
                    # a symlink whose compact inode and target fit the rest of the block (most): the
                    # path below (_tail_padding's first case) without its reads and call
                    q = pos + -pos % SLOT
                    end = q + _COMPACT + len(node.payload)  # type: ignore[arg-type]
                    if q // BLOCK_SIZE == (end - 1) // BLOCK_SIZE and end - q < BLOCK_SIZE:
                        ipads[i] = (q - pos) << 3 | 4 | 1
                        ftypes[i] = _FT_LNK
                        tails[i] = end - q - _COMPACT
                        nids[i] = q // SLOT
                        pos = end
                        continue
                elif ftype == _CHR and node.uid <= 0xFFFF and node.gid <= 0xFFFF:
                    # a root whiteout (see _add_root_whiteouts): a compact inode of nothing else, which
                    # the writer's shortcut for such inodes takes (bit 2)
                    ipad = -pos % SLOT
                    pos += ipad
                    ipads[i] = ipad << 3 | 4 | 1
                    ftypes[i] = _FT_CHR
                    nids[i] = pos // SLOT
                    pos += _COMPACT
                    continue
            ftype = node.mode & S_IFMT
            leaf = type(node) is Leaf   # (no content, xattrs or own mtime and link count: its class's)
            if ftype == _REG and (leaf or node.content is None and not node.xattrs) and 0 < node.size <= 1 << 43:
                # most of a tree: the common external file (below), its tail one chunk address
                size = node.size
                mask = 0
                xattr_size = 12
                d = node.digest or b""
                if d in meta_offsets:
                    mask = 1
                    xattr_size += 4
                else:
                    xattr_size += (_METACOPY_ENTRY + len(d) + (4 if d else 0) + 3) & ~3
                p = node.payload
                if p:
                    if p in redirect_offsets:
                        mask |= 2
                        xattr_size += 4
                    else:
                        xattr_size += (_REDIRECT_ENTRY + 1 + len(p) + 3) & ~3
                if mask:
                    shared[i] = mask   # (at most 3)
                if leaf:
                    compact = leaf_time and node.uid <= 0xFFFF and node.gid <= 0xFFFF and size <= _U32
                else:
                    compact = (node.mtime_sec == min_sec and node.mtime_nsec == min_nsec and node.nlink <= 0xFFFF
                               and node.uid <= 0xFFFF and node.gid <= 0xFFFF and size <= _U32)
                inode_size = _COMPACT if compact else _EXTENDED
                ipad = -pos % SLOT
                pos += ipad
                tail = 4
                if BLOCK_SIZE - (pos + inode_size + xattr_size) % BLOCK_SIZE < 4:
                    extra, n_blocks, tail = _tail_padding(ftype, pos, inode_size + xattr_size, 0, 4)
                    ipad += extra
                    pos += extra
                    blocks[i] = n_blocks
                    n_data += n_blocks
                # bit 1: the writer's shortcut takes it (a digest, a redirect, neither shared, no blocks),
                # which needs no tail or xattr size: the padding and the payload's length are what it
                # needs (in the bits above, 12 of them the length's: a payload is shorter than PATH_MAX, 4096)
                if tail == 4 and not mask and p and len(d) == 32 and len(p) < 4096:
                    ipads[i] = (ipad << 12 | len(p)) << 3 | 2 | compact  # type: ignore[arg-type]
                else:
                    ipads[i] = ipad << 3 | compact
                    tails[i] = tail
                    xattr_sizes[i] = xattr_size
                nids[i] = pos // SLOT
                pos += inode_size + xattr_size + tail
                continue
            if leaf and ftype == _LNK:
                # a symlink as a Leaf (no xattrs; its time and link count its class's): the general
                # path below without what it reads of them
                size = node.size
                inode_size = _COMPACT if (leaf_time and node.uid <= 0xFFFF and node.gid <= 0xFFFF
                                          and size <= _U32) else _EXTENDED
                ipad = -pos % SLOT
                pos += ipad
                extra, n_blocks, tail = _tail_padding(_LNK, pos, inode_size, 0, len(node.payload))  # type: ignore[arg-type]
                ipad += extra
                pos += extra
                # bit 2: all it holds is its inode and its tail (the writer's shortcut for it)
                ipads[i] = ipad << 3 | (inode_size == _COMPACT) | (0 if n_blocks else 4)
                ftypes[i] = _FT_LNK
                blocks[i] = n_blocks
                tails[i] = tail
                n_data += n_blocks
                nids[i] = pos // SLOT
                pos += inode_size + tail
                continue
            n_blocks = 0
            tail = 0
            if ftype != _REG:
                ftypes[i] = ft.get(ftype, 0)
            if ftype == _DIR:
                entry = dirs[node]
                names = entry[0]
                total = 12 * len(names) + sum(map(len, names))
                splits: list[int] = []
                if total <= BLOCK_SIZE:
                    block = total
                else:
                    block = 0
                    for j, name in enumerate(names):
                        ln = 12 + len(name)
                        if block + ln > BLOCK_SIZE:
                            splits.append(j)
                            block = 0
                        block += ln
                n_blocks = len(splits)
                if block > BLOCK_SIZE // 2:
                    n_blocks += 1
                    block = 0
                tail = block
                if splits:
                    entry[2] = splits
                size = n_blocks * BLOCK_SIZE + tail
            else:
                size = node.size
                if ftype == _LNK:
                    tail = len(node.payload)  # type: ignore[arg-type]
                elif ftype == _REG and size > 0:
                    if node.content is not None:
                        n_blocks, tail = divmod(size, BLOCK_SIZE)
                        if tail > BLOCK_SIZE // 2:
                            n_blocks += 1
                            tail = 0
                    else:
                        tail = 4 if size <= 1 << 43 else chunking(size)[1] * 4
            compact = (node.mtime_sec == min_sec and node.mtime_nsec == min_nsec and node.nlink <= 0xFFFF
                       and node.uid <= 0xFFFF and node.gid <= 0xFFFF and size <= _U32)
            xattrs = node.xattrs
            if ftype == _REG and size > 0 and node.content is None:
                # (the common external file took the path above: here only one with xattrs of
                # its own or chunked, too large for one chunk address)
                xattrs = _external_xattrs(node)
            if xattrs:
                n_shared = 0
                unshared = 0
                mask = 0
                for j, (k, v) in enumerate(xattrs):
                    if n_shared < _XATTR_LONG_PREFIX and k in offsets and v in offsets[k]:
                        mask |= 1 << j
                        n_shared += 1
                    else:
                        ix = index.get(k)
                        if ix is None:
                            ix = _xattr_index(k)
                        unshared += (4 + len(ix[1]) + len(_real_value(k, v)) + 3) & ~3
                if mask:
                    if mask < 255:
                        shared[i] = mask
                    else:
                        shared[i] = 255
                        wide[i] = mask
                xattr_size = (12 + n_shared * 4 + unshared + 3) & ~3
            else:
                xattr_size = 0
            inode_size = _COMPACT if compact else _EXTENDED
            ipad = -pos % SLOT
            pos += ipad
            if ftype == _LNK or (tail and BLOCK_SIZE - (pos + inode_size + xattr_size) % BLOCK_SIZE < tail):
                # (a tail that fits the block needs no call: most do)
                extra, n_blocks, tail = _tail_padding(ftype, pos, inode_size + xattr_size, n_blocks, tail)
                ipad += extra
                pos += extra
            # bit 2: a directory or symlink that holds only its inode and its tail (most directories)
            inline = not xattr_size and not n_blocks and (tail and (ftype == _DIR or ftype == _LNK)
                                                          or ftype in _DEVICES)
            ipads[i] = ipad << 3 | compact | (4 if inline else 0)
            xattr_sizes[i] = xattr_size
            blocks[i] = n_blocks
            tails[i] = tail
            isize = inode_size + xattr_size + tail
            n_data += n_blocks
            nids[i] = pos // SLOT
            pos += isize
        ftypes.release()
        return n_data, pos


def _tail_padding(ftype: int, pos: int, non_tail: int, n_blocks: int, tail: int) -> tuple[int, int, int]:
    """(padding before the inode, blocks, tail size): a tail never crosses a block boundary."""
    total = non_tail + tail
    if ftype == _LNK:
        if total // BLOCK_SIZE > 0:
            n_blocks += 1
            tail = 0
        if pos // BLOCK_SIZE != (pos + total - 1) // BLOCK_SIZE:
            return _align(pos, BLOCK_SIZE) - pos, n_blocks, tail
        return 0, n_blocks, tail
    remainder = BLOCK_SIZE - ((pos + non_tail) % BLOCK_SIZE)
    if remainder < tail:
        extra = _align(remainder, SLOT)
        remainder = BLOCK_SIZE - ((pos + non_tail + extra) % BLOCK_SIZE)
        if tail <= remainder:
            return extra, n_blocks, tail
        return _align(pos, BLOCK_SIZE) - pos, n_blocks + 1, 0
    return 0, n_blocks, tail


class _Out:
    """Counts, hashes and forwards everything written, in pieces of about a MiB."""

    def __init__(self, write: Callable[[bytes], object] | None, hasher: FsVerityHasher | None) -> None:
        self.write_cb = write
        self.hasher = hasher
        self.pos = 0
        self.buf: list[bytes | bytearray] = []
        self.buffered = 0

    def write(self, data: bytes | bytearray) -> None:
        self.pos += len(data)
        self.buf.append(data)
        self.buffered += len(data)
        if self.buffered >= _FLUSH:
            self.flush()

    def flush(self) -> None:
        if not self.buf:
            return
        # one piece (the inode area of a small tree, each MiB of a large one) is passed on as it
        # is, not copied by a join (for a bytearray): a MiB less to touch
        data = self.buf[0] if len(self.buf) == 1 else b"".join(self.buf)
        self.buf = []
        self.buffered = 0
        if self.hasher is not None:
            self.hasher.update(data)
        if self.write_cb is not None:
            # (a bytearray, when one piece, is not changed after: a buffer as bytes is to a writer)
            self.write_cb(data)  # type: ignore[arg-type]

    def pad(self, n: int) -> None:
        if n:
            self.write(bytes(n))

    def align(self, a: int) -> None:
        self.pad(_align(self.pos, a) - self.pos)


_DIRENT = struct.Struct("<QHBB")
_INODE_COMPACT = struct.Struct("<HHHHIIIIHHI")
_INODE_EXTENDED = struct.Struct("<HHHHQIIIIqII16x")
_XATTR_HEAD = struct.Struct("<IB7x")
_XATTR_ENTRY_HEAD = struct.Struct("<BBH")
_U32_PACK = struct.Struct("<I").pack
_ZEROS = bytes(BLOCK_SIZE)
_FLUSH = 1 << 17


def _xattr_entry(key: bytes, value: bytes) -> bytes:
    index, suffix = _xattr_index(key)
    e = _XATTR_ENTRY_HEAD.pack(len(suffix), index, len(value)) + suffix + value
    return e + _ZEROS[:-len(e) % 4]


# An external file's metacopy and redirect entries as written, but for the values, and the xattr
# filters of an inode with just those two, or just the metacopy.
_MI, _MS = _xattr_index(_METACOPY)
_RI, _RS = _xattr_index(_REDIRECT)
_METACOPY_EMPTY = _XATTR_ENTRY_HEAD.pack(len(_MS), _MI, 0) + _MS
_METACOPY_HEAD_ENTRY = _XATTR_ENTRY_HEAD.pack(len(_MS), _MI, 36) + _MS + _METACOPY_HEAD
_METACOPY_FILTER = _U32 & ~_filter_bit(_METACOPY)
_EXTERNAL_FILTER = _METACOPY_FILTER & ~_filter_bit(_REDIRECT)
# their xattr headers by shared mask (bit 0: the metacopy is shared, bit 1: the redirect)
_EXTERNAL_HEADS = [_XATTR_HEAD.pack(_EXTERNAL_FILTER, n) for n in (0, 1, 1, 2)]
_METACOPY_HEADS = [_XATTR_HEAD.pack(_METACOPY_FILTER, n) for n in (0, 1)]
_SHARED_METACOPY_HEAD = _EXTERNAL_HEADS[1]
# what the common external file writes around its digest and payload: the header, the metacopy entry
# up to the digest; per payload length, the redirect entry up to the payload, and its padding with
# the null chunk address that follows as the inode's tail
_EXTERNAL_START = _EXTERNAL_HEADS[0] + _METACOPY_HEAD_ENTRY
_PLAIN_HEADS: dict[int, tuple[bytes, bytes, Callable[..., bytes], int, int, bytes]] = {}


def _plain_head(word: int) -> tuple[bytes, bytes, Callable[..., bytes], int, int, bytes]:
    """For the inode of the writer's shortcut whose padding word (see compute_inodes) is ``word``:
    the redirect entry up to the payload, its padding with the null chunk address that follows,
    the packer of the whole compact inode (the padding before it, then its fields, the start, the
    digest, the entry head, the payload and what follows it), its xattr count, its padding, and
    its first two fields (layout and xattr count) packed, which the packer takes as one: its
    constant fields are as few arguments as may be (zeros are padding)."""
    n = word >> 3 & 0xFFF
    pad = word >> 15
    head = _XATTR_ENTRY_HEAD.pack(len(_RS), _RI, n + 1) + _RS + b"/"
    end = _ZEROS[:-(_REDIRECT_ENTRY + 1 + n) % 4] + _NULL_ADDR
    if word & 4:
        # no digest, the empty metacopy value shared: the xattr header with one shared, its 4-byte
        # reference (an argument: it depends on the image), the redirect entry
        xattr_size = 12 + 4 + len(head) + n + len(end) - 4
        start = f"{len(_EXTERNAL_HEADS[1])}sI"
    else:
        # 12 of the xattr header, the metacopy entry with its 32-byte digest, the redirect entry
        xattr_size = 12 + len(_METACOPY_HEAD_ENTRY) + 32 + len(head) + n + len(end) - 4
        start = f"{len(_EXTERNAL_START)}s32s"
    icount = (xattr_size - 12) // 4 + 1
    # _INODE_COMPACT's fields, the first two as one and the reserved ones as padding
    pack = struct.Struct(f"<{pad}x4sHHI4xIIHH4x{start}{len(head)}s{n}s{len(end)}s").pack
    return head, end, pack, icount, pad, struct.pack("<HH", _CHUNK_BASED << 1, icount)


def _dentries(buf: bytearray, names: list[bytes], kids: memoryview | list[int], layout: _Layout) -> None:
    nameoff = len(kids) * 12
    pack = _DIRENT.pack
    nids, ftypes = layout.nids, layout.ftypes
    for name, i in zip(names, kids):
        # (a block's names end within it: every offset fits the 16 bits)
        buf += pack(nids[i], nameoff, ftypes[i], 0)
        nameoff += len(name)
    buf += b"".join(names)


def _write_inodes(layout: _Layout, out: _Out, data_start: int, first: int = 0) -> int:
    """Write the inodes :meth:`_Layout.place` placed last (numbered from ``first``), the first
    block of their data at ``data_start``; return where the next one's data goes."""
    offsets = layout.offsets
    base = layout.inodes_end % BLOCK_SIZE
    index = _XATTR_INDEX
    current_end = data_start
    buf = bytearray()
    pack_compact = _INODE_COMPACT.pack
    pack_extended = _INODE_EXTENDED.pack
    meta_offsets = offsets.get(_METACOPY, {})
    redirect_offsets = offsets.get(_REDIRECT, {})
    dirs = layout.dirs
    masks, wide = layout.shared_masks, layout.wide_masks
    xattr_sizes, blocks, tails = layout.xattr_sizes, layout.blocks, layout.tails
    plain_heads = _PLAIN_HEADS
    # the reference to the shared empty metacopy value (of external files without a digest)
    empty_ref = ((base + meta_offsets[b""]) // 4) & _U32 if b"" in meta_offsets else 0
    for inode_num, (node, ipad) in enumerate(zip(layout.nodes, layout.ipads)):
        ino = first + inode_num
        if ipad & 2:
            # most of a tree: an external file whose only xattrs, metacopy and redirect, are its own
            # (see compute_inodes, which marks it), and whose tail is its one null chunk address (so
            # no blocks): the general path below, with its constant parts joined, and the whole
            # compact inode, the padding before it included, packed in one call (a struct for each
            # padding and payload length met: a handful)
            head = plain_heads.get(ipad)
            if head is None:
                head = _plain_head(ipad)
                if len(plain_heads) < 4096:
                    plain_heads[ipad] = head
            size = node.size
            # chunking(size)'s bits - 12 (a tail of one chunk address: size <= 2**43)
            i_u = 0 if size <= BLOCK_SIZE else (size - 1).bit_length() - 12
            if ipad & 4:
                # (compact, no digest: see compute_inodes)
                buf += head[2](head[5], node.mode & 0xFFFF, node.nlink, size, i_u, ino, node.uid, node.gid,
                               _SHARED_METACOPY_HEAD, empty_ref, head[0], node.payload, head[1])
            elif ipad & 1:
                # (a compact inode's size, link count and ids fit its fields)
                buf += head[2](head[5], node.mode & 0xFFFF, node.nlink, size, i_u, ino, node.uid, node.gid,
                               _EXTERNAL_START, node.digest, head[0], node.payload, head[1])
            else:
                if head[4]:
                    buf += _ZEROS[:head[4]] if head[4] <= BLOCK_SIZE else bytes(head[4])
                buf += pack_extended(_CHUNK_BASED << 1 | 1, head[3], node.mode & 0xFFFF, 0, size, i_u, ino,
                                     node.uid, node.gid, node.mtime_sec, node.mtime_nsec, node.nlink)
                buf += _EXTERNAL_START
                buf += node.digest  # type: ignore[arg-type]
                buf += head[0]
                buf += node.payload  # type: ignore[arg-type]
                buf += head[1]
            if len(buf) >= _FLUSH:
                out.write(buf)
                buf = bytearray()
            continue
        compact = ipad & 1
        inline = ipad & 4
        ipad >>= 3
        if ipad:
            buf += _ZEROS[:ipad] if ipad <= BLOCK_SIZE else bytes(ipad)
        mode = node.mode
        if inline:
            # a directory or symlink of nothing but its inode and its tail, the entries or the target
            # (most directories and symlinks), or a device of nothing but its inode (the root's
            # whiteouts): the general path below without what they have not
            ftype = mode & S_IFMT
            if ftype == _DIR or ftype == _LNK:
                datalayout = _FLAT_INLINE
                size = tails[inode_num]
                i_u = 0
            else:
                datalayout = _FLAT_PLAIN
                size = 0
                i_u = node.rdev & _U32 if ftype == _CHR or ftype == stat.S_IFBLK else 0
            if compact:
                buf += pack_compact(datalayout << 1, 0, mode & 0xFFFF, node.nlink & 0xFFFF, size, 0, i_u, ino,
                                    node.uid & 0xFFFF, node.gid & 0xFFFF, 0)
            else:
                buf += pack_extended(datalayout << 1 | 1, 0, mode & 0xFFFF, 0, size, i_u, ino, node.uid,
                                     node.gid, node.mtime_sec, node.mtime_nsec, node.nlink)
            if ftype == _DIR:
                names, kids, _ = dirs[node]
                _dentries(buf, names, kids, layout)
            elif ftype == _LNK:
                buf += node.payload  # type: ignore[arg-type]
            if len(buf) >= _FLUSH:
                out.write(buf)
                buf = bytearray()
            continue
        xattr_size = xattr_sizes[inode_num]
        p = node.payload
        ftype = mode & S_IFMT
        icount = 0 if xattr_size == 0 else (xattr_size - 12) // 4 + 1
        if icount > 0xFFFF:
            raise ComposefsError("Too many xattrs")
        tail = tails[inode_num]
        n_blocks = blocks[inode_num]
        datalayout = _FLAT_INLINE if tail > 0 else _FLAT_PLAIN
        i_u = 0
        chunk_count = 0
        if ftype == _DIR:
            size = n_blocks * BLOCK_SIZE + tail
        elif ftype == _REG:
            size = node.size
            if size > 0 and node.content is None:
                bits, chunk_count = (12, 1) if size <= BLOCK_SIZE else chunking(size)
                datalayout = _CHUNK_BASED
        elif ftype == _LNK:
            size = tail if n_blocks == 0 else node.size
        else:
            size = 0
            if ftype == stat.S_IFCHR or ftype == stat.S_IFBLK:
                i_u = node.rdev & _U32
        if n_blocks > 0 and (ftype == _DIR or ftype == _REG or ftype == _LNK):
            i_u = (current_end // BLOCK_SIZE) & _U32
            current_end += BLOCK_SIZE * n_blocks
        if datalayout == _CHUNK_BASED:
            i_u = (i_u & 0xFFFF0000) | (bits - 12)
        if compact:
            buf += pack_compact(datalayout << 1, icount, mode & 0xFFFF, node.nlink & 0xFFFF, size & _U32, 0, i_u,
                                ino, node.uid & 0xFFFF, node.gid & 0xFFFF, 0)
        else:
            buf += pack_extended(datalayout << 1 | 1, icount, mode & 0xFFFF, 0, size, i_u, ino,
                                 node.uid, node.gid, node.mtime_sec, node.mtime_nsec, node.nlink)
        if xattr_size and datalayout == _CHUNK_BASED and not node.xattrs:
            # the common external file (see compute_inodes)
            mask = masks[inode_num]
            if p:
                buf += _EXTERNAL_HEADS[mask]
                if mask:
                    if mask & 1:
                        buf += _U32_PACK(((base + meta_offsets[node.digest or b""]) // 4) & _U32)
                    if mask & 2:
                        buf += _U32_PACK(((base + redirect_offsets[p]) // 4) & _U32)
            else:
                buf += _METACOPY_HEADS[mask]
                if mask:
                    buf += _U32_PACK(((base + meta_offsets[node.digest or b""]) // 4) & _U32)
            if not mask & 1:
                d = node.digest
                if d is None:
                    buf += _METACOPY_EMPTY
                elif len(d) == 32:
                    buf += _METACOPY_HEAD_ENTRY
                    buf += d
                else:
                    buf += _xattr_entry(_METACOPY, _METACOPY_HEAD + d)
            if p and not mask & 2:
                buf += _XATTR_ENTRY_HEAD.pack(len(_RS), _RI, len(p) + 1)
                buf += _RS
                buf += b"/"
                buf += p
                pad = -(_REDIRECT_ENTRY + 1 + len(p)) % 4
                if pad:
                    buf += _ZEROS[:pad]
        elif xattr_size:
            xattrs = _external_xattrs(node) if datalayout == _CHUNK_BASED else node.xattrs
            mask = masks[inode_num]
            if mask == 255:
                mask = wide[inode_num]
            bits_ = 0
            for k, _ in xattrs:
                bit = _FILTER_BIT.get(k)
                if bit is None:
                    bit = _filter_bit(k)
                bits_ |= bit
            buf += _XATTR_HEAD.pack(_U32 & ~bits_, bin(mask).count("1"))
            if mask:
                for j, kv in enumerate(xattrs):
                    if mask >> j & 1:
                        buf += _U32_PACK(((base + offsets[kv[0]][kv[1]]) // 4) & _U32)
            for j, (k, v) in enumerate(xattrs):
                if not mask >> j & 1:
                    ix = index.get(k)
                    if ix is None:
                        ix = _xattr_index(k)
                    suffix = ix[1]
                    if k == _METACOPY or k == _REDIRECT:
                        v = _real_value(k, v)
                    buf += _XATTR_ENTRY_HEAD.pack(len(suffix), ix[0], len(v))
                    buf += suffix
                    buf += v
                    pad = -(4 + len(suffix) + len(v)) % 4
                    if pad:
                        buf += _ZEROS[:pad]
        if tail:
            if ftype == _DIR:
                names, kids, splits = dirs[node]
                if splits:
                    _dentries(buf, names[splits[-1]:], kids[splits[-1]:], layout)
                else:
                    _dentries(buf, names, kids, layout)
            elif ftype == _LNK:
                buf += node.payload  # type: ignore[arg-type]
            elif ftype == _REG:
                if node.content is not None:
                    buf += node.content[node.size - tail:]
                else:
                    buf += _NULL_ADDR if chunk_count == 1 else _NULL_ADDR * chunk_count
        elif ftype == _LNK and n_blocks == 0:
            buf += node.payload  # type: ignore[arg-type]
        if len(buf) >= _FLUSH:
            out.write(buf)
            buf = bytearray()
    out.write(buf)
    return current_end


def _write_blocks(layout: _Layout, out: _Out) -> None:
    """The data blocks, each padded to a block: directory blocks, then what spilled from an inode."""
    buf = bytearray()
    dirs = layout.dirs
    for node, n_blocks in zip(layout.nodes, layout.blocks):
        if n_blocks <= 0:
            continue
        ftype = node.mode & S_IFMT
        if ftype == _DIR:
            names, kids, splits = dirs[node]
            start = 0
            for split in splits:
                _dentries(buf, names[start:split], kids[start:split], layout)
                buf += _ZEROS[:-len(buf) % BLOCK_SIZE]
                start = split
            if len(splits) < n_blocks:
                _dentries(buf, names[start:], kids[start:], layout)
                buf += _ZEROS[:-len(buf) % BLOCK_SIZE]
        elif ftype == _REG:
            if node.content is None:
                # The C writer always fills exactly one block of null chunk addresses here.
                buf += _NULL_ADDR * 1024
            else:
                # libcomposefs writes only the first block and returns (its loop body ends in a return).
                buf += node.content[:BLOCK_SIZE]
                buf += _ZEROS[:-len(buf) % BLOCK_SIZE]
        elif ftype == _LNK:
            buf += node.payload[:BLOCK_SIZE]  # type: ignore[index]
            buf += _ZEROS[:-len(buf) % BLOCK_SIZE]
        if len(buf) >= _FLUSH:
            out.write(buf)
            buf = bytearray()
    out.write(buf)


def _new_out(write: Callable[[bytes], object] | None, digest: bool) -> _Out:
    """The image's writer, hashing it when ``digest`` (hashlib loaded only then)."""
    hasher = None
    if digest:
        from .fsverity import FsVerityHasher
        hasher = FsVerityHasher()
    return _Out(write, hasher)


def _write_shared(layout: _Layout, out: _Out) -> None:
    """After the inodes: the shared xattrs, then padding to the first data block."""
    out.align(SLOT)
    if out.pos != layout.inodes_end:
        raise ComposefsError("internal error: inode area size")
    for e in layout.shared:
        out.write(e)
    out.align(BLOCK_SIZE)


def _write_head(layout: _Layout, out: _Out, version: int, n_inodes: int) -> int:
    """Write the composefs header and the superblock of a placed image of ``n_inodes`` inodes;
    return where its data blocks start."""
    out.write(struct.pack("<IIII16x", LCFS_EROFS_MAGIC, LCFS_EROFS_VERSION, 1 if layout.has_acl else 0, version))
    out.pad(SUPER_OFFSET - 32)
    data_start = _align(layout.inodes_end + layout.shared_size, BLOCK_SIZE)
    root_nid = layout.nids[0]
    if root_nid >= 0xFFFF:
        raise ComposefsError("root inode out of range")
    sec, nsec = layout.min_mtime
    out.write(struct.pack("<IIIBBHQQIIII", EROFS_SUPER_MAGIC, 0, _FEATURE_COMPAT, 12, 0, root_nid,
                          n_inodes, sec & ((1 << 64) - 1), nsec & _U32,
                          (data_start // BLOCK_SIZE + layout.n_data_blocks) & _U32,
                          (SUPER_OFFSET + 128) // BLOCK_SIZE, (layout.inodes_end // BLOCK_SIZE) & _U32)
              + bytes(128 - 48))
    return data_start


def write_image(root: Node, write: Callable[[bytes], object] | None = None, *, min_version: int = 0,
                max_version: int = 1, consume: bool = False, digest: bool = True) -> bytes:
    """Write the composefs image of ``root`` through ``write`` (if given); return its fs-verity digest
    (``b""`` when not ``digest``: then the image is not hashed, nor hashlib loaded).
    ``write`` takes the image in order, a piece at a time: bytes, or a bytearray that is not
    changed once passed (a buffer, written or hashed as bytes are).

    The tree is copied first, unless ``consume``: then it is rewritten in place and spent."""
    with gc_paused():
        return _write_image(root, write, min_version, max_version, consume, digest)


def _write_image(root: Node, write: Callable[[bytes], object] | None, min_version: int, max_version: int,
                 consume: bool, digest: bool) -> bytes:
    if min_version < 0 or max_version < 0 or min_version > 1 or max_version > 1:
        raise ComposefsError("composefs format versions are 0 and 1")
    max_version = max(max_version, min_version)
    if not consume:
        root = root.clone_tree()
    layout = _Layout(root, min_version, max_version, spend=True)
    layout.compute_tree()
    version = layout.version
    layout.compute_shared_xattrs()
    layout.compute_inodes()

    out = _new_out(write, digest)
    data_start = _write_head(layout, out, version, len(layout.nodes))
    _write_inodes(layout, out, data_start)
    _write_shared(layout, out)
    _write_blocks(layout, out)
    out.flush()
    # (a spent tree goes with its last reference, not at the next cycle collection: its parent
    # links, its only cycles with the directories' children, are left pointing up only, since
    # compute_tree emptied every directory's children; a 100,000-file tree is ~40 MB that a deploy
    # would otherwise carry through its /etc merge and prune; test_ostree checks it)
    return b"" if out.hasher is None else out.hasher.digest()


def image_bytes(root: Node, *, min_version: int = 0, max_version: int = 1) -> tuple[bytes, bytes]:
    """(image, fs-verity digest) of ``root``, in memory; for small trees and tests."""
    parts: list[bytes] = []
    digest = write_image(root, parts.append, min_version=min_version, max_version=max_version)
    return b"".join(parts), digest
