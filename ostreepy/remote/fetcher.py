"""Fetchers: how the pull engine reads files of a remote repository.

CONTRACT STUB (session 2026-12-04). The engine (:mod:`ostreepy.remote.pull`)
asks a :class:`Fetcher` for paths relative to the remote's URL (``config``,
``summary``, ``objects/ab/cdef....commit``, ``refs/heads/main``, deltas) and
runs many fetches at once on its own threads; a fetcher must be safe to call
from several threads and keep connections alive per thread. Retries, backoff,
``Retry-After`` and time bounds are the fetcher's business: the engine sees a
result, :class:`NotFound`, or a :class:`FetchError` that retrying did not cure.

``file://`` URLs are served by :class:`FileFetcher` (below); ``http(s)://`` by
:class:`ostreepy.remote.http.HttpFetcher`. :func:`fetcher_for` picks one for a URL;
:func:`fetcher_for_remote` does the same for a configured remote, passing its TLS, proxy and
header options on as libostree's ``_ostree_repo_remote_new_fetcher`` does.
"""

from __future__ import annotations

import os
import stat

# defined in the base room so that the fetchers this module picks can raise them without
# importing it back; these are the same classes under the contract's names
from ..errors import FetchError
from ..errors import FetchNotFoundError as NotFound
from .config import RemoteError
from .urls import split as urlsplit
from .urls import unquote

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import BinaryIO, List, Optional, Protocol, Sequence, Tuple

    from .config import RemoteOptions
    from .cookies import Cookie
else:
    Protocol = object  # Fetcher is a protocol to type checkers, a plain class at run time


class Fetcher(Protocol):
    """Reads files of one remote repository, by path relative to its URL."""

    def fetch_bytes(self, path: str, max_size: int) -> bytes:
        """The whole file; :class:`FetchError` if it is larger than ``max_size``."""

    def fetch_to(self, path: str, sink: BinaryIO, max_size: int) -> int:
        """Stream the file into ``sink``; return the bytes written. A retry after
        a cut connection restarts the sink (``sink.seek(0); sink.truncate()``)."""

    def close(self) -> None:
        """Drop pooled connections."""

    # optional: ``fetch_each(paths, sink_for, done, max_size)``, many files at once (HTTP's
    # pipelined GETs); the pull engine uses it where present (HttpFetcher.fetch_each says how);
    # and ``get_ahead()``, GETs sent ahead on one connection (HttpFetcher.get_ahead), whose
    # failure to answer plainly is FetchAheadBroken


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
                # shutil.copyfileobj's loop, without importing shutil (and its bz2, lzma and
                # fnmatch) into every HTTP pull's start-up for the file:// remotes' sake
                while chunk := f.read(1 << 20):
                    sink.write(chunk)
                return size
        except FileNotFoundError:
            raise NotFound(f"Couldn't find {path}", path) from None
        except OSError as e:
            raise FetchError(f"{path}: {e.strerror}", path) from None

    def open_owned(self, path: str, owner: int) -> BinaryIO | None:
        """The regular file at ``path`` opened for reading when it belongs to ``owner``
        (so that a pull may link it rather than copy it: another user could change a
        shared inode later); None otherwise."""
        try:
            f = open(self._path(path), "rb")  # noqa: SIM115 (returned)
        except FileNotFoundError:
            raise NotFound(f"Couldn't find {path}", path) from None
        except OSError:
            return None
        st = os.fstat(f.fileno())
        if st.st_uid != owner or not stat.S_ISREG(st.st_mode):
            f.close()
            return None
        return f

    def link_to(self, path: str, dest: str, owner: int) -> int:
        """Hard-link the file at ``path`` to ``dest`` instead of copying it, when it
        belongs to ``owner`` (another user could change the shared inode later) and
        is on the same filesystem; its size, or -1 when no link was made (fetch it).
        The caller checks what it linked as it would a fetched copy."""
        src = self._path(path)
        try:
            st = os.lstat(src)
            if st.st_uid != owner or not stat.S_ISREG(st.st_mode):
                return -1
            os.link(src, dest, follow_symlinks=False)
        except FileNotFoundError:
            raise NotFound(f"Couldn't find {path}", path) from None
        except OSError:
            return -1  # another filesystem, too many links, not allowed: copied instead
        return st.st_size

    def close(self) -> None:
        pass


