"""Image references: the docker reference grammar and the containers-transports(5) names.

Pure parsing, no I/O. Supported forms::

    docker://HOST[:PORT]/NAME[:TAG][@DIGEST]   registry (short names normalised, see below)
    HOST[:PORT]/NAME[:TAG][@DIGEST]            same, without the transport prefix
    oci:PATH[:TAG]                             OCI image layout directory
    oci-archive:PATH[:TAG]                     tar of an OCI image layout
    dir:PATH                                   skopeo's ``dir:`` transport

Short names are normalised like podman/docker: a first component that is not a host (no ``.``
or ``:`` and not ``localhost``) means ``docker.io``, and a single-component name on docker.io
gets ``library/``. Without tag or digest the tag is ``latest``. For ``oci:`` and
``oci-archive:`` the path ends at the first ``:`` (as containers/image does).
"""

from __future__ import annotations

import re
from typing import Optional, Union

import attrs

from .digest import parse_digest
from .errors import DigestInvalid, ReferenceInvalid

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_COMPONENT_RE = re.compile(rf"^{_COMPONENT}$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_RE = re.compile(
    rf"^(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$"
)
_OCI_IMAGE_NAME_RE = re.compile(r"^[a-zA-Z0-9._/:@+-]*$")


@attrs.frozen
class DockerReference:
    """A reference to an image in a registry.

    :ivar registry: host[:port] as written (``docker.io`` for Docker Hub).
    :ivar repository: the repository path (``library/alpine``).
    :ivar tag: tag or ``None``.
    :ivar digest: ``algo:hex`` or ``None``; when both are set the digest is what is fetched.
    :ivar short_name: for a name written without a registry (``alpine``, ``library/x:1``) and
        parsed without the ``docker://`` prefix: the repository as written (``alpine``,
        ``library/x``). Such a reference is resolved with registries.conf aliases and
        unqualified-search registries when it is pulled (see :mod:`ociclient.shortnames`);
        ``registry``/``repository`` hold the ``docker.io`` fallback. Not part of equality.
    """

    registry: str
    repository: str
    tag: Optional[str] = None
    digest: Optional[str] = None
    short_name: Optional[str] = attrs.field(default=None, eq=False, hash=False)

    transport = "docker"

    @property
    def name(self) -> str:
        """``registry/repository`` (the part registries.conf prefixes match)."""
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        """The host to talk to (``registry-1.docker.io`` for ``docker.io``)."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def reference(self) -> str:
        """What goes after ``/manifests/``: the digest if there is one, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def with_tag(self, tag: Optional[str]) -> "DockerReference":
        return attrs.evolve(self, tag=tag, digest=None)

    def with_digest(self, digest: Optional[str]) -> "DockerReference":
        return attrs.evolve(self, digest=digest)

    def with_name(self, registry: str, repository: str) -> "DockerReference":
        return attrs.evolve(self, registry=registry, repository=repository, short_name=None)

    @property
    def is_short_name(self) -> bool:
        """Whether the name was written without a registry (and without ``docker://``)."""
        return self.short_name is not None

    def short_input(self) -> str:
        """The short name as written plus ``:tag``/``@digest`` (only for short names)."""
        s = self.short_name or self.repository
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s

    def string(self) -> str:
        """``registry/repository[:tag][@digest]`` without the transport."""
        s = self.name
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s

    def __str__(self) -> str:
        return "docker://" + self.string()


@attrs.frozen
class OciLayoutReference:
    """``oci:PATH[:TAG]`` — an OCI image layout directory; ``tag`` is the ``ref.name``."""

    path: str
    tag: Optional[str] = None
    transport = "oci"

    def __str__(self) -> str:
        return f"oci:{self.path}" + (f":{self.tag}" if self.tag else "")


@attrs.frozen
class OciArchiveReference:
    """``oci-archive:PATH[:TAG]`` — a tar of an OCI image layout."""

    path: str
    tag: Optional[str] = None
    transport = "oci-archive"

    def __str__(self) -> str:
        return f"oci-archive:{self.path}" + (f":{self.tag}" if self.tag else "")


@attrs.frozen
class DirReference:
    """``dir:PATH`` — manifest.json, version and blobs named by their hex digest."""

    path: str
    transport = "dir"

    def __str__(self) -> str:
        return f"dir:{self.path}"


ImageReference = Union[DockerReference, OciLayoutReference, OciArchiveReference, DirReference]


def is_short_name(name: str) -> bool:
    """True if ``name`` (``[host/]path[:tag][@digest]``, no transport) names no registry, as
    containers/image's ``shortnames.IsShortName`` decides: there is no ``/``, or the first
    component has no ``.`` or ``:`` and is not ``localhost``. A digest does not change that."""
    if name.startswith("docker://"):
        name = name[len("docker://"):]
    first, slash, _ = name.partition("/")
    if not slash:
        return True
    return not ("." in first or ":" in first or first == "localhost")


