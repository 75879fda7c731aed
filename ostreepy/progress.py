"""Progress reporting: long operations call a caller-supplied function with typed events.

Every operation that takes ``progress=`` calls it with instances of the frozen
attrs classes below, all derived from :class:`ProgressEvent`, so a caller can
dispatch with ``isinstance`` or ``match``::

    def on_progress(ev: ProgressEvent) -> None:
        match ev:
            case FileWritten(path=path, size=size):
                ...
            case LayerBytes(digest=digest, done=done, total=total):
                ...

The callback runs on the operation's own threads (commit, checkout and the
image pull use a few), but never on two at once: an operation that sends from
several threads serialises its calls, so a callback needs no lock of its own.
It should be quick; an exception raised in it aborts the operation.

When no callback is given no event object is built: the per-file events of
commit and checkout are constructed only behind ``if progress is not None``.

The image pull's byte-level events carry ociclient's own event in ``source``
(:class:`ociclient.progress.BlobStarted`, :class:`~ociclient.progress.BlobProgress`,
:class:`~ociclient.progress.BlobDone`), which adds what ostreepy does not
repeat, such as the bytes done and due over the whole transfer
(``source.overall_done``, ``source.overall_total``). ``source`` is typed
``object`` because this base module imports nothing of ociclient; narrow it
with ``isinstance(ev.source, ociclient.progress.BlobProgress)``.

The events, by operation:

.. list-table::
   :header-rows: 1
   :widths: 20 30 50

   * - Operation
     - Event
     - Sent
   * - commit (directory or tar)
     - :class:`FileWritten`
     - per regular file or symlink stored
   * - checkout
     - :class:`FileCheckedOut`
     - per regular file or symlink placed
   * - fsck
     - :class:`FsckStarted`
     - the commits are enumerated; the objects are about to be checked
   * -
     - :class:`ObjectChecked`
     - per object verified, in order, with ``done``/``total``
   * - prune
     - :class:`ObjectPruned`
     - per unreachable object deleted (or only found, with ``no_prune``)
   * - image pull
     - :class:`LayerStarted`
     - a layer blob starts to be fetched
   * -
     - :class:`LayerBytes`
     - bytes of that blob read (many per layer)
   * -
     - :class:`ObjectImported`
     - per object of an ostree-encapsulated layer
   * -
     - :class:`LayerImported`
     - a plain layer became a commit in the repository
   * -
     - :class:`LayerDone`
     - the layer is fetched, verified and stored
   * -
     - :class:`ImportStarted`
     - all layers are in; the merge commit is being made
   * -
     - :class:`ImportDone`
     - the image's merge commit and ref are written
   * - encapsulate (image export)
     - :class:`ObjectExported`
     - per content object written to the layer tar
   * -
     - :class:`LayerWritten`
     - the layer blob is complete (its digests known)
   * -
     - :class:`LayerUploadBytes`
     - bytes of the layer blob sent to the destination
   * -
     - :class:`ImageEncapsulated`
     - the manifest is written
   * - deploy (sysroot)
     - :class:`DeploymentCheckoutStarted`
     - a deployment's tree is being checked out (then :class:`FileCheckedOut` per file)
   * -
     - :class:`KernelInstallStarted`
     - per deployment listed by a new boot version, its kernel and boot entry are being written
   * -
     - :class:`Message`
     - a line ostree would print or send to the journal
   * - pull, pull-local (ostree transport)
     - :class:`PullStarted`
     - the refs are resolved to commits; objects are about to be fetched
   * -
     - :class:`ObjectFetched`
     - per object fetched (or copied from a local repository) and stored
   * -
     - :class:`PullProgress`
     - counts so far, at most a few times a second and at each phase change
   * -
     - :class:`PullDone`
     - every object is in and the refs are written
   * - static delta apply
     - :class:`DeltaPartApplied`
     - per part run (or skipped: all its objects were there)
   * - static delta generate
     - :class:`Message`
     - the lines ``ostree static-delta generate`` prints on stderr
   * - image build (install)
     - :class:`ImageBuildStage`
     - a stage of the disk image build starts
   * -
     - :class:`ImageBuildBytes`
     - a partition's filesystem written into the disk (one event each)

Upgrading from the old ``ProgressEvent(kind, fields)``: the kinds map as
``file`` -> :class:`FileWritten` (commit) or :class:`FileCheckedOut`
(checkout), ``fsck`` -> :class:`ObjectChecked`, ``layer-start`` ->
:class:`LayerStarted`, ``layer-bytes`` -> :class:`LayerBytes`,
``layer-done`` -> :class:`LayerDone`, ``layer-imported`` ->
:class:`LayerImported`, ``import-start`` -> :class:`ImportStarted`,
``import-done`` -> :class:`ImportDone`, ``object-imported`` ->
:class:`ObjectImported`, ``export-object`` -> :class:`ObjectExported`,
``layer-written`` -> :class:`LayerWritten`, ``blob-upload`` ->
:class:`LayerUploadBytes`, ``encapsulated`` -> :class:`ImageEncapsulated`,
``deploy-checkout`` -> :class:`DeploymentCheckoutStarted`,
``deploy-kernel`` -> :class:`KernelInstallStarted`, ``message`` ->
:class:`Message`.
"""