def fetcher_for(url: str, *, tls_permissive: bool = False, timeout: Optional[float] = None) -> Fetcher:
    """The fetcher for a remote URL: :class:`FileFetcher` for ``file://``,
    :class:`~ostreepy.remote.http.HttpFetcher` for ``http(s)://``; :class:`FetchError` for
    any other scheme. :func:`fetcher_for_remote` also applies a remote's options."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return FileFetcher(unquote(parts.path))
    if parts.scheme in ("http", "https"):
        from .http import HttpFetcher  # the HTTP helper provides this module
        return HttpFetcher(url, tls_permissive=tls_permissive, timeout=timeout)
    raise FetchError(f"Invalid URI scheme in {url}")


def fetcher_for_remote(
    remote: RemoteOptions,
    *,
    timeout: Optional[float] = None,
    extra_headers: Sequence[Tuple[str, str]] = (),
    append_user_agent: Optional[str] = None,
    n_network_retries: Optional[int] = None,
    url: Optional[str] = None,
    cookie_jar: Optional[str] = None,
) -> Fetcher:
    """A fetcher for ``remote.url`` with the remote's options: ``tls-permissive``,
    ``tls-ca-path``, ``tls-client-cert-path``/``tls-client-key-path``, ``proxy`` (``http2``
    is accepted and ignored). ``extra_headers`` and ``append_user_agent`` are pull options in
    libostree (``ostree pull --http-header``), not remote options, hence arguments here.
    ``cookie_jar`` is the remote's jar file (``REPO/REMOTE.cookies.txt``, see
    :func:`ostreepy.remote.config.jar_path`); its cookies go with HTTP requests."""
    url = remote.url if url is None else url
    if url.startswith("mirrorlist="):
        return _mirrorlist_fetcher(remote, url[len("mirrorlist="):], timeout, extra_headers,
                                   append_user_agent, n_network_retries, cookie_jar)
    parts = urlsplit(url)
    if parts.scheme == "file":
        return FileFetcher(unquote(parts.path))
    if parts.scheme not in ("http", "https"):
        # ostree's wording (ostree-fetcher-uri.c), which scripts match
        raise FetchError(f"Invalid URI scheme in {url}")
    cert = remote.option("tls-client-cert-path")
    key = remote.option("tls-client-key-path")
    if (cert is None) != (key is None):
        raise RemoteError(f'Remote "{remote.name}" must specify both '
                          '"tls-client-cert-path" and "tls-client-key-path"')
    from .http import HttpFetcher, DEFAULT_N_NETWORK_RETRIES

    return HttpFetcher(
        url,
        tls_permissive=remote.option_bool("tls-permissive", False),
        timeout=timeout,
        tls_ca_path=remote.option("tls-ca-path") or None,
        tls_client_cert=(cert, key) if cert is not None and key is not None else None,
        proxy=remote.option("proxy") or None,
        extra_headers=extra_headers,
        append_user_agent=append_user_agent,
        n_network_retries=DEFAULT_N_NETWORK_RETRIES if n_network_retries is None else n_network_retries,
        cookies=_read_jar(cookie_jar) if cookie_jar is not None else (),
    )


def _read_jar(path: str) -> List[Cookie]:
    # the cookies' module is imported by a remote that has a jar: not start-up for every pull
    from .cookies import read_jar
    return read_jar(path)


def _mirrorlist_fetcher(remote: RemoteOptions, list_url: str, timeout: Optional[float],
                        extra_headers: Sequence[Tuple[str, str]], append_user_agent: Optional[str],
                        n_network_retries: Optional[int], cookie_jar: Optional[str] = None) -> "MirrorFetcher":
    """``mirrorlist=URL``: the file at URL names one base URL a line (blank lines and
    ``#`` comments skipped), each tried in turn, as libostree's fetchers do."""
    head, _, name = list_url.rstrip("/").rpartition("/")
    lister = fetcher_for_remote(remote, timeout=timeout, extra_headers=extra_headers,
                                append_user_agent=append_user_agent,
                                n_network_retries=n_network_retries, url=head + "/", cookie_jar=cookie_jar)
    try:
        text = lister.fetch_bytes(name, 1 << 20).decode("utf-8", "replace")
    finally:
        lister.close()
    mirrors: List[Fetcher] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            mirrors.append(fetcher_for_remote(remote, timeout=timeout, extra_headers=extra_headers,
                                              append_user_agent=append_user_agent,
                                              n_network_retries=n_network_retries, url=line,
                                              cookie_jar=cookie_jar))
        except FetchError:
            continue  # libostree skips mirrors it cannot use
    if not mirrors:
        raise FetchError(f"No valid mirrors were found in mirrorlist '{list_url}'")
    return MirrorFetcher(mirrors)


class MirrorFetcher:
    """Several copies of one repository: each request goes to the first that has the
    file; a mirror that fails (a missing file too) passes it to the next."""

    def __init__(self, mirrors: Sequence[Fetcher]) -> None:
        self.mirrors = list(mirrors)

    def fetch_bytes(self, path: str, max_size: int) -> bytes:
        for m in self.mirrors[:-1]:
            try:
                return m.fetch_bytes(path, max_size)
            except FetchError:
                continue
        return self.mirrors[-1].fetch_bytes(path, max_size)

    def fetch_to(self, path: str, sink: BinaryIO, max_size: int) -> int:
        for m in self.mirrors[:-1]:
            try:
                return m.fetch_to(path, sink, max_size)
            except FetchError:
                sink.seek(0)
                sink.truncate()
                continue
        return self.mirrors[-1].fetch_to(path, sink, max_size)

    def close(self) -> None:
        for m in self.mirrors:
            m.close()
