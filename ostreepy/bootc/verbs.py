"""bootc's verbs over a sysroot: ``upgrade``, ``switch``, ``rollback`` and
ostree-ext's ``container image deploy``: pull through
:mod:`ostreepy.container.store`, kernel arguments from the image's kargs.d,
an ``/etc`` merge preview and a space check before anything changes, then
deploy (staged) through :class:`ostreepy.sysroot.sysroot.Sysroot`.

A folder sysroot has no running system, so ``--apply``, which reboots in
bootc, finalizes the staged deployment (what ``ostree-finalize-staged`` does
at shutdown), so that it becomes the default and the booted one.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import (Any, List, Mapping, Optional, Sequence, Tuple,
                    Union)

import attrs

from ..container.imgref import OstreeImageReference
from ..sysroot.deployment import Deployment
from ..store.keyfile import KeyFile
from ..progress import ProgressEvent
from ..errors import BootcError
from .progress import Console, PullProgressMapper, TtyBar, stage_event
from .render import ManifestDiff, glib_format_size, human_bytes, human_duration
from .schema import BOOTC_COMPAT_LABEL, CACHED_CONFIG, CACHED_MANIFEST, CACHED_MANIFEST_DIGEST, ImageMeta, KARGS_D, ORIGIN_CONTAINER, OSTREE_BOOTABLE_LABEL, imgref_alternate, imgref_of_spec, partition, spec_image
from .status import host_status, image_of_commit, origin_imgref


# =============================================================================== I/O: kargs.d


def _kargsd_of_commit(repo: Any, csum: str) -> Optional[List[Tuple[str, bytes]]]:
    """``(name, data)`` of the files in the commit's kargs.d, None when it has none."""
    tree = repo.load_commit(csum).root_tree
    for comp in KARGS_D.split("/"):
        tree = next((t for name, t, _m in repo.load_dirtree(tree).dirs if name == comp), None)
        if tree is None:
            return None
    out = []
    for name, fcsum in repo.load_dirtree(tree).files:
        header, stream = repo.load_file(fcsum)
        if header.is_symlink or stream is None:
            continue
        with stream:
            out.append((name, stream.read()))
    return out


def _kargsd_of_dir(root: str) -> List[Tuple[str, bytes]]:
    d = os.path.join(root, KARGS_D)
    out = []
    try:
        names = sorted(os.listdir(d))
    except (FileNotFoundError, NotADirectoryError):
        return []
    for n in names:
        p = os.path.join(d, n)
        if os.path.isfile(p) and not os.path.islink(p):
            with open(p, "rb") as f:
                out.append((n, f.read()))
    return out


def kargs_for_deploy(sr: Any, commit: str, merge: Optional[Deployment],
                     extra: Sequence[str] = ()) -> List[str]:
    """The kernel arguments of a new deployment of ``commit``: with a merge
    deployment, bootc's ``get_kargs`` (its kargs, minus the kargs.d kargs the
    new image dropped, plus those it added); without one, the new image's
    kargs.d kargs (as ``bootc install``). ``extra`` (``--karg``) goes last."""
    from bootloader.kargsd import kargs_for_upgrade, kargs_from_files, rust_arch
    arch = rust_arch()
    new_files = _kargsd_of_commit(sr.repo, commit)
    if merge is None:
        base = kargs_from_files(new_files or [], arch)
    else:
        old_files = _kargsd_of_dir(sr.deployment_dir(merge))
        base = kargs_for_upgrade(merge.nonostree_kargs, old_files, new_files, arch)
    return list(base) + list(extra)


# =============================================================================== I/O: pulling


@attrs.frozen
class Fetched:
    """An image in the repository, ready to deploy."""

    merge_commit: str
    manifest_digest: str
    meta: ImageMeta
    fetched: bool  # False: it was already there

    @property
    def version(self) -> Optional[str]:
        return self.meta.version


def check_bootc_label(config: Mapping[str, Any], console: Console) -> None:
    """Warn on the console, as bootc does, when the image config lacks the
    ``containers.bootc=1`` label."""
    labels = ((config.get("config") or {}).get("Labels") or {})
    v = labels.get(BOOTC_COMPAT_LABEL)
    if v is None:
        console.err(f"notice: Image is missing label: {BOOTC_COMPAT_LABEL}")
    elif v != "1":
        console.err(f"notice: Unknown {BOOTC_COMPAT_LABEL} value {v}")


