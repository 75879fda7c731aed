"""ostree-encapsulated container images: an OSTree commit as an OCI image, and back.

:func:`encapsulate` is ostree-ext's ``container encapsulate`` (``build_oci`` with
no content metadata): one gzip layer holding the commit in tar format v1
(:mod:`.tarformat`), an image config whose labels say which commit it carries
(``ostree.commit``) and where the ostree layers end (``ostree.final-diffid``).

:func:`unencapsulate` and :func:`import_encapsulated_base` go the other way:
layer 0 (the commit) and any chunk layers are streamed from an ociclient source
through digest verification, decompression and diffID hashing straight into
repository objects; refs and the commit's completeness are recorded only once
both digests matched.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import time
import zlib
from typing import Any, BinaryIO, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union

from ..errors import CorruptObjectError, OstreeError
from ..store.objects import Commit
from ..progress import ImageEncapsulated, LayerWritten, ProgressCallback, emit
from ..store.repo import Repo
from .blobprogress import LayerProgress
from .compression import CHUNK, HashingReader, compression_of, decompressing_reader
from .commitverify import CommitVerifier, check_verifier_for, verify_stored_commit
from .imgref import ImageRefError, ImageReference, OstreeImageReference, SigVerify, Transport
from .refescape import layer_ref_for
from .tarformat import (
    finish_commit_import,
    import_commit_objects,
    import_object_set_objects,
    import_verified_commit_objects,
    write_commit_tar,
    write_object_set_commit,
)

# ostree-ext container/mod.rs and encapsulate.rs
#: the image label holding the checksum of the encapsulated commit
OSTREE_COMMIT_LABEL = "ostree.commit"
#: the image label holding the diffID of the last layer
DIFFID_LABEL = "ostree.final-diffid"
#: the label that marks an image as bootc-compatible (value ``1``)
BOOTC_LABEL = "containers.bootc"
BOOTABLE_KEY = "ostree.bootable"
LINUX_KEY = "ostree.linux"
CONTAINER_CMD_KEY = "ostree.container-cmd"
VERSION_ANNOTATION = "org.opencontainers.image.version"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"

T = TypeVar("T")


class EncapsulationError(OstreeError):
    """An image that is not (only) an ostree commit, or a commit that cannot become one."""


# =====================================================================================
# encapsulate
# =====================================================================================


class _LayerSink:
    """The tar stream's sink: hashes it (the diffID), gzips it, hashes and stores the
    compressed bytes (the blob digest), all in one pass."""

    def __init__(self, out: BinaryIO, level: int) -> None:
        self._out = out
        self._z = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: gzip framing
        self.diff = hashlib.sha256()
        self.blob = hashlib.sha256()
        self.size = 0
        self.uncompressed = 0

    def _emit(self, data: bytes) -> None:
        if data:
            self.blob.update(data)
            self.size += len(data)
            self._out.write(data)

    def write(self, data: bytes) -> int:
        self.diff.update(data)
        self.uncompressed += len(data)
        self._emit(self._z.compress(data))
        return len(data)

    def close(self) -> None:
        self._emit(self._z.flush())


def _dest_reference(dest: str) -> str:
    """ostree-ext's ``transport:name`` (``registry:``, ``docker://``, ``oci:``,
    ``oci-archive:``) as an ociclient reference."""
    try:
        ref = ImageReference.parse(dest)
    except ImageRefError as e:
        raise EncapsulationError(str(e)) from None
    if ref.transport not in (Transport.REGISTRY, Transport.OCI_DIR, Transport.OCI_ARCHIVE, Transport.DIR):
        raise EncapsulationError(f"Unsupported destination transport {ref.transport.value} in {dest}")
    return ref.to_ociclient()


def _host_platform() -> Tuple[str, str]:
    from ociclient.manifest import host_platform

    p = host_platform()
    return p.architecture, p.os


def _platform_of(platform: Any) -> Tuple[str, str]:
    """(architecture, os) from ``os/arch[/variant]`` or an ociclient ``Platform``."""
    if platform is None:
        return _host_platform()
    if isinstance(platform, str):
        from ociclient.manifest import parse_platform

        platform = parse_platform(platform)
    return platform.architecture, platform.os


def _meta_str(commit: Commit, key: str) -> Optional[str]:
    v = commit.metadata.get(key)
    if v is None:
        return None
    if v.type != "s":
        raise EncapsulationError(f"Expected string for commit metadata value {key}, found {v.type}")
    return v.value


def commit_labels(commit: Commit, checksum: str, labels: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The image labels ostree-ext derives from a commit, in its insertion order
    (later keys win); ``ostree.final-diffid`` is added once the layer is written."""
    out: Dict[str, str] = {}
    bootable = commit.metadata.get(BOOTABLE_KEY)
    if bootable is not None:
        if bootable.type != "b":
            raise EncapsulationError(f"Expected boolean for commit metadata value {BOOTABLE_KEY}")
        out[BOOTABLE_KEY] = "true" if bootable.value else "false"
        out[BOOTC_LABEL] = "1"
    linux = _meta_str(commit, LINUX_KEY)
    if linux is not None:
        out[LINUX_KEY] = linux
    version = _meta_str(commit, "version")
    if version is not None:
        out[VERSION_ANNOTATION] = version
    out[OSTREE_COMMIT_LABEL] = checksum
    for k, v in (labels or {}).items():
        out[k] = v
    return out


