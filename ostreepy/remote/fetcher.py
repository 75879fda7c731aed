"""Fetchers: how the pull engine reads files of a remote repository.

CONTRACT STUB (session 2026-12-04). The engine (:mod:`ostreepy.remote.pull`)
asks a :class:`Fetcher` for paths relative to the remote's URL (``config``,
``summary``, ``objects/ab/cdef....commit``, ``refs/heads/main``, deltas) and
runs many fetches at once on its own threads; a fetcher must be safe to call
from several threads and keep connections alive per thread. Retries, backoff,
``Retry-After`` and time bounds are the fetcher's business: the engine sees a
result, :class:`NotFound`, or a :class:`FetchError` that retrying did not cure.

``file://`` URLs are served by :class:`FileFetcher` (below); ``http(s)://`` by
:class:`ostreepy.remote.http.HttpFetcher`. :func:`fetcher_for` picks one.
"""

from __future__ import annotations

import os
import shutil
from typing import BinaryIO, Optional, Protocol
from urllib.parse import unquote, urlsplit

from ..errors import OstreeError


class FetchError(OstreeError):
    """A remote file could not be fetched (after the fetcher's retries)."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class NotFound(FetchError):
    """The remote answered that the file does not exist (HTTP 404, ENOENT)."""


class Fetcher(Protocol):
    """Reads files of one remote repository, by path relative to its URL."""

    def fetch_bytes(self, path: str, max_size: int) -> bytes:
        """The whole file; :class:`FetchError` if it is larger than ``max_size``."""

    def fetch_to(self, path: str, sink: BinaryIO, max_size: int) -> int:
        """Stream the file into ``sink``; return the bytes written. A retry after
        a cut connection restarts the sink (``sink.seek(0); sink.truncate()``)."""

    def close(self) -> None:
        """Drop pooled connections."""


class FileFetcher:
    """A remote on the local filesystem (``file:///path/to/repo``)."""

    def __init__(self, root: str) -> None:
        self.root = root

    def _path(self, path: str) -> str:
        if path.startswith("/") or ".." in path.split("/"):
            raise FetchError(f"Invalid remote path {path!r}", path)
        return os.path.join(self.root, path)

    def fetch_bytes(self, path: str, max_size: int) -> bytes:
        try:
            with open(self._path(path), "rb") as f:
                data = f.read(max_size + 1)
        except FileNotFoundError:
            raise NotFound(f"Couldn't find {path}", path) from None
        except OSError as e:
            raise FetchError(f"{path}: {e.strerror}", path) from None
        if len(data) > max_size:
            raise FetchError(f"{path}: larger than {max_size} bytes", path)
        return data

    def fetch_to(self, path: str, sink: BinaryIO, max_size: int) -> int:
        try:
            with open(self._path(path), "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size > max_size:
                    raise FetchError(f"{path}: larger than {max_size} bytes", path)
                shutil.copyfileobj(f, sink, 1 << 20)
                return size
        except FileNotFoundError:
            raise NotFound(f"Couldn't find {path}", path) from None
        except OSError as e:
            raise FetchError(f"{path}: {e.strerror}", path) from None

    def close(self) -> None:
        pass


def fetcher_for(url: str, *, tls_permissive: bool = False, timeout: Optional[float] = None) -> Fetcher:
    """A fetcher for the repository at ``url`` (``file://``, ``http://``, ``https://``)."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return FileFetcher(unquote(parts.path))
    if parts.scheme in ("http", "https"):
        from .http import HttpFetcher  # the HTTP helper provides this module
        return HttpFetcher(url, tls_permissive=tls_permissive, timeout=timeout)
    raise FetchError(f"Unsupported URL scheme in {url!r}")