from __future__ import annotations

import threading

from ._deferred import Deferred

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import Callable, Optional, Tuple

#: the events, built on the first use of their names
_DEFERRED = Deferred(globals())

if TYPE_CHECKING:
    from attrs import frozen as _event
else:
    # built all at import, the 26 events would be 10 ms of every start-up that imports this
    # module, and an operation uses a few (ostreepy._deferred); nor is attrs imported until
    # one is built
    _event = _DEFERRED.register


@_event  # built with the first event built (a deferred base is built for its subclasses)
class ProgressEvent:
    """The base of every progress event; it has no fields of its own."""


if not TYPE_CHECKING:
    from collections.abc import Callable  # (typing's, to type checkers: the same alias)

#: what a ``progress=`` argument takes: a function called with each event
ProgressCallback = Callable[[ProgressEvent], None]


def emit(callback: Optional[ProgressCallback], event: ProgressEvent) -> None:
    """Send ``event`` if there is a callback. For events sent once or a few times
    per operation; per-file sites test ``callback is not None`` before building
    the event."""
    if callback is not None:
        callback(event)


def serialized(callback: Optional[ProgressCallback]) -> Optional[ProgressCallback]:
    """``callback`` behind a lock, for an operation that sends from several threads
    (``None`` stays ``None``, so the no-callback path costs nothing)."""
    if callback is None:
        return None
    lock = threading.Lock()

    def locked(event: ProgressEvent) -> None:
        with lock:
            callback(event)

    return locked


# ------------------------------------------------------------------ commit


@_event
class FileWritten(ProgressEvent):
    """Commit: one regular file or symlink of the tree was taken into the
    commit: its content object written (or found already there, or handed to a
    writer thread; the commit is complete only when the call returns).

    ``path`` is its absolute path in the commit (``/usr/bin/sh``); ``size`` the
    bytes of its content, 0 for a symlink. The sizes of a directory's commit add
    up to the bytes of its regular files (each hardlink counted); from a tar, a
    hardlink entry shares its target's content and sends no event."""

    path: str
    size: int


# ------------------------------------------------------------------ checkout


@_event
class FileCheckedOut(ProgressEvent):
    """Checkout: one regular file or symlink was placed in the destination.

    ``path`` is its absolute path in the commit (``/usr/bin/sh``);
    ``hardlinked`` says whether it is a hard link to the repository's object
    (``False``: a copy was written)."""

    path: str
    hardlinked: bool


# ------------------------------------------------------------------ fsck


@_event
class FsckStarted(ProgressEvent):
    """fsck: the commits are enumerated (ostree's ``Verifying content integrity
    of N commit objects...``). ``commits`` is how many complete commits will be
    verified (partial ones are not), ``objects`` how many objects they reach,
    themselves included: the ``total`` of the :class:`ObjectChecked` events
    that follow."""

    commits: int
    objects: int


@_event
class ObjectChecked(ProgressEvent):
    """fsck: one object reachable from the repository's commits was verified
    (its checksum recomputed, its structure parsed).

    ``checksum`` and ``object_type`` (``commit``, ``dirtree``, ``dirmeta``,
    ``file``) name it; ``done`` counts the objects checked so far and ``total``
    all that will be, so the last event has ``done == total``; ``ok`` is
    ``False`` when the object is missing or corrupt (the problem itself is in
    the result)."""

    checksum: str
    object_type: str
    done: int
    total: int
    ok: bool


# ------------------------------------------------------------------ prune


@_event
class ObjectPruned(ProgressEvent):
    """prune: an object no ref (or commit) reaches.

    ``checksum`` and ``object_type`` name it; ``size`` is the bytes its file
    took; ``deleted`` is ``False`` under ``no_prune`` (only counted). The
    events of one prune add up to its ``n_objects_pruned`` and
    ``freed_bytes``."""

    checksum: str
    object_type: str
    size: int
    deleted: bool