def _json(value: Any) -> bytes:
    # serde_json's compact form, as ocidir writes
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def encapsulate(repo: Repo, rev: str, dest: str, *, labels: Optional[Mapping[str, str]] = None,
                cmd: Optional[Sequence[str]] = None, compression_fast: bool = False, platform: Any = None,
                options: Any = None, progress: Optional[ProgressCallback] = None) -> str:
    """Export commit ``rev`` as a one-layer OCI image to ``dest`` (``oci:PATH[:TAG]``,
    ``oci-archive:PATH[:TAG]``, ``docker://NAME`` or ``registry:NAME``); returns the
    manifest digest.  ``options`` is an :class:`ociclient.Options` (auth, TLS)."""
    import ociclient
    from ociclient.manifest import Descriptor

    checksum = repo.resolve_rev(rev)
    assert checksum is not None
    commit = repo.load_commit(checksum)
    dest_ref = _dest_reference(dest)
    image_labels = commit_labels(commit, checksum, labels)
    if cmd is None:
        v = commit.metadata.get(CONTAINER_CMD_KEY)
        if v is not None:
            if v.type != "as":
                raise EncapsulationError(f"Expected string array for commit metadata value {CONTAINER_CMD_KEY}")
            cmd = list(v.value)
    arch, os_name = _platform_of(platform)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(commit.timestamp))

    os.makedirs(repo.tmp_dir, exist_ok=True)
    # The blob's digest goes in the descriptor before the upload starts, so the
    # layer is compressed once into an unnamed temporary file in the repo's tmp/.
    with tempfile.TemporaryFile(dir=repo.tmp_dir, prefix="encapsulate-") as tmp:
        sink = _LayerSink(tmp, 1 if compression_fast else 6)
        write_commit_tar(repo, checksum, sink, progress=progress)  # type: ignore[arg-type]
        sink.close()
        diff_id = "sha256:" + sink.diff.hexdigest()
        layer = Descriptor(media_type=OCI_LAYER_GZIP, digest="sha256:" + sink.blob.hexdigest(), size=sink.size)
        emit(progress, LayerWritten(layer.digest, diff_id, layer.size, sink.uncompressed))
        image_labels[DIFFID_LABEL] = diff_id

        ctr: Dict[str, Any] = {}
        if cmd is not None:
            ctr["Cmd"] = list(cmd)
        ctr["Labels"] = dict(image_labels)
        description = commit.subject or f"ostree export of commit {checksum}"
        config = {
            "created": created,
            "architecture": arch,
            "os": os_name,
            "config": ctr,
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": created, "created_by": description}],
        }
        config_bytes = _json(config)
        config_desc = Descriptor(media_type=OCI_CONFIG, digest="sha256:" + hashlib.sha256(config_bytes).hexdigest(),
                                 size=len(config_bytes))
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config_desc.to_dict(),
            "layers": [layer.to_dict()],
            "annotations": dict(image_labels),
        }
        manifest_bytes = _json(manifest)
        manifest_digest = "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()

        with ociclient.open_destination(dest_ref, options) as out:
            if not out.has_blob(layer.digest):
                tmp.seek(0)
                upload = LayerProgress(progress, layer.size, upload=True)
                out.put_blob(tmp, layer, upload.on_read(layer.digest, layer.size))  # type: ignore[arg-type]
            if not out.has_blob(config_desc.digest):
                out.put_blob(io.BytesIO(config_bytes), config_desc)
            out.put_manifest(manifest_bytes, OCI_MANIFEST, tag=out.tag)
            out.commit()
    emit(progress, ImageEncapsulated(manifest_digest, checksum))
    return manifest_digest


