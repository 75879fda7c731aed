"""The summary cache: a remote's last ``summary`` and ``summary.sig``, kept in
``REPO/tmp/cache/summaries/REMOTE`` and ``REMOTE.sig`` and revalidated instead of fetched
again, as libostree keeps them (``ostree-repo-pull.c``: ``_ostree_repo_cache_summary``,
``_ostree_repo_load_cache_summary_if_same_sig``, ``_ostree_repo_load_cache_summary_properties``).

Design. :func:`fetch_summary_pair` is the one way a remote's summary is fetched (by pull and
by ``remote refs``/``remote summary``); it takes the fetcher as an argument and a ``verify``
callback, and the cache's few file operations are below it. The rules are ostree's:

* ``summary.sig`` is fetched first, with the cached copy's ``ETag`` (kept in the
  ``user.etag`` xattr) as ``If-None-Match`` and its mtime (set to the server's
  ``Last-Modified``) as ``If-Modified-Since``; a 304 means both cached files are current;
* a fetched ``summary.sig`` equal to the cached one means the cached ``summary`` is current
  (so a server without conditional requests still saves the big download);
* otherwise ``summary`` is fetched (conditionally too);
* a cached summary that fails verification is fetched again without the cache headers and
  verified again (an old cache must not make a pull fail, nor pass);
* only a pair fetched whole (summary and signature, not from the cache) is written to the
  cache, each file replaced atomically; a remote without ``summary.sig`` is never cached;
* the cache is off when ``OSTREE_SKIP_CACHE`` is set (as ostree's repository open) or the
  repository is not writable; failures to keep the xattr or mtime are not errors;
* ``ostree prune`` deletes the files of remotes no longer configured
  (:func:`prune_summary_cache`, libostree's ``_ostree_repo_prune_tmp``);
* ``OSTREE_REPO_TEST_ERROR=invalid-cache`` turns a cached summary that fails verification
  into an error instead of a fetch, as libostree's tests ask.

The cache is named after the remote, so only a configured remote (not a ``file://`` URL, whose
repository ostree reads directly) uses it.
"""

from __future__ import annotations

import contextlib
import os

from ..errors import FetchNotFoundError, OstreeError
from ..fsutil import write_file_atomic
from ..store.repo import test_error

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import BinaryIO, Callable, Iterable, List, Optional, Protocol, Tuple

__all__ = ["Conditional", "SummaryCache", "SummaryCacheError", "fetch_summary_pair", "prune_summary_cache",
           "CACHE_SUBDIR"]

#: _OSTREE_CACHE_DIR "/" _OSTREE_SUMMARY_CACHE_DIR, under the repository's tmp/
CACHE_SUBDIR = os.path.join("tmp", "cache", "summaries")
ETAG_XATTR = "user.etag"


class SummaryCacheError(OstreeError):
    """A cached summary refused where libostree's fault injection asks for an error."""


class Conditional:
    """The answer to a conditional GET: the body, or ``not_modified`` (HTTP 304), with the
    answer's ``ETag`` and ``Last-Modified`` (epoch seconds, 0 when absent). A plain class
    (compared by its fields): a fetch's answer, made by every pull that fetches a summary,
    which builds no attrs value."""

    __slots__ = ("data", "not_modified", "etag", "last_modified")

    def __init__(self, data: Optional[bytes], not_modified: bool, etag: Optional[str], last_modified: int) -> None:
        self.data = data
        self.not_modified = not_modified
        self.etag = etag
        self.last_modified = last_modified

    def _fields(self) -> Tuple[Optional[bytes], bool, Optional[str], int]:
        return self.data, self.not_modified, self.etag, self.last_modified

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Conditional) and self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"Conditional(data={self.data!r}, not_modified={self.not_modified!r}, etag={self.etag!r}, "
                f"last_modified={self.last_modified!r})")


if TYPE_CHECKING:
    class _Source(Protocol):
        def fetch_bytes(self, path: str, max_size: int) -> bytes: ...

        def fetch_to(self, path: str, sink: BinaryIO, max_size: int) -> int: ...


def _conditional(fetcher: _Source, path: str, max_size: int, etag: Optional[str], since: int) -> Conditional:
    """A conditional GET where the fetcher can make one (HTTP), else a plain one; a missing
    file is ``data=None``."""
    cond: Optional[Callable[..., Conditional]] = getattr(fetcher, "fetch_conditional", None)
    try:
        if cond is not None:
            return cond(path, max_size, etag, since)
        return Conditional(fetcher.fetch_bytes(path, max_size), False, None, 0)
    except FetchNotFoundError:
        return Conditional(None, False, None, 0)


def _plain(fetcher: _Source, path: str, max_size: int) -> Optional[bytes]:
    try:
        return fetcher.fetch_bytes(path, max_size)
    except FetchNotFoundError:
        return None


