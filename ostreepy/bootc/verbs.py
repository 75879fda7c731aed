"""bootc's verbs over a sysroot: ``upgrade``, ``switch``, ``rollback`` and
ostree-ext's ``container image deploy``: pull through
:mod:`ostreepy.container.store`, kernel arguments from the image's kargs.d,
an ``/etc`` merge preview and a space check before anything changes, then
deploy (staged) through :class:`ostreepy.sysroot.sysroot.Sysroot`.

The verbs print nothing and return no exit codes: bootc's messages go to the
:class:`~ostreepy.bootc.progress.Console` the caller passes (none: they are
dropped), and each verb returns a result of :mod:`ostreepy.bootc.results`
(what changed: the deployments before and after, the /etc merge plan, the
image). A bootc refusal is a :class:`~ostreepy.errors.BootcError`.

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
from typing import (TYPE_CHECKING, Any, List, Mapping, Optional, Sequence, Tuple,
                    Union)

from ..container.imgref import OstreeImageReference
from ..sysroot.deployment import Deployment
from ..sysroot.etcmerge import EtcMergePlan
from ..store.keyfile import KeyFile
from ..store.repo import Repo
from ..progress import ProgressCallback, ProgressEvent
from ..errors import BootcError
from .progress import Console, PullProgressMapper, TtyBar, stage_event
from .remotesig import verifier_for
from .results import DeployResult, Fetched, Outcome, RollbackResult, SwitchResult, UpgradeResult
from .render import ManifestDiff, glib_format_size, human_bytes, human_duration
from .schema import BOOTC_COMPAT_LABEL, CACHED_CONFIG, CACHED_MANIFEST, CACHED_MANIFEST_DIGEST, ImageMeta, KARGS_D, ORIGIN_CONTAINER, OSTREE_BOOTABLE_LABEL, imgref_alternate, imgref_of_spec, partition, spec_image
from .status import host_status, image_of_commit, origin_imgref

if TYPE_CHECKING:
    from ociclient.image import Options
    from ..container.store import PreparedImport
    from ..sysroot.sysroot import Sysroot

__all__ = ["Fetched", "apply_staged", "deploy_image", "kargs_for_deploy", "pull", "rollback", "switch",
           "upgrade"]


def _drop(_line: str) -> None:
    pass


def _console(console: Optional[Console]) -> Console:
    """A library caller that passes no console hears nothing."""
    return console if console is not None else Console(out=_drop, err=_drop)


# =============================================================================== I/O: kargs.d


def _kargsd_of_commit(repo: Repo, csum: str) -> Optional[List[Tuple[str, bytes]]]:
    """``(name, data)`` of the files in the commit's kargs.d, None when it has none."""
    tree = repo.load_commit(csum).root_tree
    for comp in KARGS_D.split("/"):
        sub = next((t for name, t, _m in repo.load_dirtree(tree).dirs if name == comp), None)
        if sub is None:
            return None
        tree = sub
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


