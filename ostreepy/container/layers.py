"""One OCI layer into one OSTree commit, streamed: blob -> digest check -> decompression
-> diffID check -> tar entries -> repo objects, with no temporary tar file.

The path rules are ostree-ext's (tar/write.rs ``filter_tar``), so the layer
commit holds the tree ``ostree commit --tree=tar=`` gives for the filtered tar.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from typing import BinaryIO, Callable, Dict, Optional

import attrs

from .._version import __version__
from ..store.commit import create_commit, split_path, write_mtree, write_tar_to_mtree
from ..errors import OstreeError, TarError
from ..store.gvariant import Variant
from ..store.mtree import MutableTree
from ..progress import LayerImported, ProgressCallback, emit
from ..store.repo import Repo
from .compression import CHUNK, chunk_source, compression_of
from .layerfeed import LayerFeed

IMPORTER_VERSION = f"ostreepy-{__version__}"

EXCLUDED_TOPLEVEL_PATHS = ("run", "tmp", "proc", "sys", "dev")


class LayerError(OstreeError):
    """A layer that could not be imported (nothing was recorded for it)."""


class NoSpaceError(LayerError):
    """The repository's filesystem has less free space than the import needs."""


@attrs.frozen
class PathRules:
    """ostree-ext's path rules for plain layers.

    The defaults are what current bootc does (``/var`` kept as ``var``, top-level
    directories other than ``usr`` kept, since a plain image has a transient
    root); ``PathRules.legacy()`` gives the older rules (``/var`` into
    ``usr/share/factory/var``, other top-level directories dropped and counted).
    """

    retain_var: bool = True
    allow_nonusr: bool = True

    @classmethod
    def legacy(cls) -> "PathRules":
        return cls(retain_var=False, allow_nonusr=False)


def make_translate(rules: PathRules, filtered: Dict[str, int]) -> Callable[[str, tarfile.TarInfo, bool], Optional[str]]:
    """The per-entry path mapping (normalize_validate_path) for write_tar_to_mtree."""

    def translate(path: str, member: tarfile.TarInfo, is_link_target: bool) -> Optional[str]:
        comps = split_path(path)
        if not comps:
            return path
        first = comps[0]
        if is_link_target:
            # ostree-ext remaps only etc in hardlink targets
            return "/".join(["usr", "etc"] + comps[1:]) if first == "etc" else path
        if first == "usr":
            return path
        if first == "etc":
            return "/".join(["usr", "etc"] + comps[1:])
        if first == "var":
            return path if rules.retain_var else "/".join(["usr", "share", "factory", "var"] + comps[1:])
        if first in EXCLUDED_TOPLEVEL_PATHS:
            if len(comps) == 1:
                return path
            filtered[comps[1]] = filtered.get(comps[1], 0) + 1
            return None
        if rules.allow_nonusr:
            return path
        filtered[first] = filtered.get(first, 0) + 1
        return None

    return translate


@attrs.frozen
class LayerImport:
    """One layer imported: its blob digest and ``diff_id``, the commit it became, the paths
    filtered out of it (by top directory) and its sizes."""

    digest: str
    diff_id: str
    commit: str
    filtered: Dict[str, int]
    compressed_size: int
    uncompressed_size: int


def check_free_space(repo: Repo, needed: int, what: str = "the import") -> None:
    """Refuse, with :class:`NoSpaceError`, to start writing ``needed`` bytes into a repository
    whose filesystem has less free."""
    st = os.statvfs(repo.path)
    free = st.f_bavail * st.f_frsize
    if free < needed:
        from ..store.prune import format_size
        raise NoSpaceError(f"Not enough space for {what} in {repo.path}: needs {format_size(needed)}, "
                           f"{format_size(free)} free")