class SummaryCache:
    """``REPO/tmp/cache/summaries`` (or ``CACHE_DIR/summaries``, ``--cache-dir``): one
    remote's cached files."""

    def __init__(self, repo_path: str, remote: str, cache_dir: Optional[str] = None) -> None:
        self.dir = (os.path.join(cache_dir, "summaries") if cache_dir is not None
                    else os.path.join(repo_path, CACHE_SUBDIR))
        self.remote = remote

    @staticmethod
    def enabled(repo_path: str, cache_dir: Optional[str] = None) -> bool:
        # ostree_repo_set_cache_dir overrides OSTREE_SKIP_CACHE
        if cache_dir is not None:
            return True
        return os.environ.get("OSTREE_SKIP_CACHE") is None and os.access(repo_path, os.W_OK)

    def _path(self, ext: str) -> str:
        return os.path.join(self.dir, self.remote + ext)

    def load(self, ext: str = "") -> Optional[bytes]:
        try:
            with open(self._path(ext), "rb") as f:
                return f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def properties(self, ext: str = "") -> Tuple[Optional[str], int]:
        """(the ETag kept with the file, its mtime) for revalidating it; (None, 0) without it."""
        path = self._path(ext)
        try:
            mtime = int(os.stat(path).st_mtime)
        except OSError:
            return None, 0
        try:
            raw = os.getxattr(path, ETAG_XATTR)
            etag = raw.decode("utf-8", "replace") if raw and b"\0" not in raw else None
        except OSError:
            etag = None
        return etag, mtime

    def drop(self, ext: str = "") -> None:
        try:
            os.unlink(self._path(ext))
        except OSError:
            pass

    def save(self, ext: str, data: bytes, etag: Optional[str], last_modified: int) -> None:
        os.makedirs(self.dir, mode=0o755, exist_ok=True)

        def properties(fd: int) -> None:
            # store_file_cache_properties: best effort, never an error
            if etag:
                with contextlib.suppress(OSError):
                    os.setxattr(fd, ETAG_XATTR, etag.encode())
            if last_modified > 0:
                with contextlib.suppress(OSError):
                    os.utime(fd, (last_modified, last_modified))

        write_file_atomic(self._path(ext), data, 0o644, fsync=False, before_rename=properties)


def fetch_summary_pair(fetcher: _Source, cache: Optional[SummaryCache], max_summary: int, max_sig: int,
                       verify: Callable[[Optional[bytes], Optional[bytes]], None]
                       ) -> Tuple[Optional[bytes], Optional[bytes]]:
    """(summary, summary.sig) of a remote, either None where the remote has none, verified
    by ``verify(summary, sig)`` (which raises to refuse), through ``cache`` when given."""
    if cache is None:
        plain_sig = _plain(fetcher, "summary.sig", max_sig)
        plain = _plain(fetcher, "summary", max_summary)
        verify(plain, plain_sig)
        return plain, plain_sig
    etag, since = cache.properties(".sig")
    got_sig = _conditional(fetcher, "summary.sig", max_sig, etag, since)
    sig = got_sig.data
    data: Optional[bytes] = None
    from_cache = False
    if got_sig.not_modified:
        sig = cache.load(".sig")
        data = cache.load()
        from_cache = data is not None
    elif sig is not None and cache.load(".sig") == sig:
        data = cache.load()
        if data is None:
            cache.drop(".sig")  # a signature cached without its summary is of no use
        from_cache = data is not None
    got: Optional[Conditional] = None
    if data is None:
        etag, since = cache.properties()
        got = _conditional(fetcher, "summary", max_summary, etag, since)
        data = got.data
        if got.not_modified:
            data = cache.load()
            from_cache = True
    try:
        verify(data, sig)
    except OstreeError:
        if not from_cache:
            raise
        if test_error("invalid-cache"):
            raise SummaryCacheError(f"Remote {cache.remote} cached summary invalid and "
                                    "OSTREE_REPO_TEST_ERROR_INVALID_CACHE specified") from None
        # the cached summary does not match: fetch it again, whole, and check again
        got = _conditional(fetcher, "summary", max_summary, None, 0)
        data = got.data
        from_cache = False
        verify(data, sig)
    if not from_cache and data is not None and sig is not None:
        cache.save("", data, got.etag if got is not None else None, got.last_modified if got is not None else 0)
        if not got_sig.not_modified:
            # a signature the server said is unchanged is the cached file itself: saved
            # again without the answer's ETag and date, the next request would carry
            # our clock as If-Modified-Since and miss a signature replaced within the second
            cache.save(".sig", sig, got_sig.etag, got_sig.last_modified)
    return data, sig


def prune_summary_cache(repo_path: str, remotes: Iterable[str]) -> List[str]:
    """Delete the cached files (``NAME``, ``NAME.sig``) of every remote not in ``remotes``;
    returns their names. Nothing when the cache is off."""
    if not SummaryCache.enabled(repo_path):
        return []
    cache_dir = os.path.join(repo_path, CACHE_SUBDIR)
    keep = set(remotes)
    try:
        names = sorted(os.listdir(cache_dir))
    except (FileNotFoundError, NotADirectoryError):
        return []
    gone = []
    for name in names:
        remote = name[:-4] if len(name) > 4 and name.endswith(".sig") else name
        if remote not in keep:
            try:
                os.unlink(os.path.join(cache_dir, name))
            except FileNotFoundError:
                continue
            gone.append(name)
    return gone
