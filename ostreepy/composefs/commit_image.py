"""The composefs image of an OSTree commit, as libostree builds it
(``ostree-repo-composefs.c``): ``ostree commit --generate-composefs-metadata``,
``ostree checkout --composefs`` and the ``.ostree.cfs`` of deployments.

The tree mirrors the commit with every mtime 0 and no hard links; a non-empty
regular file's payload is its object path in a bare repository
(``ab/cdef….file``) and, when verity is wanted, its fs-verity digest;
``usr etc boot var sysroot`` are added as empty 0755 directories when missing.
The image is version 0 unless whiteouts force version 1. Its fs-verity digest
is what ``ostree.composefs.digest.v0`` records. It is written from a stream of
the tree's inodes (:mod:`.stream`: memory by the commit's directories, not its
files), not from the tree, which :func:`tree_from_commit` still builds whole.

Verity modes are libostree's tristate: ``YES`` always puts file digests in
(measured from the object by the kernel when it has fs-verity, else computed),
``MAYBE`` only those the kernel already knows, ``NO`` none.
"""

from __future__ import annotations

import enum
import errno
import fcntl
import os
import stat
import struct

from ..store.objects import ObjectType, canonical_xattrs, commit_root
from ..store.repo import Repo, RepoMode
from .._process import gc_paused
from .tree import MAX_NAME_LENGTH, PATH_MAX, S_IFMT as _S_IFMT, ComposefsError, Leaf, Node, cstr

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import BinaryIO, Callable, Sequence

    from ..store.gvariant import Variant

__all__ = ["Verity", "DIGEST_KEY_V0", "tree_from_commit", "commit_image_digest", "write_commit_image",
           "composefs_metadata", "measure_verity", "enable_verity"]

#: The commit metadata key holding the image digest (``ay``, 32 bytes).
DIGEST_KEY_V0 = "ostree.composefs.digest.v0"
_DOTS = (b".", b"..")
_S_IFREG, _S_IFLNK = stat.S_IFREG, stat.S_IFLNK

FS_IOC_MEASURE_VERITY = 0xC0046686
FS_IOC_ENABLE_VERITY = 0x40806685


class Verity(enum.Enum):
    """libostree's tristate for per-file fs-verity digests in an image."""

    NO = 0
    MAYBE = 1
    YES = 2


def measure_verity(fd: int) -> bytes | None:
    """The kernel's fs-verity SHA-256 digest of an open file, or None where it has none."""
    return _measure(fd)[0]


# what FS_IOC_MEASURE_VERITY fails with on a filesystem without fs-verity (ENODATA: a file of
# one that has it, but not on this file)
_NO_VERITY_ERRNOS = (errno.ENOTTY, errno.EOPNOTSUPP)


def _measure(fd: int) -> tuple[bytes | None, int]:
    """(:func:`measure_verity`, the errno of a failed measure or 0)."""
    buf = bytearray(struct.pack("<HH", 0, 64) + bytes(64))
    try:
        fcntl.ioctl(fd, FS_IOC_MEASURE_VERITY, buf, True)
    except OSError as e:
        return None, e.errno or -1
    alg, size = struct.unpack_from("<HH", buf)
    if alg != 1 or size != 32:
        return None, 0
    return bytes(buf[4:36]), 0


def enable_verity(fd: int) -> bool:
    """Turn fs-verity on (SHA-256, 4 KiB blocks) for a file opened read-only with no writer;
    True when it is on (also if it already was), False where the filesystem cannot."""
    # struct fsverity_enable_arg: version, hash_algorithm, block_size, salt_size, salt_ptr,
    # sig_size, reserved, sig_ptr, reserved[11]; no pointers used, so the bytes are all it needs
    arg = struct.pack("<IIIIQIIQ11Q", 1, 1, 4096, 0, 0, 0, 0, 0, *([0] * 11))
    try:
        fcntl.ioctl(fd, FS_IOC_ENABLE_VERITY, arg)
    except OSError as e:
        if e.errno == errno.EEXIST:
            return True
        if e.errno in (errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL):
            return False
        raise
    return True


def _validate_name(name: str) -> bytes:
    if not name or name in (".", "..") or "/" in name:
        raise ComposefsError(f"Invalid filename {name!r}")
    return name.encode("utf-8", "surrogateescape")


