"""The uniform image source / destination interface over all transports.

Obtain instances with :func:`ociclient.open_source` / :func:`ociclient.open_destination`.
Every method raises :class:`~ociclient.errors.OciError` subclasses. Sources and destinations
are context managers; ``close()`` releases connections and temporary files.
"""

from __future__ import annotations

import abc
import io
from typing import IO, Any, BinaryIO, Callable, Optional, Sequence, Tuple, Union

import attrs

from . import mediatypes as mt
from .auth import Credentials
from .digest import CHUNK, VerifyingReader, digest_bytes
from .errors import DigestMismatch, ManifestInvalid, ManifestTooLarge, UnsupportedMediaType
from .manifest import (
    MAX_CONFIG_SIZE, Descriptor, ImageIndex, ImageManifest, Platform, choose_platform, parse_manifest,
)
from .reference import ImageReference

OnRead = Optional[Callable[[int], None]]


@attrs.frozen
class Options:
    """Options for opening a source or destination (all optional).

    :ivar credentials: explicit credentials (``--creds``); otherwise auth.json and helpers.
    :ivar authfile: explicit auth.json path (``--authfile``).
    :ivar tls_verify: ``False`` = ``--tls-verify=false`` (also allows plain HTTP);
        ``None`` = verify unless registries.conf marks the registry insecure.
    :ivar cert_dir: ``--cert-dir``: a directory with ``ca.crt`` etc. used instead of certs.d.
    :ivar certs_d: roots searched for ``<host:port>/`` certificate directories.
    :ivar registries_conf: a :class:`~ociclient.registries_conf.RegistriesConf`, or a path,
        or ``None`` to read the system/user files, or ``False`` to ignore registries.conf.
    :ivar chunk_size: push blobs in chunks of this size (``None`` = monolithic PUT).
    :ivar retry: a :class:`~ociclient.transport.RetryPolicy`.
    :ivar timeout: ``(connect, read)`` seconds for every socket operation.
    :ivar request_timeout: total seconds for one request: connecting, sending, the answer's
        headers and any body read into memory (not a blob, whose time grows with its size);
        ``None`` = no limit. Default 300.
    :ivar command_timeout: total seconds for everything one opened source or destination
        does, from when it is opened (``--command-timeout``; retries, their waits and blob
        bodies included); ``None`` = no limit (the default, as skopeo's).
    :ivar env: environment used for auth file lookup (default ``os.environ``).
    :ivar registry_token: a ready bearer token (``--registry-token``).
    :ivar short_name_aliases: the user's ``short-name-aliases.conf`` (``None`` = podman's place,
        ``False`` = none); read only when registries.conf is.
    :ivar short_name_prompt: ``prompt(candidates) -> chosen`` for an ambiguous short name
        (``None``: no prompting, ``short-name-mode`` decides; see :mod:`ociclient.shortnames`).
    """

    credentials: Optional[Credentials] = None
    authfile: Optional[str] = None
    tls_verify: Optional[bool] = None
    cert_dir: Optional[str] = None
    certs_d: Optional[Tuple[str, ...]] = None
    registries_conf: Any = None
    chunk_size: Optional[int] = None
    retry: Any = None
    timeout: Tuple[float, float] = (30.0, 120.0)
    request_timeout: Optional[float] = 300.0
    command_timeout: Optional[float] = None
    env: Any = None
    user_agent: Optional[str] = None
    #: a bearer token sent as is (``--registry-token``); no token requests are made
    registry_token: Optional[str] = None
    short_name_aliases: Any = None
    short_name_prompt: Optional[Callable[[Sequence[str]], str]] = None


def operation_deadline(options: "Options") -> Optional[float]:
    """The :func:`time.monotonic` time by which an operation opened now with ``options`` must
    end (``None``: no limit)."""
    import time
    if options.command_timeout is None or options.command_timeout <= 0:
        return None
    return time.monotonic() + options.command_timeout