# ------------------------------------------------------------------ image pull


@_event
class LayerStarted(ProgressEvent):
    """Image pull: the blob of one layer starts to be fetched (layers already in
    the repository are not fetched and send nothing). Several layers may be in
    flight at once; ``digest`` tells their events apart.

    ``digest`` is the blob's digest (``sha256:...``), ``size`` its compressed
    size from the manifest; ``kind`` is how bootc names it: ``layer`` for a
    plain layer, ``ostree chunk`` for a layer of an ostree-encapsulated base.
    ``source`` is ociclient's event."""

    digest: str
    size: int
    kind: str
    source: Optional[object] = None


@_event
class LayerBytes(ProgressEvent):
    """Image pull: more of a layer's blob was read.

    ``done`` is the bytes of this blob read so far and ``total`` its size from
    the manifest: the last event of a layer has ``done == total``. ``source``
    is ociclient's :class:`~ociclient.progress.BlobProgress`, whose
    ``overall_done``/``overall_total`` count the whole pull's bytes."""

    digest: str
    done: int
    total: int
    source: Optional[object] = None


@_event
class ObjectImported(ProgressEvent):
    """Image pull (and ``unencapsulate``): an ostree object of an encapsulated
    layer (the commit layer, or a chunk) was read.

    ``object_type`` is ``commit``, ``dirtree``, ``dirmeta`` or ``file``. Of the
    layer so far, ``done`` counts the dirtree, dirmeta and file objects written,
    ``bytes`` the bytes of the regular files among them, and ``skipped`` the
    file objects found already in the repository (not written, not in
    ``done``). The commit's own event comes first, with zeros."""

    checksum: str
    object_type: str
    done: int
    bytes: int
    skipped: int


@_event
class LayerImported(ProgressEvent):
    """Image pull: a plain (tar) layer was imported as a commit of its own,
    after its digest and diffID were verified.

    ``digest`` is the blob's digest, ``diff_id`` the uncompressed tar's
    ``sha256:...``, ``commit`` the commit written for it (its ref is
    ``ostree/container/blob/...``)."""

    digest: str
    diff_id: str
    commit: str


@_event
class LayerDone(ProgressEvent):
    """Image pull: a layer is complete: fetched, verified and in the repository.

    ``size`` is the blob's size from the manifest. ``source`` is ociclient's
    :class:`~ociclient.progress.BlobDone`."""

    digest: str
    size: int
    source: Optional[object] = None


@_event
class ImportStarted(ProgressEvent):
    """Image pull: every layer is in; the layers are being merged into the
    image's commit. Sent also when every layer was in the repository already
    (an image whose manifest is unchanged sends no event at all)."""


@_event
class ImportDone(ProgressEvent):
    """Image pull: the image is stored: ``commit`` is its merge commit (the one a
    deployment checks out) and the image's ref points at it; ``manifest_digest``
    is the manifest's digest."""

    commit: str
    manifest_digest: str


# ------------------------------------------------------------------ encapsulate


@_event
class ObjectExported(ProgressEvent):
    """Encapsulate: one content object (with its hardlinks at every path it has
    in the commit) was written into the layer tar.

    ``done`` counts the objects so far, ``total`` all that will be; ``bytes``
    is the size of the (uncompressed) tar so far."""

    checksum: str
    done: int
    total: int
    bytes: int


@_event
class LayerWritten(ProgressEvent):
    """Encapsulate: the layer blob is complete. ``digest`` and ``size`` are the
    compressed blob's (as its manifest descriptor says), ``diff_id`` and
    ``uncompressed`` the tar's."""

    digest: str
    diff_id: str
    size: int
    uncompressed: int


@_event
class LayerUploadBytes(ProgressEvent):
    """Encapsulate: more of the layer blob was sent to the destination (none
    when it already has the blob). ``done`` is the bytes sent so far, ``total``
    the blob's size. ``source`` is ociclient's
    :class:`~ociclient.progress.BlobProgress`."""

    digest: str
    done: int
    total: int
    source: Optional[object] = None


@_event
class ImageEncapsulated(ProgressEvent):
    """Encapsulate: the image is written: ``manifest_digest`` names its manifest,
    ``commit`` is the commit it carries."""

    manifest_digest: str
    commit: str


# ------------------------------------------------------------------ deploy


