"""Signature policy at the point of use: fetch what a source's signatures are,
judge them by a :class:`~ociclient.policy.Policy`, and carry them on a copy.

Design: this is the thin I/O layer between the pure pieces (:mod:`.policy`,
:mod:`.simplesign`, :mod:`.sigstore`) and an open
:class:`~ociclient.image.ImageSource`.  The policy is judged on the source's
top-level manifest bytes (the digest signatures name), before any blob is
read, so a refused image costs one manifest fetch and writes nothing.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import attrs

from .image import ImageSource, Options
from .policy import Policy, Signature, Verdict, evaluate
from .reference import ImageReference
from .signatures import RegistriesD, read_signatures


@attrs.frozen
class TrustResult:
    """A source the policy allowed: the verdict, the manifest digest judged, the signatures found."""

    verdict: Verdict
    manifest_digest: str
    signatures: Tuple[Signature, ...]


def check_source(ref: ImageReference, source: ImageSource, policy: Policy,
                 registries_d: Optional[RegistriesD] = None, now: Optional[float] = None,
                 options: Optional[Options] = None) -> TrustResult:
    """Allow ``source`` (opened from ``ref``) by ``policy`` or raise
    :class:`~ociclient.policy.PolicyRejected`."""
    manifest, _mtype, digest = source.get_raw_manifest()
    sigs: List[Signature] = read_signatures(ref, digest, registries_d, options)
    verdict = evaluate(policy, ref, manifest, sigs, now)
    return TrustResult(verdict, digest, tuple(sigs))
