"""Pulling container images into the repository, as ostree-ext's ImageImporter does.

Refs follow ostree-ext: each layer's commit under ``ostree/container/blob/<escaped
digest>``, the merged image under ``ostree/container/image/<escaped transport:name>``,
so a repository is shared with bootc/rpm-ostree tooling without surprises.

The merge commit carries ostree-ext's metadata (``ostree.manifest``,
``ostree.manifest-digest``, ``ostree.container.image-config``,
``ostree.importer.version``, all strings; the JSON in RFC 8785 canonical form),
its timestamp is the image's creation time, and its parent the base commit of
an ostree-encapsulated image.
"""

from __future__ import annotations

import datetime as _dt
import json
import threading
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Union

import attrs

from ..store.commit import create_commit, write_mtree
from ..errors import OstreeError
from ..store.gvariant import Variant
from .._process import limit_malloc_arenas
from ..parallel import run_all
from ..progress import ImportDone, ImportStarted, ProgressCallback, emit
from ..store.repo import Repo
from .blobprogress import LayerProgress
from .commitverify import CommitVerifier, RemoteVerificationError, check_verifier_for, verify_stored_commit
from .imgref import ImageReference, OstreeImageReference, SigVerify, Transport
from .layers import IMPORTER_VERSION, PathRules, check_free_space, import_layer
from .merge import merge_layers
from .refescape import IMAGE_PREFIX, LAYER_PREFIX, escape_ref, image_ref_for, layer_ref_for, unescape_ref

if TYPE_CHECKING:
    from ociclient.config import ImageConfig
    from ociclient.image import ImageSource, Options
    from ociclient.manifest import Descriptor, Platform

__all__ = ["ImageError", "ImageState", "ImportResult", "LayerPlan", "PreparedImport", "canonical_json", "checked_config",
           "image_ref_name", "list_image_states", "list_images", "prepare_image", "prune_layers",
           "pull_image", "query_image", "remove_images"]

META_MANIFEST = "ostree.manifest"
META_MANIFEST_DIGEST = "ostree.manifest-digest"
META_CONFIG = "ostree.container.image-config"
META_IMPORTER_VERSION = "ostree.importer.version"
FINAL_DIFFID_LABEL = "ostree.final-diffid"


class ImageError(OstreeError):
    """An image that cannot be pulled, found or used as asked."""