@_event
class DeploymentCheckoutStarted(ProgressEvent):
    """Deploy: the tree of a new deployment is being checked out into
    ``ostree/deploy/<osname>/deploy/<name>``; :class:`FileCheckedOut` events
    follow. ``name`` is ``<commit>.<deployserial>``."""

    osname: str
    name: str
    commit: str


@_event
class KernelInstallStarted(ProgressEvent):
    """Deploy: for a new boot version, the kernel, initramfs and boot entry of
    deployment ``index`` (0 is the default entry) are being installed; ``name``
    is the deployment's ``<commit>.<deployserial>``. Sent for every deployment
    the new boot version lists, in order."""

    index: int
    osname: str
    name: str


@_event
class Message(ProgressEvent):
    """A line ostree prints or sends to the journal (such as ``Copying /etc
    changes: 1 modified, 0 removed, 0 added``), for callers that show their
    own output."""

    text: str


# ------------------------------------------------------------------ pull (ostree transport)


@_event
class PullStarted(ProgressEvent):
    """Pull: the refs asked for are resolved; ``commits`` maps each ref (or a
    commit asked for by checksum, under its own checksum) to the commit to fetch.
    ``remote`` is the remote's name, or the source repository's path for
    pull-local."""

    remote: str
    commits: Tuple[Tuple[str, str], ...]


@_event
class ObjectFetched(ProgressEvent):
    """Pull: one object is stored (verified) in the repository. ``objtype`` is
    ostree's name for its type (``commit``, ``dirtree``, ``dirmeta``, ``file``);
    ``size`` the bytes transferred for it (0 when copied from a local repository,
    ``local`` then true)."""

    checksum: str
    objtype: str
    size: int
    local: bool = False


@_event
class PullProgress(ProgressEvent):
    """Pull: counts so far. ``phase`` is ``"metadata"`` while dirtrees are still
    being walked, ``"content"`` once only content objects are outstanding,
    ``"writing-refs"`` at the end. ``requested`` grows as the walk finds objects
    that are missing; ``fetched`` counts those stored; ``bytes`` those transferred.
    ``ostree pull``'s terminal line is made of these."""

    phase: str
    fetched: int
    requested: int
    bytes: int
    #: how many of ``fetched`` are metadata objects (commits, dirtrees, dirmetas)
    metadata_fetched: int = 0


@_event
class PullDone(ProgressEvent):
    """Pull: every object is in and the refs are written; ``status`` is the line
    ``ostree pull`` prints at the end (``3 metadata, 2 content objects fetched;
    ...``)."""

    status: str


@_event
class DeltaPartApplied(ProgressEvent):
    """Static delta: part ``index`` of ``total`` has run, writing ``written``
    objects; ``skipped`` when all of its objects were already present."""

    index: int
    total: int
    written: int
    skipped: bool


# ------------------------------------------------------------------ image build (install)


@_event
class ImageBuildStage(ProgressEvent):
    """Image build: stage ``index`` of ``total`` starts: ``deploy``, ``grub``,
    ``root-fs``, ``boot-fs``, ``esp``, ``partition``, then ``convert`` (qcow2)."""

    stage: str
    index: int
    total: int


@_event
class ImageBuildBytes(ProgressEvent):
    """Image build: ``done`` of ``total`` bytes of ``partition`` of the disk
    written (once per partition, ``done == total``, when its filesystem is
    made: mkfs writes it in place)."""

    partition: str
    done: int
    total: int


__all__ = [
    "ProgressEvent", "ProgressCallback", "emit", "serialized",
    "FileWritten", "FileCheckedOut", "FsckStarted", "ObjectChecked", "ObjectPruned",
    "LayerStarted", "LayerBytes", "ObjectImported", "LayerImported", "LayerDone", "ImportStarted", "ImportDone",
    "ObjectExported", "LayerWritten", "LayerUploadBytes", "ImageEncapsulated",
    "DeploymentCheckoutStarted", "KernelInstallStarted", "Message",
    "PullStarted", "ObjectFetched", "PullProgress", "PullDone", "DeltaPartApplied",
]
__all__ += ["ImageBuildStage", "ImageBuildBytes"]


# the events are built on first use; until then the module holds only their plain classes
_DEFERRED.hide()


def __getattr__(name: str) -> type:
    return _DEFERRED.build(name)


def built_event(name: str) -> type:
    """The event class ``name``, built on its first use: for a module that sends an event only
    when a caller takes them, so that an import of the name does not build it (and attrs) first."""
    return _DEFERRED.build(name)


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))
