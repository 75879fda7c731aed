"""Registry operations (distribution-spec endpoints) on top of :class:`~ociclient.transport.Transport`.

:class:`RegistryClient` is bound to one registry host and takes repository names per call.
Blobs are never held in memory: :meth:`RegistryClient.open_blob` returns a stream that checks
digest and size as it is read and resumes with ``Range`` after a broken connection. The size
is checked independently of the digest, and first: an announced ``Content-Length`` that
disagrees with the descriptor fails before a byte is read, a byte past the descriptor's size
fails at once (:class:`~ociclient.errors.SizeMismatch`), and so does an early end;
:meth:`RegistryClient.fetch_blob` downloads into a file, resuming from a partial file named
after the digest (also after the process was restarted), and renames it into place only when
size and digest are right.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
from typing import BinaryIO, Callable, IO, Iterator, List, Optional, Sequence, Tuple, Type
from urllib.parse import quote, urljoin

import requests
import urllib3

from . import mediatypes as mt
from .challenge import repository_scope
from .digest import CHUNK, VerifyingReader, digest_bytes, new_hasher, parse_digest
from .errors import (
    DigestMismatch, ManifestInvalid, ManifestTooLarge, NotFound, OciError, RegistryError,
    ResponseTooLarge, SizeMismatch, TransportError, UploadError,
)
from .manifest import INDEX_SCHEMA, MAX_MANIFEST_SIZE, Descriptor, ImageIndex, parse_manifest
from .schema import ListOf, Obj, Str, checked_json, opt
from .transport import Transport, raise_for_response

log = logging.getLogger(__name__)

_STREAM_ERRORS: Tuple[Type[BaseException], ...] = (
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.Timeout,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.ReadTimeoutError,
    urllib3.exceptions.IncompleteRead if hasattr(urllib3.exceptions, "IncompleteRead") else OSError,
    ConnectionError,
    TimeoutError,
)

#: how many times a broken blob stream is resumed without progress before giving up
MAX_RESUMES = 10
#: the most tag names (summed lengths) a tag listing collects over all its pages
MAX_TAGS_BYTES = 64 * 1024 * 1024
#: an ``OCI-Chunk-Min-Length`` above this is not honoured (chunks are held in memory)
MAX_MIN_CHUNK = 64 * 1024 * 1024

TAGS_SCHEMA = Obj({"name": opt(Str()), "tags": opt(ListOf(Str()))})


def _pull(repo: str) -> Tuple[str]:
    return (repository_scope(repo, ["pull"]),)


def _push(repo: str) -> Tuple[str]:
    return (repository_scope(repo, ["pull", "push"]),)


def _append_query(url: str, query: str) -> str:
    return url + ("&" if "?" in url else "?") + query


def parse_link_next(header: Optional[str]) -> Optional[str]:
    """The target of ``rel="next"`` in a ``Link`` header (pure)."""
    if not header:
        return None
    for part in header.split(","):
        m = re.match(r'\s*<([^>]*)>\s*;(.*)', part)
        if m and re.search(r'rel="?next"?', m.group(2)):
            return m.group(1)
    return None


class _ResumingStream(io.RawIOBase):
    """Raw bytes of one blob from ``offset``; re-requests with ``Range`` on broken connections."""

    def __init__(self, client: "RegistryClient", repo: str, digest: str, size: Optional[int],
                 offset: int = 0) -> None:
        super().__init__()
        self._client = client
        self._repo = repo
        self._digest = digest
        self._size = size
        self.offset = offset
        self._resp: Optional[requests.Response] = None
        self._failures = 0
        self._open()

    def readable(self) -> bool:
        return True

    def _open(self) -> None:
        if self._size is not None and self.offset >= self._size and self.offset > 0:
            self._resp = None
            return
        self._resp = resp = self._client._blob_response(self._repo, self._digest, self.offset)
        start = self.offset if resp.status_code == 206 else 0
        length = resp.headers.get("Content-Length", "")
        if self._size is not None and length.isdigit() and int(length) != self._size - start:
            resp.close()
            self._resp = None
            raise SizeMismatch(f"blob {self._digest}: the registry announces {length} bytes from offset "
                               f"{start}, its descriptor says {self._size} in all")
        if self.offset and resp.status_code == 200:
            # the server ignored Range: skip what we already have
            log.debug("server ignored Range for %s; skipping %d bytes", self._digest, self.offset)
            left = self.offset
            with self._client.transport.body_watch(resp, f"blob {self._digest}"):
                while left:
                    chunk = resp.raw.read(min(left, CHUNK), decode_content=False)
                    if not chunk:
                        raise TransportError(f"blob {self._digest}: short response while skipping")
                    left -= len(chunk)

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        """Up to ``size`` bytes (``b""`` at the end), resuming after broken connections."""
        if size is None or size < 0:
            size = CHUNK
        while True:
            if self._resp is None:
                return b""
            try:
                raw = self._resp.raw
                with self._client.transport.body_watch(self._resp, f"blob {self._digest}"):
                    # read1: return what has arrived (so partial files grow steadily), not a full chunk
                    data = raw.read1(size, decode_content=False) if hasattr(raw, "read1") \
                        else raw.read(size, decode_content=False)
            except _STREAM_ERRORS as e:
                self._resp.close()
                self._resp = None
                self._failures += 1
                if self._failures > MAX_RESUMES:
                    raise TransportError(f"blob {self._digest}: connection kept failing: {e}") from None
                log.debug("blob %s broken at %d (%s); resuming", self._digest, self.offset, e)
                self._client.transport.sleep(
                    self._client.transport.retry.backoff(min(self._failures - 1, 4)) / 4,
                    f"resuming blob {self._digest}")
                self._open()
                continue
            if not data:
                if self._size is not None and self.offset < self._size and self._resp is not None:
                    # EOF before the announced size without an exception: resume
                    self._resp.close()
                    self._failures += 1
                    if self._failures > MAX_RESUMES:
                        return b""
                    self._open()
                    continue
                return b""
            if self._size is not None and self.offset + len(data) > self._size:
                self.close()
                raise SizeMismatch(f"blob {self._digest} is longer than the {self._size} bytes its "
                                   "descriptor says")
            self.offset += len(data)
            self._failures = 0
            return data

    def readinto(self, b) -> int:  # type: ignore[override]
        data = self.read(len(b))
        n = len(data)
        b[:n] = data
        return n

    def close(self) -> None:
        if self._resp is not None:
            self._resp.close()
            self._resp = None
        super().close()


class _SizedBody:
    """A file-like request body with a known length (so requests sends Content-Length)."""

    def __init__(self, stream: IO[bytes], length: int) -> None:
        self._stream = stream
        self.len = length

    def __len__(self) -> int:
        return self.len

    def read(self, n: int = -1) -> bytes:
        return self._stream.read(CHUNK if n is None or n < 0 else max(n, 65536))

    def __iter__(self) -> Iterator[bytes]:
        while True:
            chunk = self._stream.read(CHUNK)
            if not chunk:
                return
            yield chunk


class RegistryClient:
    """Distribution-spec client for one registry host.

    :param transport: the :class:`Transport` for that host.
    """

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    @property
    def host(self) -> str:
        return self.transport.host

    def close(self) -> None:
        self.transport.close()

    # -- manifests -------------------------------------------------------------------------
    def get_manifest(self, repo: str, reference: str,
                     accept: Sequence[str] = mt.MANIFEST_ACCEPT) -> Tuple[bytes, str, str]:
        """GET a manifest by tag or digest → ``(bytes, media_type, digest)``.

        The bytes are checked against a requested digest, and against
        ``Docker-Content-Digest`` for tags. Over 4 MiB is refused before it is read.
        """
        resp = self.transport.request(
            "GET", f"/v2/{repo}/manifests/{reference}", scopes=_pull(repo),
            headers={"Accept": ", ".join(accept)}, limit=MAX_MANIFEST_SIZE, too_large=ManifestTooLarge,
        )
        with resp:
            raise_for_response(resp, f"reading manifest {reference} in {self.host}/{repo}")
            data = resp.content
            ctype = resp.headers.get("Content-Type", "")
            header_digest = resp.headers.get("Docker-Content-Digest")
        if ":" in reference:  # tags cannot contain ':', so this is a digest
            algo, _ = parse_digest(reference)
            got = digest_bytes(data, algo)
            if got != reference:
                raise DigestMismatch(f"manifest digest mismatch: asked for {reference}, got {got}")
            digest = got
        else:
            digest = digest_bytes(data)
            if header_digest:
                try:
                    algo, _ = parse_digest(header_digest)
                except OciError:
                    algo = None
                if algo is not None and digest_bytes(data, algo) != header_digest:
                    raise DigestMismatch(
                        f"manifest digest mismatch: Docker-Content-Digest says {header_digest}, got {digest}")
        from .manifest import detect_media_type
        media_type = detect_media_type(data, ctype)
        return data, media_type, digest

    def head_manifest(self, repo: str, reference: str) -> Optional[Descriptor]:
        """HEAD a manifest → its descriptor (from headers) or ``None`` if it does not exist."""
        resp = self.transport.request(
            "HEAD", f"/v2/{repo}/manifests/{reference}", scopes=_pull(repo),
            headers={"Accept": ", ".join(mt.MANIFEST_ACCEPT)},
        )
        with resp:
            if resp.status_code == 404:
                return None
            raise_for_response(resp, f"checking manifest {reference} in {self.host}/{repo}")
            digest = resp.headers.get("Docker-Content-Digest")
            if not digest:
                return None
            length = resp.headers.get("Content-Length", "")
            return Descriptor(media_type=resp.headers.get("Content-Type", "").split(";")[0],
                              digest=digest, size=int(length) if length.isdigit() else 0)

    def put_manifest(self, repo: str, reference: str, data: bytes, media_type: str) -> str:
        """PUT a manifest under a tag or its digest; returns its digest (retried on 429/5xx)."""
        if len(data) > MAX_MANIFEST_SIZE:
            raise ManifestTooLarge(f"manifest is {len(data)} bytes, over the {MAX_MANIFEST_SIZE} byte limit")
        digest = digest_bytes(data)
        resp = self.transport.request(
            "PUT", f"/v2/{repo}/manifests/{reference}", scopes=_push(repo),
            headers={"Content-Type": media_type}, data=bytes(data),
        )
        with resp:
            raise_for_response(resp, f"writing manifest {reference} to {self.host}/{repo}")
            got = resp.headers.get("Docker-Content-Digest")
            has_subject_support = "OCI-Subject" in resp.headers
        if got and got != digest and got.startswith("sha256:"):
            raise DigestMismatch(f"registry stored manifest as {got}, expected {digest}")
        if b'"subject"' in data and not has_subject_support:
            parsed = parse_manifest(data, media_type)
            if parsed.subject is not None:
                self._add_referrer_fallback(repo, parsed.subject.digest, Descriptor(
                    media_type=media_type, digest=digest, size=len(data),
                    artifact_type=parsed.artifact_type or (
                        parsed.config.media_type if hasattr(parsed, "config") else None),
                    annotations=dict(parsed.annotations)))
        return digest

    def _add_referrer_fallback(self, repo: str, subject: str, desc: Descriptor) -> None:
        """Maintain the ``<alg>-<hex>`` tag index for registries without the referrers API."""
        algo, hexpart = parse_digest(subject)
        tag = f"{algo}-{hexpart}"
        try:
            data, mtype, _ = self.get_manifest(repo, tag, accept=(mt.OCI_INDEX,))
            obj = checked_json(data, INDEX_SCHEMA, f"referrers index {tag}", ManifestInvalid)
        except NotFound:
            obj = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}
        if any(m.get("digest") == desc.digest for m in obj["manifests"]):
            return
        obj["manifests"].append(desc.to_dict())
        self.put_manifest(repo, tag, json.dumps(obj).encode(), mt.OCI_INDEX)

    def delete_manifest(self, repo: str, digest: str) -> None:
        """DELETE a manifest by digest."""
        parse_digest(digest)
        resp = self.transport.request("DELETE", f"/v2/{repo}/manifests/{digest}",
                                      scopes=(repository_scope(repo, ["delete"]),))
        with resp:
            raise_for_response(resp, f"deleting manifest {digest} in {self.host}/{repo}")

    def delete_blob(self, repo: str, digest: str) -> None:
        parse_digest(digest)
        resp = self.transport.request("DELETE", f"/v2/{repo}/blobs/{digest}",
                                      scopes=(repository_scope(repo, ["delete"]),))
        with resp:
            raise_for_response(resp, f"deleting blob {digest} in {self.host}/{repo}")

    # -- tags / referrers --------------------------------------------------------------------
    def list_tags(self, repo: str, page_size: Optional[int] = None) -> List[str]:
        """All tags, following ``Link: <...>; rel="next"`` pages."""
        path = f"/v2/{repo}/tags/list" + (f"?n={page_size}" if page_size else "")
        url = self.transport.url(path)
        tags: List[str] = []
        seen = set()
        total = 0
        while url:
            if url in seen:
                raise OciError(f"tags list of {repo}: Link pagination loops")
            seen.add(url)
            resp = self.transport.request("GET", url, scopes=_pull(repo))
            with resp:
                raise_for_response(resp, f"listing tags of {self.host}/{repo}")
                obj = checked_json(resp.content, TAGS_SCHEMA, f"tags list of {repo}", RegistryError)
                if not isinstance(obj, dict):
                    raise RegistryError(f"tags list of {repo} is not a JSON object")
                nxt = parse_link_next(resp.headers.get("Link"))
                base = resp.url
            page = obj.get("tags") or []
            total += sum(len(t) for t in page)
            if total > MAX_TAGS_BYTES:
                raise ResponseTooLarge(f"tags list of {repo} is over {MAX_TAGS_BYTES} bytes of names")
            tags.extend(page)
            try:
                url = urljoin(base, nxt) if nxt else None  # type: ignore[assignment]
            except ValueError:
                raise RegistryError(f"tags list of {repo}: invalid Link {nxt!r}") from None
        return tags

    def referrers(self, repo: str, digest: str, artifact_type: Optional[str] = None) -> ImageIndex:
        """Manifests whose ``subject`` is ``digest``: the referrers API, falling back to the
        ``<alg>-<hex>`` tag index when the registry does not implement it (404)."""
        algo, hexpart = parse_digest(digest)
        path = f"/v2/{repo}/referrers/{digest}"
        if artifact_type:
            path += "?artifactType=" + quote(artifact_type, safe="")
        resp = self.transport.request("GET", path, scopes=_pull(repo),
                                      headers={"Accept": mt.OCI_INDEX})
        with resp:
            ctype = resp.headers.get("Content-Type", "").split(";")[0]
            if resp.status_code == 200 and ctype == mt.OCI_INDEX:
                data = resp.content
                idx = parse_manifest(data, mt.OCI_INDEX)
                if not isinstance(idx, ImageIndex):
                    raise ManifestInvalid(f"referrers of {digest}: the answer is not an image index")
                filtered = "artifactType" in resp.headers.get("OCI-Filters-Applied", "")
                if artifact_type and not filtered:
                    idx = _filter_index(idx, artifact_type)
                return idx
            if resp.status_code not in (404, 405, 400) and resp.status_code >= 400:
                raise_for_response(resp, f"referrers of {digest}")
        # tag schema fallback
        tag = f"{algo}-{hexpart}"
        try:
            data, mtype, _ = self.get_manifest(repo, tag, accept=(mt.OCI_INDEX,))
        except NotFound:
            return ImageIndex(media_type=mt.OCI_INDEX, manifests=())
        idx = parse_manifest(data, mtype)
        if not isinstance(idx, ImageIndex):
            raise OciError(f"referrers tag {tag} is not an index")
        return _filter_index(idx, artifact_type) if artifact_type else idx

    # -- blobs ---------------------------------------------------------------------------------
    def blob_exists(self, repo: str, digest: str) -> Optional[int]:
        """HEAD a blob → its size, or ``None`` if it is not there."""
        resp = self.transport.request("HEAD", f"/v2/{repo}/blobs/{digest}", scopes=_pull(repo))
        with resp:
            if resp.status_code == 404:
                return None
            raise_for_response(resp, f"checking blob {digest} in {self.host}/{repo}")
            length = resp.headers.get("Content-Length")
            return int(length) if length and length.isdigit() else -1

    def _blob_response(self, repo: str, digest: str, offset: int = 0) -> requests.Response:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        resp = self.transport.request("GET", f"/v2/{repo}/blobs/{digest}", scopes=_pull(repo),
                                      headers=headers, stream=True)
        if resp.status_code == 416 and offset:
            resp.close()
            raise SizeMismatch(f"blob {digest}: server has no bytes from offset {offset}")
        if resp.status_code >= 400:
            with resp:
                raise_for_response(resp, f"reading blob {digest} in {self.host}/{repo}")
        if offset and resp.status_code == 206:
            cr = resp.headers.get("Content-Range", "")
            m = re.match(r"bytes (\d+)-", cr)
            if m and int(m.group(1)) != offset:
                resp.close()
                raise TransportError(f"blob {digest}: asked for offset {offset}, got {cr!r}")
        return resp

    def open_blob(self, repo: str, descriptor: Descriptor,
                  on_read: Optional[Callable[[int], None]] = None) -> BinaryIO:
        """A stream of the blob that verifies size and digest (``DigestMismatch`` at EOF) and
        transparently resumes a broken connection with ``Range``."""
        raw = _ResumingStream(self, repo, descriptor.digest, descriptor.size)
        return io.BufferedReader(  # type: ignore[return-value]
            VerifyingReader(raw, descriptor.digest, descriptor.size, on_read=on_read), buffer_size=CHUNK)  # type: ignore[arg-type]

    def fetch_blob(self, repo: str, descriptor: Descriptor, dest: str, *, partial_dir: Optional[str] = None,
                   on_read: Optional[Callable[[int], None]] = None,
                   on_start: Optional[Callable[[int], None]] = None) -> str:
        """Download a blob into the file ``dest``; see :func:`download_to_file`."""
        return download_to_file(
            lambda offset: _ResumingStream(self, repo, descriptor.digest, descriptor.size, offset),  # type: ignore[arg-type,return-value]
            descriptor, dest, partial_dir=partial_dir, on_read=on_read, on_start=on_start)

    def mount_blob(self, repo: str, digest: str, from_repo: str) -> bool:
        """Try a cross-repository mount; True if the registry mounted it (201)."""
        resp = self.transport.request(
            "POST", f"/v2/{repo}/blobs/uploads/?mount={digest}&from={from_repo}",
            scopes=_push(repo) + _pull(from_repo), data=b"")
        with resp:
            if resp.status_code == 201:
                return True
            if resp.status_code == 202:
                loc = resp.headers.get("Location")
                if loc:  # cancel the upload session the registry opened instead
                    try:
                        self.transport.request("DELETE", urljoin(resp.url, loc), scopes=_push(repo)).close()
                    except OciError:
                        pass
                return False
            if resp.status_code in (401, 403, 404):
                return False
            raise_for_response(resp, f"mounting {digest} from {from_repo}")
        return False

    def _start_upload(self, repo: str) -> Tuple[str, int]:
        resp = self.transport.request("POST", f"/v2/{repo}/blobs/uploads/", scopes=_push(repo), data=b"")
        with resp:
            raise_for_response(resp, f"starting upload to {self.host}/{repo}")
            if resp.status_code != 202 or "Location" not in resp.headers:
                raise UploadError(f"starting upload to {self.host}/{repo}: unexpected HTTP {resp.status_code}")
            min_chunk = resp.headers.get("OCI-Chunk-Min-Length")
            n = int(min_chunk) if min_chunk and min_chunk.isdigit() else 0
            if n > MAX_MIN_CHUNK:
                raise UploadError(f"starting upload to {self.host}/{repo}: the registry asks for chunks "
                                  f"of at least {n} bytes, over the {MAX_MIN_CHUNK} byte limit")
            return urljoin(resp.url, resp.headers["Location"]), n

    def upload_status(self, repo: str, location: str) -> Tuple[int, str]:
        """Ask an upload session how much it holds (``GET <location>``): returns the offset to
        continue from (the end of ``Range: 0-N`` plus one) and the location to use next.

        ``Range: 0-0`` is ambiguous (distribution answers it for 0 and for 1 byte); it is
        returned as 0 and the caller tries 1 if that is refused too.
        """
        resp = self.transport.request("GET", location, scopes=_push(repo))
        with resp:
            raise_for_response(resp, f"asking for the state of upload {location}")
            if resp.status_code not in (200, 204):
                raise UploadError(f"asking for the state of upload {location}: unexpected HTTP {resp.status_code}")
            rng = resp.headers.get("Range")
            new_location = urljoin(resp.url, resp.headers["Location"]) if "Location" in resp.headers else location
        if rng is None:
            return 0, new_location
        m = re.match(r"^\s*(?:bytes[ =])?0-(\d+)\s*$", rng)
        if not m:
            raise UploadError(f"upload {location}: cannot parse Range {rng!r}")
        end = int(m.group(1))
        return (0 if end == 0 else end + 1), new_location

    def upload_blob(self, repo: str, stream: IO[bytes], descriptor: Descriptor, *,
                    chunk_size: Optional[int] = None,
                    reopen: Optional[Callable[[int], IO[bytes]]] = None) -> str:
        """Upload a blob: POST, then one PUT with the whole body (monolithic), or PATCH chunks
        with ``Content-Range`` and a closing PUT (``chunk_size`` set). The ``Location`` the
        registry returns is used as given. Returns the digest the registry confirmed.

        Chunked uploads re-synchronise on ``416 Range Not Satisfiable`` as the distribution
        spec says: the session's ``Range`` is asked for (:meth:`upload_status`) and the upload
        goes on from there — from the chunk still in memory, else by seeking ``stream`` (if it
        is seekable), else from ``reopen(offset)`` (a new stream of the same blob positioned at
        ``offset``; streams it returns are closed here). If the session is gone (404) and
        ``reopen`` is given, the whole upload starts again. Otherwise :class:`UploadError`.
        """
        location, min_chunk = self._start_upload(repo)
        digest = descriptor.digest
        scopes = _push(repo)
        if chunk_size is None:
            body = _SizedBody(stream, descriptor.size)
            resp = self.transport.request(
                "PUT", _append_query(location, f"digest={quote(digest, safe='')}"), scopes=scopes,
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(descriptor.size)},
                data=body, retry=False)
        else:
            chunk_size = max(chunk_size, min_chunk)
            opened: List[IO[bytes]] = []
            try:
                location = self._upload_chunks(repo, stream, descriptor, chunk_size, location, reopen, opened)
            finally:
                for f in opened:
                    f.close()
            resp = self.transport.request(
                "PUT", _append_query(location, f"digest={quote(digest, safe='')}"), scopes=scopes,
                headers={"Content-Type": "application/octet-stream", "Content-Length": "0"}, data=b"",
                retry=False)
        with resp:
            raise_for_response(resp, f"uploading blob {digest} to {self.host}/{repo}")
            if resp.status_code not in (201, 204):
                raise UploadError(f"uploading blob {digest}: unexpected HTTP {resp.status_code}")
            got = resp.headers.get("Docker-Content-Digest")
        if got and got != digest:
            raise DigestMismatch(f"registry stored blob as {got}, expected {digest}")
        return digest

    #: 416 answers in a row (without progress) before a chunked upload gives up
    MAX_RESYNCS = 4

    def _upload_chunks(self, repo: str, stream: IO[bytes], descriptor: Descriptor, chunk_size: int,
                       location: str, reopen: Optional[Callable[[int], IO[bytes]]],
                       opened: List[IO[bytes]]) -> str:
        """PATCH the chunks; returns the location for the closing PUT."""
        digest = descriptor.digest
        scopes = _push(repo)
        offset = 0       # what the registry holds
        read_pos = 0     # what was taken from the stream; pending is [offset, read_pos)
        pending = b""
        resyncs = 0
        zero_tries = 0

        def rewind(to: int) -> None:
            nonlocal stream, read_pos, pending
            seekable = getattr(stream, "seekable", None)
            if seekable is not None and seekable():
                stream.seek(to)
            elif reopen is not None:
                stream = reopen(to)
                opened.append(stream)
            else:
                raise UploadError(
                    f"uploading {digest} to {self.host}/{repo}: the registry holds {to} bytes, fewer "
                    f"than the {offset} it accepted, and the source stream cannot be rewound")
            read_pos = to
            pending = b""

        while True:
            if not pending:
                pending = _read_exact(stream, chunk_size)
                if not pending:
                    break
                read_pos += len(pending)
            end = offset + len(pending) - 1
            resp = self.transport.request(
                "PATCH", location, scopes=scopes, data=pending, retry=False,
                headers={"Content-Type": "application/octet-stream",
                         "Content-Range": f"{offset}-{end}", "Content-Length": str(len(pending))})
            with resp:
                if resp.status_code != 416:
                    raise_for_response(resp, f"uploading chunk {offset}-{end} of {digest}")
                    if resp.status_code != 202:
                        raise UploadError(f"uploading chunk of {digest}: unexpected HTTP {resp.status_code}")
                    if "Location" in resp.headers:
                        location = urljoin(resp.url, resp.headers["Location"])
                    offset = end + 1
                    pending = b""
                    resyncs = 0
                    continue
            # 416: the registry's idea of the offset differs from ours; ask it and go on from there
            resyncs += 1
            if resyncs > self.MAX_RESYNCS:
                raise UploadError(f"uploading {digest} to {self.host}/{repo}: the registry kept refusing "
                                  f"chunk {offset}-{end} (HTTP 416) after {self.MAX_RESYNCS} re-synchronisations")
            try:
                have, location = self.upload_status(repo, location)
            except NotFound:
                if reopen is None:
                    raise UploadError(f"uploading {digest} to {self.host}/{repo}: the upload session is "
                                      "gone and the source cannot be reopened") from None
                log.info("upload of %s: session gone after HTTP 416; starting again", digest)
                location, _ = self._start_upload(repo)
                offset = 0
                rewind(0)
                continue
            if have == 0 and end >= 0:
                have = zero_tries % 2  # "0-0": 0 bytes or 1 byte; try both
                zero_tries += 1
            log.info("upload of %s: HTTP 416 for %d-%d, registry holds %d bytes", digest, offset, end, have)
            if offset <= have <= read_pos:
                pending = pending[have - offset:]
                offset = have
            elif have < offset:
                offset = have
                rewind(have)
            else:
                raise UploadError(f"uploading {digest} to {self.host}/{repo}: the registry says it holds "
                                  f"{have} bytes, more than the {read_pos} sent")
        if offset != descriptor.size:
            raise SizeMismatch(f"blob {digest}: read {offset} bytes, descriptor says {descriptor.size}")
        return location


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    parts = []
    left = n
    while left:
        chunk = stream.read(left)
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _filter_index(idx: ImageIndex, artifact_type: str) -> ImageIndex:
    import attrs
    return attrs.evolve(idx, manifests=tuple(
        d for d in idx.manifests if (d.artifact_type or d.media_type) == artifact_type))


def partial_path(partial_dir: str, digest: str) -> str:
    """Where the partial download of ``digest`` lives (stable across restarts)."""
    algo, hexpart = parse_digest(digest)
    return os.path.join(partial_dir, f"{algo}-{hexpart}.partial")


def download_to_file(open_at: Callable[[int], IO[bytes]], descriptor: Descriptor, dest: str, *,
                     partial_dir: Optional[str] = None,
                     on_read: Optional[Callable[[int], None]] = None,
                     on_start: Optional[Callable[[int], None]] = None) -> str:
    """Stream a blob into ``dest`` through a partial file named after its digest.

    An existing partial file is hashed and the download continues from its end (``open_at``
    gets the offset). The size is checked as bytes arrive (a blob longer than its descriptor
    is cut off at once); at the end size and digest are checked and only then is the file
    renamed to ``dest``. On a mismatch the partial file is deleted and
    :class:`DigestMismatch` raised. Returns ``dest``.
    """
    digest, size = descriptor.digest, descriptor.size
    partial_dir = partial_dir or os.path.dirname(os.path.abspath(dest))
    os.makedirs(partial_dir, exist_ok=True)
    part = partial_path(partial_dir, digest)
    hasher = new_hasher(digest)
    offset = 0
    if os.path.exists(part):
        with open(part, "rb") as f:
            while True:
                chunk = f.read(CHUNK)
                if not chunk:
                    break
                hasher.update(chunk)
                offset += len(chunk)
        if offset > size:
            os.unlink(part)
            hasher, offset = new_hasher(digest), 0
    if on_start is not None:
        on_start(offset)
    ok = False
    try:
        with open(part, "ab") as out:
            if offset < size or size == 0:
                src = open_at(offset)
                try:
                    while True:
                        chunk = src.read(CHUNK)
                        if not chunk:
                            break
                        if offset + len(chunk) > size:
                            raise SizeMismatch(
                                f"blob {digest} is longer than the {size} bytes its descriptor says")
                        out.write(chunk)
                        hasher.update(chunk)
                        offset += len(chunk)
                        if on_read is not None:
                            on_read(len(chunk))
                finally:
                    src.close()
        if offset != size:
            raise SizeMismatch(f"blob {digest}: got {offset} bytes, expected {size}")
        got = f"{digest.split(':', 1)[0]}:{hasher.hexdigest()}"
        if got != digest:
            raise DigestMismatch(f"digest mismatch for blob: expected {digest}, got {got}")
        os.replace(part, dest)
        ok = True
        return dest
    except (DigestMismatch, SizeMismatch):
        _unlink(part)
        raise
    finally:
        if not ok and os.path.exists(part) and os.path.getsize(part) == 0:
            _unlink(part)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
