"""Ref and collection bindings of commits (``ostree.ref-binding``, ``ostree.collection-binding``).

:func:`verify_bindings` is libostree's ``_ostree_repo_verify_bindings`` (the check a
pull makes and ``ostree fsck --verify-bindings`` makes for every ref): a commit reached
through a ref must list that ref, and, when the ref is in a collection, carry that
collection ID. :func:`verify_back_refs` is ``fsck --verify-back-refs``: every ref a commit
lists must exist and point back at it. Errors are ``OstreeError`` with ostree's words.
"""

from __future__ import annotations

from typing import Mapping, Optional

from ..errors import OstreeError
from .gvariant import Variant
from .objects import ObjectType
from .repo import Repo

__all__ = ["BindingError", "verify_bindings", "verify_refs_bindings", "verify_back_refs"]

REF_BINDING = "ostree.ref-binding"
COLLECTION_BINDING = "ostree.collection-binding"


class BindingError(OstreeError):
    """A commit's bindings do not match the ref (or collection) it was reached through."""


def verify_bindings(collection_id: Optional[str], ref_name: Optional[str], metadata: Mapping[str, Variant]) -> None:
    """The commit with ``metadata``, reached through ``ref_name`` (None: by checksum) of
    ``collection_id`` (None: no collection), may be: raises :class:`BindingError` if not."""
    refs_v = metadata.get(REF_BINDING)
    if refs_v is None or refs_v.type != "as":
        if collection_id is None:
            return
        raise BindingError("Expected commit metadata to have ref binding information, found none")
    refs = list(refs_v.value)
    if ref_name is not None and ref_name not in refs:
        shown = ", ".join(f"‘{r}’" for r in refs) if refs else "no refs"
        raise BindingError(f"Commit has no requested ref ‘{ref_name}’ in ref binding metadata ({shown})")
    if collection_id is not None:
        cid = metadata.get(COLLECTION_BINDING)
        if cid is None or cid.type != "s":
            raise BindingError("Expected commit metadata to have collection ID binding information, found none")
        if cid.value != collection_id:
            raise BindingError(f"Commit has collection ID ‘{cid.value}’ in collection binding metadata, "
                               f"while the remote it came from has collection ID ‘{collection_id}’")


def verify_refs_bindings(repo: Repo, collections: bool) -> None:
    """Every ref (``collections``: every collection–ref) against its commit's bindings;
    refs whose commit is missing are left to the object check."""
    from .refs import parse_refspec
    if not collections:
        for refspec, csum in repo.list_refs().items():
            if repo.has_object(csum, ObjectType.COMMIT):
                _check(repo, csum, None, parse_refspec(refspec)[1])
        return
    for (cid, ref), csum in repo.list_collection_refs().items():
        if repo.has_object(csum, ObjectType.COMMIT):
            _check(repo, csum, cid, ref)


def _check(repo: Repo, csum: str, cid: Optional[str], ref: str) -> None:
    try:
        verify_bindings(cid, ref, repo.load_commit(csum).metadata)
    except BindingError as e:
        raise BindingError(f"Commit {csum}: {e}") from None


def verify_back_refs(repo: Repo) -> None:
    """Every ref listed in a commit's ``ostree.ref-binding`` exists and resolves to it."""
    collection_refs = repo.list_collection_refs()
    for csum, _t in sorted(repo.list_objects(ObjectType.COMMIT)):
        md = repo.load_commit(csum).metadata
        refs_v = md.get(REF_BINDING)
        if refs_v is None or refs_v.type != "as":
            continue
        cid_v = md.get(COLLECTION_BINDING)
        cid = cid_v.value if cid_v is not None and cid_v.type == "s" else None
        for ref in refs_v.value:
            if cid is not None:
                target = collection_refs.get((cid, ref))
                name = f"Collection–ref ({cid}, {ref})"
            else:
                target = repo.resolve_rev(ref, allow_noent=True)
                name = f"Ref ‘{ref}’"
            if target is None:
                raise BindingError(f"{name} in bindings for commit {csum} does not exist")
            if target != csum:
                raise BindingError(f"{name} in bindings for commit {csum} does not resolve to that commit")
