"""Publishing a repository: ``ostree summary -u``, the summary file a remote's
clients read first, and its ``summary.sig``.

What goes in follows ``ostree-repo.c`` ``regenerate_metadata`` (2026.4) and
``ostree_repo_regenerate_summary`` with ``ot-builtin-summary.c`` (2022.7),
which agree:

- refs: without a collection ID, every ``refs/heads`` ref (remote refs never);
  with one, the collection refs of the repository's own ID (``refs/heads``)
  in the main list and those of other IDs (``refs/mirrors``, remotes with a
  ``collection-id``) under ``ostree.summary.collection-map``; each ref with
  its commit's size, checksum and ``ostree.commit.timestamp``/``version``;
- repository metadata: the caller's ``--add-metadata`` values, then
  ``ostree.static-deltas`` (only when deltas exist and
  ``core.no-deltas-in-summary`` is not set), ``ostree.summary.last-modified``,
  ``.mode``, ``.tombstone-commits``, ``.indexed-deltas``, ``.collection-id``,
  ``.collection-map``;
- both dictionaries are ``GVariantDict`` output in libostree, so their entries
  come in ``GHashTable`` order (:mod:`ostreepy.store.glibhash`): with that the
  bytes equal libostree's for the same refs and clock;
- a repository with a collection ID first gets a new ``ostree-metadata``
  commit (empty tree, the extra metadata plus its bindings, parent the old
  one), signed with the same keys, so peer-to-peer clients can find it.

The ``deltas/`` listing, superblock digests and ``delta-indexes/`` come from
:mod:`ostreepy.remote.deltas.store`, the one place that knows their layout.

``summary`` and ``summary.sig`` are made in a fresh directory under ``tmp/``
and renamed into place, the signature's times copied to the summary; an old
``summary.sig`` that no longer matches is removed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import attrs

from ..errors import OstreeError
from ..store import gvariant
from ..store.glibhash import ordered
from ..store.gvariant import Variant
from ..store.objects import Commit, DirMeta, DirTree, ObjectType
from ..store.repo import Repo
from .deltas.store import delta_index_entries
from .deltas.store import reindex as reindex_deltas
from .summary import SUMMARY_TYPE

__all__ = ["SummaryUpdate", "PublishError", "build_summary", "regenerate_summary",
           "sign_summary", "read_summary"]

METADATA_REF = "ostree-metadata"
SUMMARY_SIG_TYPE = "a{sv}"
_GPG_KEY = "ostree.gpgsigs"


class PublishError(OstreeError):
    """The summary could not be made or signed."""


@attrs.frozen
class SummaryUpdate:
    """What ``summary -u`` wrote."""

    path: str
    #: SHA-256 of the summary bytes
    checksum: str
    size: int
    refs: Tuple[str, ...]
    collection_refs: Tuple[Tuple[str, str], ...]
    #: signature kinds in summary.sig (``ed25519``, ``gpg``); empty when unsigned
    signatures: Tuple[str, ...] = ()
    #: the new ``ostree-metadata`` commit, for a repository with a collection ID
    metadata_commit: Optional[str] = None


def _strcmp_key(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


RefEntry = Tuple[str, Tuple[int, bytes, Dict[str, Variant]]]


def _ref_entry(repo: Repo, ref: str, checksum: str) -> RefEntry:
    data = repo.load_metadata(ObjectType.COMMIT, checksum)
    raw_meta, _parent, _rel, _subj, _body, ts_be, _tree, _meta = gvariant.deserialize(
        "(a{sv}aya(say)sstayay)", data)
    ts = gvariant.bswap64(ts_be)
    pairs: List[Tuple[str, Variant]] = []
    # g_date_time_new_from_unix_utc refuses times past year 9999
    if ts <= 253402300799:
        pairs.append(("ostree.commit.timestamp", Variant("t", ts_be)))
    version = raw_meta.get("version")
    if isinstance(version, Variant) and version.type == "s":
        pairs.append(("ostree.commit.version", Variant("s", version.value)))
    return ref, (len(data), bytes.fromhex(checksum), ordered(pairs))


def build_summary(repo: Repo, additional_metadata: Optional[Mapping[str, Variant]] = None,
                  now: Optional[int] = None) -> bytes:
    """The summary bytes of ``repo`` as libostree makes them, ``now`` the
    ``last-modified`` time (default: the clock)."""
    meta: List[Tuple[str, Variant]] = list((additional_metadata or {}).items())
    refs: List[RefEntry] = []
    main_cid = repo.collection_id
    if main_cid is None:
        heads = repo.list_refs(include_remotes=False)
        for ref in sorted(heads, key=_strcmp_key):
            refs.append(_ref_entry(repo, ref, heads[ref]))
    if not repo.config.get_bool("core", "no-deltas-in-summary", False):
        deltas = delta_index_entries(repo)
        if deltas:
            meta.append(("ostree.static-deltas", Variant("a{sv}", deltas)))
    ts = int(time.time()) if now is None else now
    meta.append(("ostree.summary.last-modified", Variant("t", gvariant.bswap64(ts))))
    meta.append(("ostree.summary.mode", Variant("s", repo.config.get("core", "mode", "bare") or "bare")))
    meta.append(("ostree.summary.tombstone-commits",
                 Variant("b", repo.config.get_bool("core", "tombstone-commits", False))))
    meta.append(("ostree.summary.indexed-deltas", Variant("b", True)))

    by_cid: Dict[str, Dict[str, str]] = {}
    for (cid, ref), csum in repo.list_collection_refs().items():
        by_cid.setdefault(cid, {})[ref] = csum
    cmap: List[Tuple[str, List[RefEntry]]] = []
    for cid in sorted(by_cid, key=_strcmp_key):
        entries = [_ref_entry(repo, r, by_cid[cid][r]) for r in sorted(by_cid[cid], key=_strcmp_key)]
        if cid == main_cid:
            refs.extend(entries)
        elif entries:
            cmap.append((cid, entries))
    if main_cid is not None:
        meta.append(("ostree.summary.collection-id", Variant("s", main_cid)))
    if cmap:
        meta.append(("ostree.summary.collection-map", Variant("a{sa(s(taya{sv}))}", dict(cmap))))
    return gvariant.serialize(SUMMARY_TYPE, (refs, ordered(meta)))


def read_summary(repo: Repo) -> Tuple[bytes, Optional[bytes]]:
    """The repository's own ``summary`` and ``summary.sig`` (None when unsigned)."""
    try:
        with open(os.path.join(repo.path, "summary"), "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise PublishError(f"opening summary: No such file or directory: {os.path.join(repo.path, 'summary')}") \
            from None
    try:
        with open(os.path.join(repo.path, "summary.sig"), "rb") as f:
            sig: Optional[bytes] = f.read()
    except FileNotFoundError:
        sig = None
    return data, sig


def sign_summary(data: bytes, sign_keys: Sequence[str] = (), sign_type: str = "ed25519",
                 gpg_key_ids: Sequence[str] = (), gpg_homedir: Optional[str] = None,
                 existing: Optional[Mapping[str, Variant]] = None) -> Dict[str, Variant]:
    """The ``summary.sig`` dictionary for ``data``: OpenPGP signatures (through
    ``ostreepy.remote.openpgp.sign_detached``) and ``sign_type`` ones (one per
    secret key, as ``ostree sign`` takes them), in libostree's entry order."""
    from ..store.signing import Signer
    out: Dict[str, Variant] = dict(existing or {})
    if gpg_key_ids:
        import importlib
        try:
            # written by the OpenPGP work: sign_detached(data, key_id, homedir) -> bytes
            openpgp = importlib.import_module("ostreepy.remote.openpgp")
        except ImportError:
            raise PublishError("GPG signing is not available in this build of ostreepy") from None
        out[_GPG_KEY] = Variant("aay", [bytes(openpgp.sign_detached(data, kid, gpg_homedir)) for kid in gpg_key_ids])
    if sign_keys:
        _check_sign_type(sign_type)
        sigs = [Signer(sign_type, secret=k).sign(data) for k in sign_keys]
        out[Signer(sign_type).metadata_key] = Variant("aay", sigs)
    # GPG signatures first, then the others, each through a GVariantDict (libostree's order)
    return ordered(list(out.items()))


def _check_sign_type(sign_type: str) -> None:
    from ..store.signing import SIGN_TYPES
    if sign_type not in SIGN_TYPES:
        raise PublishError(f"Requested signature type is not implemented: {sign_type}")


def _write_metadata_commit(repo: Repo, additional_metadata: Mapping[str, Variant],
                           sign_keys: Sequence[str], sign_type: str,
                           gpg_key_ids: Sequence[str], gpg_homedir: Optional[str],
                           now: Optional[int]) -> str:
    cid = repo.collection_id
    assert cid is not None
    old = repo.resolve_rev(METADATA_REF, allow_noent=True)
    meta = ordered(list(additional_metadata.items())
                   + [("ostree.collection-binding", Variant("s", cid)),
                      ("ostree.ref-binding", Variant("as", [METADATA_REF]))])
    with repo.transaction():
        root_meta = repo.write_dirmeta(DirMeta(0, 0, 0o040755))
        root_tree = repo.write_dirtree(DirTree())
        commit = Commit(root_tree=root_tree, root_meta=root_meta, subject="", body="",
                        timestamp=int(time.time()) if now is None else now, parent=old, metadata=meta)
        csum = repo.write_commit(commit)
    if gpg_key_ids:
        sigs = sign_summary(commit.serialize(), gpg_key_ids=gpg_key_ids, gpg_homedir=gpg_homedir)[_GPG_KEY]
        detached = dict(repo.read_commit_detached_metadata(csum) or {})
        prior = detached.get(_GPG_KEY)
        detached[_GPG_KEY] = Variant("aay", (list(prior.value) if prior is not None else []) + list(sigs.value))
        repo.write_commit_detached_metadata(csum, detached)
    if sign_keys:
        from ..store.signing import Signer, sign_commit
        for k in sign_keys:
            sign_commit(repo, csum, Signer(sign_type, secret=k))
    repo.set_collection_ref(cid, METADATA_REF, csum)
    return csum


def regenerate_summary(repo: Repo, additional_metadata: Optional[Mapping[str, Variant]] = None, *,
                       sign_keys: Sequence[str] = (), sign_type: str = "ed25519",
                       gpg_key_ids: Sequence[str] = (), gpg_homedir: Optional[str] = None,
                       metadata_commit: bool = True, now: Optional[int] = None) -> SummaryUpdate:
    """``ostree summary -u``: write ``summary`` (and ``summary.sig`` when keys are
    given, else remove a stale one); returns what was written."""
    if sign_keys:
        _check_sign_type(sign_type)
    extra = dict(additional_metadata or {})
    mcommit: Optional[str] = None
    with repo.locked():
        if metadata_commit and repo.collection_id is not None:
            mcommit = _write_metadata_commit(repo, extra, sign_keys, sign_type, gpg_key_ids, gpg_homedir, now)
        data = build_summary(repo, extra, now=now)
        reindex_deltas(repo)
        sig: Optional[bytes] = None
        kinds: List[str] = []
        if sign_keys or gpg_key_ids:
            sigdict = sign_summary(data, sign_keys, sign_type, gpg_key_ids, gpg_homedir)
            sig = gvariant.serialize(SUMMARY_SIG_TYPE, sigdict)
            kinds = ([sign_type] if sign_keys else []) + (["gpg"] if gpg_key_ids else [])
        _publish(repo, data, sig)
    parsed = gvariant.deserialize(SUMMARY_TYPE, data)
    cmap = parsed[1].get("ostree.summary.collection-map")
    crefs = tuple((cid, r[0]) for cid, rs in (cmap.value.items() if cmap is not None else ()) for r in rs)
    return SummaryUpdate(path=os.path.join(repo.path, "summary"), checksum=hashlib.sha256(data).hexdigest(),
                         size=len(data), refs=tuple(r[0] for r in parsed[0]), collection_refs=crefs,
                         signatures=tuple(kinds), metadata_commit=mcommit)


def _publish(repo: Repo, data: bytes, sig: Optional[bytes]) -> None:
    tmp = os.path.join(repo.tmp_dir, f"summary-{os.urandom(6).hex()}")
    os.mkdir(tmp, 0o700)
    try:
        _write(os.path.join(tmp, "summary"), data, repo.fsync)
        if sig is not None:
            _write(os.path.join(tmp, "summary.sig"), sig, repo.fsync)
            st = os.stat(os.path.join(tmp, "summary.sig"))
            # both expire together in an HTTP cache
            os.utime(os.path.join(tmp, "summary"), ns=(st.st_atime_ns, st.st_mtime_ns))
        os.rename(os.path.join(tmp, "summary"), os.path.join(repo.path, "summary"))
        if sig is not None:
            try:
                os.rename(os.path.join(tmp, "summary.sig"), os.path.join(repo.path, "summary.sig"))
            except OSError as e:
                _unlink(os.path.join(repo.path, "summary.sig"))
                raise PublishError(f"Unable to rename summary signature file: {e.strerror}") from None
        else:
            _unlink(os.path.join(repo.path, "summary.sig"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write(path: str, data: bytes, fsync: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fchmod(fd, 0o644)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