def _check_repo_space(sr: Any, needed: int, oref: OstreeImageReference) -> None:
    st = os.statvfs(sr.abspath("ostree/repo"))
    avail = st.f_bsize * st.f_bavail
    if needed > avail:
        raise BootcError(f"Insufficient free space for {oref.imgref.name} (available: "
                         f"{glib_format_size(avail)} required: {glib_format_size(needed)})")


def _as_meta(digest: str, manifest: Union[bytes, str, Mapping[str, Any]],
             config: Union[bytes, str, Mapping[str, Any]]) -> ImageMeta:
    def load(x: Any) -> Mapping[str, Any]:
        return x if isinstance(x, Mapping) else json.loads(x)
    return ImageMeta(digest, load(manifest), load(config))


def pull(sr: Any, oref: OstreeImageReference, console: Console, *, options: Any = None,
         bootable: bool = False, print_status: bool = True, target: Optional[OstreeImageReference] = None,
         write_image_ref: bool = True) -> Fetched:
    """bootc's ``deploy::pull``: nothing fetched when the stored image has the
    same manifest; else layer status, a space check, the layers (with
    progress), the import."""
    from ..container import store
    repo = sr.repo
    prep = store.prepare_image(repo, str(oref), options=options)
    if bootable:
        labels = (json.loads(prep.config).get("config") or {}).get("Labels") or {}
        if OSTREE_BOOTABLE_LABEL not in labels and BOOTC_COMPAT_LABEL not in labels:
            raise BootcError(f"Target image does not have {OSTREE_BOOTABLE_LABEL} label")
    if prep.already_present and prep.previous is not None:
        if print_status:
            console.out(f"No changes in {imgref_alternate(oref)} => {prep.manifest_digest}")
        return Fetched(prep.previous.merge_commit, prep.manifest_digest,
                       _as_meta(prep.manifest_digest, prep.manifest, prep.config), False)
    cache_pending(repo, prep)
    if print_status:
        check_bootc_label(json.loads(prep.config), console)
        status = prep.format_layer_status()
        if status:
            console.out(status)
    _check_repo_space(sr, prep.bytes_needed, oref)
    layers = list(json.loads(prep.manifest).get("layers") or [])
    mapper = PullProgressMapper(prep.manifest_digest, layers_total=len(layers),
                                layers_to_fetch=prep.layers_needed,
                                bytes_total=sum(int(x.get("size", 0)) for x in layers),
                                bytes_to_fetch=prep.bytes_needed)
    bar = TtyBar(sys.stderr) if console.tty and not console.quiet else None
    lock = threading.Lock()  # layers arrive from the store's fetch threads
    started = time.monotonic()

    def on_progress(ev: ProgressEvent) -> None:
        with lock:
            if bar is not None:
                bar(ev)
            for event, lossy in mapper.feed(ev):
                console.send(event, lossy)
    # Take the repository lock here, before the store's fetch threads do: RepoLock
    # is not thread-safe, and two threads opening its fd at once leak a shared lock
    # that a later exclusive lock (the prune after deploy) waits on forever.
    with repo.locked():
        result = store.pull_image(repo, str(oref), options=options, progress=on_progress, prepared=prep,
                                  write_image_ref=write_image_ref,
                                  target_imgref=str(target) if target is not None else None)
    if bar is not None:
        bar.clear()
    if bar is not None and print_status:
        elapsed = time.monotonic() - started
        rate = mapper.total_read / elapsed if elapsed > 0 else 0
        console.err(f"Fetched layers: {human_bytes(mapper.total_read)} in {human_duration(elapsed)} "
                    f"({human_bytes(int(rate))}/s)")
    for event, lossy in mapper.finish_import():
        console.send(event, lossy)
    return Fetched(result.merge_commit, result.manifest_digest,
                   _as_meta(result.manifest_digest, result.manifest, result.config), not result.already_present)


def cache_pending(repo: Any, prep: Any) -> None:
    """ostree-ext's ``cache_pending`` (done by ``prepare`` when the image
    changed): the new manifest and config, canonical JSON, become the
    detached metadata of the stored image's commit, replacing what was
    there; status shows them as ``cachedUpdate``."""
    from ..container.store import canonical_json
    from ..store.gvariant import Variant
    if prep.previous is None or prep.already_present:
        return
    repo.write_commit_detached_metadata(prep.previous.merge_commit, {
        CACHED_MANIFEST_DIGEST: Variant("s", prep.manifest_digest),
        CACHED_MANIFEST: Variant("s", canonical_json(json.loads(prep.manifest))),
        CACHED_CONFIG: Variant("s", canonical_json(json.loads(prep.config))),
    })


