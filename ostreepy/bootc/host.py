"""bootc's host document (``org.containers.bootc/v1``, ``BootcHost``) as
typed values: :class:`Host` with its :class:`HostSpec` and
:class:`HostStatus`, the :class:`BootEntry` of each deployment slot and the
:class:`ImageStatus` of its image.

Built from the document :func:`ostreepy.bootc.schema.host_document` makes
(which stays the one source of bootc's field rules and key order, for the
JSON and YAML renderers); :attr:`Host.document` keeps that document, so a
caller can still print it exactly as bootc does. Pure: nothing here reads a
sysroot.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Tuple

import attrs

from .schema import Tagged

__all__ = ["BootEntry", "Host", "HostSpec", "HostStatus", "ImageReference", "ImageStatus", "OstreeBootEntry",
           "host_from_document"]


@attrs.frozen
class ImageReference:
    """bootc's ``ImageReference``: an image name, its transport, and how its
    signature is checked (None: not at all; ``containerPolicy``;
    ``ostreeRemote``, with :attr:`remote`)."""

    image: str
    transport: str
    signature: Optional[str] = None
    remote: Optional[str] = None


@attrs.frozen
class ImageStatus:
    """bootc's ``ImageStatus``: the image a deployment was made from."""

    image: ImageReference
    version: Optional[str]
    #: RFC 3339, UTC, as bootc prints it
    timestamp: Optional[str]
    image_digest: str
    architecture: str


@attrs.frozen
class OstreeBootEntry:
    """The ostree side of a boot entry: stateroot, commit and deploy serial."""

    stateroot: str
    checksum: str
    deploy_serial: int


@attrs.frozen
class BootEntry:
    """bootc's ``BootEntry``: one deployment slot."""

    image: Optional[ImageStatus]
    cached_update: Optional[ImageStatus]
    incompatible: bool
    pinned: bool
    soft_reboot_capable: bool
    download_only: bool
    store: Optional[str]
    ostree: Optional[OstreeBootEntry]


@attrs.frozen
class HostSpec:
    """bootc's ``HostSpec``: the image the host follows and the boot order."""

    image: Optional[ImageReference]
    boot_order: str


@attrs.frozen
class HostStatus:
    """bootc's ``HostStatus``: the staged, booted and rollback slots and the rest."""

    staged: Optional[BootEntry]
    booted: Optional[BootEntry]
    rollback: Optional[BootEntry]
    other_deployments: Tuple[BootEntry, ...]
    rollback_queued: bool
    #: ``bootcHost`` when the booted deployment is an image, else None
    type: Optional[str]


@attrs.frozen
class Host:
    """bootc's ``Host``: what ``bootc status`` shows."""

    api_version: str
    kind: str
    spec: HostSpec
    status: HostStatus
    #: the document as bootc writes it (for :func:`ostreepy.bootc.to_canonical_json` and friends)
    document: Mapping[str, Any] = attrs.field(eq=False, repr=False)


def _imgref(d: Optional[Mapping[str, Any]]) -> Optional[ImageReference]:
    if d is None:
        return None
    sig = d.get("signature")
    if isinstance(sig, Tagged):
        return ImageReference(d["image"], d["transport"], sig.tag, str(sig.value))
    return ImageReference(d["image"], d["transport"], sig)


def _image_status(d: Optional[Mapping[str, Any]]) -> Optional[ImageStatus]:
    if d is None:
        return None
    ref = _imgref(d["image"])
    assert ref is not None
    return ImageStatus(ref, d.get("version"), d.get("timestamp"), d["imageDigest"], d.get("architecture", ""))


def _entry(d: Optional[Mapping[str, Any]]) -> Optional[BootEntry]:
    if d is None:
        return None
    o = d.get("ostree")
    return BootEntry(
        image=_image_status(d.get("image")), cached_update=_image_status(d.get("cachedUpdate")),
        incompatible=bool(d.get("incompatible")), pinned=bool(d.get("pinned")),
        soft_reboot_capable=bool(d.get("softRebootCapable")), download_only=bool(d.get("downloadOnly")),
        store=d.get("store"),
        ostree=OstreeBootEntry(o["stateroot"], o["checksum"], int(o["deploySerial"])) if o else None)


def host_from_document(doc: Mapping[str, Any]) -> Host:
    """The typed form of a host document made by :func:`~ostreepy.bootc.schema.host_document`."""
    spec, status = doc["spec"], doc["status"]
    others = tuple(e for e in (_entry(x) for x in status.get("otherDeployments") or ()) if e is not None)
    return Host(
        api_version=doc["apiVersion"], kind=doc["kind"],
        spec=HostSpec(_imgref(spec.get("image")), spec.get("bootOrder", "default")),
        status=HostStatus(_entry(status.get("staged")), _entry(status.get("booted")),
                          _entry(status.get("rollback")), others, bool(status.get("rollbackQueued")),
                          status.get("type")),
        document=doc)
