"""ostree-ext's "tar format v1": an OSTree commit carried as a tar stream, both directions.

This is the layer format of ostree-encapsulated container images (what
``ostree container encapsulate`` writes and bootc pulls).  A stream holds a
``sysroot/ostree/repo`` skeleton whose ``objects/`` entries are the commit's
objects under their checksums, plus hardlinks at the checkout paths
(``usr/bin/bash``) so that the same layer is also a usable container root.

Writing (:func:`write_commit_tar`) reproduces ostree-ext's ``export_final_chunk``
byte for byte: tar-rs GNU headers (including the leftovers tar-rs leaves in a
reused header after a shorter name), GNU ``L``/``K`` records for long names,
PAX ``SCHILY.xattr`` records, mtime 0.  The uncompressed tar therefore has the
same sha256 (the image's diffID) as ostree-ext's for the same commit.

Reading (:func:`import_commit_tar`, :func:`import_object_set_tar`) is a pure
streaming parser (:class:`TarReader`) feeding an importer that only ever writes
through :meth:`Repo.write_metadata` / :meth:`Repo.write_content` with the
checksum the stream claims, so every object is re-hashed and nothing lands
under a wrong name, and nothing is written outside the repository.  Nothing
here touches the network or compression: callers hand in a decompressed stream.
"""

from __future__ import annotations

import hashlib
import stat
from typing import BinaryIO, Dict, Iterator, List, Optional, Set, Tuple

import attrs

from ..store import gvariant
from ..errors import (
    ChecksumMismatchError,
    CorruptObjectError,
    GVariantError,
    ObjectNotFoundError,
    TarError,
)
from ..store.objects import (
    MAX_METADATA_SIZE,
    XATTRS_TYPE,
    Commit,
    DirMeta,
    DirTree,
    FileHeader,
    ObjectType,
    Xattrs,
    parse_commitmeta,
    xattr_name,
)
from ..progress import ObjectExported, ObjectImported, ProgressCallback
from ..store.repo import Repo
from .commitverify import CommitVerifier, RemoteVerificationError, rust_objtype_name, verify_commit_data

BLOCK = 512
CHUNK = 1 << 20

# ostree-ext tar/export.rs
OSTREEDIR = "sysroot/ostree"
REPO_PREFIX = "sysroot/ostree/repo/"
REPO_CONFIG = b"[core]\nrepo_version=1\nmode=bare-split-xattrs\n"
SECURITY_SELINUX = b"security.selinux"
# ostree-ext tar/import.rs
MAX_XATTR_SIZE = 1024 * 1024
# Our own bound on what the importer keeps in memory for xattrs (ostree-ext has none).
MAX_XATTR_CACHE = 256 * 1024 * 1024
# GNU long names/links and PAX headers are read into memory; these are far
# above anything legitimate (PATH_MAX is 4096; xattrs are at most 1 MiB).
MAX_LONGNAME = 64 * 1024
MAX_PAX = 4 * 1024 * 1024

REGTYPE = b"0"
LNKTYPE = b"1"
SYMTYPE = b"2"
DIRTYPE = b"5"
XHDTYPE = b"x"
XGLTYPE = b"g"
GNU_LONGNAME = b"L"
GNU_LONGLINK = b"K"

_META_SUFFIX = {
    "commit": ObjectType.COMMIT,
    "commitmeta": ObjectType.COMMIT_META,
    "dirtree": ObjectType.DIR_TREE,
    "dirmeta": ObjectType.DIR_META,
    "file": ObjectType.FILE,
}


def object_path(objtype: ObjectType, checksum: str) -> str:
    """``sysroot/ostree/repo/objects/XX/REST.TYPE`` as ostree-ext names objects in the stream."""
    return f"{OSTREEDIR}/repo/objects/{checksum[:2]}/{checksum[2:]}.{objtype.name_str}"


def _xattrs_link_path(checksum: str) -> str:
    return f"{OSTREEDIR}/repo/objects/{checksum[:2]}/{checksum[2:]}.file-xattrs-link"


# =====================================================================================
# Writing: tar-rs headers, reproduced exactly
# =====================================================================================


class _PathError(Exception):
    """A name tar-rs refuses to put in a header field (too long, NUL, '..', absolute)."""


_ROOT, _CUR, _PARENT, _NORMAL = range(4)


def _rust_components(p: bytes) -> List[Tuple[int, bytes]]:
    """``std::path::Path::components`` on Unix: repeated and trailing '/' vanish, '.'
    vanishes except as the first component of a relative path."""
    out: List[Tuple[int, bytes]] = []
    parts = p.split(b"/")
    if p.startswith(b"/"):
        out.append((_ROOT, b"/"))
        parts = parts[1:]
    elif parts and parts[0] == b".":
        out.append((_CUR, b"."))
        parts = parts[1:]
    for part in parts:
        if part in (b"", b"."):
            continue
        out.append((_PARENT, part) if part == b".." else (_NORMAL, part))
    return out


def _plain_path(p: bytes) -> bool:
    """A relative path that Rust's components() leaves unchanged: no empty, '.' or
    '..' component, no leading or trailing '/', no NUL."""
    return bool(p) and p[0] != 47 and p[-1] != 47 and b"//" not in p and b"\x00" not in p \
        and b"." not in (p[:1], p[-1:]) and b"/." not in p


def _utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