# =====================================================================================
# import
# =====================================================================================


def _as_manifest(manifest: Any) -> Any:
    from ociclient.manifest import ImageManifest, parse_manifest

    if isinstance(manifest, ImageManifest):
        return manifest
    parsed = parse_manifest(bytes(manifest) if not isinstance(manifest, str) else manifest.encode())
    if not isinstance(parsed, ImageManifest):
        raise EncapsulationError("Expected an image manifest, not an index")
    return parsed


def _as_config(config: Any) -> Dict[str, Any]:
    if isinstance(config, (bytes, bytearray, str)):
        config = json.loads(config)
    if not isinstance(config, dict):
        raise EncapsulationError("Image config is not a JSON object")
    return config


def config_labels(config: Mapping[str, Any]) -> Dict[str, str]:
    """The ``config.Labels`` of an image config document, or ``{}`` when it has none (or they
    are not an object)."""
    labels = (config.get("config") or {}).get("Labels") or {}
    return labels if isinstance(labels, dict) else {}


def parse_manifest_layout(manifest: Any, config: Any) -> Tuple[Any, List[Any], List[Any]]:
    """(commit layer or None, chunk layers, derived layers) as ostree-ext's
    ``parse_manifest_layout``: without ``ostree.final-diffid`` every layer is derived;
    otherwise layer 0 is the commit, layers up to the one whose diffID is the label
    are chunks, the rest are derived."""
    manifest = _as_manifest(manifest)
    config = _as_config(config)
    layers = list(manifest.layers)
    if not layers:
        raise EncapsulationError("No layers in manifest")
    target = config_labels(config).get(DIFFID_LABEL)
    if target is None:
        return None, [], layers
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    try:
        idx = diff_ids.index(target)
    except ValueError:
        raise EncapsulationError(f"Missing {DIFFID_LABEL} {target}") from None
    if idx >= len(layers):
        raise EncapsulationError(f"diffid position {idx} exceeds layer count {len(layers)}")
    target_layer = layers[idx]
    commit_layer = layers[0]
    chunks: List[Any] = []
    derived: List[Any] = []
    after = False
    for layer in layers:
        if layer == target_layer:
            if after:
                raise EncapsulationError(f"Multiple entries for {layer.digest}")
            after = True
            if layer != commit_layer:
                chunks.append(layer)
        elif not after:
            if layer != commit_layer:
                chunks.append(layer)
        else:
            derived.append(layer)
    return commit_layer, chunks, derived


def _diff_id(manifest: Any, config: Mapping[str, Any], layer: Any) -> str:
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    idx = list(manifest.layers).index(layer)
    if idx >= len(diff_ids):
        raise EncapsulationError(f"Layer {layer.digest} has no diffID in the image config")
    return diff_ids[idx]


def fetch_layer(source: Any, layer: Any, diff_id: Optional[str], consume: Callable[[BinaryIO], T],
                progress: Optional[ProgressCallback] = None, kind: str = "ostree chunk") -> T:
    """Stream one layer blob into ``consume`` (a decompressed, buffered stream) and
    then check it completely: the remaining bytes are drained so that the blob's
    digest (checked by ociclient at EOF) and the diffID (sha256 of the uncompressed
    stream) are both verified before this returns.  A mismatch raises
    :class:`CorruptObjectError`; what ``consume`` wrote must not be recorded then."""
    return _fetch_layer(source, layer, diff_id, consume, LayerProgress(progress, layer.size), kind)


