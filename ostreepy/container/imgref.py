"""ostree-ext's image references: ``ostree-unverified-registry:quay.io/x/y:tag`` and friends.

Pure parsing and formatting, as ostree-ext's container/mod.rs does it (and
containers-image-proxy's transport.rs for the ``transport:name`` part), so the
strings we store in origin files and refs are the ones bootc writes, and a bad
one fails with the text ostree-ext gives.  Printing is ostree-ext's canonical
form: ``ostree-remote-registry:R:NAME`` is read as the shorthand it is and
written back as ``ostree-remote-image:R:docker://NAME``; an unverified registry
image is written ``ostree-unverified-registry:NAME``.
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
    DOCKER_DAEMON = "docker-daemon"

    @classmethod
    def parse(cls, s: str) -> "Transport":
        """A transport name as bootc's ``--transport`` and the spec's ``transport`` take it."""
        if s in ("registry", "docker"):
            return cls.REGISTRY
        for t in cls:
            if t.value == s:
                return t
        raise ImageRefError(f"Invalid transport: {s}")

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
        t = Transport.parse(transport)  # "Invalid transport: X" before the docker:// check, as the proxy
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
        """ostree-ext's ``OstreeImageReference::try_from``, its error texts included."""
        first, sep, rest = s.partition(":")
        if not sep:
            raise ImageRefError(f"Missing ':' in {s}")
        if first == "ostree-image-signed":
            return cls(SigVerify.CONTAINER_POLICY, ImageReference.parse(rest))
        if first == "ostree-unverified-image":
            return cls(SigVerify.INSECURE, ImageReference.parse(rest))
        if first == "ostree-unverified-registry":
            return cls(SigVerify.INSECURE, ImageReference.parse(f"registry:{rest}"))
        if first in ("ostree-remote-image", "ostree-remote-registry"):
            # the remote may be empty here, as in ostree-ext: it is then not found when used
            remote, sep2, rest2 = rest.partition(":")
            if not sep2:
                raise ImageRefError(f"Missing second ':' in {s}")
            if first == "ostree-remote-registry":
                rest2 = f"registry:{rest2}"
            return cls(SigVerify.OSTREE_REMOTE, ImageReference.parse(rest2), remote)
        raise ImageRefError(f"Invalid ostree image reference scheme: {first}")

    def __str__(self) -> str:
        if self.sigverify is SigVerify.INSECURE:
            if self.imgref.transport is Transport.REGISTRY:
                return f"ostree-unverified-registry:{self.imgref.name}"
            return f"ostree-unverified-image:{self.imgref}"
        if self.sigverify is SigVerify.CONTAINER_POLICY:
            return f"ostree-image-signed:{self.imgref}"
        # ostree-ext writes the long form even for a registry image (its Display)
        return f"ostree-remote-image:{self.remote}:{self.imgref}"
