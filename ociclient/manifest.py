"""Descriptors, image manifests, image indexes and platform selection (pure, no I/O).

Parsed objects keep nothing but what they read: to push or store a manifest always use the
original bytes (re-serialising would change its digest).

The shapes of a descriptor, a manifest and an index are declared once below
(:data:`DESCRIPTOR_SCHEMA`, :data:`MANIFEST_SCHEMA`, :data:`INDEX_SCHEMA`) and every document is
checked against them (:mod:`ociclient.schema`) before a field is used, so a hostile manifest
ends in :class:`~ociclient.errors.ManifestInvalid`, never in a ``TypeError`` further on.
"""

from __future__ import annotations

import platform as _platform
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import attrs

from . import mediatypes as mt
from .digest import digest_bytes, parse_digest
from .errors import DigestInvalid, ManifestInvalid, ManifestTooLarge, NotFound, UnsupportedMediaType
from .schema import Int, ListOf, MapOf, Obj, Str, check, load_json, opt, req

#: manifests larger than this are refused (as containers/image and distribution do)
MAX_MANIFEST_SIZE = 4 * 1024 * 1024
#: config blobs larger than this are refused
MAX_CONFIG_SIZE = 4 * 1024 * 1024

REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"

_ANNOTATIONS = MapOf(Str())

PLATFORM_SCHEMA = Obj({
    "os": opt(Str()), "architecture": opt(Str()), "variant": opt(Str()),
    "os.version": opt(Str()), "os.features": opt(ListOf(Str())),
})

DESCRIPTOR_SCHEMA = Obj({
    "mediaType": opt(Str()), "digest": req(Str()), "size": req(Int(min=0)),
    "urls": opt(ListOf(Str())), "annotations": opt(_ANNOTATIONS), "platform": opt(PLATFORM_SCHEMA),
    "artifactType": opt(Str()), "data": opt(Str()),
})

_COMMON = {
    "schemaVersion": req(Int()), "mediaType": opt(Str()), "subject": opt(DESCRIPTOR_SCHEMA),
    "artifactType": opt(Str()), "annotations": opt(_ANNOTATIONS),
}

MANIFEST_SCHEMA = Obj({**_COMMON, "config": req(DESCRIPTOR_SCHEMA), "layers": req(ListOf(DESCRIPTOR_SCHEMA))})

INDEX_SCHEMA = Obj({**_COMMON, "manifests": req(ListOf(DESCRIPTOR_SCHEMA))})


@attrs.frozen
class Platform:
    """An index entry's platform (GOARCH/GOOS names)."""

    os: str
    architecture: str
    variant: Optional[str] = None
    os_version: Optional[str] = None
    os_features: Tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Platform":
        check(d, PLATFORM_SCHEMA, "platform", ManifestInvalid)
        return cls._from_checked(d)

    @classmethod
    def _from_checked(cls, d: Mapping[str, Any]) -> "Platform":
        return cls(
            os=str(d.get("os", "")),
            architecture=str(d.get("architecture", "")),
            variant=d.get("variant") or None,
            os_version=d.get("os.version") or None,
            os_features=tuple(d.get("os.features") or ()),
        )

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            d["os.version"] = self.os_version
        if self.os_features:
            d["os.features"] = list(self.os_features)
        if self.variant:
            d["variant"] = self.variant
        return d

    def __str__(self) -> str:
        s = f"{self.os}/{self.architecture}"
        return s + (f"/{self.variant}" if self.variant else "")


_GOARCH = {
    "x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
    "armv7l": "arm", "armv6l": "arm", "armv5l": "arm", "i386": "386", "i686": "386",
    "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64", "mips64": "mips64",
}
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}


def normalize_platform(p: Platform) -> Platform:
    """Fill the default variant (arm64 → v8, arm → v7) and map uname names to GOARCH."""
    arch = _GOARCH.get(p.architecture, p.architecture)
    variant = p.variant
    if arch == "arm" and p.architecture.startswith("armv") and not variant:
        variant = "v" + p.architecture[4]
    if not variant:
        variant = _DEFAULT_VARIANT.get(arch)
    return attrs.evolve(p, architecture=arch, variant=variant, os=p.os or "linux")