class _SpaceGuard:
    """Stops an import before it fills the disk (a tar bomb, or just a big layer)."""

    def __init__(self, repo: Repo, reserve_fraction: float = 0.03) -> None:
        st = os.statvfs(repo.path)
        self.repo = repo
        self.reserve = int(st.f_blocks * st.f_frsize * reserve_fraction)
        self.next_check = 0

    def __call__(self, count: int) -> None:
        if count >= self.next_check:
            self.next_check = count + (64 << 20)
            st = os.statvfs(self.repo.path)
            if st.f_bavail * st.f_frsize < self.reserve:
                raise NoSpaceError(f"Refusing to fill the filesystem of {self.repo.path}: "
                                   f"less than {self.reserve >> 20} MiB left")


class _LayerReader:
    """The uncompressed layer a chunk at a time (:meth:`produce`), counted against the
    expansion limit and the disk guard and hashed for its diffID (unless ``hashing`` is off)."""

    def __init__(self, next_chunk: Callable[[], bytes], limit: int, guard: Callable[[int], None],
                 hashing: bool = True) -> None:
        self._next = next_chunk
        self.limit = limit
        self._guard = guard
        self.hasher = hashlib.sha256() if hashing else None
        self.count = 0

    def produce(self) -> bytes:
        data = self._next()
        if data:
            self.count += len(data)
            if self.count > self.limit:
                raise TarError(f"Layer expands beyond {self.limit} bytes; refusing a possible tar bomb")
            if self.hasher is not None:
                self.hasher.update(data)
            self._guard(self.count)
        return data

    @property
    def digest(self) -> str:
        assert self.hasher is not None
        return "sha256:" + self.hasher.hexdigest()


def import_layer(repo: Repo, blob: BinaryIO, *, digest: str, diff_id: Optional[str], media_type: str,
                 size: int, rules: PathRules = PathRules(), ref: Optional[str] = None,
                 progress: Optional[ProgressCallback] = None, max_expansion: int = 2000,
                 expansion_slack: int = 64 << 20) -> LayerImport:
    """Import one layer blob (a stream that verifies its own digest at EOF).

    The commit and its ``ref`` are recorded only after both the compressed
    digest and the diffID matched; on any error nothing refers to what was written.
    """
    compression = compression_of(media_type)
    # No manifest states a layer's uncompressed size, so a layer may expand to
    # max_expansion times its compressed size (gzip tops out near 1032:1); the
    # disk guard below catches what gets past that.
    limit = size * max_expansion + expansion_slack
    # an uncompressed layer's diffID is its blob's digest, which the blob stream checks at its end
    same = compression == "none" and diff_id is not None and diff_id == digest
    reader = _LayerReader(chunk_source(blob, compression), limit, _SpaceGuard(repo), hashing=not same)

    def produce() -> bytes:
        data = reader.produce()
        if not data:
            # reading the blob to its end is what checks its digest
            while blob.read(CHUNK):
                pass
        return data

    filtered: Dict[str, int] = {}
    translate = make_translate(rules, filtered)
    # the blob's reading, hashing and decompression run on a thread of their own, beside the tar's
    # two chunks ahead are enough to keep the reader's thread busy; each more is 1 MB
    feed = LayerFeed(produce, depth=2)
    try:
        with repo.transaction():
            mtree = MutableTree()
            try:
                write_tar_to_mtree(repo, feed, mtree, autocreate_parents=True, translate=translate,  # type: ignore[arg-type]
                                   tar_mode="r|")
                # the tar's end-of-archive blocks and padding are part of the diffID
                feed.drain()
            except tarfile.TarError as e:
                raise TarError(f"Layer {digest}: invalid tar stream: {e}") from None
            got = digest if same else reader.digest
            if diff_id is not None and got != diff_id:
                raise LayerError(f"Layer {digest}: uncompressed content does not match its diffID; "
                                 f"expected {diff_id} got {got}")
            tree, meta = write_mtree(repo, mtree)
            commit = create_commit(repo, tree, meta,
                                   metadata={"ostree.importer.version": Variant("s", IMPORTER_VERSION)})
            if ref is not None:
                repo.set_ref(ref, commit)
    finally:
        feed.close()
    emit(progress, LayerImported(digest, got, commit))
    return LayerImport(digest, got, commit, filtered, size, reader.count)
