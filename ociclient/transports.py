"""Opening sources and destinations from image references."""

from __future__ import annotations

from typing import Optional, Union

from .errors import ReferenceInvalid
from .image import ImageDestination, ImageSource, Options
from .reference import (
    DirReference, DockerReference, ImageReference, OciArchiveReference, OciLayoutReference,
    parse_reference,
)


def _ref(ref: Union[str, ImageReference]) -> ImageReference:
    return parse_reference(ref) if isinstance(ref, str) else ref


def open_source(ref: Union[str, ImageReference], options: Optional[Options] = None, **kw) -> ImageSource:
    """Open an image for reading.

    :param ref: a reference string (``docker://…``, ``oci:…``, ``oci-archive:…``, ``dir:…`` or a
        bare ``host/name:tag``) or a parsed :class:`~ociclient.reference.ImageReference`.
    :param options: :class:`~ociclient.image.Options`; keyword arguments (``credentials=``,
        ``authfile=``, ``tls_verify=``, ``cert_dir=``, ``registries_conf=``, ...) build one.
    :returns: an :class:`~ociclient.image.ImageSource` (a context manager) with
        ``get_manifest(platform=None) -> (bytes, media_type, digest)``, ``get_raw_manifest()``,
        ``get_manifest_by_digest(digest)``, ``get_config(manifest) -> bytes``,
        ``open_blob(descriptor) -> verifying binary stream`` and ``close()``.
    """
    r = _ref(ref)
    opts = options if options is not None else Options(**kw)
    if isinstance(r, DockerReference):
        from .docker import RegistrySource
        return RegistrySource(r, opts)
    if isinstance(r, OciLayoutReference):
        from .layout import LayoutSource
        return LayoutSource(r)
    if isinstance(r, OciArchiveReference):
        from .archive import ArchiveSource
        return ArchiveSource(r)
    if isinstance(r, DirReference):
        from .dirtransport import DirSource
        return DirSource(r)
    raise ReferenceInvalid(f"unsupported reference {ref!r}")


def open_destination(ref: Union[str, ImageReference], options: Optional[Options] = None, **kw) -> ImageDestination:
    """Open an image for writing (same arguments as :func:`open_source`).

    :returns: an :class:`~ociclient.image.ImageDestination` with ``has_blob(digest)``,
        ``put_blob(stream, descriptor)``, ``put_manifest(bytes, media_type, tag=None)``,
        ``put_instance_manifest(bytes, media_type)``, ``commit()`` and ``close()``.
        ``oci-archive:`` needs ``commit()`` to write the tar.
    """
    r = _ref(ref)
    opts = options if options is not None else Options(**kw)
    if isinstance(r, DockerReference):
        from .docker import RegistryDestination
        return RegistryDestination(r, opts)
    if isinstance(r, OciLayoutReference):
        from .layout import LayoutDestination
        return LayoutDestination(r)
    if isinstance(r, OciArchiveReference):
        from .archive import ArchiveDestination
        return ArchiveDestination(r)
    if isinstance(r, DirReference):
        from .dirtransport import DirDestination
        return DirDestination(r)
    raise ReferenceInvalid(f"unsupported reference {ref!r}")
