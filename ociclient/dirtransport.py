"""skopeo's ``dir:PATH`` transport: ``manifest.json``, ``version`` and blobs named by hex digest.

For a multi-arch copy the index is ``manifest.json`` and each instance manifest is
``<hex>.manifest.json`` (as containers/image writes them).
"""

from __future__ import annotations

import os
from typing import IO, BinaryIO, Optional, Tuple

from .blobstore import BlobDir
from .digest import digest_bytes, parse_digest
from .errors import LayoutError, ManifestInvalid, NotFound
from .image import ImageDestination, ImageSource, OnRead
from .fsutil import atomic_write
from .manifest import MAX_MANIFEST_SIZE, Descriptor, check_manifest_digest, detect_media_type
from .reference import DirReference

VERSION = "Directory Transport Version: 1.1\n"


def _blob_name(root: str, digest: str) -> str:
    algo, hexpart = parse_digest(digest)
    return os.path.join(root, hexpart if algo == "sha256" else f"{algo}-{hexpart}")


def _read_limited(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_MANIFEST_SIZE + 1)
    except FileNotFoundError:
        raise NotFound(f"{path} does not exist") from None
    if len(data) > MAX_MANIFEST_SIZE:
        raise ManifestInvalid(f"{path} is over {MAX_MANIFEST_SIZE} bytes")
    return data


class DirSource(ImageSource):
    """Reads an image from skopeo's ``dir:`` layout (``manifest.json`` and digest-named blobs)."""

    def __init__(self, ref: DirReference) -> None:
        self.reference = ref
        self.root = ref.path
        self.blobs = BlobDir(self.root, lambda d: _blob_name(self.root, d))
        if not os.path.exists(os.path.join(self.root, "manifest.json")):
            raise NotFound(f"{self.root} has no manifest.json")

    def get_raw_manifest(self) -> Tuple[bytes, str, str]:
        data = _read_limited(os.path.join(self.root, "manifest.json"))
        return data, detect_media_type(data), digest_bytes(data)

    def get_manifest_by_digest(self, digest: str) -> Tuple[bytes, str]:
        algo, hexpart = parse_digest(digest)
        path = os.path.join(self.root, f"{hexpart}.manifest.json")
        data = _read_limited(path)
        check_manifest_digest(data, digest)
        return data, detect_media_type(data)

    def open_raw_blob(self, descriptor: Descriptor, offset: int = 0) -> BinaryIO:
        return self.blobs.open_raw(descriptor.digest, offset)


class DirDestination(ImageDestination):
    """Writes an image as skopeo's ``dir:`` layout; refuses a non-empty directory that is not
    one."""

    def __init__(self, ref: DirReference) -> None:
        self.reference = ref
        self.tag = None
        self.root = ref.path
        os.makedirs(self.root, exist_ok=True)
        vpath = os.path.join(self.root, "version")
        if os.listdir(self.root) and not os.path.exists(vpath):
            raise LayoutError(f"{self.root} is not empty and is not a dir: image directory")
        if not os.path.exists(vpath):
            atomic_write(vpath, VERSION.encode())
        self.blobs = BlobDir(self.root, lambda d: _blob_name(self.root, d))

    def has_blob(self, digest: str) -> bool:
        return self.blobs.has(digest)

    def put_blob(self, stream: IO[bytes], descriptor: Descriptor, on_read: OnRead = None) -> None:
        self.blobs.write_stream(stream, descriptor, on_read=on_read)

    def put_blob_from(self, source: ImageSource, descriptor: Descriptor, on_read: OnRead = None,
                      on_start=None) -> None:
        self.blobs.write_from(lambda off: source.open_raw_blob(descriptor, off), descriptor,
                              on_read=on_read, on_start=on_start)

    def put_manifest(self, data: bytes, media_type: str, tag: Optional[str] = None) -> str:
        atomic_write(os.path.join(self.root, "manifest.json"), data)
        return digest_bytes(data)

    def put_instance_manifest(self, data: bytes, media_type: str) -> str:
        digest = digest_bytes(data)
        _, hexpart = parse_digest(digest)
        atomic_write(os.path.join(self.root, f"{hexpart}.manifest.json"), data)
        return digest

    def close(self) -> None:
        self.blobs.cleanup()
