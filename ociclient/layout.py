"""OCI image layout directories (``oci:PATH[:TAG]``): read and write.

A layout is ``oci-layout`` (``{"imageLayoutVersion": "1.0.0"}``), ``index.json`` (an image
index whose entries may carry ``org.opencontainers.image.ref.name``) and
``blobs/<alg>/<hex>``. Writing a tagged manifest replaces any other entry with the same
``ref.name``; ``index.json`` is replaced atomically.
"""

from __future__ import annotations

import json
import os
import threading
from typing import IO, Any, BinaryIO, Dict, List, Optional, Tuple

from .fsutil import atomic_write
from .blobstore import BlobDir
from .digest import digest_bytes, parse_digest
from .errors import LayoutError, ManifestInvalid, NotFound
from .image import ImageDestination, ImageSource, OnRead
from .manifest import (
    DESCRIPTOR_SCHEMA, INDEX_SCHEMA, MAX_MANIFEST_SIZE, REF_NAME_ANNOTATION, Descriptor,
    check_manifest_digest, detect_media_type,
)
from .reference import OciLayoutReference
from .schema import Int, ListOf, Obj, check, load_json, opt

#: ``index.json`` of a layout: an image index whose ``schemaVersion`` and ``manifests`` may be
#: missing (an empty layout), with descriptors checked as in any index
LAYOUT_INDEX_SCHEMA = Obj({**INDEX_SCHEMA.fields, "schemaVersion": opt(Int()),
                           "manifests": opt(ListOf(DESCRIPTOR_SCHEMA))})


def parse_layout_index(data: bytes, path: str = "index.json") -> Dict[str, Any]:
    """Parse and check a layout's ``index.json`` (pure); ``manifests`` is always a list."""
    obj = load_json(data, path, LayoutError)
    if not isinstance(obj, dict):
        raise LayoutError(f"{path} is not an image index")
    check(obj, LAYOUT_INDEX_SCHEMA, path, LayoutError)
    if obj.get("manifests") is None:
        obj["manifests"] = []
    return obj

LAYOUT_VERSION = "1.0.0"


def _blob_path(root: str, digest: str) -> str:
    algo, hexpart = parse_digest(digest)
    return os.path.join(root, "blobs", algo, hexpart)


