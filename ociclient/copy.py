"""Copying images between any two transports, keeping digests unchanged.

Manifests are copied as the exact bytes the source holds (no conversion), so every digest
stays the same. Blobs are transferred in parallel (default 6 at a time, like skopeo), each
verified; a blob the destination already has (or can mount from the same registry) is
skipped.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple, Union

import attrs

from . import mediatypes as mt
from .errors import DeadlineExceeded, ManifestInvalid, OciError, TransportError, UnsupportedMediaType
from .image import ImageDestination, ImageSource, Options
from .manifest import Descriptor, ImageIndex, ImageManifest, Platform, choose_platform, parse_manifest
from .progress import ManifestWritten, ProgressCallback, ProgressReporter
from .reference import ImageReference

if TYPE_CHECKING:
    from .policy import Policy
    from .signatures import RegistriesD
    from .trust import TrustResult

log = logging.getLogger(__name__)

DEFAULT_PARALLEL = 6
MULTI_ARCH_MODES = ("system", "all", "index-only")


@attrs.frozen
class CopyResult:
    """What :func:`copy_image` wrote: the top-level manifest's digest, type and bytes."""

    digest: str
    media_type: str
    manifest: bytes
    blobs_copied: int
    blobs_skipped: int


def copy_image(
    src: Union[str, ImageReference, ImageSource],
    dst: Union[str, ImageReference, ImageDestination],
    *,
    multi_arch: str = "system",
    platform: Optional[Platform] = None,
    src_options: Optional[Options] = None,
    dst_options: Optional[Options] = None,
    progress: Optional[ProgressCallback] = None,
    max_parallel: int = DEFAULT_PARALLEL,
    blob_attempts: int = 3,
    policy: Optional["Policy"] = None,
    registries_d: Optional["RegistriesD"] = None,
    remove_signatures: bool = False,
    sign_by: Optional[str] = None,
    sign_identity: Optional[str] = None,
    gpg_homedir: Optional[str] = None,
    sigstore_private_key: Optional[bytes] = None,
    sign_passphrase: Optional[bytes] = None,
) -> CopyResult:
    """Copy an image from ``src`` to ``dst`` (references, strings, or opened objects).

    :param multi_arch: for an index: ``"system"`` copies only the instance for ``platform``
        (default the running machine) and tags it; ``"all"`` copies every instance and the
        index; ``"index-only"`` copies just the index.
    :param progress: callback receiving :mod:`ociclient.progress` events.
    :param max_parallel: concurrent blob transfers.
    :param policy: a signature policy (:mod:`ociclient.policy`) the source must pass before
        anything is copied; with it the source's signatures (found as ``registries_d`` says)
        are copied too where the destination can hold them (``dir:``, a ``file://``
        lookaside), and a copy that would drop them is refused unless ``remove_signatures``.
    :param sign_by: a GnuPG key (fingerprint, key id or user ID in ``gpg_homedir``, default
        $GNUPGHOME) to add a simple signature with, for ``sign_identity`` (default the
        destination's docker reference); the destination must be able to store it.
    :param sign_passphrase: opens a passphrase-protected GnuPG key for ``sign_by``, or
        the sigstore key.
    :param sigstore_private_key: a cosign-format encrypted private key (PEM bytes, see
        :mod:`ociclient.cosignkey`, opened with ``sign_passphrase``) to add a sigstore
        signature with, as ``skopeo copy --sign-by-sigstore-private-key``: into a
        ``dir:`` or, where registries.d says ``use-sigstore-attachments``, a
        registry's ``sha256-<hex>.sig`` attachment.  The key is opened and the
        destination checked before anything is copied.
    :param blob_attempts: a blob transfer that fails with a transport error is restarted (a
        file destination resumes from its partial file).
    """
    if multi_arch not in MULTI_ARCH_MODES:
        raise ValueError(f"multi_arch must be one of {MULTI_ARCH_MODES}")
    from .transports import open_destination, open_source

    trust = None
    src_ref = dst_ref = None
    signing = bool(sign_by) or sigstore_private_key is not None
    if policy is not None or signing:
        from .reference import parse_reference
        src_ref = parse_reference(src) if isinstance(src, str) else (None if isinstance(src, ImageSource) else src)
        dst_ref = parse_reference(dst) if isinstance(dst, str) else (None if isinstance(dst, ImageDestination) else dst)
        if src_ref is None and policy is not None:
            raise ValueError("a policy needs the source as a reference, not an opened ImageSource")
    kinds = frozenset(k for k, on in (("simple-signing", bool(sign_by)),
                                      ("sigstore", sigstore_private_key is not None)) if on)
    identity = _sign_identity(dst_ref, registries_d, sign_identity, kinds) if signing else None
    if sign_by:
        # the secret key is found (and a protected one opened) before anything is copied
        from . import gpghome, pgpformat
        from .simplesign import SignatureInvalid
        try:
            gpghome.find_secret(sign_by, gpg_homedir, sign_passphrase)
        except pgpformat.OpenPGPError as e:
            raise SignatureInvalid(f"Signing with {sign_by}: {e}") from None
    cosign_key = None
    if sigstore_private_key is not None:
        from .cosignkey import CosignKeyError, load_private_key
        try:
            cosign_key = load_private_key(sigstore_private_key, sign_passphrase or b"")
        except CosignKeyError as e:
            raise CosignKeyError(f"initializing private key: {e}") from None
    own_src = not isinstance(src, ImageSource)
    own_dst = not isinstance(dst, ImageDestination)
    source: ImageSource = src if isinstance(src, ImageSource) else open_source(src, src_options)
    try:
        if policy is not None:
            assert src_ref is not None
            trust = _check_policy(source, src_ref, dst_ref, policy, registries_d, remove_signatures, multi_arch,
                                  src_options)
        destination: ImageDestination = (dst if isinstance(dst, ImageDestination)
                                         else open_destination(dst, dst_options))
        try:
            result = _copy(source, destination, multi_arch, platform, progress, max_parallel, blob_attempts)
            destination.commit()
            keep = list(trust.signatures) if trust is not None and not remove_signatures else []
            from .policy import Signature
            if sign_by:
                from . import simplesign
                assert identity is not None
                keep.append(Signature("simple-signing", simplesign.sign(result.manifest, identity, sign_by,
                                                                         gpg_homedir, passphrase=sign_passphrase)))
            if cosign_key is not None:
                from . import sigstore
                assert identity is not None
                payload, annotations = sigstore.sign_manifest(result.manifest, identity, cosign_key)
                keep.append(Signature("sigstore", payload, tuple(sorted(annotations.items()))))
            if keep and dst_ref is not None:
                from .signatures import write_signatures
                write_signatures(dst_ref, result.digest, keep, registries_d, dst_options)
            return result
        finally:
            if own_dst:
                destination.close()
    finally:
        if own_src:
            source.close()