class _Header:
    """A 512-byte tar header mutated the way tar-rs mutates its ``Header``.

    ostree-ext clones one header for all the hardlinks of an object and only
    overwrites fields, so bytes after a shorter name's NUL keep what the longer
    name left there; reproducing that is what makes our tar hash like theirs.
    """

    __slots__ = ("buf",)

    def __init__(self, buf: bytearray) -> None:
        self.buf = buf

    @classmethod
    def gnu(cls) -> "_Header":
        h = cls(bytearray(BLOCK))
        h.buf[257:263] = b"ustar "
        h.buf[263:265] = b" \x00"
        h.set_mtime(0)
        return h

    @classmethod
    def ustar(cls) -> "_Header":
        h = cls(bytearray(BLOCK))
        h.buf[257:263] = b"ustar\x00"
        h.buf[263:265] = b"00"
        h.set_mtime(0)
        return h

    def copy(self) -> "_Header":
        return _Header(bytearray(self.buf))

    # numeric fields: octal_into / num_field_wrapper_into
    def _octal(self, off: int, ln: int, val: int) -> None:
        digits = format(val, "o").rjust(ln - 1, "0")[-(ln - 1):]
        self.buf[off:off + ln] = digits.encode() + b"\x00"

    def _num(self, off: int, ln: int, val: int) -> None:
        if val >= 8589934592 or (val >= 2097152 and ln == 8):
            field = bytearray(ln - 8) + bytearray(val.to_bytes(8, "big"))
            field[0] |= 0x80
            self.buf[off:off + ln] = field
        else:
            self._octal(off, ln, val)

    def set_mode(self, mode: int) -> None:
        self._octal(100, 8, mode)

    def set_uid(self, uid: int) -> None:
        self._num(108, 8, uid)

    def set_gid(self, gid: int) -> None:
        self._num(116, 8, gid)

    def set_size(self, size: int) -> None:
        self._num(124, 12, size)

    def set_mtime(self, mtime: int) -> None:
        self._num(136, 12, mtime)

    def set_entry_type(self, t: bytes) -> None:
        self.buf[156:157] = t

    @property
    def entry_type(self) -> bytes:
        return bytes(self.buf[156:157])

    @property
    def size(self) -> int:
        return _parse_number(bytes(self.buf[124:136]))

    def set_cksum(self) -> None:
        s = sum(self.buf[:148]) + 8 * 32 + sum(self.buf[156:])
        self._octal(148, 8, s)

    # names: copy_into / copy_path_into_inner
    def _copy_into(self, off: int, ln: int, data: bytes) -> None:
        if len(data) > ln:
            raise _PathError("provided value is too long")
        if b"\x00" in data:
            raise _PathError("provided value contains a nul byte")
        self.buf[off:off + len(data)] = data
        if len(data) < ln:
            self.buf[off + len(data)] = 0

    def _copy_path(self, off: int, ln: int, path: bytes, is_link: bool, truncated: bool = False) -> None:
        if len(path) <= ln and _plain_path(path):
            # The common case, written in one go: the component-wise copy below would
            # leave exactly these bytes and one NUL if there is room (each NUL it writes
            # is overwritten by the next "/"), and nothing else.
            self.buf[off:off + min(len(path) + 1, ln)] = (path + b"\x00")[:ln]
            return
        comps = _rust_components(path)
        pos = 0

        def copy(data: bytes) -> None:
            nonlocal pos
            self._copy_into(off + pos, ln - pos, data)
            pos += len(data)

        emitted = needs_slash = False
        for i, (kind, data) in enumerate(comps):
            if not is_link:
                if kind == _ROOT:
                    raise _PathError("paths in archives must be relative")
                if kind == _PARENT and (not truncated or i != len(comps) - 1):
                    raise _PathError("paths in archives must not have `..`")
                if kind == _CUR and len(comps) != 1:
                    continue
            if needs_slash:
                copy(b"/")
            copy(data)
            if data != b"/":
                needs_slash = True
            emitted = True
        if not emitted:
            raise _PathError("paths in archives must have at least one component")
        if path.endswith(b"/"):
            copy(b"/")

    def set_path(self, path: bytes, truncated: bool = False) -> None:
        self._copy_path(0, 100, path, False, truncated)

    def set_link_name(self, target: bytes) -> None:
        self._copy_path(157, 100, target, True)

    def set_link_name_literal(self, target: bytes) -> None:
        self._copy_into(157, 100, target)


def _longlink_header(size: int, kind: bytes) -> _Header:
    h = _Header.gnu()
    h.buf[0:13] = b"././@LongLink"
    h.set_mode(0o644)
    h.set_uid(0)
    h.set_gid(0)
    h.set_mtime(0)
    h.set_size(size + 1)  # + 1 for the NUL, as GNU tar
    h.set_entry_type(kind)
    h.set_cksum()
    return h


