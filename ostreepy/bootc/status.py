"""Reading a sysroot for bootc: the image behind each deployment (from the
commit's metadata, as ostree-ext stores it), cached update metadata, and the
host document of an opened :class:`~ostreepy.sysroot.sysroot.Sysroot`.
"""

from __future__ import annotations

from typing import (Any, Dict, Mapping, Optional, Tuple)


from ..container.imgref import ImageRefError, OstreeImageReference
from ..sysroot.deployment import Deployment
from ..errors import OstreeError
from ..store.keyfile import KeyFile
from ..errors import BootcError
from .schema import CACHED_CONFIG, CACHED_MANIFEST, CACHED_MANIFEST_DIGEST, EntryFacts, ImageMeta, META_CONFIG, META_MANIFEST, META_MANIFEST_DIGEST, ORIGIN_CONTAINER, host_document, partition


# =============================================================================== I/O: reading images


def _meta_str(meta: Mapping[str, Any], key: str) -> Optional[str]:
    v = meta.get(key)
    if v is None:
        return None
    v = getattr(v, "value", v)
    return v if isinstance(v, str) else None


def _image_meta(meta: Mapping[str, Any], kd: str, km: str, kc: str) -> Optional[ImageMeta]:
    digest, manifest, config = _meta_str(meta, kd), _meta_str(meta, km), _meta_str(meta, kc)
    if digest is None or manifest is None or config is None:
        return None
    from ociclient.config import parse_config
    from ociclient.errors import OciError
    from ociclient.schema import load_json
    try:
        # stored by whichever tool pulled the image: checked, and an image that does
        # not fit the spec's types shows no details rather than failing the status
        cfg = parse_config(config.encode())
        man = load_json(manifest.encode(), "manifest", OciError)
    except (OciError, UnicodeError):
        return None
    if not isinstance(man, dict):
        return None
    return ImageMeta(digest, man, cfg.raw)


def image_of_commit(repo: Any, csum: str) -> Optional[ImageMeta]:
    """The image a merge commit was made from (ostree-ext's commit metadata)."""
    try:
        meta = repo.load_commit(csum).metadata
    except OstreeError:
        return None
    return _image_meta(meta, META_MANIFEST_DIGEST, META_MANIFEST, META_CONFIG)


def cached_update_of_commit(repo: Any, csum: str) -> Optional[ImageMeta]:
    """An update ``upgrade --check`` cached in the commit's detached metadata."""
    try:
        meta = repo.read_commit_detached_metadata(csum)
    except OstreeError:
        return None
    return _image_meta(meta or {}, CACHED_MANIFEST_DIGEST, CACHED_MANIFEST, CACHED_CONFIG)


def origin_imgref(origin: Optional[KeyFile]) -> Optional[OstreeImageReference]:
    """The image reference in an origin file's ``container-image-reference`` key, if any; a
    malformed one is a :class:`~ostreepy.errors.BootcError`."""
    v = origin.get("origin", ORIGIN_CONTAINER) if origin is not None else None
    if v is None:
        return None
    try:
        return OstreeImageReference.parse(v)
    except ImageRefError as e:
        raise BootcError(f"Parsing origin {ORIGIN_CONTAINER}={v}: {e}") from None


def entry_facts(sr: Any, d: Deployment) -> EntryFacts:
    """What bootc shows about a deployment: the image its origin names, the image's metadata and
    a cached update, or why it is not an image (no origin, rpm-ostree changes)."""
    origin = d.origin
    if origin is None:
        return EntryFacts(d)
    # rpm-ostree's client-side changes make a deployment unrepresentable as an image
    incompatible = any(origin.has_group(g) for g in ("rpmostree", "packages", "overrides", "modules"))
    ref = origin_imgref(origin)
    if ref is None or incompatible:
        return EntryFacts(d, incompatible=incompatible)
    return EntryFacts(d, ref, image_of_commit(sr.repo, d.csum), cached_update_of_commit(sr.repo, d.csum))


def host_status(sr: Any, *, booted_only: bool = False) -> Dict[str, Any]:
    """The host document of an opened :class:`~ostreepy.sysroot.sysroot.Sysroot`."""
    slots = partition(sr.deployments, sr.booted)
    cache: Dict[Tuple[str, str, int], EntryFacts] = {}

    def facts(d: Deployment) -> EntryFacts:
        if d.key not in cache:
            cache[d.key] = entry_facts(sr, d)
        return cache[d.key]
    return host_document(slots, facts, booted_only=booted_only)