def _sign_identity(dst_ref: Optional[ImageReference], registries_d: Optional["RegistriesD"],
                   sign_identity: Optional[str], kinds: "frozenset[str]") -> str:
    """The docker reference a new signature names, checked before anything is copied."""
    from .reference import DockerReference
    from .signatures import storage_problem
    problem = ("signatures cannot be stored at the destination" if dst_ref is None
               else storage_problem(dst_ref, registries_d, kinds))
    if problem:
        raise OciError(f"Can not sign: {problem}")
    if sign_identity:
        return sign_identity
    if not isinstance(dst_ref, DockerReference):
        raise OciError(f"Cannot determine canonical Docker reference for destination {dst_ref}: use --sign-identity")
    return dst_ref.string()


def _check_policy(source: ImageSource, src_ref: ImageReference, dst_ref: Optional[ImageReference],
                  policy: "Policy", registries_d: Optional["RegistriesD"], remove_signatures: bool,
                  multi_arch: str, options: Optional[Options] = None) -> "TrustResult":
    """The policy's verdict on the source (before the destination is opened), and
    whether its signatures can go where the copy goes; refusals say why."""
    from .signatures import storage_problem
    from .trust import check_source
    trust = check_source(src_ref, source, policy, registries_d, options=options)
    if trust.signatures and not remove_signatures:
        kinds = frozenset(s.kind for s in trust.signatures)
        problem = "it cannot store them" if dst_ref is None else storage_problem(dst_ref, registries_d, kinds)
        if problem:
            raise OciError(f"Can not copy signatures to {dst_ref or 'the destination'}: {problem} "
                           "(use --remove-signatures)")
        _, mtype, _ = source.get_raw_manifest()
        if mt.is_index(mtype) and multi_arch == "system":
            raise OciError("Can not copy signatures when copying only one instance of a multi-arch image "
                           "(use --remove-signatures or --multi-arch=all)")
    return trust