def kargs_for_deploy(sr: Sysroot, commit: str, merge: Optional[Deployment],
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


def check_bootc_label(config: Mapping[str, Any], console: Console) -> None:
    """Warn on the console, as bootc does, when the image config lacks the
    ``containers.bootc=1`` label."""
    labels = ((config.get("config") or {}).get("Labels") or {})
    v = labels.get(BOOTC_COMPAT_LABEL)
    if v is None:
        console.err(f"notice: Image is missing label: {BOOTC_COMPAT_LABEL}")
    elif v != "1":
        console.err(f"notice: Unknown {BOOTC_COMPAT_LABEL} value {v}")


def _check_repo_space(sr: Sysroot, needed: int, oref: OstreeImageReference) -> None:
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


def pull(sr: Sysroot, oref: OstreeImageReference, console: Optional[Console] = None, *,
         options: Optional[Options] = None, bootable: bool = False, print_status: bool = True,
         target: Optional[OstreeImageReference] = None, write_image_ref: bool = True,
         progress: Optional[ProgressCallback] = None) -> Fetched:
    """bootc's ``deploy::pull``: nothing fetched when the stored image has the
    same manifest; else layer status, a space check, the layers (with
    progress, also to ``progress``), the import."""
    from ..container import store
    console = _console(console)
    repo = sr.repo
    verifier = verifier_for(repo, oref, sr.path)
    prep = store.prepare_image(repo, oref, options=options, verifier=verifier)
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
            if progress is not None:
                progress(ev)
            if bar is not None:
                bar(ev)
            for event, lossy in mapper.feed(ev):
                console.send(event, lossy)
    # Take the repository lock here, before the store's fetch threads do: RepoLock
    # is not thread-safe, and two threads opening its fd at once leak a shared lock
    # that a later exclusive lock (the prune after deploy) waits on forever.
    with repo.locked():
        result = store.pull_image(repo, oref, options=options, progress=on_progress, prepared=prep,
                                  write_image_ref=write_image_ref, target_imgref=target, verifier=verifier)
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


def cache_pending(repo: Repo, prep: PreparedImport) -> None:
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


def preview(sr: Sysroot, commit: str, osname: str, merge: Optional[Deployment],
            console: Console) -> EtcMergePlan:
    """Say what the /etc merge will do, and refuse before anything changes
    when it cannot be done or the space is missing; returns the plan."""
    from ..sysroot.etcmerge import format_plan
    plan = sr.preview_etc_merge(commit, osname, merge)
    for line in format_plan(plan).rstrip("\n").split("\n"):
        console.out(line)
    if plan.error:
        raise BootcError(f"Refusing to deploy: {plan.error}")
    sr.check_space(commit)
    return plan


def stage(sr: Sysroot, osname: str, fetched: Fetched, oref: OstreeImageReference, console: Console,
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


def apply_staged(sr: Sysroot, console: Optional[Console] = None) -> Optional[Deployment]:
    """``--apply`` in a folder sysroot: finalize the staged deployment now
    (what happens at shutdown before the reboot bootc would do); returns it
    (None: nothing was staged, or its finalization is locked)."""
    d = sr.finalize_staged()
    if d is not None:
        _console(console).out(f"Applied: {d.osname} {d.name} is now the default deployment")
    return d


def _require_booted(sr: Sysroot) -> Deployment:
    if sr.booted is None:
        raise BootcError("Not booted into a bootc deployment (no deployments in "
                         f"{sr.path}, or the booted kernel command line names none)")
    return sr.booted


def _snapshot(sr: Sysroot) -> Tuple[Deployment, ...]:
    return tuple(sr.deployments)


def upgrade(sr: Sysroot, console: Optional[Console] = None, *, check: bool = False,
            download_only: bool = False, from_downloaded: bool = False, apply: bool = False,
            dry_run: bool = False, options: Optional[Options] = None,
            progress: Optional[ProgressCallback] = None) -> UpgradeResult:
    """``bootc upgrade``: ``check`` looks (manifest and config only) and
    changes nothing but the cached update; ``download_only`` fetches without
    queueing; ``from_downloaded`` queues what a download-only fetched;
    ``dry_run`` stops after the /etc merge plan; ``apply`` finalizes the
    staged deployment (a folder sysroot's reboot)."""
    from ..container import store
    console = _console(console)
    before = _snapshot(sr)
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

    def result(outcome: Outcome, update: bool, **kw: Any) -> UpgradeResult:
        return UpgradeResult(outcome, before, _snapshot(sr), update_available=update, **kw)

    if from_downloaded:
        # the image --download-only fetched, staged now without touching the source
        state = store.query_image(sr.repo, oref)
        if state is None:
            raise BootcError(f"No downloaded image for {imgref_alternate(oref)}; run upgrade --download-only")
        fetched = Fetched(state.merge_commit, state.manifest_digest,
                          _as_meta(state.manifest_digest, state.manifest, state.config), False)
        plan: Optional[EtcMergePlan] = None
        new: Optional[Deployment] = None
        if staged_digest == state.manifest_digest:
            console.out("Staged deployment is already set to apply on reboot")
            outcome = Outcome.ALREADY_STAGED
        elif booted_image is not None and booted_image.manifest_digest == state.manifest_digest:
            console.out("No update available.")
            return result(Outcome.NO_UPDATE, False, image=fetched)
        else:
            merge = sr.get_merge_deployment(booted.osname)
            plan = preview(sr, fetched.merge_commit, booted.osname, merge, console)
            new = stage(sr, booted.osname, fetched, oref, console, merge)
            console.out("Staged deployment will now be applied on reboot")
            outcome = Outcome.STAGED
        applied = apply_staged(sr, console) if apply else None
        return result(outcome, True, image=fetched, etc_plan=plan, deployment=new, applied=applied)

    if check:
        prep = store.prepare_image(sr.repo, oref, options=options, verifier=verifier_for(sr.repo, oref, sr.path))
        if prep.already_present:
            console.out(f"No changes in: {imgref_alternate(oref)}")
            return result(Outcome.NO_UPDATE, False)
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
        return result(Outcome.UPDATE_AVAILABLE, True)

    fetched = pull(sr, oref, console, options=options, progress=progress)
    if staged_digest is not None and staged_digest == fetched.manifest_digest:
        console.out("Staged update present, not changed")
        applied = apply_staged(sr, console) if apply else None
        return result(Outcome.ALREADY_STAGED, True, image=fetched, applied=applied)
    if booted_image is not None and booted_image.manifest_digest == fetched.manifest_digest:
        console.out("No update available.")
        return result(Outcome.NO_UPDATE, False, image=fetched)
    if download_only:
        console.out("Image downloaded, but will not be applied on reboot")
        return result(Outcome.DOWNLOADED, True, image=fetched)
    merge = sr.get_merge_deployment(booted.osname)
    plan = preview(sr, fetched.merge_commit, booted.osname, merge, console)
    if dry_run:
        return result(Outcome.DRY_RUN, True, image=fetched, etc_plan=plan)
    new = stage(sr, booted.osname, fetched, oref, console, merge)
    if booted_image is not None:
        console.out(ManifestDiff.between(booted_image.manifest, fetched.meta.manifest).format().rstrip("\n"))
    applied = apply_staged(sr, console) if apply else None
    return result(Outcome.STAGED, True, image=fetched, etc_plan=plan, deployment=new, applied=applied)


def switch(sr: Sysroot, console: Optional[Console], target: OstreeImageReference, *, apply: bool = False,
           retain: bool = False, dry_run: bool = False, options: Optional[Options] = None,
           progress: Optional[ProgressCallback] = None) -> SwitchResult:
    """``bootc switch``: pull ``target`` and stage it; unless ``retain``, the
    booted deployment's ostree ref goes, so that it is pruned later."""
    console = _console(console)
    before = _snapshot(sr)
    booted = _require_booted(sr)
    host = host_status(sr)
    if host["spec"]["image"] == spec_image(target):
        console.out("Image specification is unchanged.")
        applied = apply_staged(sr, console) if apply and host["status"]["staged"] is not None else None
        return SwitchResult(Outcome.UNCHANGED, before, _snapshot(sr), applied=applied)
    fetched = pull(sr, target, console, options=options, progress=progress)
    merge = sr.get_merge_deployment(booted.osname)
    plan = preview(sr, fetched.merge_commit, booted.osname, merge, console)
    if dry_run:
        return SwitchResult(Outcome.DRY_RUN, before, _snapshot(sr), image=fetched, etc_plan=plan)
    if not retain:
        # the previous ostree ref goes, so that it is pruned after later upgrades
        refspec = booted.origin.get("origin", "refspec") if booted.origin is not None else None
        if refspec:
            ref = refspec.split(":", 1)[-1]
            if sr.repo.resolve_rev(ref, allow_noent=True) is not None:
                sr.repo.set_ref(ref, None)
    new = stage(sr, booted.osname, fetched, target, console, merge)
    applied = apply_staged(sr, console) if apply else None
    return SwitchResult(Outcome.STAGED, before, _snapshot(sr), image=fetched, etc_plan=plan, deployment=new,
                        applied=applied)


def rollback(sr: Sysroot, console: Optional[Console] = None) -> RollbackResult:
    """``bootc rollback``: the rollback deployment first (or, when a rollback
    is queued, the booted one first again); a staged deployment is dropped."""
    console = _console(console)
    before = _snapshot(sr)
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
    return RollbackResult(Outcome.ROLLED_BACK, before, _snapshot(sr), reverting=reverting)


def deploy_image(sr: Sysroot, stateroot: str, oref: OstreeImageReference, console: Optional[Console] = None, *,
                 target: Optional[OstreeImageReference] = None, kargs: Sequence[str] = (),
                 no_imgref: bool = False, options: Optional[Options] = None,
                 progress: Optional[ProgressCallback] = None) -> DeployResult:
    """ostree-ext's ``container image deploy``: pull (the image must be
    bootable), then deploy with the origin ``container-image-reference`` of
    ``target`` (or ``oref``); staged when a deployment is booted. Kernel
    arguments: bootc kargs.d of the image (carried over from the merge
    deployment as ``bootc upgrade`` does), then ``kargs``."""
    console = _console(console)
    before = _snapshot(sr)
    fetched = pull(sr, oref, console, options=options, bootable=True, print_status=False, target=target,
                   write_image_ref=not no_imgref, progress=progress)
    merge = sr.get_merge_deployment(stateroot)
    override = kargs_for_deploy(sr, fetched.merge_commit, merge if not kargs else None, kargs)
    origin = origin_for(target or oref)
    d = sr.deploy(stateroot, fetched.merge_commit, origin, override_kargs=override,
                  stage=sr.booted is not None)
    return DeployResult(Outcome.DEPLOYED, before, _snapshot(sr), image=fetched, deployment=d)