class TarWriter:
    """tar-rs ``Builder``: the operations ostree-ext's exporter uses, over any writable."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.bytes_written = 0

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self.bytes_written += len(data)

    def append(self, h: _Header, data: bytes = b"", stream: Optional[BinaryIO] = None, size: int = 0) -> None:
        self._write(bytes(h.buf))
        if stream is not None:
            n = 0
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break  # reading to EOF lets a verifying stream check its checksum
                n += len(chunk)
                if n > size:
                    raise CorruptObjectError(f"Content object is longer than its size {size}")
                self._write(chunk)
            if n != size:
                raise CorruptObjectError(f"Content object is {n} bytes, expected {size}")
        else:
            n = len(data)
            if data:
                self._write(data)
        if n % BLOCK:
            self._write(bytes(BLOCK - n % BLOCK))

    def _prepare_path(self, h: _Header, path: bytes) -> None:
        try:
            if len(path) > 100 and _plain_path(path) and _plain_path(path[:100]) and _utf8(path[:100]):
                # set_path would fail, and whatever it left is overwritten by the
                # 100-byte head below: skip the attempt (a third of export time)
                raise _PathError("provided value is too long")
            h.set_path(path)
        except _PathError as e:
            if len(path) < 100:
                raise TarError(f"Cannot store path {path!r} in a tar header: {e}") from None
            head = path[:100]
            while True:  # the longest valid UTF-8 prefix, as tar-rs's str::from_utf8
                try:
                    head.decode("utf-8")
                    break
                except UnicodeDecodeError as u:
                    head = head[:u.start]
            try:
                h.set_path(head, truncated=True)
            except _PathError as e2:
                raise TarError(f"Cannot store path {path!r} in a tar header: {e2}") from None
            self.append(_longlink_header(len(path), GNU_LONGNAME), path + b"\x00")

    def _prepare_link(self, h: _Header, target: bytes) -> None:
        try:
            h.set_link_name(target)
        except _PathError as e:
            if len(target) < 100:
                raise TarError(f"Cannot store link target {target!r} in a tar header: {e}") from None
            self.append(_longlink_header(len(target), GNU_LONGLINK), target + b"\x00")

    def append_data(self, h: _Header, path: bytes, data: bytes = b"", stream: Optional[BinaryIO] = None,
                    size: int = 0) -> None:
        self._prepare_path(h, path)
        h.set_cksum()
        self.append(h, data, stream, size)

    def append_link(self, h: _Header, path: bytes, target: bytes) -> None:
        self._prepare_path(h, path)
        self._prepare_link(h, target)
        h.set_cksum()
        self.append(h)

    def append_pax_extensions(self, records: List[Tuple[bytes, bytes]]) -> None:
        data = bytearray()
        for key, value in records:
            rest = 3 + len(key) + len(value)
            len_len, max_len = 1, 10
            while rest + len_len >= max_len:
                len_len += 1
                max_len *= 10
            data += str(rest + len_len).encode() + b" " + key + b"=" + value + b"\n"
        if not data:
            return
        h = _Header.ustar()
        h.set_size(len(data))
        h.set_entry_type(XHDTYPE)
        h.set_cksum()
        self.append(h, bytes(data))

    def finish(self) -> None:
        self._write(bytes(2 * BLOCK))


# =====================================================================================
# Writing: the commit walk of export_final_chunk
# =====================================================================================


def _map_path(p: str) -> str:
    """``./usr/etc...`` -> ``./etc...`` (export.rs map_path)."""
    if p == "./usr/etc" or p.startswith("./usr/etc/"):
        return "./etc" + p[len("./usr/etc"):]
    return p


def _map_path_v1(p: str) -> str:
    """``usr/etc...`` -> ``etc...`` (export.rs map_path_v1, paths without ``./``)."""
    if p == "usr/etc" or p.startswith("usr/etc/"):
        return p[len("usr/"):]
    return p


def _join(base: str, name: str) -> str:
    return base + name if base.endswith("/") else f"{base}/{name}"


def _enc(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


class _Exporter:
    def __init__(self, repo: Repo, checksum: str, out: BinaryIO, progress: Optional[ProgressCallback]) -> None:
        self.repo = repo
        self.checksum = checksum
        self.commit_bytes = repo.load_metadata(ObjectType.COMMIT, checksum)
        self.commit = Commit.parse(self.commit_bytes)
        self.w = TarWriter(out)
        self.progress = progress
        self.wrote_dirtree: Set[str] = set()
        self.wrote_dirmeta: Set[str] = set()
        self.wrote_vartmp = False
        self._trees: Dict[str, DirTree] = {}

    # ---- small pieces
    def _default_dir(self, path: str) -> None:
        h = _Header.gnu()
        h.set_entry_type(DIRTYPE)
        h.set_uid(0)
        h.set_gid(0)
        h.set_mode(0o755)
        h.set_size(0)
        self.w.append_data(h, _enc(path))

    def _default_data(self, path: str, data: bytes) -> None:
        h = _Header.gnu()
        h.set_entry_type(REGTYPE)
        h.set_uid(0)
        h.set_gid(0)
        h.set_mode(0o644)
        h.set_size(len(data))
        self.w.append_data(h, _enc(path), data)

    def _dir(self, path: str, meta: DirMeta) -> None:
        h = _Header.gnu()
        h.set_entry_type(DIRTYPE)
        h.set_size(0)
        h.set_uid(meta.uid)
        h.set_gid(meta.gid)
        h.set_mode(meta.mode & ~stat.S_IFMT(meta.mode))
        self.w.append_data(h, _enc(path))

    def _object(self, objtype: ObjectType, checksum: str, data: bytes) -> None:
        seen = {ObjectType.DIR_TREE: self.wrote_dirtree, ObjectType.DIR_META: self.wrote_dirmeta}.get(objtype)
        if seen is not None:
            if checksum in seen:
                return
            seen.add(checksum)
        self._default_data(object_path(objtype, checksum), data)

    def _load_tree(self, checksum: str) -> Tuple[bytes, DirTree]:
        data = self.repo.load_metadata(ObjectType.DIR_TREE, checksum)
        tree = DirTree.parse(data)
        self._trees[checksum] = tree
        return data, tree

    def _dirmeta(self, checksum: str) -> DirMeta:
        data = self.repo.load_metadata(ObjectType.DIR_META, checksum)
        self._object(ObjectType.DIR_META, checksum, data)
        return DirMeta.parse(data)

    def _repo_structure(self) -> None:
        objdir = f"{OSTREEDIR}/repo/objects"
        for p in ("sysroot", OSTREEDIR, f"{OSTREEDIR}/repo", objdir):
            self._default_dir(p)
        for d in range(256):
            self._default_dir(f"{objdir}/{d:02x}")
        for sub in ("extensions", "refs", "refs/heads", "refs/mirrors", "refs/remotes", "state", "tmp", "tmp/cache"):
            self._default_dir(f"{OSTREEDIR}/repo/{sub}")
        self._default_data(f"{OSTREEDIR}/repo/config", REPO_CONFIG)

    def _detached_metadata(self) -> Optional[bytes]:
        path = self.repo.object_path(self.checksum, ObjectType.COMMIT_META)
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_METADATA_SIZE + 1)
        except FileNotFoundError:
            return None
        if len(data) > MAX_METADATA_SIZE:
            raise CorruptObjectError(f"Detached metadata of {self.checksum} is larger than the maximum")
        return data

    # ---- write_commit with structure_only
    def write_structure(self) -> None:
        root_meta_bytes = self.repo.load_metadata(ObjectType.DIR_META, self.commit.root_meta)
        root_meta = DirMeta.parse(root_meta_bytes)
        self._dir("./", root_meta)
        self._repo_structure()
        self._object(ObjectType.COMMIT, self.checksum, self.commit_bytes)
        detached = self._detached_metadata()
        if detached is not None:
            self._object(ObjectType.COMMIT_META, self.checksum, detached)
        self._object(ObjectType.DIR_META, self.commit.root_meta, root_meta_bytes)

        # append_dirtree, recursive in ostree-ext; an explicit stack here so a deep
        # tree cannot exhaust Python's recursion limit
        def enter(path: str, tree_csum: str) -> Iterator[Tuple[str, str, str]]:
            data, tree = self._load_tree(tree_csum)
            self._object(ObjectType.DIR_TREE, tree_csum, data)
            rel = path[2:] if path.startswith("./") else path.lstrip("/")
            if rel == "var/tmp":
                self.wrote_vartmp = True
            return iter(tree.dirs)

        stack = [("./", enter("./", self.commit.root_tree))]
        while stack:
            path, it = stack[-1]
            child = next(it, None)
            if child is None:
                stack.pop()
                continue
            name, tree_csum, meta_csum = child
            meta = self._dirmeta(meta_csum)
            if len(stack) == 1 and name == "sysroot":
                continue  # containers cannot hold duplicates of the repo skeleton
            sub = _map_path(_join(path, name))
            self._dir(sub, meta)
            stack.append((sub, enter(sub, tree_csum)))

        if not self.wrote_vartmp:
            h = _Header.gnu()
            h.set_entry_type(DIRTYPE)
            h.set_size(0)
            h.set_uid(0)
            h.set_gid(0)
            h.set_mode(0o1777)
            self.w.append_data(h, b"var/tmp")

    # ---- write_chunk with every content object (Chunking::new puts all in the remainder)
    def _content_mapping(self) -> Dict[str, List[str]]:
        """checksum -> checkout paths in tree-walk order (files, then subdirectories,
        depth first; ``sysroot`` included), as chunking.rs generate_chunking_recurse."""
        mapping: Dict[str, List[str]] = {}
        stack: List[Tuple[str, Iterator[Tuple[str, str, str]]]] = []

        def enter(prefix: str, tree_csum: str) -> None:
            tree = self._trees.get(tree_csum) or self._load_tree(tree_csum)[1]
            for name, fcsum in tree.files:
                mapping.setdefault(fcsum, []).append(prefix + name)
            stack.append((prefix, iter(tree.dirs)))

        enter("", self.commit.root_tree)
        while stack:
            prefix, it = stack[-1]
            child = next(it, None)
            if child is None:
                stack.pop()
                continue
            name, tree_csum, _ = child
            enter(f"{prefix}{name}/", tree_csum)
        return mapping

    def _content(self, checksum: str) -> Tuple[str, _Header]:
        path = object_path(ObjectType.FILE, checksum)
        header, stream = self.repo.load_file(checksum)
        h = _Header.gnu()
        h.set_uid(header.uid)
        h.set_gid(header.gid)
        h.set_mode(header.mode & ~stat.S_IFMT(header.mode))
        size = 0
        if header.is_regular:
            size = self.repo.content_size(checksum)
            h.set_entry_type(REGTYPE)
            h.set_size(size)
        else:
            h.set_entry_type(SYMTYPE)
            h.set_size(0)
        # the xattrs go first: the importer needs them when it meets the object
        self._default_data(_xattrs_link_path(checksum), gvariant.serialize(XATTRS_TYPE, list(header.xattrs)))
        pax: List[Tuple[bytes, bytes]] = []
        for name, value in header.xattrs:
            n = xattr_name(name)
            try:
                n.decode("utf-8")
            except UnicodeDecodeError:
                raise TarError(f"Found non-UTF8 xattr: {n!r}") from None
            if n != SECURITY_SELINUX:  # podman does not show it anyway (containers/storage)
                pax.append((b"SCHILY.xattr." + n, value))
        self.w.append_pax_extensions(pax)
        if header.is_regular:
            assert stream is not None
            with stream:
                self.w.append_data(h, _enc(path), stream=stream, size=size)
        else:
            target = _enc(header.symlink_target)
            if b"//" in target or (len(target) <= 100 and _link_normalizes(target)):
                # tar-rs would normalize the target ("a//b" -> "a/b"), changing the object;
                # ostree-ext stores "//" targets literally.  We also do so for "a/./b" and
                # "a/." where ostree-ext's image would fail its own checksum check.
                if len(target) <= 100:
                    h.set_link_name_literal(target)
                    self.w.append_data(h, _enc(path))
                else:  # ostree-ext fails here; a GNU long link keeps the exact bytes
                    self.w._prepare_path(h, _enc(path))
                    self.w.append(_longlink_header(len(target), GNU_LONGLINK), target + b"\x00")
                    h.set_cksum()
                    self.w.append(h)
            else:
                self.w.append_link(h, _enc(path), target)
        return path, h

    def _hardlink(self, srcpath: str, h: _Header, dest: str) -> None:
        # Zero-sized regular files are not hardlinked: container builds that modify
        # such a file in place would otherwise modify the object in /sysroot too.
        zerosized = h.entry_type == REGTYPE and h.size == 0
        h.set_size(0)
        if not zerosized:
            h.set_entry_type(LNKTYPE)
            h.set_link_name(_enc(srcpath))
        self.w.append_data(h, _enc(dest))

    def write_content(self) -> None:
        mapping = self._content_mapping()
        total = len(mapping)
        for i, checksum in enumerate(sorted(mapping)):
            objpath, h = self._content(checksum)
            for p in mapping[checksum]:
                self._hardlink(objpath, h.copy(), _map_path_v1(p))
            if self.progress is not None:
                self.progress(ObjectExported(checksum, i + 1, total, self.w.bytes_written))


def _link_normalizes(target: bytes) -> bool:
    """Whether tar-rs's component normalization would change a symlink target."""
    rebuilt = b""
    needs_slash = False
    for _, data in _rust_components(target):
        if needs_slash:
            rebuilt += b"/"
        rebuilt += data
        needs_slash = data != b"/"
    if target.endswith(b"/"):
        rebuilt += b"/"
    return rebuilt != target


