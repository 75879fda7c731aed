"""Copying content objects between two local repositories, as libostree's
``_ostree_repo_import_object`` (ostree-repo-commit.c) does for ``pull-local``
and ``file://`` pulls.

Design:

* An object of the same on-disk form in both repositories (same mode) is not
  copied but hard-linked: one ``link()`` instead of reading, inflating, hashing,
  recompressing and writing it. As libostree (``import_via_reflink_is_possible``),
  an untrusted source is linked only when it belongs to the destination's owner:
  the link shares the inode, so only someone who could already write the
  destination can change it afterwards.
* Nothing unverified enters the destination from an untrusted source. Where
  libostree checks the source object (``ostree_repo_fsck_object``) and then links
  it, the link is made first, into the destination's ``tmp/``, and what is checked
  is that linked inode, read as an object of the source's mode; only then is it
  renamed in. The object checked is the one taken in, not a name that could be
  swapped in between.
* A trusted source is linked without reading it, as libostree does.
* A bare-user object is linked into a bare-user-only repository too
  (``import_is_bareuser_only_conversion``, for flatpak): a regular file whose
  ``user.ostreemeta`` says what bare-user-only reads from the file itself (owner
  0:0, no xattrs, the mode it has), so it is the same object there. Its symlinks
  are regular files, and anything else differs: those are copied.
* Where no link can be made (another filesystem, another mode, too many links,
  not allowed) the object is read from the source (checked, when untrusted) and
  written as a new object, as before.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import io
import os
import stat
from functools import lru_cache
from typing import BinaryIO

import attrs

from ..errors import ChecksumMismatchError
from . import objects as obj
from .objects import FileHeader, ObjectType
from .repo import CHUNK, Repo, RepoMode, VerifyingReader

__all__ = ["ImportResult", "Imported", "can_link", "check_filez", "import_content", "link_checked_filez"]

#: a compressed object up to this size is checked in memory, in one piece
SMALL = 1 << 20
#: link() failures that mean "copy instead"; anything else is an error
_NO_LINK = (errno.EXDEV, errno.EMLINK, errno.EPERM, errno.EACCES, errno.ENOTSUP)


class Imported(enum.Enum):
    """How :func:`import_content` took an object in."""

    PRESENT = "present"
    LINKED = "linked"
    COPIED = "copied"


@lru_cache(maxsize=64)
def _owner(path: str) -> int:
    return os.stat(path).st_uid


def can_link(dest: Repo, src: Repo, trusted: bool) -> bool:
    """Whether content objects of ``src`` may be hard-linked into ``dest`` (a bare-user
    one into bare-user-only only when :func:`_same_in_bare_user_only` says so)."""
    if src.mode is not dest.mode and not _bare_user_only_conversion(dest, src):
        return False
    return trusted or _owner(src.path) == _owner(dest.path)


def _bare_user_only_conversion(dest: Repo, src: Repo) -> bool:
    return src.mode is RepoMode.BARE_USER and dest.mode is RepoMode.BARE_USER_ONLY


def _same_in_bare_user_only(src: Repo, checksum: str) -> bool:
    path = src.object_path(checksum, ObjectType.FILE)
    try:
        st = os.lstat(path)
        uid, gid, mode, xattrs = obj.bareuser_meta_parse(os.getxattr(path, obj.BAREUSER_XATTR,
                                                                     follow_symlinks=False))
    except OSError:
        return False  # in the source's parent, or unreadable: the copy finds it or says so
    return (stat.S_ISREG(mode) and st.st_mode == mode and (uid, gid) == (0, 0) and not xattrs
            and not mode & (stat.S_ISUID | stat.S_ISGID))


@attrs.frozen
class ImportResult:
    """What :func:`import_content` did, and the content bytes it wrote (a copy's)."""

    how: Imported
    written: int = 0


def import_content(dest: Repo, src: Repo, checksum: str, *, trusted: bool, link: bool = True,
                   known_absent: bool = False) -> ImportResult:
    """Take content object ``checksum`` from ``src`` into ``dest``: hard-linked
    when the modes match and ``link`` (and, untrusted, the owners), else copied
    (a copy is hashed as it is written, so it is checked whatever the trust);
    verified first unless ``trusted``. ``known_absent``: the caller has just seen
    that ``dest`` lacks it (a pull's walk)."""
    if not known_absent and dest.has_object(checksum, ObjectType.FILE):
        return ImportResult(Imported.PRESENT)
    if (link and can_link(dest, src, trusted)
            and (src.mode is dest.mode or _same_in_bare_user_only(src, checksum))
            and _link_in(dest, src, checksum, trusted)):
        return ImportResult(Imported.LINKED)
    if src.mode is RepoMode.ARCHIVE:
        try:
            with open(src.object_path(checksum, ObjectType.FILE), "rb") as f:
                data = f.read(SMALL + 1)
        except FileNotFoundError:
            data = b""  # in the source's parent, or nowhere: load_file finds it or says so
        small = obj.inflate_filez(data, checksum, 4 * SMALL) if 0 < len(data) <= SMALL else None
        if small is not None:
            # the common small object, inflated in one call, without the streaming layers
            header, size, out = small
            regular = header.is_regular
            dest.write_content(header, io.BytesIO(out) if regular else None, size if regular else None,
                               expected=checksum)
            return ImportResult(Imported.COPIED, size if regular else 0)
    # write_content hashes what it writes against the checksum: no second hash on the way in
    header, stream = src.load_file(checksum, want_data=True, verify=False)
    try:
        full = src.content_size(checksum) if header.is_regular else None
        dest.write_content(header, stream, full, expected=checksum)
    finally:
        if stream is not None:
            stream.close()
    return ImportResult(Imported.COPIED, full or 0)


def _link_in(dest: Repo, src: Repo, checksum: str, trusted: bool) -> bool:
    """Link, check (untrusted) and rename in; False when no link could be made."""
    if trusted:
        # nothing to check: linked straight to its place in the transaction, as libostree
        # links into its staging directory (no temp name, no rename)
        try:
            if dest.link_object_in(src.object_path(checksum, ObjectType.FILE), checksum,
                                   ObjectType.FILE) is not None:
                return True
        except FileNotFoundError:
            return False
        except OSError as e:
            if e.errno in _NO_LINK:
                return False
            raise
    elif src.mode is RepoMode.ARCHIVE and dest.has_proc_fd:
        # checked through an open descriptor, then that very inode linked into the
        # staging directory: what was checked is what goes in, with no temp name
        try:
            f = open(src.object_path(checksum, ObjectType.FILE), "rb")  # noqa: SIM115 (closed below)
        except FileNotFoundError:
            return False
        with f:
            linked = link_checked_filez(dest, f, checksum)
        if linked is not None:
            return True
    tmp = dest.new_tmp_path()
    try:
        os.link(src.object_path(checksum, ObjectType.FILE), tmp, follow_symlinks=False)
    except FileNotFoundError:
        return False  # in the source's parent, or nowhere: load_file finds it or says so
    except OSError as e:
        if e.errno in _NO_LINK:
            return False
        raise
    try:
        if not trusted:
            _check(src, tmp, checksum)
        dest.adopt_object_file(tmp, checksum, ObjectType.FILE, linked=True)
        tmp = ""
    finally:
        if tmp:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    return True


def link_checked_filez(dest: Repo, f: BinaryIO, checksum: str) -> tuple[FileHeader, int] | None:
    """Check the archive ``.filez`` open as ``f`` (:func:`check_filez`) and link that
    inode into archive repository ``dest``'s transaction: what was checked is what goes
    in. Its header and size; None when it cannot be linked so (outside a transaction,
    another filesystem, ...), for the caller to copy or link it another way."""
    header, size = _check_filez_file(f, checksum)
    if not dest.has_proc_fd:
        return None
    try:
        if dest.link_object_in("", checksum, ObjectType.FILE, fd=f.fileno()) is None:
            return None
    except OSError as e:
        if e.errno in _NO_LINK:
            return None
        raise
    return header, size


def check_filez(path: str, checksum: str) -> tuple[FileHeader, int]:
    """Check that the archive ``.filez`` at ``path`` is content object ``checksum``
    (its header, compressed stream, size and hash); returns its header and size."""
    with open(path, "rb") as f:
        return _check_filez_file(f, checksum)


def _check_filez_file(f: BinaryIO, checksum: str) -> tuple[FileHeader, int]:
    """:func:`check_filez` of an open file, left open."""
    f.seek(0)
    data = f.read(SMALL + 1)
    if len(data) <= SMALL:
        # the common small object: read and inflated in one call each
        small = obj.inflate_filez(data, checksum, 4 * SMALL)
        if small is not None:
            header, size, out = small
            if header.is_regular:
                actual = obj.content_checksum(header, out)
                if actual != checksum:
                    raise ChecksumMismatchError(checksum, actual, "file object")
            return header, size
    f.seek(0)
    prefix = f.read(8)
    hlen = int.from_bytes(prefix[:4], "big") if len(prefix) == 8 else 0
    header, size, start = obj.read_filez_header(prefix + f.read(min(hlen, obj.MAX_METADATA_SIZE)), checksum)
    if header.is_symlink:
        actual = obj.content_checksum(header)
        if actual != checksum:
            raise ChecksumMismatchError(checksum, actual, "file object")
        return header, 0
    # the reader raises at EOF when the data does not hash to the checksum; it closes what
    # it reads, so it reads a duplicate of the descriptor and f stays open
    g = os.fdopen(os.dup(f.fileno()), "rb")
    g.seek(start)
    _drain(VerifyingReader(g, header.new_hasher(), checksum, size, decompress=True))  # type: ignore[arg-type]
    return header, size


def _check(src: Repo, path: str, checksum: str) -> None:
    if src.mode is RepoMode.ARCHIVE:
        check_filez(path, checksum)
        return
    # the stream raises at EOF when the data does not hash to the checksum
    _header, stream = src.load_file_at(path, checksum, want_data=True, verify=True)
    if stream is not None:  # (a symlink: its header alone was checked)
        _drain(stream)


def _drain(stream: BinaryIO) -> None:
    try:
        while stream.read(CHUNK):
            pass
    finally:
        stream.close()
