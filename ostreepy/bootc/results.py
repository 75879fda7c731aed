"""What bootc's verbs did, as values: the verbs in :mod:`ostreepy.bootc.verbs`
return these instead of exit codes, and the command line
(:mod:`ostreepy.cli.bootc`) or a library caller reads them.

Every result carries the deployment list before and after the call, so a
caller sees what changed without reloading the sysroot; the /etc merge plan
is there when a deployment was (or, with ``dry_run``, would have been)
prepared. Pure values: nothing here reads a sysroot.
"""

from __future__ import annotations

import enum
from typing import Optional, Tuple

import attrs

from ..sysroot.deployment import Deployment
from ..sysroot.etcmerge import EtcMergePlan
from .schema import ImageMeta

__all__ = ["Outcome", "Fetched", "VerbResult", "UpgradeResult", "SwitchResult", "RollbackResult",
           "DeployResult"]


class Outcome(enum.Enum):
    """How a verb ended (bootc's messages in brackets)."""

    #: ``upgrade --check``: the source has a new image ("Update available for: ...")
    UPDATE_AVAILABLE = "update-available"
    #: nothing newer than what is booted ("No update available." / "No changes in: ...")
    NO_UPDATE = "no-update"
    #: the image is downloaded but not queued (``--download-only``)
    DOWNLOADED = "downloaded"
    #: a new deployment is staged for the next boot ("Queued for next boot: ...")
    STAGED = "staged"
    #: the staged deployment already has this image ("Staged update present, not changed")
    ALREADY_STAGED = "already-staged"
    #: ``dry_run``: fetched and planned, nothing deployed
    DRY_RUN = "dry-run"
    #: ``switch`` to the image already specified ("Image specification is unchanged.")
    UNCHANGED = "unchanged"
    #: ``rollback``: the boot order changed
    ROLLED_BACK = "rolled-back"
    #: ``container image deploy``: a deployment was written (or staged when booted)
    DEPLOYED = "deployed"


@attrs.frozen
class Fetched:
    """An image in the repository, ready to deploy."""

    merge_commit: str
    manifest_digest: str
    meta: ImageMeta
    #: False: the repository already had it
    fetched: bool

    @property
    def version(self) -> Optional[str]:
        """The image's version label, if any."""
        return self.meta.version


@attrs.frozen
class VerbResult:
    """What a bootc verb changed in a sysroot."""

    outcome: Outcome
    #: the sysroot's deployments before the call and after it (staged first, as listed)
    deployments_before: Tuple[Deployment, ...] = ()
    deployments_after: Tuple[Deployment, ...] = ()
    #: the image pulled (or found already present), if the verb pulled one
    image: Optional[Fetched] = None
    #: what the /etc merge keeps, drops and conflicts on, when a deployment was prepared
    etc_plan: Optional[EtcMergePlan] = None
    #: the deployment this call staged (or wrote), if any
    deployment: Optional[Deployment] = None
    #: with ``apply``: the staged deployment finalized into the default one
    applied: Optional[Deployment] = None

    @property
    def changed(self) -> bool:
        """Whether the deployment list differs after the call."""
        return [(d.key, d.staged) for d in self.deployments_before] != \
            [(d.key, d.staged) for d in self.deployments_after]

    @property
    def staged(self) -> bool:
        """Whether a deployment is waiting for the next boot after the call."""
        return any(d.staged for d in self.deployments_after)


@attrs.frozen
class UpgradeResult(VerbResult):
    """``bootc upgrade``: ``update_available`` says whether the source had an
    image other than the booted one."""

    update_available: bool = False


@attrs.frozen
class SwitchResult(VerbResult):
    """``bootc switch``."""


@attrs.frozen
class RollbackResult(VerbResult):
    """``bootc rollback``; ``reverting``: a queued rollback was undone."""

    reverting: bool = False


@attrs.frozen
class DeployResult(VerbResult):
    """ostree-ext's ``container image deploy``."""
