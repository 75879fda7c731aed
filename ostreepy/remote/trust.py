"""Signature policy of a pull: what a remote's options demand of a commit or
summary before any of its content is written.

CONTRACT STUB (session 2026-12-04): the pull engine calls these two functions;
the signatures helper implements them (GPG via :mod:`ostreepy.store.openpgp`,
ed25519 via :mod:`ostreepy.store.signing`). Each returns normally when the
remote's policy is met and raises :class:`~ostreepy.errors.SignatureError`
otherwise.
"""

from __future__ import annotations

from typing import Mapping, Optional

from ..errors import SignatureError
from ..store.gvariant import Variant
from .config import Remote


def verify_commit(remote: Remote, checksum: str, commit: bytes,
                  detached: Optional[Mapping[str, Variant]]) -> None:
    """Check ``commit`` (the commit object's bytes) against ``remote``'s
    gpg-verify / sign-verify policy, from its detached metadata."""
    if remote.gpg_verify or remote.sign_verify:
        raise SignatureError(f"Signature verification for remote {remote.name!r} is not implemented yet")


def verify_summary(remote: Remote, summary: bytes, summary_sig: Optional[bytes]) -> None:
    """Check ``summary`` against ``summary.sig`` under the remote's
    gpg-verify-summary / sign-verify-summary policy."""
    if remote.gpg_verify_summary or remote.sign_verify_summary:
        raise SignatureError(f"Summary verification for remote {remote.name!r} is not implemented yet")
