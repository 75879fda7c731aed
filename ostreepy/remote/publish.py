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

``summary`` and ``summary.sig`` are made in a fresh directory under ``tmp/``
and renamed into place, the signature's times copied to the summary; an old
``summary.sig`` that no longer matches is removed.
"""

from __future__ import annotations

import base64
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
from .summary import SUMMARY_TYPE

__all__ = ["SummaryUpdate", "PublishError", "build_summary", "regenerate_summary",
           "sign_summary", "list_static_delta_names", "reindex_static_deltas", "read_summary"]

METADATA_REF = "ostree-metadata"
SUMMARY_SIG_TYPE = "a{sv}"
_SIGN_KEYS = {"ed25519": "ostree.sign.ed25519"}
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


def _mbase64_to_hex(s: str) -> str:
    raw = base64.b64decode(s.replace("_", "/") + "=" * (-len(s) % 4))
    return raw.hex()


def list_static_delta_names(repo: Repo) -> List[str]:
    """``FROM-TO`` or ``TO`` (hex) of every delta with a superblock, in directory order
    (the order libostree inserts them in)."""
    base = os.path.join(repo.path, "deltas")
    out: List[str] = []
    try:
        outer = os.listdir(base)
    except FileNotFoundError:
        return out
    for a in outer:
        pa = os.path.join(base, a)
        if not os.path.isdir(pa) or os.path.islink(pa):
            continue
        for b in os.listdir(pa):
            pb = os.path.join(pa, b)
            if not os.path.isdir(pb) or not os.path.exists(os.path.join(pb, "superblock")):
                continue
            name = a + b
            try:
                if "-" in name:
                    frm, to = name.split("-", 1)
                    out.append(f"{_mbase64_to_hex(frm)}-{_mbase64_to_hex(to)}")
                else:
                    out.append(_mbase64_to_hex(name))
            except (ValueError, TypeError):
                raise PublishError(f"Invalid static delta name deltas/{a}/{b}") from None
    return out


def _mb64(hexsum: str) -> str:
    return base64.b64encode(bytes.fromhex(hexsum)).decode().replace("/", "_").rstrip("=")


def _superblock_path(repo: Repo, name: str) -> str:
    mb64 = _mb64
    if "-" in name:
        frm, to = name.split("-", 1)
        rel = mb64(frm)
        rel = f"{rel[:2]}/{rel[2:]}-{mb64(to)}"
    else:
        rel = mb64(name)
        rel = f"{rel[:2]}/{rel[2:]}"
    return os.path.join(repo.path, "deltas", rel, "superblock")


def _file_sha256(path: str) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.digest()


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
        names = list_static_delta_names(repo)
        if names:
            deltas = ordered((n, Variant("ay", _file_sha256(_superblock_path(repo, n)))) for n in names)
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


def _index_path(repo: Repo, to: str) -> str:
    b = _mb64(to)
    return os.path.join(repo.path, "delta-indexes", b[:2], b[2:] + ".index")


def _list_delta_indexes(repo: Repo) -> List[str]:
    base = os.path.join(repo.path, "delta-indexes")
    out: List[str] = []
    for a in os.listdir(base) if os.path.isdir(base) else []:
        pa = os.path.join(base, a)
        for b in os.listdir(pa) if len(a) == 2 and os.path.isdir(pa) else []:
            if b.endswith(".index") and len(a + b) == 43 + len(".index"):
                try:
                    out.append(_mbase64_to_hex(a + b[: -len(".index")]))
                except ValueError:
                    continue
    return out


def reindex_static_deltas(repo: Repo) -> None:
    """``ostree_repo_static_delta_reindex``: one ``delta-indexes/`` file per delta
    target (its deltas and their superblock digests), stale ones removed, and
    ``core.indexed-deltas=true`` in the config so clients look there."""
    if not repo.config.get_bool("core", "indexed-deltas", False):
        from ..store.keyfile import KeyFile
        new = KeyFile.parse(repo.config.to_text())
        new.set_bool("core", "indexed-deltas", True)
        old, repo.config = repo.config, new
        try:
            repo.write_config()
        except BaseException:
            repo.config = old
            raise
    froms_by_to: Dict[str, Optional[List[Optional[str]]]] = {to: None for to in _list_delta_indexes(repo)}
    for name in list_static_delta_names(repo):
        frm, _, to = name.rpartition("-")
        froms = froms_by_to.get(to)
        if froms is None:
            froms = froms_by_to[to] = []
        froms.append(frm or None)
    for to, froms in froms_by_to.items():
        path = _index_path(repo, to)
        if froms is None:
            _unlink(path)
            continue
        froms.sort(key=lambda f: "" if f is None else f)
        deltas = ordered((to if f is None else f"{f}-{to}",
                          Variant("ay", _file_sha256(_superblock_path(repo, to if f is None else f"{f}-{to}"))))
                         for f in froms)
        data = gvariant.serialize("a{sv}", ordered([("ostree.static-deltas", Variant("a{sv}", deltas))]))
        try:
            with open(path, "rb") as f:
                if f.read() == data:
                    continue
        except FileNotFoundError:
            pass
        os.makedirs(os.path.dirname(path), 0o775, exist_ok=True)
        from ..store.repo import _write_file_atomic
        _write_file_atomic(path, data, 0o644, fsync=repo.fsync)


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
    ``ostreepy.remote.openpgp.sign_detached``) and ed25519 ones (one per secret
    key, base64 as ``ostree sign`` takes them), in libostree's entry order."""
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
        key = _SIGN_KEYS.get(sign_type)
        if key is None:
            raise PublishError(f"Requested signature type is not implemented: {sign_type}")
        sigs = [Signer(sign_type, secret=k).sign(data) for k in sign_keys]
        out[key] = Variant("aay", sigs)
    # GPG signatures first, then the others, each through a GVariantDict (libostree's order)
    return ordered(list(out.items()))


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
    if sign_keys and sign_type not in _SIGN_KEYS:
        raise PublishError(f"Requested signature type is not implemented: {sign_type}")
    extra = dict(additional_metadata or {})
    mcommit: Optional[str] = None
    with repo.locked():
        if metadata_commit and repo.collection_id is not None:
            mcommit = _write_metadata_commit(repo, extra, sign_keys, sign_type, gpg_key_ids, gpg_homedir, now)
        data = build_summary(repo, extra, now=now)
        reindex_static_deltas(repo)
        sig: Optional[bytes] = None
        kinds: List[str] = []
        if sign_keys or gpg_key_ids:
            sigdict = sign_summary(data, sign_keys, sign_type, gpg_key_ids, gpg_homedir)
            sig = gvariant.serialize(SUMMARY_SIG_TYPE, sigdict)
            kinds = (["ed25519"] if sign_keys else []) + (["gpg"] if gpg_key_ids else [])
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