class _Builder:
    """Builds the tree, each object read (measured or hashed) once: a node for an object seen
    before is a copy of the first, whose payload it shares.

    Most entries become a :class:`Leaf` (a file or symlink with no xattrs), and the ints they
    repeat (modes, owners) are shared, not one object an entry: a 100,000-file commit's tree
    is built alongside the deploy's parsed dirtrees, and its size is most of the deploy's peak.
    In a plain bare repository a regular file is read from one ``open``: its ``fstat`` gives
    the header ``lstat`` would and the size, and the descriptor serves the xattrs and the
    fs-verity measure (the general path, a header read then the object opened again, costs
    two more system calls an object). Where no digest is to be measured (``Verity.NO``, or
    ``MAYBE`` on a filesystem that has said it has no fs-verity at all: ENOTTY or EOPNOTSUPP,
    which every file of it would answer, so the objects of that ``st_dev`` are not opened to
    ask again) an ``lstat`` and a ``listxattr`` by path are all an object costs.

    One thread: with SHA-256 in hardware a 4 KiB block hashes in about a microsecond, so
    worker threads spend more on handing the GIL back and forth than they save (measured:
    2 threads 1.4x slower than 1 on the benchmark tree)."""

    def __init__(self, repo: Repo, verity: Verity, enable: bool = False) -> None:
        self.repo = repo
        self.verity = verity
        # checksum -> the first node made for the object; keyed by the string the dirtree
        # holds anyway (the deploy keeps its parsed dirtrees), not by a new one
        self.seen: dict[str, Node | Leaf] = {}
        # a tree has a handful of distinct directory metadata objects, each shared by many directories
        #: (uid, gid, mode, xattrs) by checksum, read as fields: a checkout builds no attrs value
        self.dirmetas: dict[str, tuple[int, int, int, tuple[tuple[bytes, bytes], ...]]] = {}
        # turn fs-verity on for objects lacking it, until the filesystem says it cannot
        self.enable = enable
        self.ints: dict[int, int] = {}
        # objects/ of a bare repository without a parent, where one open finds every object
        self.prefix = (repo._objects_prefix if repo.mode is RepoMode.BARE and repo.parent is None
                       and repo._staging_dir is None else None)
        # the devices whose filesystem has no fs-verity (see above)
        self.unmeasurable: set[int] = set()
        # the digest computed where the kernel has none (Verity.YES): loaded only then
        self.hash_fd: Callable[[int, int], bytes] | None = None
        if verity is Verity.YES:
            from .fsverity import fsverity_digest_of_fd
            self.hash_fd = fsverity_digest_of_fd

    def _digest(self, fd: int, size: int, dev: int = -1) -> bytes | None:
        """The fs-verity digest of an open non-empty object (on device ``dev``), as the verity
        mode asks for it."""
        digest, err = _measure(fd)
        if err in _NO_VERITY_ERRNOS and dev >= 0:
            self.unmeasurable.add(dev)
        if digest is None and self.enable:
            if enable_verity(fd):
                digest = measure_verity(fd)
            else:
                self.enable = False
        if digest is None and self.hash_fd is not None:
            digest = self.hash_fd(fd, size)
        return digest

    def _file_info(self, checksum: str) -> tuple[int, bytes | None]:
        """(size, digest) of a regular file object."""
        repo = self.repo
        if repo.mode is not RepoMode.ARCHIVE:
            try:
                fd = os.open(repo.object_path(checksum, ObjectType.FILE), os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                fd = -1
            if fd >= 0:
                try:
                    # bare objects hold the content as it is: their size is the file's
                    size = os.fstat(fd).st_size
                    if not size:
                        return 0, None
                    return size, self._digest(fd, size)
                finally:
                    os.close(fd)
        size = repo.content_size(checksum)
        if self.verity is not Verity.YES or not size:
            return size, None
        # archive repos (and objects only a parent repo holds): through the store, unverified as
        # libostree reads them here; the image digest is checked against the commit's instead
        _, stream = repo.load_file(checksum, verify=False)
        assert stream is not None
        with stream:
            from .fsverity import fsverity_digest_of_stream
            return size, fsverity_digest_of_stream(stream)

    def _bare_regular(self, checksum: str) -> Leaf | Node | None:
        """The node of a regular file object of a plain bare repository, from one open (or
        one lstat, when there is nothing to measure); None for anything else (a symlink, a
        missing object), which the general path then reads."""
        path = f"{self.prefix}{checksum[:2]}/{checksum[2:]}.file"
        if self.verity is Verity.NO or (self.unmeasurable and self.verity is Verity.MAYBE and not self.enable):
            try:
                st = os.lstat(path)
            except OSError:
                return None
            if not stat.S_ISREG(st.st_mode):
                return None
            if self.verity is Verity.NO or st.st_dev in self.unmeasurable:
                return self._node(checksum, st, path, None)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return None
            return self._node(checksum, st, fd, self._digest(fd, st.st_size, st.st_dev) if st.st_size else None)
        finally:
            os.close(fd)

    def _node(self, checksum: str, st: os.stat_result, at: int | str, digest: bytes | None,
              names: list[str] | None = None) -> Leaf | Node:
        """The node of a regular file object with this stat, its xattrs read from ``at`` (a
        descriptor, or the path of a file that is no symlink); ``names``: their names, listed
        already."""
        if names is None:
            names = _list_xattrs(at)
        size = st.st_size
        return self._made(st.st_mode, st.st_uid, st.st_gid, size, _payload(checksum, size), digest,
                          _xattrs(at, names))

    def _made(self, mode: int, uid: int, gid: int, size: int, payload: bytes | None, digest: bytes | None,
              xattrs: Sequence[tuple[bytes, bytes]]) -> Leaf | Node:
        """A file object's node: a :class:`Leaf`, or a :class:`Node` where it has xattrs; its
        mode and owners the ints already held for them."""
        ints = self.ints
        mode = ints.setdefault(mode, mode)
        uid = ints.setdefault(uid, uid)
        gid = ints.setdefault(gid, gid)
        if not xattrs:
            return Leaf(mode, uid, gid, size, payload, digest)
        node = Node(mode)
        node.uid, node.gid = uid, gid
        node.set_size(size)
        node.payload, node.digest = payload, digest
        for k, v in xattrs:
            node.set_xattr(k, v)
        return node

    def file(self, children: dict[bytes, Node], parent: Node, name: str, checksum: str) -> None:
        # (a Leaf stands in for a Node in ``children``: it has every field the writer reads)
        bname = _validate_name(name)
        if bname in children:
            raise ComposefsError("Target checkout file already exist")
        if len(bname) > MAX_NAME_LENGTH:
            raise ComposefsError(f"Name too long: {bname!r}")
        first = self.seen.get(checksum)
        if first is not None:
            if type(first) is Leaf:
                children[bname] = Leaf(first.mode, first.uid, first.gid, first.size, first.payload,  # type: ignore[assignment]
                                       first.digest)
                return
            node = Node(first.mode)
            parent.add_child(bname, node)
            node.uid, node.gid, node.size = first.uid, first.gid, first.size
            node.payload, node.digest = first.payload, first.digest
            if first.xattrs:
                # copies: writing an image rewrites a node's xattrs in place
                node.xattrs = [list(x) for x in first.xattrs]
                node.xattr_size = first.xattr_size
            return
        made = self._bare_regular(checksum) if self.prefix is not None else None
        if made is None:
            made = self._read(checksum)
        if type(made) is Leaf:
            children[bname] = made  # type: ignore[assignment]
        else:
            parent.add_child(bname, made)  # type: ignore[arg-type]
        self.seen[checksum] = made

    def _lstat_files(self, children: dict[bytes, Node], parent: Node, files: Sequence[tuple[str, str]]) -> None:
        """:meth:`file` for each (name, checksum) of a directory, where an object costs an lstat and
        a listxattr (a plain bare repository, no digest wanted or to be had): the same nodes from one loop, where
        the calls an object (file, _bare_regular, _node, _made, _payload, and a symlink's two more
        lstats through the store) were a seventh of the walk. An object seen before, a name
        :meth:`file` would refuse, and an object that is not here as a regular file or a symlink,
        go to it."""
        prefix = self.prefix
        seen = self.seen
        ints = self.ints
        setint = ints.setdefault
        lstat = os.lstat
        # the lstat by the repository's descriptor: fewer components to look up than the full path
        # (listxattr has no such form)
        dfd = self.repo._dfd
        at, at_fd = ("objects/", dfd) if dfd >= 0 else (prefix, None)
        # (Verity.MAYBE: the devices with no fs-verity, whose objects have no digest to measure; an
        # object elsewhere goes to file(), which asks)
        unmeasurable = None if self.verity is Verity.NO else self.unmeasurable
        for name, checksum in files:
            bname = name.encode("utf-8", "surrogateescape")
            first = seen.get(checksum)
            if (first is not None or bname in children or not bname or len(bname) > MAX_NAME_LENGTH
                    or bname in _DOTS or b"/" in bname):
                self.file(children, parent, name, checksum)
                continue
            tail = f"{checksum[:2]}/{checksum[2:]}.file"
            try:
                st = lstat(at + tail, dir_fd=at_fd)  # type: ignore[operator]  # (lean: a prefix)
            except OSError:
                self.file(children, parent, name, checksum)
                continue
            fmt = st.st_mode & _S_IFMT
            if fmt != _S_IFREG and fmt != _S_IFLNK or (unmeasurable is not None and st.st_dev not in unmeasurable):
                self.file(children, parent, name, checksum)
                continue
            path = prefix + tail  # type: ignore[operator]
            names = _list_xattrs(path)
            made: Leaf | Node
            if fmt == _S_IFLNK:
                made = self._bare_symlink(checksum, st, path, names)
            elif names:
                made = self._node(checksum, st, path, None, names)
            else:
                size = st.st_size
                mode, uid, gid = st.st_mode, st.st_uid, st.st_gid
                made = Leaf(setint(mode, mode), setint(uid, uid), setint(gid, gid), size,
                            tail.encode() if size else None, None)
            if type(made) is Leaf:
                children[bname] = made  # type: ignore[assignment]
            else:
                parent.add_child(bname, made)  # type: ignore[arg-type]
            seen[checksum] = made

    def _bare_symlink(self, checksum: str, st: os.stat_result, path: str, names: list[str]) -> Leaf | Node:
        """The node of a symlink object of a plain bare repository with this lstat and these xattr
        names: the header :meth:`Repo.load_file_and_size` reads (which it does not check further)."""
        target = os.readlink(path).encode("utf-8", "surrogateescape")
        return self._symlink(st.st_mode, st.st_uid, st.st_gid, target, _xattrs(path, names))

    def _symlink(self, mode: int, uid: int, gid: int, target: bytes, xattrs: Sequence[tuple[bytes, bytes]]
                 ) -> Leaf | Node:
        target = cstr(target)
        if len(target) >= PATH_MAX:   # (Node.set_payload's check: a Leaf has no setter)
            raise ComposefsError("payload too long")
        return self._made(mode, uid, gid, 0, target, None, xattrs)

    def _read(self, checksum: str) -> Leaf | Node:
        """A file object's node through the repository (any mode; a symlink too)."""
        if self.verity is Verity.NO:
            # header and size from one lstat (or one archive header read)
            header, size = self.repo.load_file_and_size(checksum)
            digest = None
        else:
            header = self.repo.load_file(checksum, want_data=False)[0]
        if header.is_symlink:
            return self._symlink(header.mode, header.uid, header.gid,
                                 header.symlink_target.encode("utf-8", "surrogateescape"), header.xattrs)
        if self.verity is not Verity.NO:
            size, digest = self._file_info(checksum)
        if not size:
            digest = None
        return self._made(header.mode, header.uid, header.gid, size, _payload(checksum, size), digest, header.xattrs)

    def dirmeta(self, meta_csum: str) -> tuple[int, int, int, tuple[tuple[bytes, bytes], ...]]:
        """(uid, gid, mode, xattrs) of a dirmeta, read once a tree."""
        meta = self.dirmetas.get(meta_csum)
        if meta is None:
            meta = self.dirmetas[meta_csum] = self.repo.load_dirmeta_fields(meta_csum)
        return meta

    def entries(self, d: Node, tree_csum: str) -> dict[bytes, str]:
        """Fill the directory ``d`` with the entries of dirtree ``tree_csum``: its files' nodes,
        and a node for each subdirectory, whose dirtree (by name) is returned."""
        # entries, not DirTree values (a loose dirtree by one openat by the repository's
        # descriptor): with the fields above, a noverity checkout builds no attrs value
        files, dirs = self.repo.load_dirtree_entries(tree_csum)
        children = d.children
        if self.prefix is not None and (self.verity is Verity.NO or self.verity is Verity.MAYBE and not self.enable
                                        and self.unmeasurable):
            # a plain bare repository with no digest wanted of its objects (or none to be had: a
            # filesystem without fs-verity, as _bare_regular finds): an lstat and a listxattr an object
            self._lstat_files(children, d, files)
        else:
            for fname, csum in files:
                self.file(children, d, fname, csum)
        subtrees = {}
        for dname, t, m in dirs:
            name = _validate_name(dname)
            if name in children:
                raise ComposefsError("Target checkout directory already exist")
            uid, gid, mode, xattrs = self.dirmeta(m)
            sub = Node(mode)
            d.add_child(name, sub)
            sub.uid, sub.gid = uid, gid
            for k, v in xattrs:
                sub.set_xattr(k, v)
            subtrees[name] = t
        return subtrees

    def directory(self, parent: Node, name: bytes, tree_csum: str, meta_csum: str) -> None:
        uid, gid, mode, xattrs = self.dirmeta(meta_csum)
        if name in parent.children:
            raise ComposefsError("Target checkout directory already exist")
        d = Node(mode)
        parent.add_child(name, d)
        d.uid, d.gid = uid, gid
        for k, v in xattrs:
            d.set_xattr(k, v)
        todo = [(d, tree_csum)]
        while todo:
            d, tree_csum = todo.pop()
            subtrees = self.entries(d, tree_csum)
            for sub_name, t in reversed(subtrees.items()):
                todo.append((d.children[sub_name], t))


def tree_from_commit(repo: Repo, checksum: str, verity: Verity = Verity.YES) -> Node:
    """The composefs tree libostree builds for commit ``checksum``."""
    commit = repo.load_commit(checksum)
    return _tree(repo, commit.root_tree, commit.root_meta, verity)


def _tree(repo: Repo, root_tree: str, root_meta: str, verity: Verity, enable: bool = False) -> Node:
    top = Node(stat.S_IFDIR | 0o755)
    builder = _Builder(repo, verity, enable)
    with gc_paused():
        builder.directory(top, b"root", root_tree, root_meta)
    root = top.children[b"root"]
    if not root.is_dir():
        raise ComposefsError("Root checkout of composefs must be directory")
    from .stream import add_root_dirs
    add_root_dirs(root)
    root.parent = None
    root.name = None
    return root


def commit_image_digest(repo: Repo, root_tree: str, root_meta: str) -> bytes:
    """``ostree.composefs.digest.v0`` of a tree (file digests always in)."""
    return _write(repo, root_tree, root_meta, Verity.YES, False, None, True)


def _write(repo: Repo, root_tree: str, root_meta: str, verity: Verity, enable: bool,
           write: Callable[[bytes], object] | None, digest: bool) -> bytes:
    """The image of a tree, written from a stream of its inodes (:mod:`.stream`: memory by its
    directories, not its files), as :func:`write_image` writes :func:`_tree`'s."""
    from .stream import write_commit_stream
    with gc_paused():
        return write_commit_stream(_Builder(repo, verity, enable), root_tree, root_meta, write, digest)


def composefs_metadata(repo: Repo, root_tree: str, root_meta: str) -> dict[str, Variant]:
    """The commit metadata entry ``commit --generate-composefs-metadata`` adds."""
    from ..store.gvariant import Variant
    return {DIGEST_KEY_V0: Variant("ay", commit_image_digest(repo, root_tree, root_meta))}


def write_commit_image(repo: Repo, rev: str, destination: str, verity: Verity = Verity.YES,
                       dir_fd: int | None = None, enable_fsverity: bool = False, digest: bool = True,
                       before_write: Callable[[], object] | None = None) -> bytes:
    """Write the composefs image of ``rev`` to ``destination`` atomically (mode 0644); return its digest.

    With ``Verity.YES`` the digest must equal the commit's ``ostree.composefs.digest.v0`` when it has one.
    ``enable_fsverity``: turn fs-verity on for the objects and the image where the filesystem can
    (silently not where it cannot: the digests are then computed, as libostree does).
    ``digest`` False: for a caller that has no use for the digest (a checkout), which is then
    ``b""`` and the image hashed only where it is checked (~4% of a noverity checkout).
    ``before_write``: called once the image is laid out, before its destination is touched (a
    deploy writing the image while the deployment is still being checked out waits there).
    """
    checksum = repo.resolve_rev(rev)
    assert checksum is not None
    expected = None
    if verity is Verity.YES:
        commit = repo.load_commit(checksum)
        expected = commit.metadata.get(DIGEST_KEY_V0)
        root_tree, root_meta = commit.root_tree, commit.root_meta
    else:
        # its root alone, read through the commit's framing: no Commit (nor Variant) value built
        root_tree, root_meta = commit_root(repo.load_metadata(ObjectType.COMMIT, checksum))
    dest = _Destination(destination, dir_fd, before_write)
    try:
        image_digest = _write(repo, root_tree, root_meta, verity, enable_fsverity, dest.write,
                              digest or expected is not None)
        if expected is not None:
            exp = bytes(expected.value)
            if len(exp) != 32:
                raise ComposefsError("Expected composefs fs-verity in metadata has the wrong size")
            if exp != image_digest:
                raise ComposefsError(f"Generated composefs image digest ({image_digest.hex()}) doesn't match "
                                     f"expected digest ({exp.hex()})")
        dest.commit()
    finally:
        dest.close()
    if enable_fsverity:
        rfd = os.open(destination, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            enable_verity(rfd)
        finally:
            os.close(rfd)
    return image_digest


class _Destination:
    """The image's file: a temporary name beside ``destination``, opened at the first write (the
    stream's walk and placing, most of the work, touch no file: a deploy's image waits for the
    checkout only there, in ``before_write``), renamed in by :meth:`commit`, else unlinked."""

    def __init__(self, destination: str, dir_fd: int | None, before_write: Callable[[], object] | None) -> None:
        self.destination, self.dir_fd, self.before_write = destination, dir_fd, before_write
        self.dest_dir = os.path.dirname(os.path.abspath(destination)) if dir_fd is None else None
        self.tmp = f".{os.path.basename(destination)}.tmp-{os.getpid()}"
        self.file: BinaryIO | None = None
        self.fd = -1
        self.done = False

    def _path(self, name: str) -> str:
        return name if self.dir_fd is not None else os.path.join(self.dest_dir or ".", name)

    def write(self, data: bytes) -> object:
        if self.file is None:
            self._open()
        assert self.file is not None
        return self.file.write(data)

    def _open(self) -> None:
        if self.before_write is not None:
            self.before_write()
        self.fd = os.open(self._path(self.tmp), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644,
                          dir_fd=self.dir_fd)
        self.file = os.fdopen(self.fd, "wb", closefd=False)

    def commit(self) -> None:
        if self.file is None:
            self._open()
        assert self.file is not None
        self.file.close()
        os.fchmod(self.fd, 0o644)
        if self.dir_fd is not None:
            os.rename(self.tmp, self.destination, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
        else:
            os.rename(self._path(self.tmp), self.destination)
        self.done = True

    def close(self) -> None:
        if self.fd < 0:
            return
        if self.file is not None and not self.file.closed:
            try:
                self.file.close()
            except OSError:
                pass
        os.close(self.fd)
        self.fd = -1
        if not self.done:
            try:
                os.unlink(self._path(self.tmp), dir_fd=self.dir_fd)
            except OSError:
                pass


def _list_xattrs(at: int | str) -> list[str]:
    """The xattr names of a descriptor, or of a path (a symlink's own: not followed; [] where the
    filesystem has none)."""
    try:
        return os.listxattr(at, follow_symlinks=False) if isinstance(at, str) else os.listxattr(at)
    except OSError as e:
        if e.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        return []


def _xattrs(at: int | str, names: list[str]) -> Sequence[tuple[bytes, bytes]]:
    """The xattrs ``names`` of a descriptor or a path (a symlink's own), as the store holds them
    (canonical order; one gone meanwhile is left out, as libglnx does)."""
    pairs = []
    for n in names:
        try:
            pairs.append((n, os.getxattr(at, n, follow_symlinks=False) if isinstance(at, str) else os.getxattr(at, n)))
        except OSError as e:
            if e.errno != errno.ENODATA:
                raise
    return canonical_xattrs(pairs) if pairs else ()


def _payload(checksum: str, size: int) -> bytes | None:
    """A regular file object's redirect in the image: its path below objects/ (none when empty)."""
    return f"{checksum[:2]}/{checksum[2:]}.file".encode() if size else None