def _fetch_layer(source: Any, layer: Any, diff_id: Optional[str], consume: Callable[[BinaryIO], T],
                 lp: LayerProgress, kind: str = "ostree chunk") -> T:
    from ociclient.errors import DigestMismatch

    lp.started(layer.digest, layer.size, kind)
    try:
        with source.open_blob(layer, on_read=lp.on_read(layer.digest, layer.size)) as raw:
            hashed = HashingReader(decompressing_reader(raw, compression_of(layer.media_type)))
            stream = io.BufferedReader(hashed, CHUNK)  # type: ignore[arg-type]
            result = consume(stream)  # type: ignore[arg-type]
            while stream.read(CHUNK):  # tar padding after the end-of-archive block
                pass
            while raw.read(CHUNK):  # the compressed stream to its end: digest check
                pass
    except DigestMismatch as e:
        raise CorruptObjectError(f"Layer {layer.digest}: {e}") from None
    if diff_id is not None and hashed.digest != diff_id:
        raise CorruptObjectError(f"Layer {layer.digest}: uncompressed digest {hashed.digest} does not match "
                                 f"the diffID {diff_id}")
    lp.done(layer.digest, layer.size)
    return result


def _import_base(repo: Repo, source: Any, manifest: Any, config: Dict[str, Any], commit_layer: Any,
                 chunk_layers: Sequence[Any], write_refs: bool, lp: LayerProgress,
                 verifier: Optional[CommitVerifier] = None) -> Tuple[str, Optional[str]]:
    """ostree-ext's ``unencapsulate_base``: chunk layers first (their objects), then the
    commit layer, whose commit is complete only once every object is there.
    Returns (commit, the verifier's text or None).

    With a ``verifier`` the commit layer comes first instead: its head (commit and
    detached metadata) is checked before any layer writes a thing, where ostree-ext
    has already written the chunks; a commit stored before is checked from the
    repository rather than trusted for having a ref."""
    expected = config_labels(config).get(OSTREE_COMMIT_LABEL)
    if expected is not None and not (len(expected) == 64 and all(c in "0123456789abcdef" for c in expected)):
        expected = None
    ref = layer_ref_for(commit_layer.digest)
    existing = repo.resolve_rev(ref, allow_noent=True)
    verify_text: Optional[str] = None
    fetched_commit: Optional[str] = None
    if verifier is not None:
        if existing is not None:
            verify_text = verify_stored_commit(repo, existing, verifier)
        else:
            fetched_commit, verify_text = _fetch_layer(
                source, commit_layer, _diff_id(manifest, config, commit_layer),
                lambda s: import_verified_commit_objects(repo, s, verifier, expected_commit=expected,
                                                         progress=lp.send), lp)
    for layer in chunk_layers:
        cref = layer_ref_for(layer.digest)
        if repo.resolve_rev(cref, allow_noent=True) is not None:
            continue  # already imported under this blob digest
        objs = _fetch_layer(source, layer, _diff_id(manifest, config, layer),
                            lambda s: import_object_set_objects(repo, s, progress=lp.send), lp)
        if write_refs:
            repo.set_ref(cref, write_object_set_commit(repo, objs))

    if existing is not None:
        return existing, verify_text
    checksum = fetched_commit or _fetch_layer(
        source, commit_layer, _diff_id(manifest, config, commit_layer),
        lambda s: import_commit_objects(repo, s, expected_commit=expected, progress=lp.send), lp)
    finish_commit_import(repo, checksum)
    if write_refs:
        repo.set_ref(ref, checksum)
    return checksum, verify_text


def import_encapsulated_base(repo: Repo, source: Any, manifest: Any, config: Any, *,
                             progress: Optional[ProgressCallback] = None,
                             verifier: Optional[CommitVerifier] = None) -> Tuple[str, int]:
    """Import the ostree part of an encapsulated image from an open ociclient source:
    returns (base commit, number of ostree layers = 1 + chunk layers).  Each imported
    layer gets its ``ostree/container/blob/...`` ref; a layer whose ref exists is not
    fetched again.  Derived layers are left to the caller.  ``verifier`` checks the
    commit's signatures (``ostree-remote-*`` references) before anything is written."""
    commit, n, _ = _import_encapsulated_base(repo, source, manifest, config, progress, verifier)
    return commit, n


def _import_encapsulated_base(repo: Repo, source: Any, manifest: Any, config: Any,
                              progress: Union[ProgressCallback, LayerProgress, None],
                              verifier: Optional[CommitVerifier] = None) -> Tuple[str, int, Optional[str]]:
    # a pull passes its own LayerProgress, so that the overall bytes span all its layers
    manifest = _as_manifest(manifest)
    config = _as_config(config)
    commit_layer, chunks, _ = parse_manifest_layout(manifest, config)
    if commit_layer is None:
        raise EncapsulationError(f"No {DIFFID_LABEL} label found, not an ostree encapsulated container")
    lp = progress if isinstance(progress, LayerProgress) else _base_progress(repo, progress, commit_layer, chunks)
    commit, text = _import_base(repo, source, manifest, config, commit_layer, chunks, True, lp, verifier)
    return commit, 1 + len(chunks), text


