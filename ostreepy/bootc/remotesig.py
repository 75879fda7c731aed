"""The ostree remote that vouches for an image: the
:class:`~ostreepy.container.commitverify.CommitVerifier` behind
``ostree-remote-image:REMOTE:...`` and ``ostree-remote-registry:REMOTE:...``
references.

This is where the two rooms meet: :mod:`ostreepy.container` knows the image and
its embedded commit, :mod:`ostreepy.remote` the remote's configuration (the
repository's ``config`` and, on a system repository, ``/etc/ostree/remotes.d``
of the sysroot) and keys (``gpg-verify`` with ``<remote>.trustedkeys.gpg``,
``gpgkeypath`` and the global keyrings; ``sign-verify`` with
``verification-ed25519-key`` / ``-file``).  The remote is looked up when the
verifier is made, so an unknown remote or one that verifies nothing fails
before anything is fetched; ostree-ext finds out only after it wrote the
image's chunk layers.
"""

from __future__ import annotations

from typing import Mapping, Optional, Union

import attrs

from ..container.imgref import OstreeImageReference, SigVerify
from ..remote.config import Remote, load_remote
from ..remote.trust import require_commit_verification, signature_verify_commit_data
from ..store.gvariant import Variant
from ..store.repo import Repo

__all__ = ["RemoteCommitVerifier", "remote_commit_verifier", "verifier_for"]


@attrs.frozen
class RemoteCommitVerifier:
    """``ostree_repo_signature_verify_commit_data`` bound to one remote of one repository."""

    remote: str
    config: Remote
    repo: Repo = attrs.field(eq=False, repr=False)

    def __call__(self, checksum: str, commit: bytes, detached: Optional[Mapping[str, Variant]]) -> str:
        return signature_verify_commit_data(self.config, commit, detached, repo=self.repo)


def remote_commit_verifier(repo: Repo, remote: str, sysroot: Optional[str] = None) -> RemoteCommitVerifier:
    """The verifier of ``remote`` as configured for ``repo`` (opened through
    ``sysroot`` when given, for its ``/etc/ostree/remotes.d``).  An unknown remote
    is libostree's ``Remote "NAME" not found``; one with ``gpg-verify=false`` and no
    ``sign-verify`` is refused here, as libostree refuses it at verification."""
    config = load_remote(repo, remote, sysroot, require_url=False)
    require_commit_verification(config)
    return RemoteCommitVerifier(remote, config, repo)


def verifier_for(repo: Repo, imgref: Union[str, OstreeImageReference],
                 sysroot: Optional[str] = None) -> Optional[RemoteCommitVerifier]:
    """The verifier an image reference asks for: its remote's for ``ostree-remote-*``,
    None for the others (they are not verified by an ostree remote)."""
    ref = imgref if isinstance(imgref, OstreeImageReference) else OstreeImageReference.parse(imgref)
    if ref.sigverify is not SigVerify.OSTREE_REMOTE:
        return None
    assert ref.remote is not None
    return remote_commit_verifier(repo, ref.remote, sysroot)