def write_commit_tar(repo: Repo, rev: str, out: BinaryIO, *, progress: Optional[ProgressCallback] = None) -> None:
    """Write commit ``rev`` as the single-layer tar ostree-ext's ``encapsulate`` makes
    (``export_final_chunk``): repo skeleton, commit, detached metadata, the structure
    (dirtrees, dirmetas, directory entries), ``var/tmp``, then every content object
    in checksum order, each with its xattrs and hardlinks at its checkout paths.

    ``out`` only needs ``write``: nothing is buffered beyond one read chunk, and
    nothing is written to disk.  Content is read through verifying streams, so a
    corrupt object in ``repo`` raises instead of being exported.
    """
    checksum = repo.resolve_rev(rev)
    assert checksum is not None
    exp = _Exporter(repo, checksum, out, progress)
    exp.write_structure()
    exp.write_content()
    exp.w.finish()


# =====================================================================================
# Reading: a strict streaming tar parser
# =====================================================================================


def _parse_number(field: bytes) -> int:
    if field and field[0] & 0x80:
        if field[0] == 0xFF:
            raise TarError("Invalid negative number in tar header")
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    s = field.split(b"\x00", 1)[0].strip(b" ")
    if not s:
        return 0
    try:
        if not all(48 <= c <= 55 for c in s):
            raise ValueError
        return int(s, 8)
    except ValueError:
        raise TarError(f"Invalid number {field!r} in tar header") from None


def _cstr(field: bytes) -> bytes:
    return field.split(b"\x00", 1)[0]


def _decode_name(raw: bytes, what: str) -> str:
    if b"\x00" in raw:
        raise TarError(f"Invalid NUL in tar {what} {raw!r}")
    return raw.decode("utf-8", "surrogateescape")