class ImageSource(abc.ABC):
    """Where an image is read from."""

    reference: ImageReference

    @abc.abstractmethod
    def get_raw_manifest(self) -> Tuple[bytes, str, str]:
        """The top-level manifest as stored: ``(bytes, media_type, digest)``; may be an index."""

    @abc.abstractmethod
    def get_manifest_by_digest(self, digest: str) -> Tuple[bytes, str]:
        """A manifest by digest (e.g. an index's instance), verified: ``(bytes, media_type)``."""

    @abc.abstractmethod
    def open_raw_blob(self, descriptor: Descriptor, offset: int = 0) -> BinaryIO:
        """Unverified bytes of a blob from ``offset`` (used for resumable copies)."""

    def open_blob(self, descriptor: Descriptor, on_read: OnRead = None) -> BinaryIO:
        """A binary stream of the blob that checks size and digest as it is read: it raises
        :class:`~ociclient.errors.SizeMismatch` as soon as more bytes than ``descriptor.size``
        arrive and :class:`~ociclient.errors.DigestMismatch` at EOF if the digest is wrong.
        ``on_read(n)`` is called with every chunk's length."""
        return io.BufferedReader(  # type: ignore[return-value]
            VerifyingReader(self.open_raw_blob(descriptor, 0), descriptor.digest, descriptor.size,
                            on_read=on_read), buffer_size=CHUNK)

    def get_manifest(self, platform: Optional[Platform] = None) -> Tuple[bytes, str, str]:
        """The image manifest ``(bytes, media_type, digest)``; an index is resolved to the
        entry for ``platform`` (default: the running machine)."""
        data, mtype, digest = self.get_raw_manifest()
        if mt.is_index(mtype):
            index = parse_manifest(data, mtype)
            if not isinstance(index, ImageIndex):
                raise ManifestInvalid(f"manifest {digest} is labelled {mtype} but is not an index")
            desc = choose_platform(index, platform)
            data, mtype = self.get_manifest_by_digest(desc.digest)
            digest = desc.digest
            if mt.is_index(mtype):
                # an index of indexes: neither skopeo nor the image spec's platform
                # selection go down more than one level
                raise UnsupportedMediaType(f"index entry {digest} for {desc.platform} is itself an "
                                           "index; nested image indexes are not supported")
        return data, mtype, digest

    def get_config(self, manifest: Union[bytes, ImageManifest]) -> bytes:
        """The config blob of an image manifest (bytes or parsed), verified."""
        if isinstance(manifest, (bytes, bytearray)):
            parsed = parse_manifest(bytes(manifest))
            if not isinstance(parsed, ImageManifest):
                raise ManifestInvalid("get_config needs an image manifest, not an index")
            manifest = parsed
        desc = manifest.config
        if desc.size > MAX_CONFIG_SIZE:
            raise ManifestTooLarge(f"config blob is {desc.size} bytes, over the limit")
        if desc.data is not None:
            import base64
            import binascii
            try:
                data = base64.b64decode(desc.data, validate=True)
            except (binascii.Error, ValueError):
                raise ManifestInvalid(f"config descriptor {desc.digest}: data is not base64") from None
            if digest_bytes(data, desc.digest.split(":")[0]) != desc.digest:
                raise DigestMismatch(f"embedded config data does not match {desc.digest}")
            return data
        with self.open_blob(desc) as f:
            return f.read()

    def close(self) -> None:
        pass

    def __enter__(self) -> "ImageSource":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ImageDestination(abc.ABC):
    """Where an image is written to."""

    reference: ImageReference
    #: the tag the reference names (``None`` = untagged / by digest)
    tag: Optional[str] = None

    @abc.abstractmethod
    def has_blob(self, digest: str) -> bool:
        """Whether the destination already holds the blob."""

    @abc.abstractmethod
    def put_blob(self, stream: IO[bytes], descriptor: Descriptor, on_read: OnRead = None) -> None:
        """Store a blob read from ``stream``; size and digest are verified before it becomes
        visible (:class:`~ociclient.errors.DigestMismatch` otherwise)."""

    def put_blob_from(self, source: ImageSource, descriptor: Descriptor, on_read: OnRead = None,
                      on_start: Optional[Callable[[int], None]] = None) -> None:
        """Copy a blob from ``source``. File-backed destinations resume partial files."""
        if on_start is not None:
            on_start(0)
        with source.open_blob(descriptor) as f:
            self.put_blob(f, descriptor, on_read)

    def try_reuse_blob(self, descriptor: Descriptor, source: Optional[ImageSource] = None) -> Optional[str]:
        """Make the blob available without transferring it if possible (already there, or a
        cross-repository mount); returns the reason (``"exists"``/``"mounted"``) or ``None``."""
        return "exists" if self.has_blob(descriptor.digest) else None

    @abc.abstractmethod
    def put_manifest(self, data: bytes, media_type: str, tag: Optional[str] = None) -> str:
        """Store the image's top-level manifest or index (exact bytes); with ``tag``, under that
        tag (layouts: ``org.opencontainers.image.ref.name``). Returns its digest."""

    def put_instance_manifest(self, data: bytes, media_type: str) -> str:
        """Store a manifest that an index refers to, by digest only. Returns its digest."""
        return self.put_manifest(data, media_type, None)

    def commit(self) -> None:
        """Finish writing (``oci-archive:`` writes its tar here)."""

    def close(self) -> None:
        pass

    def __enter__(self) -> "ImageDestination":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