def _copy(source: ImageSource, dest: ImageDestination, multi_arch: str, platform: Optional[Platform],
          progress: Optional[ProgressCallback], max_parallel: int, blob_attempts: int) -> CopyResult:
    data, mtype, digest = source.get_raw_manifest()
    reporter = ProgressReporter(progress)
    instances: List[Tuple[bytes, str, ImageManifest]] = []
    top: Tuple[bytes, str, str]
    if mt.is_index(mtype):
        index = parse_manifest(data, mtype)
        if not isinstance(index, ImageIndex):
            raise ManifestInvalid(f"manifest {digest} is labelled {mtype} but is not an index")
        if multi_arch == "system":
            desc = choose_platform(index, platform)
            idata, imtype = source.get_manifest_by_digest(desc.digest)
            parsed = _image_manifest(idata, imtype)
            instances.append((idata, imtype, parsed))
            top = (idata, imtype, desc.digest)
            children: List[Tuple[bytes, str]] = []
        else:
            children = []
            if multi_arch == "all":
                for desc in index.manifests:
                    idata, imtype = source.get_manifest_by_digest(desc.digest)
                    if mt.is_index(imtype):
                        raise UnsupportedMediaType("nested image indexes are not supported")
                    instances.append((idata, imtype, _image_manifest(idata, imtype)))
                    children.append((idata, imtype))
            top = (data, mtype, digest)
    else:
        instances.append((data, mtype, _image_manifest(data, mtype)))
        top = (data, mtype, digest)
        children = []

    blobs: Dict[str, Descriptor] = {}
    for _, _, m in instances:
        for b in m.blobs:
            blobs.setdefault(b.digest, b)
    for b in blobs.values():
        reporter.add_total(b.size)

    copied, skipped = _copy_blobs(source, dest, list(blobs.values()), reporter, max_parallel, blob_attempts)

    for idata, imtype in children:
        d = dest.put_instance_manifest(idata, imtype)
        reporter.emit(ManifestWritten(d, imtype))
    tdata, tmtype, tdigest = top
    written = dest.put_manifest(tdata, tmtype, dest.tag)
    if written != tdigest:
        raise OciError(f"destination stored manifest as {written}, expected {tdigest}")
    reporter.emit(ManifestWritten(written, tmtype))
    reporter.finished()
    return CopyResult(digest=tdigest, media_type=tmtype, manifest=tdata,
                      blobs_copied=copied, blobs_skipped=skipped)


def _image_manifest(data: bytes, media_type: str) -> ImageManifest:
    m = parse_manifest(data, media_type)
    if not isinstance(m, ImageManifest):
        raise UnsupportedMediaType(f"expected an image manifest, got {media_type}")
    return m


def _retryable(e: OciError) -> bool:
    """Transport failures and 429/5xx answers (e.g. to a blob upload) are worth a new attempt."""
    if isinstance(e, DeadlineExceeded):  # the time is used up; another attempt cannot help
        return False
    return isinstance(e, TransportError) or e.status in (429, 500, 502, 503, 504)


def _copy_blobs(source: ImageSource, dest: ImageDestination, blobs: List[Descriptor],
                reporter: ProgressReporter, max_parallel: int, attempts: int) -> Tuple[int, int]:
    counts = {"copied": 0, "skipped": 0}

    def one(desc: Descriptor) -> None:
        reason = dest.try_reuse_blob(desc, source)
        if reason:
            reporter.skipped(desc.digest, desc.size, reason)
            counts["skipped"] += 1
            return
        for attempt in range(attempts):
            state = {"done": 0}

            def on_start(offset: int) -> None:
                reporter.started(desc.digest, desc.size, offset)
                state["done"] = offset

            def on_read(n: int) -> None:
                state["done"] += n
                reporter.advance(desc.digest, n, state["done"], desc.size)

            try:
                dest.put_blob_from(source, desc, on_read=on_read, on_start=on_start)
                break
            except OciError as e:
                if not _retryable(e) or attempt + 1 >= attempts:
                    raise
                log.info("copying blob %s failed (%s); retrying", desc.digest, e)
                with reporter._lock:
                    reporter.overall_done -= state["done"]
                time.sleep(1.0 * (attempt + 1))
        reporter.done(desc.digest, desc.size)
        counts["copied"] += 1

    if max_parallel <= 1 or len(blobs) <= 1:
        for b in blobs:
            one(b)
    else:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max_parallel) as pool:
            futures = [pool.submit(one, b) for b in blobs]
            first_error: Optional[BaseException] = None
            for f in futures:
                try:
                    f.result()
                except BaseException as e:  # noqa: B902
                    if first_error is None:
                        first_error = e
                        for g in futures:
                            g.cancel()
            if first_error is not None:
                raise first_error
    return counts["copied"], counts["skipped"]