def _split_domain(name: str) -> "tuple[str, str]":
    i = name.find("/")
    if i == -1:
        return DOCKER_HUB, name
    first = name[:i]
    if "." in first or ":" in first or first == "localhost" or first != first.lower():
        return first, name[i + 1 :]
    return DOCKER_HUB, name


def parse_docker_reference(s: str, *, normalize: bool = True, keep_short: bool = False) -> DockerReference:
    """Parse ``[host[:port]/]name[:tag][@digest]`` (no transport prefix).

    With ``normalize`` (the default) short names get ``docker.io`` and ``library/`` and an
    untagged, undigested reference gets ``:latest``. With ``keep_short`` a name without a
    registry also records what was written in :attr:`DockerReference.short_name`.
    """
    orig = s
    if not s:
        raise ReferenceInvalid("invalid reference: empty string")
    if s.startswith("//"):
        s = s[2:]
    digest = None
    if "@" in s:
        s, digest = s.split("@", 1)
        try:
            parse_digest(digest)
        except DigestInvalid as e:
            raise ReferenceInvalid(f"invalid reference {orig!r}: {e}") from None
    tag = None
    # a tag is after the last ':' that comes after the last '/'
    slash = s.rfind("/")
    colon = s.rfind(":")
    if colon > slash:
        s, tag = s[:colon], s[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise ReferenceInvalid(
                f"invalid reference {orig!r}: tag {tag!r} must match [A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}"
            )
    if not s:
        raise ReferenceInvalid(f"invalid reference {orig!r}: missing repository name")
    registry, path = _split_domain(s)
    short = path if (keep_short and registry == DOCKER_HUB and not s.startswith(DOCKER_HUB + "/")) else None
    if registry == "index.docker.io":
        registry = DOCKER_HUB
    if not _DOMAIN_RE.match(registry):
        raise ReferenceInvalid(f"invalid reference {orig!r}: bad registry host {registry!r}")
    if not path:
        raise ReferenceInvalid(f"invalid reference {orig!r}: missing repository name")
    for comp in path.split("/"):
        if not _COMPONENT_RE.match(comp):
            if comp.lower() != comp and _COMPONENT_RE.match(comp.lower()):
                raise ReferenceInvalid(
                    f"invalid reference {orig!r}: repository name must be lowercase"
                )
            raise ReferenceInvalid(
                f"invalid reference {orig!r}: bad repository name component {comp!r}"
            )
    if normalize and registry == DOCKER_HUB and "/" not in path:
        path = "library/" + path
    if len(registry) + 1 + len(path) > NAME_TOTAL_LENGTH_MAX:
        raise ReferenceInvalid(
            f"invalid reference {orig!r}: repository name longer than {NAME_TOTAL_LENGTH_MAX} characters"
        )
    if normalize and tag is None and digest is None:
        tag = DEFAULT_TAG
    return DockerReference(registry=registry, repository=path, tag=tag, digest=digest, short_name=short)


def _split_path_and_image(rest: str, transport: str) -> "tuple[str, Optional[str]]":
    if not rest:
        raise ReferenceInvalid(f"invalid reference {transport}:{rest}: missing path")
    path, _, image = rest.partition(":")
    if not path:
        raise ReferenceInvalid(f"invalid reference {transport}:{rest}: missing path")
    if image and not _OCI_IMAGE_NAME_RE.match(image):
        raise ReferenceInvalid(
            f"invalid reference {transport}:{rest}: image name {image!r} has invalid characters"
        )
    return path, image or None


def parse_reference(s: str) -> ImageReference:
    """Parse an image reference with or without a transport prefix.

    A name without transport and without registry (``alpine:3``) is a *short name*: it keeps
    :attr:`DockerReference.short_name` so that pulling it resolves it like podman does
    (registries.conf aliases, unqualified-search registries). ``docker://alpine:3`` is always
    ``docker.io/library/alpine:3``, as in skopeo.

    Raises :class:`~ociclient.errors.ReferenceInvalid` saying what is wrong.
    """
    if not isinstance(s, str) or not s:
        raise ReferenceInvalid("invalid reference: empty string")
    if s.startswith("docker://"):
        return parse_docker_reference(s[len("docker://") :])
    if s.startswith("docker:"):
        raise ReferenceInvalid(f"invalid reference {s!r}: docker transport needs docker://")
    for prefix, cls in (("oci-archive:", OciArchiveReference), ("oci:", OciLayoutReference)):
        if s.startswith(prefix):
            path, image = _split_path_and_image(s[len(prefix) :], prefix[:-1])
            return cls(path=path, tag=image)
    if s.startswith("dir:"):
        path = s[4:]
        if not path:
            raise ReferenceInvalid(f"invalid reference {s!r}: missing path")
        return DirReference(path=path)
    m = re.match(r"^([a-z][a-z0-9-]*):", s)
    if m and "/" not in s[: m.end()] and m.group(1) in {
        "containers-storage", "docker-daemon", "docker-archive", "sif", "ostree", "tarball",
    }:
        raise ReferenceInvalid(f"invalid reference {s!r}: transport {m.group(1)!r} is not supported")
    return parse_docker_reference(s, keep_short=True)
