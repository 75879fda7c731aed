"""bootc's host document (``org.containers.bootc/v1``, ``BootcHost``) built
from values: image references as bootc writes them, image metadata, boot
entries, and the booted/staged/rollback slots of a deployment list.

Pure: nothing here reads a sysroot; :mod:`ostreepy.bootc.status` gathers the
facts and hands them to :func:`host_document`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import (Any, Callable, Dict, Mapping, Optional, Sequence, Tuple)

import attrs

from ..container.imgref import ImageRefError, ImageReference, OstreeImageReference, SigVerify, Transport
from ..sysroot.deployment import Deployment
from ..errors import BootcError


#: the ``apiVersion`` of bootc's host document
API_VERSION = "org.containers.bootc/v1"
#: the ``kind`` of bootc's host document
KIND = "BootcHost"
#: progress_jsonl.rs API_VERSION
PROGRESS_API_VERSION = "0.1.0"
#: ostree-ext's ORIGIN_CONTAINER: the origin key holding the image reference
ORIGIN_CONTAINER = "container-image-reference"
BOOTC_COMPAT_LABEL = "containers.bootc"
OSTREE_BOOTABLE_LABEL = "ostree.bootable"
KARGS_D = "usr/lib/bootc/kargs.d"
#: the image reference key of the merge commit metadata, as ostree-ext writes it
META_MANIFEST_DIGEST = "ostree.manifest-digest"
META_MANIFEST = "ostree.manifest"
META_CONFIG = "ostree.container.image-config"
#: detached metadata of the deployed commit: an update seen by ``upgrade --check``
CACHED_MANIFEST_DIGEST = "ostree-ext.cached.manifest-digest"
CACHED_MANIFEST = "ostree-ext.cached.manifest"
CACHED_CONFIG = "ostree-ext.cached.config"


@attrs.frozen
class Tagged:
    """An externally tagged enum variant with a value (``{"ostreeRemote": "r"}``
    in JSON, ``!ostreeRemote r`` in YAML)."""

    tag: str
    value: Any


# =============================================================================== pure: references


def transport_to_string(t: Transport) -> str:
    """bootc's ``transport_to_string``: ``registry``, ``oci``, ``oci-archive``..."""
    return t.value


def spec_image(oref: OstreeImageReference) -> Dict[str, Any]:
    """bootc's ``ImageReference`` (``image``, ``transport``, ``signature``?)
    of an ostree-ext reference; an unverified one has no ``signature``."""
    out: Dict[str, Any] = {"image": oref.imgref.name, "transport": transport_to_string(oref.imgref.transport)}
    if oref.sigverify is SigVerify.CONTAINER_POLICY:
        out["signature"] = "containerPolicy"
    elif oref.sigverify is SigVerify.OSTREE_REMOTE:
        out["signature"] = Tagged("ostreeRemote", oref.remote or "")
    return out


def imgref_of_spec(image: Mapping[str, Any]) -> OstreeImageReference:
    """The ostree-ext reference of a bootc ``ImageReference`` (for pulling)."""
    ref = ImageReference(Transport.parse(image["transport"]), image["image"])
    sig = image.get("signature")
    if isinstance(sig, Tagged):
        return OstreeImageReference(SigVerify.OSTREE_REMOTE, ref, sig.value)
    if isinstance(sig, Mapping) and set(sig) == {"ostreeRemote"}:  # as JSON gives it back
        return OstreeImageReference(SigVerify.OSTREE_REMOTE, ref, str(sig["ostreeRemote"]))
    if sig == "containerPolicy":
        return OstreeImageReference(SigVerify.CONTAINER_POLICY, ref)
    if sig not in (None, "insecure"):
        raise BootcError(f"Invalid image signature: {sig!r}")
    # bootc's Insecure is ostree-ext's ContainerPolicyAllowInsecure: an unverified reference
    return OstreeImageReference(SigVerify.INSECURE, ref)


def imgref_alternate(oref: OstreeImageReference) -> str:
    """ostree-ext's ``{:#}``: ``docker://NAME`` for an unverified registry
    image, the usual form otherwise."""
    if oref.sigverify is SigVerify.INSECURE and oref.imgref.transport is Transport.REGISTRY:
        return str(oref.imgref)
    return str(oref)


def imgref_for_switch(target: str, transport: str = "registry") -> OstreeImageReference:
    """``bootc switch TARGET --transport T``: an unverified reference."""
    try:
        t = Transport.parse(transport)
    except ImageRefError as e:
        raise BootcError(str(e)) from None
    if not target:
        raise BootcError("Invalid empty image name")
    return OstreeImageReference(SigVerify.INSECURE, ImageReference(t, target))


# =============================================================================== pure: image status


@attrs.frozen
class ImageMeta:
    """What the status needs of an image: its manifest digest, manifest and config (parsed JSON)."""

    manifest_digest: str
    manifest: Mapping[str, Any]
    config: Mapping[str, Any]

    @property
    def labels(self) -> Mapping[str, str]:
        return ((self.config.get("config") or {}).get("Labels") or {})

    @property
    def version(self) -> Optional[str]:
        """ostree-ext's ``version_for_config``: the OCI version label, then ``version``."""
        for k in ("org.opencontainers.image.version", "version"):
            v = self.labels.get(k)
            if v is not None:
                return v
        return None

    @property
    def timestamp(self) -> Optional[str]:
        """The ``org.opencontainers.image.created`` label, else the config's
        ``created``, as chrono prints a UTC time; None when unparsable."""
        t = self.labels.get("org.opencontainers.image.created") or self.config.get("created")
        return rfc3339_utc(t) if t else None

    @property
    def architecture(self) -> str:
        return str(self.config.get("architecture", ""))