def canonical_json(value: Any) -> str:
    """RFC 8785 canonical JSON, as ostree-ext stores manifests and configs (sorted keys,
    no whitespace; image JSON has no floats, whose formatting is the only other rule)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def parse_imgref(imgref: Union[str, OstreeImageReference]) -> OstreeImageReference:
    """An ``ostree-*:`` reference, parsed (a parsed one is taken as it is)."""
    if isinstance(imgref, OstreeImageReference):
        return imgref
    return OstreeImageReference.parse(imgref)


def image_ref_name(imgref: OstreeImageReference | ImageReference) -> str:
    """The ostree ref of an image: the escaped ``transport:name`` form (signature dropped)."""
    plain = imgref.imgref if isinstance(imgref, OstreeImageReference) else imgref
    return image_ref_for(str(plain))


# ---------------------------------------------------------------------------- state


@attrs.frozen
class ImageState:
    """What the repository holds for one image."""

    imgref: str  # transport:name, as in the ref
    merge_commit: str
    manifest_digest: str
    manifest: bytes
    config: bytes
    timestamp: int

    @property
    def manifest_json(self) -> Dict[str, Any]:
        return json.loads(self.manifest)

    @property
    def config_json(self) -> Dict[str, Any]:
        return json.loads(self.config)

    @property
    def version(self) -> Optional[str]:
        labels = checked_config(self.config).labels
        return labels.get("org.opencontainers.image.version") or labels.get("version")

    @property
    def created(self) -> Optional[str]:
        cfg = checked_config(self.config)
        return cfg.labels.get("org.opencontainers.image.created") or cfg.created

    @property
    def architecture(self) -> Optional[str]:
        return checked_config(self.config).architecture or None


def checked_config(data: bytes) -> "ImageConfig":
    """An image config checked against the image-spec's types (a stored one may
    have been written by another tool): :class:`ImageError` when it does not fit."""
    from ociclient.config import parse_config
    from ociclient.errors import OciError
    try:
        return parse_config(data)
    except OciError as e:
        raise ImageError(str(e)) from e


def _state_from_commit(repo: Repo, imgref: str, commit: str) -> Optional[ImageState]:
    c = repo.load_commit(commit)
    md = c.metadata
    try:
        manifest = md[META_MANIFEST].value
        digest = md[META_MANIFEST_DIGEST].value
        config = md[META_CONFIG].value if META_CONFIG in md else "{}"
    except (KeyError, AttributeError):
        return None
    return ImageState(imgref, commit, digest, manifest.encode(), config.encode(), c.timestamp)


def query_image(repo: Repo, imgref: str | OstreeImageReference | ImageReference) -> Optional[ImageState]:
    """The stored state of an image, or None if it was never pulled."""
    if isinstance(imgref, str):
        imgref = _parse_any(imgref)
    ref = image_ref_name(imgref)
    commit = repo.read_ref(ref)
    if commit is None:
        return None
    plain = imgref.imgref if isinstance(imgref, OstreeImageReference) else imgref
    return _state_from_commit(repo, str(plain), commit)


def _parse_any(s: str) -> OstreeImageReference | ImageReference:
    if s.startswith("ostree-"):
        return OstreeImageReference.parse(s)
    return ImageReference.parse(s)


def list_images(repo: Repo) -> List[str]:
    """Stored images as ``transport:name`` strings (ostree-ext's ``image list``)."""
    return [unescape_ref(r) for r in repo.list_refs(IMAGE_PREFIX, cut_prefix=True)]


def list_image_states(repo: Repo) -> List[ImageState]:
    """The stored state of every image in the repository."""
    out = []
    for name, commit in repo.list_refs(IMAGE_PREFIX, cut_prefix=True).items():
        st = _state_from_commit(repo, unescape_ref(name), commit)
        if st is not None:
            out.append(st)
    return out


def diff_id_index(repo: Repo) -> Dict[str, str]:
    """diffID -> layer commit for every layer of every stored image whose blob ref exists."""
    out: Dict[str, str] = {}
    for state in list_image_states(repo):
        try:
            layers = list(state.manifest_json.get("layers", []))
            diff_ids = list(state.config_json.get("rootfs", {}).get("diff_ids", []))
        except (AttributeError, TypeError, ValueError):
            continue  # stored metadata this importer did not write; nothing to reuse from it
        for desc, did in zip(layers, diff_ids):
            if did in out or not isinstance(desc, dict) or not isinstance(desc.get("digest"), str):
                continue
            try:
                commit = repo.read_ref(layer_ref_for(desc["digest"]))
            except OstreeError:
                continue
            if commit is not None:
                out[did] = commit
    return out


# ---------------------------------------------------------------------------- prepare


@attrs.frozen
class LayerPlan:
    """One layer of an image to pull: its descriptor, diffID and the commit already holding it, if any."""

    descriptor: Descriptor
    diff_id: Optional[str]
    commit: Optional[str]  # already imported (by digest or by diffID)
    kind: str  # "layer" or "ostree chunk"

    @property
    def present(self) -> bool:
        return self.commit is not None


@attrs.frozen
class PreparedImport:
    """An image's manifest and config, fetched, and which of its layers the repository lacks."""

    imgref: OstreeImageReference
    manifest_digest: str
    manifest: bytes
    config: bytes
    layers: Tuple[LayerPlan, ...]
    already_present: bool
    previous: Optional[ImageState]
    n_base_layers: int = 0
    #: ``ostree-remote-*`` and already present: the stored base commit's signatures, as checked
    verify_text: Optional[str] = None

    @property
    def layers_present(self) -> int:
        return sum(1 for layer in self.layers if layer.present)

    @property
    def layers_needed(self) -> int:
        return sum(1 for layer in self.layers if not layer.present)

    @property
    def bytes_needed(self) -> int:
        return sum(layer.descriptor.size for layer in self.layers if not layer.present)

    @property
    def previous_manifest_digest(self) -> Optional[str]:
        return self.previous.manifest_digest if self.previous else None

    @property
    def config_json(self) -> Dict[str, Any]:
        return json.loads(self.config)

    @property
    def manifest_json(self) -> Dict[str, Any]:
        return json.loads(self.manifest)

    @property
    def version(self) -> Optional[str]:
        labels = checked_config(self.config).labels
        return labels.get("org.opencontainers.image.version") or labels.get("version")

    def format_layer_status(self) -> Optional[str]:
        """ostree-ext's one-line summary, or None when nothing is to be fetched."""
        from ..store.prune import format_size
        if not self.layers_needed:
            return None
        return (f"layers already present: {self.layers_present}; layers needed: {self.layers_needed} "
                f"({format_size(self.bytes_needed)})")


def _open_source(imgref: OstreeImageReference, options: Optional[Options]) -> ImageSource:
    import ociclient
    return ociclient.open_source(imgref.imgref.to_ociclient(), options)


def _enforce_policy(ref: OstreeImageReference, src: ImageSource) -> None:
    """``ostree-image-signed:``: the containers policy must allow the image before
    anything is fetched; as ostree-ext, a policy whose default accepts anything
    is refused outright (it would make "signed" mean nothing)."""
    from ociclient.errors import OciError
    from ociclient.policy import load_policy
    from ociclient.reference import parse_reference
    from ociclient.signatures import load_registries_d
    from ociclient.trust import check_source
    try:
        policy = load_policy()
        if policy.default_is_insecure:
            raise ImageError("containers-policy.json specifies a default of `insecureAcceptAnything`; refusing usage")
        check_source(parse_reference(ref.imgref.to_ociclient()), src, policy, load_registries_d(),
                     options=getattr(src, "options", None))
    except OciError as e:
        raise ImageError(f"{ref}: {e}") from e


def prepare_image(repo: Repo, imgref: Union[str, OstreeImageReference], *, options: Optional[Options] = None,
                  platform: Optional[Platform] = None, source: Optional[ImageSource] = None,
                  verifier: Optional[CommitVerifier] = None) -> PreparedImport:
    """Fetch the manifest and config only, and work out which layers are needed.
    ``imgref`` is an ``ostree-*:`` reference, parsed or as a string; an
    ``ostree-remote-*`` one needs the remote's ``verifier``."""
    ref = parse_imgref(imgref)
    if ref.sigverify is SigVerify.OSTREE_REMOTE:
        check_verifier_for(ref, verifier)  # before the source is even opened
    own_source = source is None
    src = source or _open_source(ref, options)
    try:
        prep = _prepare(repo, ref, src, platform)
    finally:
        if own_source:
            src.close()
    if verifier is not None and ref.sigverify is SigVerify.OSTREE_REMOTE and prep.already_present \
            and prep.previous is not None:
        # nothing will be fetched, so nothing else would check it: perhaps pulled unverified
        prep = attrs.evolve(prep, verify_text=_verify_present(repo, ref, prep.previous.merge_commit, verifier))
    return prep


def _verify_present(repo: Repo, ref: OstreeImageReference, merge_commit: str, verifier: CommitVerifier) -> str:
    """The base commit of a stored image (the merge commit's parent) against ``verifier``."""
    base = repo.load_commit(merge_commit).parent
    if base is None:
        raise RemoteVerificationError(f"{ref}: the stored image has no ostree base commit to verify")
    return verify_stored_commit(repo, base, verifier)


def _prepare(repo: Repo, ref: OstreeImageReference, src: ImageSource,
             platform: Optional[Platform]) -> PreparedImport:
    from ociclient.manifest import ImageManifest, parse_manifest
    if ref.sigverify is SigVerify.CONTAINER_POLICY:
        _enforce_policy(ref, src)
    manifest_bytes, media_type, digest = src.get_manifest(platform)
    manifest = parse_manifest(manifest_bytes, media_type)
    if not isinstance(manifest, ImageManifest):
        raise ImageError(f"{ref}: not an image manifest")
    config_bytes = src.get_config(manifest)
    try:
        # checked against the image-spec's types once, here, before anything is fetched
        config = checked_config(config_bytes)
    except ImageError as e:
        raise ImageError(f"{ref}: {e}") from e.__cause__
    diff_ids = list(config.diff_ids)
    if diff_ids and len(diff_ids) != len(manifest.layers):
        raise ImageError(f"{ref}: the config lists {len(diff_ids)} diffIDs for {len(manifest.layers)} layers")
    previous = query_image(repo, ref)
    labels = config.labels
    n_base = 0
    final_diffid = labels.get(FINAL_DIFFID_LABEL)
    if final_diffid:
        if final_diffid not in diff_ids:
            raise ImageError(f"Missing {FINAL_DIFFID_LABEL} {final_diffid}")
        n_base = diff_ids.index(final_diffid) + 1
    if ref.sigverify is SigVerify.OSTREE_REMOTE and not n_base:
        # ostree-ext lets such an image through unchecked (nothing to verify); here a
        # reference that asks for the remote's signature gets one or nothing
        raise RemoteVerificationError(f"{ref}: cannot verify via ostree remote '{ref.remote}': no "
                                      f"{FINAL_DIFFID_LABEL} label, not an ostree encapsulated container")
    index: Optional[Dict[str, str]] = None
    plans = []
    for i, desc in enumerate(manifest.layers):
        did = diff_ids[i] if i < len(diff_ids) else None
        commit = repo.read_ref(layer_ref_for(desc.digest))
        if commit is None and did is not None:
            if index is None:
                index = diff_id_index(repo)
            commit = index.get(did)
        plans.append(LayerPlan(desc, did, commit, "ostree chunk" if i < n_base else "layer"))
    already = previous is not None and previous.manifest_digest == digest
    return PreparedImport(ref, digest, manifest_bytes, config_bytes, tuple(plans), already, previous, n_base)


# ---------------------------------------------------------------------------- pull


@attrs.frozen
class ImportResult:
    """What :func:`pull_image` imported: the merge commit, the manifest, and the layers and bytes fetched."""

    merge_commit: str
    manifest_digest: str
    manifest: bytes
    config: bytes
    layers_fetched: int
    bytes_fetched: int
    already_present: bool
    filtered: Dict[str, int] = attrs.field(factory=dict)
    prepared: Optional[PreparedImport] = None
    #: ``ostree-remote-*``: the remote's description of the base commit's good signatures
    verify_text: Optional[str] = None


def _created_timestamp(manifest: Dict[str, Any], config: Dict[str, Any]) -> Optional[int]:
    for value in ((manifest.get("annotations") or {}).get("org.opencontainers.image.created"),
                  config.get("created")):
        if not value or not isinstance(value, str):
            continue
        try:
            # ostree-ext stores `timestamp() as u64`: a date before 1970 (Go's zero
            # time is common) wraps around rather than failing the whole pull
            return int(_dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()) & 0xFFFFFFFFFFFFFFFF
        except ValueError:
            # RFC 3339 allows more fractional digits than fromisoformat takes before 3.11
            try:
                head, _, tail = value.partition(".")
                zone = tail.lstrip("0123456789")
                return int(_dt.datetime.fromisoformat(
                    head + (zone.replace("Z", "+00:00") or "+00:00")).timestamp()) & 0xFFFFFFFFFFFFFFFF
            except (ValueError, OverflowError):
                continue
    return None


def pull_image(repo: Repo, imgref: Union[str, OstreeImageReference], *, options: Optional[Options] = None,
               platform: Optional[Platform] = None, progress: Optional[ProgressCallback] = None,
               rules: PathRules = PathRules(), max_parallel: int = 3, prepared: Optional[PreparedImport] = None,
               write_image_ref: bool = True,
               target_imgref: Union[str, OstreeImageReference, None] = None,
               verifier: Optional[CommitVerifier] = None) -> ImportResult:
    """Pull an image into ``repo``: layers not yet present are fetched (from a registry
    ``max_parallel`` at a time),
    each becomes a commit, then the merge commit is written and its ref set (to
    ``target_imgref``'s when given). References are parsed or strings.

    An ``ostree-remote-*`` reference needs ``verifier`` (the remote's keys): the
    base commit's signatures are checked before any layer is written."""
    ref = parse_imgref(imgref)
    if ref.sigverify is SigVerify.OSTREE_REMOTE:
        check_verifier_for(ref, verifier)
    else:
        verifier = None  # only what the reference asks for is checked
    src = _open_source(ref, options)
    try:
        prep = prepared or _prepare(repo, ref, src, platform)
        if prep.already_present and prep.previous is not None:
            text = prep.verify_text
            if verifier is not None and text is None:
                text = _verify_present(repo, ref, prep.previous.merge_commit, verifier)
            return ImportResult(prep.previous.merge_commit, prep.manifest_digest, prep.manifest, prep.config,
                                0, 0, True, prepared=prep, verify_text=text)
        check_free_space(repo, prep.bytes_needed, f"the {prep.layers_needed} layers of {ref}")
        # one reporter for the whole pull: overall bytes, and the fetch threads' calls serialised
        lp = LayerProgress(progress, prep.bytes_needed)
        base_commit: Optional[str] = None
        base_plans = prep.layers[:prep.n_base_layers]
        verify_text: Optional[str] = None
        if verifier is not None and not prep.n_base_layers:
            raise RemoteVerificationError(f"{ref}: cannot verify via ostree remote '{ref.remote}': not an "
                                          "ostree encapsulated container")
        if prep.n_base_layers:
            if any(not p.present for p in base_plans):
                from .encapsulate import _import_encapsulated_base
                from ociclient.manifest import parse_manifest
                base_commit, _, verify_text = _import_encapsulated_base(
                    repo, src, parse_manifest(prep.manifest), prep.config_json, lp, verifier)
            else:
                base_commit = base_plans[0].commit
                if verifier is not None and base_commit is not None:
                    verify_text = verify_stored_commit(repo, base_commit, verifier)
        derived = list(prep.layers[prep.n_base_layers:])
        commits: List[Optional[str]] = [p.commit for p in derived]
        filtered: Dict[str, int] = {}
        fetched = [0, 0]
        lock = threading.Lock()

        def run(i: int) -> None:
            plan = derived[i]
            desc = plan.descriptor
            lp.started(desc.digest, desc.size, plan.kind)
            with src.open_blob(desc, on_read=lp.on_read(desc.digest, desc.size)) as blob:
                res = import_layer(repo, blob, digest=desc.digest, diff_id=plan.diff_id,
                                   media_type=desc.media_type, size=desc.size, rules=rules,
                                   ref=layer_ref_for(desc.digest), progress=lp.send)
            with lock:
                commits[i] = res.commit
                fetched[0] += 1
                fetched[1] += desc.size
                for k, v in res.filtered.items():
                    filtered[k] = filtered.get(k, 0) + v
            lp.done(desc.digest, desc.size)

        # one transaction around the layers and the merge: one sync for the pull, not two
        # a layer and two for the merge (a sync flushes the whole filesystem, not just ours)
        with repo.transaction():
            todo = [i for i, p in enumerate(derived) if not p.present]
            # a layer found by diffID under another digest gets a ref for this digest too
            for i, p in enumerate(derived):
                if p.present and repo.read_ref(layer_ref_for(p.descriptor.digest)) is None:
                    repo.set_ref(layer_ref_for(p.descriptor.digest), p.commit)
            # one layer failed: the ones still queued do not start.  Several at once only
            # where fetching waits on a network; a local layer's import keeps the CPUs busy
            # by itself (decompression on its own thread, the writers on theirs), and more
            # at once only added threads, their malloc arenas and read-ahead memory (a
            # 50-layer oci: image took 82 MB at 3 at a time, 50 MB one at a time, and no longer)
            parallel = max_parallel if ref.imgref.transport is Transport.REGISTRY else 1
            limit_malloc_arenas()   # (the command line's process only: see ostreepy._process)
            run_all(run, todo, parallel, "ostreepy-layer")
            emit(progress, ImportStarted())
            manifest_json = prep.manifest_json
            config_json = prep.config_json
            with repo.transaction():
                if derived:
                    mtree = merge_layers(repo, [c for c in commits if c], base_commit)
                    tree, meta = write_mtree(repo, mtree)
                else:
                    assert base_commit is not None
                    bc = repo.load_commit(base_commit)
                    tree, meta = bc.root_tree, bc.root_meta
                metadata = {
                    META_CONFIG: Variant("s", canonical_json(config_json)),
                    META_IMPORTER_VERSION: Variant("s", IMPORTER_VERSION),
                    META_MANIFEST: Variant("s", canonical_json(manifest_json)),
                    META_MANIFEST_DIGEST: Variant("s", prep.manifest_digest),
                }
                merge_commit = create_commit(repo, tree, meta, parent=base_commit, metadata=metadata,
                                             timestamp=_created_timestamp(manifest_json, config_json))
                if write_image_ref:
                    target = parse_imgref(target_imgref) if target_imgref else ref
                    repo.set_ref(image_ref_name(target), merge_commit)
        emit(progress, ImportDone(merge_commit, prep.manifest_digest))
        return ImportResult(merge_commit, prep.manifest_digest, prep.manifest, prep.config, fetched[0],
                            fetched[1], False, filtered, prep, verify_text)
    finally:
        src.close()


# ---------------------------------------------------------------------------- housekeeping


def remove_images(repo: Repo, imgrefs: List[str], gc: bool = True) -> Tuple[int, int]:
    """Delete image refs (and, with ``gc``, the layer refs no image needs any more)."""
    missing = []
    refs = []
    for s in imgrefs:
        r = image_ref_name(_parse_any(s))
        if repo.read_ref(r) is None:
            missing.append(s)
        refs.append(r)
    if missing:
        raise ImageError("Missing images: " + ", ".join(missing))
    with repo.transaction():
        for r in refs:
            repo.set_ref(r, None)
    return len(refs), (prune_layers(repo) if gc else 0)


def prune_layers(repo: Repo) -> int:
    """Delete layer refs no stored image refers to (objects stay until ``prune``)."""
    wanted = set()
    for st in list_image_states(repo):
        for d in st.manifest_json.get("layers", []):
            wanted.add(d.get("digest"))
    # deployments keep their images' layers alive, as ostree-ext does
    for prefix in ("ostree/0", "ostree/1", "rpmostree/base", "ostree/container/baseimage"):
        for commit in repo.list_refs(prefix).values():
            deployed = _state_from_commit(repo, "", commit)
            if deployed is not None:
                for d in deployed.manifest_json.get("layers", []):
                    wanted.add(d.get("digest"))
    removed = 0
    with repo.transaction():
        for name, _ in repo.list_refs(LAYER_PREFIX, cut_prefix=True).items():
            digest = unescape_ref(name)
            if digest not in wanted:
                repo.set_ref(LAYER_PREFIX + escape_ref(digest), None)
                removed += 1
    return removed


def image_history_rows(state: ImageState) -> List[Tuple[str, int, str]]:
    """The rows of ``image history``: per layer, its digest (shortened), size and the command
    that created it."""
    manifest, config = state.manifest_json, state.config_json
    history = config.get("history") or []
    rows = []
    for i, layer in enumerate(manifest.get("layers", [])):
        h = history[i] if i < len(history) else {}
        rows.append((layer.get("digest", "").split(":", 1)[-1][:20], int(layer.get("size", 0)),
                     h.get("created_by", "") or ""))
    return rows
