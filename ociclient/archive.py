"""``oci-archive:PATH[:TAG]``: an OCI image layout in a (plain) tar file.

Reading indexes the tar once and serves each blob straight from its offset in the file (no
extraction). Writing builds a layout in a temporary directory next to the target and writes
the tar on :meth:`ArchiveDestination.commit` (replacing the file atomically).
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
from typing import BinaryIO, Dict, Tuple

from .digest import parse_digest
from .errors import LayoutError, ManifestInvalid, NotFound
from .image import ImageSource
from .layout import LayoutDestination, parse_layout_index
from .manifest import MAX_MANIFEST_SIZE, Descriptor, check_manifest_digest, detect_media_type
from .reference import OciArchiveReference, OciLayoutReference


class _Slice(io.RawIOBase):
    def __init__(self, f: BinaryIO, start: int, length: int) -> None:
        super().__init__()
        self._f = f
        self._f.seek(start)
        self._left = length

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        n = min(len(b), self._left)
        data = self._f.read(n)
        b[: len(data)] = data
        self._left -= len(data)
        return len(data)

    def close(self) -> None:
        self._f.close()
        super().close()


class ArchiveSource(ImageSource):
    """An image read from an ``oci-archive:`` tar file, in place: blobs are read at their
    offsets in the tar."""

    def __init__(self, ref: OciArchiveReference) -> None:
        self.reference = ref
        self.path = ref.path
        self._members: Dict[str, Tuple[int, int]] = {}
        try:
            with tarfile.open(self.path, "r:") as tf:
                for m in tf:
                    if m.isfile():
                        name = os.path.normpath(m.name.lstrip("/"))
                        if name.startswith("./"):
                            name = name[2:]
                        self._members[name] = (m.offset_data, m.size)
        except FileNotFoundError:
            raise NotFound(f"oci-archive {self.path} does not exist") from None
        except tarfile.TarError as e:
            raise LayoutError(f"{self.path} is not a tar archive: {e}") from None
        if "oci-layout" not in self._members:
            raise LayoutError(f"{self.path} has no oci-layout file")
        index = parse_layout_index(self._read_member("index.json"), f"{self.path}: index.json")
        try:
            entries = [Descriptor.from_dict(m) for m in index["manifests"]]
        except ManifestInvalid as e:
            raise LayoutError(f"{self.path}: index.json: {e}") from None
        tag = ref.tag
        if tag is None:
            if len(entries) != 1:
                raise NotFound(f"oci-archive {self.path} has {len(entries)} images; name one with :TAG")
            self._desc = entries[0]
        else:
            found = [d for d in entries if d.ref_name == tag]
            if not found:
                raise NotFound(f"no image tagged {tag!r} in oci-archive {self.path}")
            self._desc = found[0]

    def _open_member(self, name: str, offset: int = 0) -> BinaryIO:
        try:
            start, size = self._members[name]
        except KeyError:
            raise NotFound(f"{name} not found in oci-archive {self.path}") from None
        return _Slice(open(self.path, "rb"), start + offset, size - offset)  # type: ignore[return-value]

    def _read_member(self, name: str, limit: int = MAX_MANIFEST_SIZE) -> bytes:
        with self._open_member(name) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise ManifestInvalid(f"{name} in {self.path} is over {limit} bytes")
        return data

    def _blob_name(self, digest: str) -> str:
        algo, hexpart = parse_digest(digest)
        return f"blobs/{algo}/{hexpart}"

    def get_raw_manifest(self) -> Tuple[bytes, str, str]:
        data = self._read_member(self._blob_name(self._desc.digest))
        check_manifest_digest(data, self._desc.digest)
        return data, self._desc.media_type or detect_media_type(data), self._desc.digest

    def get_manifest_by_digest(self, digest: str) -> Tuple[bytes, str]:
        data = self._read_member(self._blob_name(digest))
        check_manifest_digest(data, digest)
        return data, detect_media_type(data)

    def open_raw_blob(self, descriptor: Descriptor, offset: int = 0) -> BinaryIO:
        return self._open_member(self._blob_name(descriptor.digest), offset)


class ArchiveDestination(LayoutDestination):
    """Writes a layout into a temporary directory; :meth:`commit` tars it to the target."""

    def __init__(self, ref: OciArchiveReference) -> None:
        parent = os.path.dirname(os.path.abspath(ref.path))
        if not os.path.isdir(parent):
            raise NotFound(f"directory {parent} does not exist")
        self._tmp = tempfile.mkdtemp(prefix=".oci-archive-", dir=parent)
        super().__init__(OciLayoutReference(path=self._tmp, tag=ref.tag), root=self._tmp)
        self.reference = ref  # type: ignore[assignment]
        self.tag = ref.tag
        self.path = ref.path
        self._committed = False

    def commit(self) -> None:
        self.layout.blobs.discard_partials()
        fd, tmp_tar = tempfile.mkstemp(prefix=".oci-archive-", suffix=".tar",
                                       dir=os.path.dirname(os.path.abspath(self.path)))
        try:
            with os.fdopen(fd, "wb") as f, tarfile.open(fileobj=f, mode="w:", format=tarfile.PAX_FORMAT) as tf:
                for name in ("oci-layout", "index.json"):
                    tf.add(os.path.join(self._tmp, name), arcname=name, recursive=False)
                blobs = os.path.join(self._tmp, "blobs")
                tf.add(blobs, arcname="blobs", recursive=False)
                for algo in sorted(os.listdir(blobs)):
                    tf.add(os.path.join(blobs, algo), arcname=f"blobs/{algo}", recursive=False)
                    for name in sorted(os.listdir(os.path.join(blobs, algo))):
                        tf.add(os.path.join(blobs, algo, name), arcname=f"blobs/{algo}/{name}",
                               recursive=False)
            os.chmod(tmp_tar, 0o644)
            os.replace(tmp_tar, self.path)
        except BaseException:
            try:
                os.unlink(tmp_tar)
            except OSError:
                pass
            raise
        self._committed = True

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)
