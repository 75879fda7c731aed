"""ostree-ext's image references: ``ostree-unverified-registry:quay.io/x/y:tag`` and friends.

Pure parsing and formatting, as ostree-ext's container/mod.rs does it, so the
strings we store in origin files and refs are the ones bootc writes.
"""

from __future__ import annotations

import enum
from typing import Optional

import attrs

from ..errors import OstreeError


class ImageRefError(OstreeError):
    """An image reference that cannot be parsed."""


class Transport(enum.Enum):
    """An image transport (``registry``, ``oci``, ``oci-archive``, ``containers-storage``, ``dir``...)."""

    REGISTRY = "registry"
    OCI_DIR = "oci"
    OCI_ARCHIVE = "oci-archive"
    DOCKER_ARCHIVE = "docker-archive"
    CONTAINERS_STORAGE = "containers-storage"
    DIR = "dir"

    @classmethod
    def parse(cls, s: str) -> "Transport":
        if s in ("registry", "docker"):
            return cls.REGISTRY
        for t in cls:
            if t.value == s:
                return t
        raise ImageRefError(f"Unknown transport '{s}'")

    @property
    def skopeo_prefix(self) -> str:
        return "docker://" if self is Transport.REGISTRY else self.value + ":"


@attrs.frozen
class ImageReference:
    """An image by transport and name: ``registry:quay.io/x:tag``, ``oci:/path:tag``..."""

    transport: Transport
    name: str

    @classmethod
    def parse(cls, s: str) -> "ImageReference":
        transport, sep, name = s.partition(":")
        if not sep:
            raise ImageRefError(f"Missing ':' in {s}")
        t = Transport.parse(transport)
        if transport == "docker":
            if not name.startswith("//"):
                raise ImageRefError(f"Missing // in docker:// in {s}")
            name = name[2:]
        if not name:
            raise ImageRefError(f"Invalid empty name in {s}")
        return cls(t, name)

    def __str__(self) -> str:
        # what skopeo and containers-image take
        return f"{self.transport.skopeo_prefix}{self.name}"

    def to_ociclient(self) -> str:
        """The reference in the form :func:`ociclient.parse_reference` takes."""
        return str(self)


class SigVerify(enum.Enum):
    """How an ostree-ext reference checks signatures: not at all, by an ostree remote, or by policy."""

    INSECURE = "insecure"          # ostree-unverified-*
    CONTAINER_POLICY = "policy"    # ostree-image-signed:
    OSTREE_REMOTE = "remote"       # ostree-remote-*


@attrs.frozen
class OstreeImageReference:
    """ostree-ext's image reference: ``ostree-unverified-image:oci:/path:tag``,
    ``ostree-remote-image:REMOTE:registry:NAME``...: a signature rule and an image."""

    sigverify: SigVerify
    imgref: ImageReference
    remote: Optional[str] = None

    @classmethod
    def parse(cls, s: str) -> "OstreeImageReference":
        first, sep, rest = s.partition(":")
        if not sep:
            raise ImageRefError(f"Missing ':' in {s}")
        if first == "ostree-image-signed":
            return cls(SigVerify.CONTAINER_POLICY, ImageReference.parse(rest))
        if first == "ostree-unverified-image":
            return cls(SigVerify.INSECURE, ImageReference.parse(rest))
        if first == "ostree-unverified-registry":
            if not rest:
                raise ImageRefError(f"Invalid empty name in {s}")
            return cls(SigVerify.INSECURE, ImageReference(Transport.REGISTRY, rest))
        if first in ("ostree-remote-image", "ostree-remote-registry"):
            remote, sep2, rest2 = rest.partition(":")
            if not sep2 or not remote:
                raise ImageRefError(f"Missing second ':' in {s}")
            if first == "ostree-remote-registry":
                return cls(SigVerify.OSTREE_REMOTE, ImageReference(Transport.REGISTRY, rest2), remote)
            return cls(SigVerify.OSTREE_REMOTE, ImageReference.parse(rest2), remote)
        # a plain transport:name reference is taken as unverified, as bootc does
        try:
            return cls(SigVerify.INSECURE, ImageReference.parse(s))
        except ImageRefError:
            raise ImageRefError(f"Invalid ostree image reference: {s}") from None

    def __str__(self) -> str:
        if self.sigverify is SigVerify.INSECURE:
            if self.imgref.transport is Transport.REGISTRY:
                return f"ostree-unverified-registry:{self.imgref.name}"
            return f"ostree-unverified-image:{self.imgref}"
        if self.sigverify is SigVerify.CONTAINER_POLICY:
            return f"ostree-image-signed:{self.imgref}"
        if self.imgref.transport is Transport.REGISTRY:
            return f"ostree-remote-registry:{self.remote}:{self.imgref.name}"
        return f"ostree-remote-image:{self.remote}:{self.imgref}"