def _base_progress(repo: Repo, progress: Optional[ProgressCallback], commit_layer: Any,
                   chunks: Sequence[Any]) -> LayerProgress:
    """Progress over the layers :func:`_import_base` will fetch (those without a ref)."""
    if progress is None:
        return LayerProgress(None)
    todo = [x for x in [*chunks, commit_layer] if repo.resolve_rev(layer_ref_for(x.digest), allow_noent=True) is None]
    return LayerProgress(progress, sum(x.size for x in todo))


def _source_reference(imgref: str, verifier: Optional[CommitVerifier]) -> str:
    try:
        # the API also takes a plain transport:name (unverified); ostree-ext's CLI does not
        ref = OstreeImageReference.parse(imgref) if imgref.startswith("ostree-") else \
            OstreeImageReference(SigVerify.INSECURE, ImageReference.parse(imgref))
    except ImageRefError as e:
        raise EncapsulationError(str(e)) from None
    if ref.sigverify is SigVerify.OSTREE_REMOTE:
        check_verifier_for(ref, verifier)
    if ref.sigverify is SigVerify.CONTAINER_POLICY:
        raise EncapsulationError(f"Signature verification by container policy is not supported: {imgref}")
    if ref.imgref.transport not in (Transport.REGISTRY, Transport.OCI_DIR, Transport.OCI_ARCHIVE, Transport.DIR):
        raise EncapsulationError(f"Unsupported transport {ref.imgref.transport.value} in {imgref}")
    return ref.imgref.to_ociclient()


def unencapsulate(repo: Repo, imgref: str, *, write_ref: Optional[str] = None, options: Any = None,
                  progress: Optional[ProgressCallback] = None,
                  verifier: Optional[CommitVerifier] = None) -> str:
    """Import the commit carried by an encapsulated image without derived layers
    (``ostree container unencapsulate``); returns the commit checksum.  As
    ostree-ext, no blob or image refs are written, only ``write_ref`` if given.
    An ``ostree-remote-*`` reference needs ``verifier`` (the remote's keys)."""
    return unencapsulate_verified(repo, imgref, write_ref=write_ref, options=options, progress=progress,
                                  verifier=verifier)[0]


def unencapsulate_verified(repo: Repo, imgref: str, *, write_ref: Optional[str] = None, options: Any = None,
                           progress: Optional[ProgressCallback] = None,
                           verifier: Optional[CommitVerifier] = None) -> Tuple[str, Optional[str]]:
    """:func:`unencapsulate`, also returning the verifier's description of the
    commit's good signatures (None when nothing was verified)."""
    import ociclient

    with ociclient.open_source(_source_reference(imgref, verifier), options) as source:
        data, media_type, _digest = source.get_manifest()
        from ociclient.manifest import parse_manifest

        manifest = _as_manifest(parse_manifest(data, media_type))
        config = _as_config(source.get_config(manifest))
        commit_layer, chunks, derived = parse_manifest_layout(manifest, config)
        # ostree-ext tests the derived layers first, which makes its "not encapsulated"
        # message unreachable; the label is tested first here, it says more
        if commit_layer is None:
            raise EncapsulationError(f"No {DIFFID_LABEL} label found, not an ostree encapsulated container")
        if derived:
            raise EncapsulationError(f"Image has {len(derived)} non-ostree layers")
        commit, text = _import_base(repo, source, manifest, config, commit_layer, chunks, False,
                                    _base_progress(repo, progress, commit_layer, chunks), verifier)
    if write_ref:
        repo.set_ref(write_ref, commit)
    return commit, text


__all__ = [
    "EncapsulationError", "encapsulate", "unencapsulate", "unencapsulate_verified", "import_encapsulated_base",

    "parse_manifest_layout", "fetch_layer", "commit_labels", "config_labels",
    "DIFFID_LABEL", "OSTREE_COMMIT_LABEL", "BOOTC_LABEL",
]