def host_platform() -> Platform:
    """The platform of the running machine (``linux/amd64`` on x86-64)."""
    system = _platform.system().lower() or "linux"
    return normalize_platform(Platform(os=system, architecture=_platform.machine().lower()))


def parse_platform(s: str) -> Platform:
    """``os/arch[/variant]`` → :class:`Platform`."""
    parts = s.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"invalid platform {s!r}: expected os/arch[/variant]")
    return Platform(os=parts[0], architecture=parts[1], variant=parts[2] if len(parts) == 3 else None)


@attrs.frozen
class Descriptor:
    """An OCI content descriptor."""

    media_type: str
    digest: str
    size: int
    urls: Tuple[str, ...] = ()
    annotations: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    platform: Optional[Platform] = None
    artifact_type: Optional[str] = None
    data: Optional[str] = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Descriptor":
        """A descriptor from its JSON object (:class:`ManifestInvalid` if it does not fit)."""
        check(d, DESCRIPTOR_SCHEMA, "descriptor", ManifestInvalid)
        return cls._from_checked(d)

    @classmethod
    def _from_checked(cls, d: Mapping[str, Any]) -> "Descriptor":
        """From an object already checked against :data:`DESCRIPTOR_SCHEMA`."""
        digest = d["digest"]
        try:
            parse_digest(digest)
        except DigestInvalid as e:
            raise ManifestInvalid(f"descriptor has {e}") from None
        plat = d.get("platform")
        return cls(
            media_type=d.get("mediaType") or "",
            digest=digest,
            size=d["size"],
            urls=tuple(d.get("urls") or ()),
            annotations=dict(d.get("annotations") or {}),
            platform=Platform._from_checked(plat) if plat is not None else None,
            artifact_type=d.get("artifactType") or None,
            data=d.get("data"),
        )

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.urls:
            d["urls"] = list(self.urls)
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        if self.platform is not None:
            d["platform"] = self.platform.to_dict()
        if self.artifact_type:
            d["artifactType"] = self.artifact_type
        if self.data is not None:
            d["data"] = self.data
        return d

    @property
    def ref_name(self) -> Optional[str]:
        return self.annotations.get(REF_NAME_ANNOTATION)


@attrs.frozen
class ImageManifest:
    """An OCI image manifest or a Docker schema 2 manifest."""

    media_type: str
    config: Descriptor
    layers: Tuple[Descriptor, ...]
    subject: Optional[Descriptor] = None
    artifact_type: Optional[str] = None
    annotations: Mapping[str, str] = attrs.field(factory=dict, hash=False)

    @property
    def blobs(self) -> Tuple[Descriptor, ...]:
        """Config first, then the layers."""
        return (self.config,) + self.layers


@attrs.frozen
class ImageIndex:
    """An OCI image index or a Docker manifest list."""

    media_type: str
    manifests: Tuple[Descriptor, ...]
    subject: Optional[Descriptor] = None
    artifact_type: Optional[str] = None
    annotations: Mapping[str, str] = attrs.field(factory=dict, hash=False)


Manifest = Union[ImageManifest, ImageIndex]


def detect_media_type(data: bytes, content_type: Optional[str] = None) -> str:
    """The media type of manifest bytes: the JSON ``mediaType`` field, else the HTTP
    ``Content-Type``, else a guess from the shape (``manifests`` → OCI index)."""
    try:
        obj = load_json(data, "manifest", ManifestInvalid)
    except ManifestInvalid:
        obj = None
    if isinstance(obj, dict):
        m = obj.get("mediaType")
        if isinstance(m, str) and m:
            return m
    if content_type:
        ct = content_type.split(";", 1)[0].strip()
        if ct in mt.MANIFESTS or ct in (mt.DOCKER_SCHEMA1, mt.DOCKER_SCHEMA1_SIGNED):
            return ct
    if isinstance(obj, dict):
        if obj.get("schemaVersion") == 1:
            return mt.DOCKER_SCHEMA1_SIGNED if "signatures" in obj else mt.DOCKER_SCHEMA1
        if "manifests" in obj:
            return mt.OCI_INDEX
        if "config" in obj:
            return mt.OCI_MANIFEST
    return content_type or ""