def _parse_pax(data: bytes) -> Dict[str, bytes]:
    out: Dict[str, bytes] = {}
    pos = 0
    n = len(data)
    while pos < n:
        if not data[pos:].strip(b"\x00"):
            break  # NUL padding after the last record
        sp = data.find(b" ", pos, pos + 21)
        if sp < 0 or not data[pos:sp].isdigit():
            raise TarError("Invalid PAX record: no length")
        length = int(data[pos:sp])
        end = pos + length
        if length <= sp - pos + 1 or end > n or data[end - 1:end] != b"\n":
            raise TarError("Invalid PAX record: its length does not match its contents")
        kv = data[sp + 1:end - 1]
        eq = kv.find(b"=")
        if eq <= 0:
            raise TarError("Invalid PAX record: no key")
        out[kv[:eq].decode("utf-8", "surrogateescape")] = kv[eq + 1:]
        pos = end
    return out


@attrs.define(eq=False)
class TarEntry:
    """One member of a tar stream; its data is read from the entry itself, in order."""

    path: str
    type: bytes
    mode: int
    uid: int
    gid: int
    size: int
    linkname: str
    pax: Dict[str, bytes]
    _reader: "TarReader" = attrs.field(repr=False)

    def read(self, n: int = -1) -> bytes:
        return self._reader._read_data(n)

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        data = self._reader._read_data(len(b))
        b[:len(data)] = data
        return len(data)

    def read_all(self) -> bytes:
        return self._reader._read_data(-1)