# =============================================================================== I/O: deploying


def origin_for(oref: OstreeImageReference) -> KeyFile:
    """The origin bootc and ostree-ext write: ``[origin] container-image-reference=...``."""
    kf = KeyFile()
    kf.set("origin", ORIGIN_CONTAINER, str(oref))
    return kf


def preview(sr: Any, commit: str, osname: str, merge: Optional[Deployment], console: Console) -> None:
    """Say what the /etc merge will do, and refuse before anything changes
    when it cannot be done or the space is missing."""
    from ..sysroot.etcmerge import format_plan
    plan = sr.preview_etc_merge(commit, osname, merge)
    for line in format_plan(plan).rstrip("\n").split("\n"):
        console.out(line)
    if plan.error:
        raise BootcError(f"Refusing to deploy: {plan.error}")
    sr.check_space(commit)


def stage(sr: Any, osname: str, fetched: Fetched, oref: OstreeImageReference, console: Console,
          merge: Optional[Deployment], *, apply: bool = False) -> Deployment:
    """bootc's ``deploy::stage`` with its progress events and messages."""
    digest = fetched.manifest_digest
    console.send(stage_event(digest, 0))
    kargs = kargs_for_deploy(sr, fetched.merge_commit, merge)
    console.send(stage_event(digest, 1))
    d = sr.deploy(osname, fetched.merge_commit, origin_for(oref), override_kargs=kargs, stage=True,
                  check_space=False)
    console.send(stage_event(digest, 2))
    console.send(stage_event(digest, 3))
    console.out(f"Queued for next boot: {imgref_alternate(oref)}")
    if fetched.version is not None:
        console.out(f"  Version: {fetched.version}")
    console.out(f"  Digest: {digest}")
    console.send(stage_event(digest, 4))
    return d


def apply_staged(sr: Any, console: Console) -> None:
    """``--apply`` in a folder sysroot: finalize the staged deployment now
    (what happens at shutdown before the reboot bootc would do)."""
    d = sr.finalize_staged()
    if d is not None:
        console.out(f"Applied: {d.osname} {d.name} is now the default deployment")


def _require_booted(sr: Any) -> Deployment:
    if sr.booted is None:
        raise BootcError("Not booted into a bootc deployment (no deployments in "
                         f"{sr.path}, or --booted-cmdline names none)")
    return sr.booted


def upgrade(sr: Any, console: Console, *, check: bool = False, download_only: bool = False,
            from_downloaded: bool = False, apply: bool = False, dry_run: bool = False,
            options: Any = None) -> int:
    """``bootc upgrade``."""
    from ..container import store
    booted = _require_booted(sr)
    host = host_status(sr)
    spec_img = host["spec"]["image"]
    if spec_img is None:
        if any(host["status"].get(s) and host["status"][s]["incompatible"] for s in ("booted", "staged")):
            raise BootcError("Deployment contains local rpm-ostree modifications; cannot upgrade via bootc. "
                             "You can run `rpm-ostree reset` to undo the modifications.")
        raise BootcError("No image source specified")
    oref = imgref_of_spec(spec_img)
    booted_image = image_of_commit(sr.repo, booted.csum) if host["status"]["booted"]["image"] else None
    staged_entry = host["status"]["staged"]
    staged_digest = staged_entry["image"]["imageDigest"] if staged_entry and staged_entry["image"] else None

    if from_downloaded:
        # the image --download-only fetched, staged now without touching the source
        state = store.query_image(sr.repo, oref)
        if state is None:
            raise BootcError(f"No downloaded image for {imgref_alternate(oref)}; run upgrade --download-only")
        if staged_digest == state.manifest_digest:
            console.out("Staged deployment is already set to apply on reboot")
        elif booted_image is not None and booted_image.manifest_digest == state.manifest_digest:
            console.out("No update available.")
            return 0
        else:
            fetched = Fetched(state.merge_commit, state.manifest_digest,
                              _as_meta(state.manifest_digest, state.manifest, state.config), False)
            merge = sr.get_merge_deployment(booted.osname)
            preview(sr, fetched.merge_commit, booted.osname, merge, console)
            stage(sr, booted.osname, fetched, oref, console, merge)
            console.out("Staged deployment will now be applied on reboot")
        if apply:
            apply_staged(sr, console)
        return 0

    if check:
        prep = store.prepare_image(sr.repo, str(oref), options=options)
        if prep.already_present:
            console.out(f"No changes in: {imgref_alternate(oref)}")
            return 0
        config = json.loads(prep.config)
        check_bootc_label(config, console)
        console.out(f"Update available for: {imgref_alternate(oref)}")
        version = ImageMeta(prep.manifest_digest, {}, config).version
        if version is not None:
            console.out(f"  Version: {version}")
        console.out(f"  Digest: {prep.manifest_digest}")
        cache_pending(sr.repo, prep)
        if booted_image is not None:
            console.out(ManifestDiff.between(booted_image.manifest, json.loads(prep.manifest)).format().rstrip("\n"))
        return 0

    fetched = pull(sr, oref, console, options=options)
    if staged_digest is not None and staged_digest == fetched.manifest_digest:
        console.out("Staged update present, not changed")
        if apply:
            apply_staged(sr, console)
        return 0
    if booted_image is not None and booted_image.manifest_digest == fetched.manifest_digest:
        console.out("No update available.")
        return 0
    if download_only:
        console.out("Image downloaded, but will not be applied on reboot")
        return 0
    merge = sr.get_merge_deployment(booted.osname)
    preview(sr, fetched.merge_commit, booted.osname, merge, console)
    if dry_run:
        return 0
    stage(sr, booted.osname, fetched, oref, console, merge)
    if booted_image is not None:
        console.out(ManifestDiff.between(booted_image.manifest, fetched.meta.manifest).format().rstrip("\n"))
    if apply:
        apply_staged(sr, console)
    return 0