_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def rfc3339_utc(text: str) -> Optional[str]:
    """Parse RFC 3339 and print it as chrono's ``DateTime<Utc>`` serializes:
    ``YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]Z`` (fraction only when non-zero)."""
    m = _RFC3339.match(text.strip())
    if not m:
        return None
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    frac = (m.group(7) or ".")[1:]
    nanos = int((frac + "000000000")[:9]) if frac else 0
    tz = m.group(8)
    offset = timedelta(0)
    if tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        offset = sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
    try:
        # a leap second (:60) is read as :59, as chrono keeps it in the fraction
        dt = datetime(y, mo, d, h, mi, min(s, 59), tzinfo=timezone(offset)).astimezone(timezone.utc)
    except ValueError:
        return None
    out = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        if nanos % 1_000_000 == 0:
            out += f".{nanos // 1_000_000:03d}"
        elif nanos % 1000 == 0:
            out += f".{nanos // 1000:06d}"
        else:
            out += f".{nanos:09d}"
    return out + "Z"


def image_status(image: Mapping[str, Any], meta: ImageMeta) -> Dict[str, Any]:
    """bootc's ``create_imagestatus`` (``ImageStatus`` in struct order)."""
    return {"image": dict(image), "version": meta.version, "timestamp": meta.timestamp,
            "imageDigest": meta.manifest_digest, "architecture": meta.architecture}


@attrs.frozen
class EntryFacts:
    """What the I/O side found about one deployment."""

    deployment: Deployment
    imgref: Optional[OstreeImageReference] = None
    image: Optional[ImageMeta] = None
    cached: Optional[ImageMeta] = None
    incompatible: bool = False


def boot_entry(f: EntryFacts) -> Dict[str, Any]:
    """bootc's ``boot_entry_from_deployment`` (``BootEntry`` in struct order)."""
    d = f.deployment
    image = cached = None
    if f.imgref is not None and f.image is not None and not f.incompatible:
        ref = spec_image(f.imgref)
        image = image_status(ref, f.image)
        cached = image_status(ref, f.cached) if f.cached is not None else None
    return {
        "image": image,
        "cachedUpdate": cached,
        "incompatible": f.incompatible,
        "pinned": d.pinned,
        "softRebootCapable": False,
        "downloadOnly": d.staged and d.finalization_locked,
        "store": "ostreeContainer",
        "ostree": {"stateroot": d.osname, "checksum": d.csum, "deploySerial": d.deployserial},
        "composefs": None,
    }


@attrs.frozen
class Slots:
    """bootc's view of the deployment list (``status::get_status``)."""

    staged: Optional[Deployment]
    booted: Optional[Deployment]
    rollback: Optional[Deployment]
    other: Tuple[Deployment, ...]
    rollback_queued: bool


def partition(deployments: Sequence[Deployment], booted: Optional[Deployment]) -> Slots:
    """Staged and rollback come from the booted stateroot only: the rollback
    is the first deployment of it that is neither staged nor booted; the
    rest of it, then the other stateroots, are "other". Without a booted
    deployment nothing is staged or rollback."""
    stateroot = booted.osname if booted is not None else None
    related = [d for d in deployments if stateroot is not None and d.osname == stateroot]
    unrelated = [d for d in deployments if not (stateroot is not None and d.osname == stateroot)]
    staged = next((d for d in related if d.staged), None)
    related = [d for d in related if not d.staged and not d.same(booted)]
    rollback = related.pop(0) if related else None
    queued = booted is not None and rollback is not None and rollback.index < booted.index
    return Slots(staged, booted, rollback, tuple(related + unrelated), queued)


def host_document(slots: Slots, facts: Callable[[Deployment], EntryFacts], *,
                  booted_only: bool = False) -> Dict[str, Any]:
    """bootc's ``Host`` in struct order; ``booted_only`` is ``--booted``
    (``filter_to_slot(Booted)``: staged and rollback dropped, other kept)."""
    def entry(d: Optional[Deployment]) -> Optional[Dict[str, Any]]:
        return boot_entry(facts(d)) if d is not None else None

    staged, booted, rollback = entry(slots.staged), entry(slots.booted), entry(slots.rollback)
    others = [boot_entry(facts(d)) for d in slots.other]
    spec: Dict[str, Any] = {"image": None, "bootOrder": "rollback" if slots.rollback_queued else "default"}
    src = staged if staged is not None else booted
    if src is not None and src["image"] is not None:
        spec["image"] = src["image"]["image"]
    else:
        spec["bootOrder"] = "default"  # HostSpec::default()
    if booted_only:
        staged = rollback = None
    status: Dict[str, Any] = {"staged": staged, "booted": booted, "rollback": rollback}
    if others:
        status["otherDeployments"] = others
    status.update({
        "rollbackQueued": slots.rollback_queued,
        "type": "bootcHost" if booted is not None and booted["image"] is not None else None,
        "usrOverlay": None,
        "readOnly": False,
    })
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": "host"}, "spec": spec,
            "status": status}