class TarReader:
    """Iterates the members of a tar stream (ustar, GNU, PAX), strictly.

    Headers must have valid checksums and numbers, PAX records must be well formed
    and not contradict the header, the stream must not end before a member's data
    or before the end-of-archive block.  Paths are returned as stored (validation is
    the consumer's job, see :func:`normalize_member_path`).  Data not read by the
    consumer is skipped when the next member is requested.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._remaining = 0
        self._pad = 0
        self.ended = False
        self.offset = 0

    def _read_exact(self, n: int) -> bytes:
        parts = []
        want = n
        while want:
            chunk = self._stream.read(want)
            if not chunk:
                raise TarError(f"Truncated tar stream at offset {self.offset}")
            parts.append(chunk)
            want -= len(chunk)
            self.offset += len(chunk)
        return b"".join(parts) if len(parts) != 1 else parts[0]

    def _read_data(self, n: int) -> bytes:
        if n is None or n < 0:
            n = self._remaining
        n = min(n, self._remaining, CHUNK)
        if n <= 0:
            return b""
        data = self._read_exact(n)
        self._remaining -= len(data)
        return data

    def _skip(self) -> None:
        while self._remaining:
            self._read_data(CHUNK)
        if self._pad:
            self._read_exact(self._pad)
            self._pad = 0

    def _read_block_data(self, size: int, limit: int, what: str) -> bytes:
        if size > limit:
            raise TarError(f"Oversized tar {what} record ({size} bytes)")
        data = self._read_exact(size)
        if size % BLOCK:
            self._read_exact(BLOCK - size % BLOCK)
        return data

    def __iter__(self) -> Iterator[TarEntry]:
        longname: Optional[bytes] = None
        longlink: Optional[bytes] = None
        pax: Dict[str, bytes] = {}
        while True:
            self._skip()
            block = self._stream.read(BLOCK)
            while block and len(block) < BLOCK:
                more = self._stream.read(BLOCK - len(block))
                if not more:
                    break
                block += more
            if not block:
                raise TarError("Truncated tar stream: no end-of-archive marker")
            if len(block) < BLOCK:
                raise TarError(f"Truncated tar stream at offset {self.offset}")
            self.offset += BLOCK
            if block == bytes(BLOCK):
                if longname is not None or longlink is not None or pax:
                    raise TarError("Tar stream ends after an extended header")
                self.ended = True
                return
            stored = _parse_number(block[148:156])
            unsigned = sum(block[:148]) + 256 + sum(block[156:])
            if stored != unsigned:
                # some old writers summed signed chars; computed only when needed (slow)
                high = sum(b for b in block[:148] if b > 127) + sum(b for b in block[156:] if b > 127)
                if stored != unsigned - 2 * high:
                    raise TarError(f"Invalid tar header checksum at offset {self.offset - BLOCK}")
            typ = block[156:157]
            size = _parse_number(block[124:136])
            if typ in (GNU_LONGNAME, GNU_LONGLINK):
                data = self._read_block_data(size, MAX_LONGNAME, "long name")
                name, _, rest = data.partition(b"\x00")
                if rest.strip(b"\x00"):
                    raise TarError(f"Invalid NUL in tar long name {data[:100]!r}")
                if typ == GNU_LONGNAME:
                    longname = name
                else:
                    longlink = name
                continue
            if typ in (XHDTYPE, XGLTYPE):
                records = _parse_pax(self._read_block_data(size, MAX_PAX, "PAX"))
                if typ == XHDTYPE:
                    pax.update(records)
                continue
            magic = block[257:263]
            if "path" in pax:
                raw_name = pax["path"]
            elif longname is not None:
                raw_name = longname
            else:
                raw_name = _cstr(block[0:100])
                prefix = _cstr(block[345:500]) if magic == b"ustar\x00" else b""
                if prefix:
                    raw_name = prefix + b"/" + raw_name
            if "linkpath" in pax:
                raw_link = pax["linkpath"]
            elif longlink is not None:
                raw_link = longlink
            else:
                raw_link = _cstr(block[157:257])
            uid = _parse_number(block[108:116])
            gid = _parse_number(block[116:124])
            try:
                if "size" in pax:
                    psize = int(pax["size"].decode("ascii"))
                    if psize < 0 or (size and psize != size):
                        raise TarError(f"PAX size {psize} contradicts the header size {size}")
                    size = psize
                if "uid" in pax:
                    uid = int(pax["uid"].decode("ascii"))
                if "gid" in pax:
                    gid = int(pax["gid"].decode("ascii"))
            except (ValueError, UnicodeDecodeError):
                raise TarError("Invalid number in a PAX record") from None
            if uid < 0 or gid < 0:
                raise TarError("Invalid negative owner in tar header")
            entry = TarEntry(
                path=_decode_name(raw_name, "path"),
                type=typ,
                mode=_parse_number(block[100:108]),
                uid=uid,
                gid=gid,
                size=size,
                linkname=_decode_name(raw_link, "link name"),
                pax=pax,
                reader=self,
            )
            longname = longlink = None
            pax = {}
            # hard links, symlinks and directories carry no data, whatever size they claim
            # (tar-rs reads the claimed size as data; we refuse the lie instead)
            if typ in (LNKTYPE, SYMTYPE, DIRTYPE) and size:
                raise TarError(f"Tar {typ.decode()} entry {entry.path!r} claims {size} bytes of data")
            self._remaining = size
            self._pad = (-size) % BLOCK
            yield entry


def normalize_member_path(raw: str) -> str:
    """A member path made relative and clean, or :class:`TarError` for one that could
    point anywhere else (absolute, ``..``, NUL)."""
    if "\x00" in raw:
        raise TarError(f"Invalid NUL in tar path {raw!r}")
    if raw.startswith("/"):
        raise TarError(f"Invalid absolute path in tar stream: {raw!r}")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise TarError(f"Invalid path with '..' in tar stream: {raw!r}")
    return "/".join(parts)


# =====================================================================================
# Reading: the object importer (ostree-ext tar/import.rs)
# =====================================================================================


def _is_sha256(s: str) -> bool:
    return len(s) == 64 and all(c in "0123456789abcdef" for c in s)


def _parse_object_entry_path(path: str) -> Tuple[str, str, str]:
    """``objects/XX/REST.TYPE`` -> (XX, REST.TYPE, TYPE)."""
    parts = path.split("/")
    if len(parts) < 2:
        raise CorruptObjectError(f"Invalid path (no parent) {path}")
    parent, name = parts[-2], parts[-1]
    if not (parent.isascii() and len(parent) == 2):
        raise CorruptObjectError(f"Invalid checksum parent {parent}")
    dot = name.rfind(".")
    if dot <= 0:
        raise CorruptObjectError(f"Invalid objpath {path}")
    return parent, name, name[dot + 1:]


def _parse_checksum(parent: str, name: str) -> str:
    stem = name[:name.rfind(".")] if "." in name[1:] else name
    while stem.endswith(".file"):  # the double extension of v0 ".file.xattrs"
        stem = stem[:-len(".file")]
    if not (stem.isascii() and len(stem) == 62):
        raise CorruptObjectError(f"Invalid checksum part {stem}")
    checksum = parent + stem
    if not _is_sha256(checksum):
        raise CorruptObjectError(f"Invalid sha256 checksum {checksum}")
    return checksum


def parse_metadata_entry(path: str) -> Tuple[str, ObjectType]:
    """The checksum and object type of a metadata object's tar path
    (``sysroot/ostree/repo/objects/XX/...``); a malformed path is a
    :class:`~ostreepy.errors.CorruptObjectError`."""
    parent, name, suffix = _parse_object_entry_path(path)
    checksum = _parse_checksum(parent, name)
    try:
        return checksum, _META_SUFFIX[suffix]
    except KeyError:
        raise CorruptObjectError(f"Invalid object type {suffix}") from None


def _read_metadata_entry(entry: TarEntry, what: str) -> bytes:
    if entry.type not in (REGTYPE, b"\x00"):
        raise CorruptObjectError(f"Invalid non-regular metadata object {what}")
    if entry.size > MAX_METADATA_SIZE:
        raise CorruptObjectError(f"object of size {entry.size} exceeds {MAX_METADATA_SIZE} bytes")
    data = entry.read_all()
    if len(data) != entry.size:
        raise TarError(f"Truncated metadata object {what}")
    return data


@attrs.define
class ImportStats:
    """Counts of what an import wrote: objects by kind, those skipped as present, and bytes."""

    dirtree: int = 0
    dirmeta: int = 0
    regfiles: int = 0
    symlinks: int = 0
    skipped: int = 0
    bytes: int = 0


class _Importer:
    """The state machine of ostree-ext's ``Importer``: xattrs arrive before the content
    object they belong to, metadata objects are checked against their names."""

    def __init__(self, repo: Repo, object_set: bool, progress: Optional[ProgressCallback]) -> None:
        self.repo = repo
        self.progress = progress
        self.object_set: Optional[Set[str]] = set() if object_set else None
        self.xattrs: Dict[str, Xattrs] = {}
        self._xattrs_bytes = 0
        self.next_xattrs: Optional[Tuple[str, str]] = None
        self.commit: Optional[str] = None
        self.verify_text: Optional[str] = None
        self.stats = ImportStats()

    # ---- entry filtering
    @staticmethod
    def _filtered(reader: TarReader) -> Iterator[Tuple[TarEntry, str]]:
        """Members under ``sysroot/ostree/repo/`` other than directories, ``config`` and
        ``refs``; every path is validated on the way, including the ones skipped."""
        for entry in reader:
            path = normalize_member_path(entry.path)
            if entry.type == DIRTYPE:
                continue
            if not path.startswith(REPO_PREFIX):
                continue
            rel = path[len(REPO_PREFIX):]
            if rel.rsplit("/", 1)[-1] == "config" or rel == "refs" or rel.startswith("refs/"):
                continue
            yield entry, rel

    # ---- xattrs
    def _cache_xattrs(self, entry: TarEntry, expected: Optional[str]) -> str:
        if entry.type not in (REGTYPE, b"\x00"):
            raise CorruptObjectError(f"Invalid xattr entry of type {entry.type!r}")
        if entry.size > MAX_XATTR_SIZE:
            raise CorruptObjectError(f"Invalid xattr size {entry.size}")
        data = entry.read_all()
        actual = hashlib.sha256(data).hexdigest()
        if expected is not None and expected != actual:
            raise ChecksumMismatchError(expected, actual, "xattrs object")
        if actual not in self.xattrs:
            try:
                parsed = tuple((bytes(n), bytes(v)) for n, v in gvariant.deserialize(XATTRS_TYPE, data))
            except GVariantError as e:
                raise CorruptObjectError(f"Invalid xattrs object {actual}: {e}") from None
            self._xattrs_bytes += len(data)
            if self._xattrs_bytes > MAX_XATTR_CACHE:
                raise CorruptObjectError("Too many distinct xattrs in the stream")
            self.xattrs[actual] = parsed
        return actual

    def _set_next_xattrs(self, file_csum: str, xattrs_csum: str) -> None:
        if self.next_xattrs is not None:
            raise CorruptObjectError(f"Found previous dangling xattrs for file object '{self.next_xattrs[0]}'")
        if xattrs_csum not in self.xattrs:
            raise CorruptObjectError(f"xattrs of file object {file_csum} refer to unknown xattrs {xattrs_csum}")
        self.next_xattrs = (file_csum, xattrs_csum)

    def _xattrs_link(self, entry: TarEntry, checksum: str) -> None:
        if self.next_xattrs is not None:
            raise CorruptObjectError(f"Found previous dangling xattrs for file object '{self.next_xattrs[0]}'")
        if entry.type == LNKTYPE:
            target = entry.linkname
            if not target:
                raise CorruptObjectError(f"No xattrs link content for {checksum}")
            parent, name, _ = _parse_object_entry_path(target)
            xcsum = _parse_checksum(parent, name)
        elif entry.type in (REGTYPE, b"\x00"):
            xcsum = self._cache_xattrs(entry, None)
        else:
            raise CorruptObjectError(f"Unexpected xattrs type {entry.type!r} found for {checksum}")
        self._set_next_xattrs(checksum, xcsum)

    def _xattrs_ref_v0(self, entry: TarEntry, checksum: str) -> None:
        if self.next_xattrs is not None:
            raise CorruptObjectError(f"Found previous dangling xattrs for file object '{self.next_xattrs[0]}'")
        if entry.type != LNKTYPE:
            raise CorruptObjectError(f"Non-hardlink xattrs reference found for {checksum}")
        xcsum = entry.linkname.rsplit("/", 1)[-1]
        if not _is_sha256(xcsum):
            raise CorruptObjectError(f"Invalid xattrs link {entry.linkname!r} for {checksum}")
        self._set_next_xattrs(checksum, xcsum)

    # ---- objects
    def _content(self, entry: TarEntry, checksum: str) -> None:
        pending, self.next_xattrs = self.next_xattrs, None
        if pending is None:
            raise CorruptObjectError(f"Missing xattrs reference for file object {checksum}")
        if pending[0] != checksum:
            raise CorruptObjectError(f"Object mismatch, found xattrs for {pending[0]}")
        if self.object_set is not None:
            if checksum in self.object_set:
                raise CorruptObjectError(f"Duplicate object: {checksum}")
            self.object_set.add(checksum)
        if self.repo.has_object(checksum, ObjectType.FILE):
            self.stats.skipped += 1
            return
        xattrs = self.xattrs[pending[1]]
        if entry.type in (REGTYPE, b"\x00"):
            if entry.mode & ~0o7777:
                raise CorruptObjectError(f"Invalid mode 0{entry.mode:o} for file object {checksum}")
            header = FileHeader(entry.uid, entry.gid, stat.S_IFREG | entry.mode, "", xattrs)
            self.repo.write_content(header, entry, entry.size, expected=checksum)  # type: ignore[arg-type]
            self.stats.regfiles += 1
            self.stats.bytes += entry.size
        elif entry.type == SYMTYPE:
            if not entry.linkname:
                raise CorruptObjectError(f"Invalid symlink object {checksum}: empty target")
            header = FileHeader(entry.uid, entry.gid, stat.S_IFLNK | 0o777, entry.linkname, xattrs)
            self.repo.write_content(header, None, 0, expected=checksum)
            self.stats.symlinks += 1
        else:
            raise CorruptObjectError(f"Invalid tar entry of type {entry.type!r} for file object {checksum}")

    def _metadata(self, entry: TarEntry, checksum: str, objtype: ObjectType) -> None:
        if objtype not in (ObjectType.DIR_TREE, ObjectType.DIR_META):
            raise CorruptObjectError(f"Invalid metadata object type {objtype.name_str} for {checksum}")
        data = _read_metadata_entry(entry, checksum)
        self.repo.write_metadata(objtype, data, expected=checksum)
        if objtype == ObjectType.DIR_TREE:
            self.stats.dirtree += 1
        else:
            self.stats.dirmeta += 1

    def import_object(self, entry: TarEntry, path: str) -> None:
        parent, name, suffix = _parse_object_entry_path(path)
        checksum = _parse_checksum(parent, name)
        if suffix == "commit":
            raise CorruptObjectError("Found multiple commit objects")
        if suffix == "file":
            self._content(entry, checksum)
        elif suffix == "file-xattrs":
            self._cache_xattrs(entry, checksum)
        elif suffix == "file-xattrs-link":
            self._xattrs_link(entry, checksum)
        elif suffix == "xattrs":
            self._xattrs_ref_v0(entry, checksum)
        else:
            objtype = _META_SUFFIX.get(suffix)
            if objtype is None:
                raise CorruptObjectError(f"Invalid object type {suffix}")
            if self.object_set is not None:
                raise CorruptObjectError(f"Found metadata object {checksum}.{suffix} in object set mode")
            self._metadata(entry, checksum, objtype)
        n = self.stats.dirtree + self.stats.dirmeta + self.stats.regfiles + self.stats.symlinks
        if suffix in ("file", "dirtree", "dirmeta") and self.progress is not None:
            self.progress(ObjectImported(checksum, suffix, n, self.stats.bytes, self.stats.skipped))

    def import_entry(self, entry: TarEntry, rel: str) -> None:
        if rel.startswith("objects/"):
            self.import_object(entry, rel[len("objects/"):])
        elif rel.startswith("xattrs/"):  # v0: xattrs stored once under their sha256
            name = rel.rsplit("/", 1)[-1]
            if not _is_sha256(name):
                raise CorruptObjectError(f"Invalid xattrs name {name}")
            self._cache_xattrs(entry, name)

    def import_objects(self, ents: Iterator[Tuple[TarEntry, str]]) -> None:
        for entry, rel in ents:
            self.import_entry(entry, rel)
        if self.next_xattrs is not None:
            raise CorruptObjectError(f"Dangling xattrs for file object {self.next_xattrs[0]} at end of stream")

    def import_commit(self, reader: TarReader, expected_commit: Optional[str],
                      verifier: Optional[CommitVerifier] = None) -> str:
        ents = self._filtered(reader)
        first = next(ents, None)
        if first is None:
            raise CorruptObjectError("Commit object not found")
        entry, rel = first
        if entry.type not in (REGTYPE, b"\x00"):
            raise CorruptObjectError(f"Expected regular file for commit object, not {entry.type!r}")
        checksum, objtype = parse_metadata_entry(rel)
        if objtype != ObjectType.COMMIT:
            raise CorruptObjectError(f"Expected commit object, not {objtype.name_str}")
        data = _read_metadata_entry(entry, checksum)
        actual = hashlib.sha256(data).hexdigest()
        if actual != checksum:
            raise ChecksumMismatchError(checksum, actual, "commit object")
        if expected_commit is not None and expected_commit != checksum:
            raise CorruptObjectError(f"Layer holds commit {checksum}, expected {expected_commit}", checksum)
        Commit.parse(data)
        if verifier is not None:
            # ostree-ext with a remote: the detached metadata must come next, and the
            # signatures are checked before the commit or anything else is written
            nxt = next(ents, None)
            if nxt is None:
                raise CorruptObjectError("End of stream after commit object")
            entry, rel = nxt
            suffix = rel.rsplit(".", 1)[-1] if "." in rel.rsplit("/", 1)[-1] else ""
            if not rel.startswith("objects/") or suffix != "commitmeta":
                raise RemoteVerificationError(f"Using remote {verifier.remote} for verification; Expected "
                                              f"commitmeta object, not {rust_objtype_name(suffix)}")
            meta_csum, _ = parse_metadata_entry(rel)
            if meta_csum != checksum:
                raise CorruptObjectError(f"Expected commitmeta checksum {checksum}, found {meta_csum}")
            meta = parse_commitmeta(_read_metadata_entry(entry, meta_csum))
            self.verify_text = verify_commit_data(verifier, checksum, data, meta)
            self._write_commit(checksum, data)
            self.repo.write_commit_detached_metadata(checksum, meta)
            self.import_objects(ents)
            return checksum
        self._write_commit(checksum, data)

        nxt = next(ents, None)
        if nxt is None:
            raise CorruptObjectError("End of stream after commit object")
        entry, rel = nxt
        if rel.startswith("objects/") and rel.endswith(".commitmeta"):
            meta_csum, _ = parse_metadata_entry(rel)
            if meta_csum != checksum:
                raise CorruptObjectError(f"Expected commitmeta checksum {checksum}, found {meta_csum}")
            meta = parse_commitmeta(_read_metadata_entry(entry, meta_csum))
            self.repo.write_commit_detached_metadata(checksum, meta)
        else:
            self.import_entry(entry, rel)
        self.import_objects(ents)
        return checksum

    def _write_commit(self, checksum: str, data: bytes) -> None:
        # the commit is marked partial until every object it references is present
        # (an already complete commit stays so: an import that fails must not demote it)
        if not (self.repo.has_object(checksum, ObjectType.COMMIT) and not self.repo.commit_is_partial(checksum)):
            self.repo.mark_commit_partial(checksum, True)
        self.repo.write_metadata(ObjectType.COMMIT, data, expected=checksum)
        self.commit = checksum
        if self.progress is not None:
            self.progress(ObjectImported(checksum, "commit", 0, 0, 0))


def finish_commit_import(repo: Repo, checksum: str) -> None:
    """Clear the commit's partial state once every object it references is present
    (what ``ostree fsck`` would otherwise find missing); raise if some are not."""
    try:
        reachable = repo.traverse_commit(checksum, allow_partial=False)
    except ObjectNotFoundError as e:
        raise CorruptObjectError(f"Commit {checksum} is incomplete: {e}", checksum) from None
    # every object the commit reaches, dirmetas included (the traversal only loads
    # dirtrees, so a missing dirmeta or file would otherwise go unnoticed)
    for csum, objtype in reachable:
        if objtype is not ObjectType.COMMIT_META and not repo.has_object(csum, objtype):
            raise CorruptObjectError(
                f"Commit {checksum} is incomplete: missing {objtype.name_str} object {csum}", checksum)
    repo.mark_commit_partial(checksum, False)


def import_commit_objects(repo: Repo, stream: BinaryIO, *, expected_commit: Optional[str] = None,
                          progress: Optional[ProgressCallback] = None) -> str:
    """Import the objects of a commit layer, leaving the commit marked partial
    (so a caller can still verify the layer's digests before calling
    :func:`finish_commit_import`).  Reads ``stream`` up to the end-of-archive block."""
    imp = _Importer(repo, False, progress)
    with repo.transaction():
        return imp.import_commit(TarReader(stream), expected_commit)


def import_verified_commit_objects(repo: Repo, stream: BinaryIO, verifier: CommitVerifier, *,
                                   expected_commit: Optional[str] = None,
                                   progress: Optional[ProgressCallback] = None) -> Tuple[str, str]:
    """:func:`import_commit_objects` for ``ostree-remote-*`` references: the commit's
    detached metadata must follow it and satisfy ``verifier`` before anything is
    written.  Returns (commit checksum, the verifier's description of the signatures)."""
    imp = _Importer(repo, False, progress)
    with repo.transaction():
        checksum = imp.import_commit(TarReader(stream), expected_commit, verifier)
    assert imp.verify_text is not None
    return checksum, imp.verify_text


def import_object_set_objects(repo: Repo, stream: BinaryIO, *,
                              progress: Optional[ProgressCallback] = None) -> List[str]:
    """Import the content objects of a chunk layer; returns their checksums, sorted."""
    imp = _Importer(repo, True, progress)
    with repo.transaction():
        imp.import_objects(imp._filtered(TarReader(stream)))
    assert imp.object_set is not None
    return sorted(imp.object_set)


def write_object_set_commit(repo: Repo, checksums: List[str]) -> str:
    """The flat commit ostree-ext records for a chunk layer (``finish_import_object_set``):
    a root directory (0/0/040755) whose file names are the object checksums,
    timestamp 0, no parent, subject, body or metadata."""
    with repo.transaction():
        root_meta = repo.write_dirmeta(DirMeta(0, 0, stat.S_IFDIR | 0o755))
        root_tree = repo.write_dirtree(DirTree(files=tuple((c, c) for c in sorted(set(checksums)))))
        return repo.write_commit(Commit(root_tree=root_tree, root_meta=root_meta, timestamp=0))


def import_commit_tar(repo: Repo, stream: BinaryIO, *, expected_commit: Optional[str] = None,
                      progress: Optional[ProgressCallback] = None) -> str:
    """Import layer 0 of an ostree-encapsulated image (or ``ostree-ext tar export``
    output): the commit, then every object, each written under the checksum the
    stream gives it and refused if its bytes hash otherwise.  Returns the commit
    checksum once the commit is complete."""
    checksum = import_commit_objects(repo, stream, expected_commit=expected_commit, progress=progress)
    finish_commit_import(repo, checksum)
    return checksum


def import_object_set_tar(repo: Repo, stream: BinaryIO, *, progress: Optional[ProgressCallback] = None) -> str:
    """Import a chunk layer of an encapsulated image; returns the flat commit recording it."""
    return write_object_set_commit(repo, import_object_set_objects(repo, stream, progress=progress))


__all__ = [
    "TarEntry", "TarReader", "TarWriter", "ImportStats",
    "write_commit_tar", "import_commit_tar", "import_object_set_tar",
    "import_commit_objects", "import_verified_commit_objects", "import_object_set_objects", "finish_commit_import",
    "write_object_set_commit",
    "normalize_member_path", "object_path", "parse_metadata_entry",
]