def parse_manifest(data: bytes, media_type: Optional[str] = None) -> Manifest:
    """Parse manifest or index bytes.

    :param media_type: what the transport said (Content-Type / descriptor); the JSON
        ``mediaType`` field, when present, must agree with it.
    """
    if len(data) > MAX_MANIFEST_SIZE:
        raise ManifestTooLarge(f"manifest is {len(data)} bytes, over the {MAX_MANIFEST_SIZE} byte limit")
    obj = load_json(data, "manifest", ManifestInvalid)
    if not isinstance(obj, dict):
        raise ManifestInvalid("manifest is not a JSON object")
    inner = obj.get("mediaType")
    if inner is not None and not isinstance(inner, str):
        raise ManifestInvalid("manifest mediaType must be a string")
    mtype = inner or detect_media_type(data, media_type)
    if media_type and inner and media_type in mt.MANIFESTS and media_type != inner:
        raise ManifestInvalid(f"manifest mediaType {inner!r} does not match {media_type!r}")
    if mtype in (mt.DOCKER_SCHEMA1, mt.DOCKER_SCHEMA1_SIGNED):
        raise UnsupportedMediaType(f"Docker schema 1 manifests are not supported ({mtype})")
    if mtype in mt.INDEXES:
        check(obj, INDEX_SCHEMA, "index", ManifestInvalid)
    elif mtype in mt.IMAGE_MANIFESTS:
        check(obj, MANIFEST_SCHEMA, "manifest", ManifestInvalid)
    else:
        raise UnsupportedMediaType(f"unsupported manifest media type {mtype!r}")
    if obj["schemaVersion"] != 2:
        raise ManifestInvalid(f"unsupported schemaVersion {obj['schemaVersion']!r}")
    subject = Descriptor._from_checked(obj["subject"]) if obj.get("subject") is not None else None
    annotations = dict(obj.get("annotations") or {})
    if mtype in mt.INDEXES:
        return ImageIndex(
            media_type=mtype,
            manifests=tuple(Descriptor._from_checked(m) for m in obj["manifests"]),
            subject=subject,
            artifact_type=obj.get("artifactType") or None,
            annotations=annotations,
        )
    return ImageManifest(
        media_type=mtype,
        config=Descriptor._from_checked(obj["config"]),
        layers=tuple(Descriptor._from_checked(x) for x in obj["layers"]),
        subject=subject,
        artifact_type=obj.get("artifactType") or None,
        annotations=annotations,
    )


def check_manifest_digest(data: bytes, expected: str) -> str:
    """Raise DigestMismatch unless ``data`` hashes to ``expected``; return the digest."""
    from .errors import DigestMismatch

    algo, _ = parse_digest(expected)
    got = digest_bytes(data, algo)
    if got != expected:
        raise DigestMismatch(f"manifest digest mismatch: expected {expected}, got {got}")
    return got


def _variant_matches(want: Optional[str], have: Optional[str], arch: str) -> bool:
    if not want:
        return True
    default = _DEFAULT_VARIANT.get(arch)
    have = have or default
    if want == have:
        return True
    if arch == "arm" and have and want and have[1:].isdigit() and want[1:].isdigit():
        return int(have[1:]) <= int(want[1:])  # armv7 can run v6/v5 images
    return False


def choose_platform(index: ImageIndex, want: Optional[Platform] = None) -> Descriptor:
    """Pick the index entry for ``want`` (default: the running machine).

    The OS and architecture must match; the variant must match if one is wanted (arm64
    entries without a variant count as ``v8``); an exact variant is preferred, and for arm
    the highest compatible one. Raises :class:`NotFound` with the available platforms.
    """
    want = normalize_platform(want or host_platform())
    candidates: List[Tuple[int, int, Descriptor]] = []
    for pos, d in enumerate(index.manifests):
        if d.platform is None:
            continue
        p = d.platform
        arch = _GOARCH.get(p.architecture, p.architecture)
        if p.os != want.os or arch != want.architecture:
            continue
        if not _variant_matches(want.variant, p.variant, arch):
            continue
        have_v = p.variant or _DEFAULT_VARIANT.get(arch) or ""
        score = 2 if have_v == (want.variant or "") else 1
        candidates.append((score, -pos, d))
    if not candidates:
        avail = ", ".join(str(d.platform) for d in index.manifests if d.platform) or "none"
        raise NotFound(f"no image found in manifest list for platform {want} (available: {avail})")
    candidates.sort(key=lambda t: (t[0], t[1]), reverse=True)
    return candidates[0][2]