class OciLayout:
    """Low-level access to one layout directory."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.blobs = BlobDir(root, lambda d: _blob_path(root, d))
        self._lock = threading.Lock()

    # reading
    def exists(self) -> bool:
        return os.path.exists(os.path.join(self.root, "oci-layout"))

    def check(self) -> None:
        path = os.path.join(self.root, "oci-layout")
        try:
            with open(path, "rb") as f:
                data = f.read(65536)
        except FileNotFoundError:
            raise NotFound(f"{self.root} is not an OCI layout (no oci-layout file)") from None
        obj = load_json(data, path, LayoutError)
        if not isinstance(obj, dict) or "imageLayoutVersion" not in obj:
            raise LayoutError(f"{path} has no imageLayoutVersion")

    def read_index(self) -> Dict[str, Any]:
        path = os.path.join(self.root, "index.json")
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_MANIFEST_SIZE + 1)
        except FileNotFoundError:
            raise NotFound(f"{self.root} has no index.json") from None
        if len(data) > MAX_MANIFEST_SIZE:
            raise LayoutError(f"{path} is over {MAX_MANIFEST_SIZE} bytes")
        return parse_layout_index(data, path)

    def entries(self) -> List[Descriptor]:
        try:
            return [Descriptor.from_dict(m) for m in self.read_index()["manifests"]]
        except ManifestInvalid as e:
            raise LayoutError(f"{self.root}/index.json: {e}") from None

    def resolve(self, tag: Optional[str]) -> Descriptor:
        """The index.json entry with ``ref.name == tag`` (no tag: the only entry)."""
        self.check()
        entries = self.entries()
        if tag is None:
            if len(entries) == 1:
                return entries[0]
            if not entries:
                raise NotFound(f"no image in OCI layout {self.root}")
            raise NotFound(f"OCI layout {self.root} has {len(entries)} images; name one with oci:PATH:TAG")
        for d in entries:
            if d.ref_name == tag:
                return d
        raise NotFound(f"no image tagged {tag!r} in OCI layout {self.root}")

    def read_blob_bytes(self, digest: str, limit: int = MAX_MANIFEST_SIZE) -> bytes:
        with self.blobs.open_raw(digest) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise ManifestInvalid(f"blob {digest} is over {limit} bytes")
        return data

    # writing
    def init(self) -> None:
        os.makedirs(os.path.join(self.root, "blobs", "sha256"), exist_ok=True)
        path = os.path.join(self.root, "oci-layout")
        if not os.path.exists(path):
            atomic_write(path, json.dumps({"imageLayoutVersion": LAYOUT_VERSION}).encode())
        if not os.path.exists(os.path.join(self.root, "index.json")):
            self.write_index({"schemaVersion": 2, "manifests": []})

    def write_index(self, obj: Dict[str, Any]) -> None:
        atomic_write(os.path.join(self.root, "index.json"), json.dumps(obj).encode())

    def add_entry(self, desc: Descriptor, tag: Optional[str]) -> None:
        """Record ``desc`` in index.json (with ref.name ``tag``), replacing the same tag."""
        with self._lock:
            index = self.read_index()
            out = []
            for m in index["manifests"]:
                ann = m.get("annotations") or {}
                if tag is not None and ann.get(REF_NAME_ANNOTATION) == tag:
                    continue
                if tag is None and m.get("digest") == desc.digest and not ann.get(REF_NAME_ANNOTATION):
                    continue
                out.append(m)
            entry = desc.to_dict()
            if tag is not None:
                entry.setdefault("annotations", {})[REF_NAME_ANNOTATION] = tag
            out.append(entry)
            index["manifests"] = out
            index.setdefault("schemaVersion", 2)
            self.write_index(index)


class LayoutSource(ImageSource):
    """Reads ``oci:PATH[:TAG]``."""

    def __init__(self, ref: OciLayoutReference, root: Optional[str] = None) -> None:
        self.reference = ref
        self.layout = OciLayout(root or ref.path)
        self._desc = self.layout.resolve(ref.tag)

    def get_raw_manifest(self) -> Tuple[bytes, str, str]:
        desc = self._desc
        data = self.layout.read_blob_bytes(desc.digest)
        check_manifest_digest(data, desc.digest)
        return data, desc.media_type or detect_media_type(data), desc.digest

    def get_manifest_by_digest(self, digest: str) -> Tuple[bytes, str]:
        data = self.layout.read_blob_bytes(digest)
        check_manifest_digest(data, digest)
        return data, detect_media_type(data)

    def open_raw_blob(self, descriptor: Descriptor, offset: int = 0) -> BinaryIO:
        return self.layout.blobs.open_raw(descriptor.digest, offset)


class LayoutDestination(ImageDestination):
    """Writes ``oci:PATH[:TAG]`` (created if missing)."""

    def __init__(self, ref: OciLayoutReference, root: Optional[str] = None) -> None:
        self.reference = ref
        self.tag = ref.tag
        self.layout = OciLayout(root or ref.path)
        existing = [n for n in (os.listdir(self.layout.root) if os.path.isdir(self.layout.root) else [])
                    if not n.startswith(".ociclient")]
        if existing and not self.layout.exists():
            if not os.path.exists(os.path.join(self.layout.root, "index.json")):
                raise LayoutError(f"{self.layout.root} exists and is not an OCI layout")
        self.layout.init()

    def has_blob(self, digest: str) -> bool:
        return self.layout.blobs.has(digest)

    def put_blob(self, stream: IO[bytes], descriptor: Descriptor, on_read: OnRead = None) -> None:
        self.layout.blobs.write_stream(stream, descriptor, on_read=on_read)

    def put_blob_from(self, source: ImageSource, descriptor: Descriptor, on_read: OnRead = None,
                      on_start=None) -> None:
        self.layout.blobs.write_from(lambda off: source.open_raw_blob(descriptor, off), descriptor,
                                     on_read=on_read, on_start=on_start)

    def _write_manifest_blob(self, data: bytes, media_type: str) -> Descriptor:
        digest = digest_bytes(data)
        desc = Descriptor(media_type=media_type, digest=digest, size=len(data))
        if not self.layout.blobs.has(digest):
            self.layout.blobs.write_bytes(data, desc)
        return desc

    def put_manifest(self, data: bytes, media_type: str, tag: Optional[str] = None) -> str:
        desc = self._write_manifest_blob(data, media_type)
        self.layout.add_entry(desc, tag)
        return desc.digest

    def put_instance_manifest(self, data: bytes, media_type: str) -> str:
        return self._write_manifest_blob(data, media_type).digest

    def close(self) -> None:
        self.layout.blobs.cleanup()