def switch(sr: Any, console: Console, target: OstreeImageReference, *, apply: bool = False,
           retain: bool = False, dry_run: bool = False, options: Any = None) -> int:
    """``bootc switch``."""
    booted = _require_booted(sr)
    host = host_status(sr)
    if host["spec"]["image"] == spec_image(target):
        console.out("Image specification is unchanged.")
        if apply and host["status"]["staged"] is not None:
            apply_staged(sr, console)
        return 0
    fetched = pull(sr, target, console, options=options)
    merge = sr.get_merge_deployment(booted.osname)
    preview(sr, fetched.merge_commit, booted.osname, merge, console)
    if dry_run:
        return 0
    if not retain:
        # the previous ostree ref goes, so that it is pruned after later upgrades
        refspec = booted.origin.get("origin", "refspec") if booted.origin is not None else None
        if refspec:
            ref = refspec.split(":", 1)[-1]
            if sr.repo.resolve_rev(ref, allow_noent=True) is not None:
                sr.repo.set_ref(ref, None)
    stage(sr, booted.osname, fetched, target, console, merge)
    if apply:
        apply_staged(sr, console)
    return 0


def rollback(sr: Any, console: Console) -> int:
    """``bootc rollback``: the rollback deployment first (or, when a rollback
    is queued, the booted one first again); a staged deployment is dropped."""
    booted = _require_booted(sr)
    slots = partition(sr.deployments, booted)
    reverting = slots.rollback_queued
    if reverting:
        console.out("notice: Reverting queued rollback state")
    if slots.rollback is None:
        raise BootcError("No rollback available")
    if origin_imgref(slots.rollback.origin) is None or image_of_commit(sr.repo, slots.rollback.csum) is None:
        raise BootcError("Rollback is not container image based")
    first = [booted, slots.rollback] if reverting else [slots.rollback, booted]
    sr.write_deployments(first + [d for d in slots.other if not d.staged])
    console.out("Next boot: current deployment" if reverting else "Next boot: rollback deployment")
    return 0


def deploy_image(sr: Any, stateroot: str, oref: OstreeImageReference, console: Console, *,
                 target: Optional[OstreeImageReference] = None, kargs: Sequence[str] = (),
                 no_imgref: bool = False, options: Any = None) -> Fetched:
    """ostree-ext's ``container image deploy``: pull (the image must be
    bootable), then deploy with the origin ``container-image-reference`` of
    ``target`` (or ``oref``); staged when a deployment is booted. Kernel
    arguments: bootc kargs.d of the image (carried over from the merge
    deployment as ``bootc upgrade`` does), then ``kargs``."""
    fetched = pull(sr, oref, console, options=options, bootable=True, print_status=False, target=target,
                   write_image_ref=not no_imgref)
    merge = sr.get_merge_deployment(stateroot)
    override = kargs_for_deploy(sr, fetched.merge_commit, merge if not kargs else None, kargs)
    origin = origin_for(target or oref)
    sr.deploy(stateroot, fetched.merge_commit, origin, override_kargs=override,
              stage=sr.booted is not None)
    return fetched
