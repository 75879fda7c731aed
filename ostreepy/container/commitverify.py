"""Checking the ostree commit an encapsulated image carries against an ostree
remote's keys: ostree-ext's ``ostree-remote-image:REMOTE:...`` references.

What ostree-ext does (tar/import.rs ``import_commit``): the commit layer's tar
stream starts with the commit object, and with a remote named the very next
entry must be that commit's detached metadata (``.commitmeta``); both are read
into memory and given to ``ostree_repo_signature_verify_commit_data(remote,
commit, commitmeta, 0)`` *before* anything is written.  Only the embedded
ostree commit is checked: no container signature, no containers-policy.json,
and derived (non-ostree) layers are not covered by it.

This room may not read remote configuration (that is ``ostreepy.remote``,
above it), so the check is a :class:`CommitVerifier` the caller builds (see
``ostreepy.bootc.remotesig.remote_commit_verifier``) and passes down; an
``ostree-remote-*`` pull without one is refused rather than left unchecked.
"""

from __future__ import annotations

from typing import Mapping, Optional, Protocol

from ..errors import OstreeError, SignatureError
from ..store.gvariant import Variant
from ..store.objects import ObjectType
from ..store.repo import Repo
from .imgref import OstreeImageReference

__all__ = ["CommitVerifier", "RemoteVerificationError", "check_verifier_for", "rust_objtype_name", "verify_commit_data",
           "verify_stored_commit"]

# ostree-ext formats an ObjectType with {:?}: the Rust enum variant names
_RUST_NAMES = {"file": "File", "dirtree": "DirTree", "dirmeta": "DirMeta", "commit": "Commit",
               "tombstone-commit": "TombstoneCommit", "commitmeta": "CommitMeta", "payload-link": "PayloadLink",
               "file-xattrs": "FileXattrs", "file-xattrs-link": "FileXattrsLink"}


class RemoteVerificationError(SignatureError):
    """An image whose ostree commit is not signed as its ostree remote requires."""


class CommitVerifier(Protocol):
    """``ostree_repo_signature_verify_commit_data`` for one remote: returns the text
    describing the good signatures, raises :class:`~ostreepy.errors.SignatureError`
    (or another OstreeError: remote not found...) when the remote's policy is not met."""

    @property
    def remote(self) -> str:
        """The remote's name (ostree-ext's messages name it)."""
        ...

    def __call__(self, checksum: str, commit: bytes, detached: Optional[Mapping[str, Variant]]) -> str:
        ...


def rust_objtype_name(suffix: str) -> str:
    """How ostree-ext names an object type in its errors (``DirTree`` for ``dirtree``)."""
    return _RUST_NAMES.get(suffix, suffix)


def verify_stored_commit(repo: Repo, checksum: str, verifier: CommitVerifier) -> str:
    """Check a commit the repository already holds (an image layer imported
    before, perhaps without verification) from its stored detached metadata;
    ostree-ext skips this and trusts any layer it has a ref for."""
    try:
        data = repo.load_metadata(ObjectType.COMMIT, checksum)
        detached = repo.read_commit_detached_metadata(checksum)
    except OstreeError as e:
        raise RemoteVerificationError(f"Verifying ostree commit {checksum}: {e}") from None
    if detached is None:
        raise RemoteVerificationError(f"Using remote {verifier.remote} for verification; the stored commit "
                                      f"{checksum} has no detached metadata")
    return verify_commit_data(verifier, checksum, data, detached)


def verify_commit_data(verifier: CommitVerifier, checksum: str, data: bytes, detached: Mapping[str, Variant]) -> str:
    """Run ``verifier``, its failure an error with ostree-ext's context."""
    try:
        return verifier(checksum, data, detached)
    except OstreeError as e:
        # ostree-ext's context for this step
        raise RemoteVerificationError(f"Verifying ostree commit in tar stream: {e}") from None


def check_verifier_for(ref: OstreeImageReference, verifier: Optional[CommitVerifier]) -> None:
    """An ``ostree-remote-*`` reference needs the verifier of that very remote: without
    one the pull is refused, never left unchecked."""
    if verifier is None:
        raise RemoteVerificationError(f"{ref}: verification with ostree remote '{ref.remote}' "
                                      "needs the remote's configuration, which was not given")
    if verifier.remote != ref.remote:
        raise RemoteVerificationError(f"{ref}: the verifier given is for remote '{verifier.remote}'")
