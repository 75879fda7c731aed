"""Upgrading a stateroot from its origin, as libostree's OstreeSysrootUpgrader.

The merge deployment's origin names what to follow (``refspec=REMOTE:REF``,
optionally ``override-commit=``). :meth:`Upgrader.pull` fetches that ref from
the remote (unless ``synthetic``, ``ostree admin upgrade --deploy-only``),
follows an ``ostree.endoflife-rebase`` to the new ref, resolves the new
revision and refuses a chronologically older one unless ``allow_older``;
:meth:`Upgrader.deploy` then deploys it with the (possibly rewritten) origin.

The pull itself is :func:`ostreepy.remote.pull.pull_remote`, imported only
when a pull is made, so that a deploy-only upgrade needs no transport code.
"""

from __future__ import annotations

import os
from typing import Callable, Optional

import attrs

from ..errors import DeployError, OstreeError
from ..progress import ProgressCallback
from ..store.keyfile import KeyFile
from ..store.objects import is_checksum
from ..store.refs import parse_refspec
from ..store.repo import Repo
from ..store.timestamps import downgrade_message
from .deployment import ORIGIN_TRANSIENT_GROUP, Deployment
from .sysroot import Sysroot

__all__ = ["UpgradeError", "Upgrader", "SysrootUpgradeResult", "compare_timestamps", "remove_transient_state"]

ENDOFLIFE_REBASE = "ostree.endoflife-rebase"


class UpgradeError(DeployError):
    """An upgrade that cannot be made: no origin, an unconfigured one, a downgrade."""


@attrs.frozen
class SysrootUpgradeResult:
    """What :func:`upgrade` did: whether the origin's ref moved, from and to
    which commit, and the new deployment (None with ``pull_only`` or when
    nothing changed)."""

    changed: bool
    from_revision: str
    new_revision: str
    deployment: Optional[Deployment] = None


def compare_timestamps(current_rev: str, current_ts: int, new_rev: str, new_ts: int) -> None:
    """libostree's ``_ostree_compare_timestamps``: refuse a new commit that is
    chronologically older than the current one (equal timestamps pass)."""
    message = downgrade_message(current_rev, current_ts, new_rev, new_ts)
    if message is not None:
        raise UpgradeError(message)


def remove_transient_state(origin: KeyFile) -> None:
    """``ostree_deployment_origin_remove_transient_state``."""
    origin.remove_group(ORIGIN_TRANSIENT_GROUP)
    origin.remove_key("origin", "override-commit")
    origin.remove_key("origin", "unlocked")


PullFunction = Callable[..., object]


class Upgrader:
    """One upgrade of stateroot ``osname`` (None: the booted one) of ``sysroot``."""

    def __init__(self, sysroot: Sysroot, osname: Optional[str] = None, *, stage: bool = False,
                 ignore_unconfigured: bool = False) -> None:
        self.sysroot = sysroot
        # ostree-sysroot-upgrader.c: the experimental switch that made upgrades staged
        self.stage = stage or os.environ.get("OSTREE_EX_STAGE_DEPLOYMENTS") is not None
        self.ignore_unconfigured = ignore_unconfigured
        booted = sysroot.booted
        if booted is None and osname is None:
            raise UpgradeError("Not currently booted into an OSTree system and no OS specified")
        if osname == "":
            raise UpgradeError("Invalid empty osname")
        self.osname: str = osname if osname is not None else booted.osname  # type: ignore[union-attr]
        merge = sysroot.get_merge_deployment(self.osname)
        if merge is None:
            raise UpgradeError(f"No previous deployment for OS '{self.osname}'")
        self.merge_deployment: Deployment = merge
        origin = merge.origin
        if origin is None:
            raise UpgradeError(f"No origin known for deployment {merge.csum}.{merge.deployserial}")
        self.new_revision: Optional[str] = None
        self.set_origin(origin)

    @property
    def origin(self) -> KeyFile:
        """A copy of the origin the upgrade follows (and will write)."""
        return KeyFile.parse(self._origin.to_text())

    def set_origin(self, origin: KeyFile) -> None:
        """Follow ``origin`` instead (``ostree_sysroot_upgrader_set_origin``)."""
        if not self.ignore_unconfigured:
            state = origin.get("origin", "unconfigured-state")
            if state:
                raise UpgradeError(f"origin unconfigured-state: {state}")
        refspec = origin.get("origin", "refspec")
        if not refspec:
            raise UpgradeError("No origin/refspec in current deployment origin; cannot upgrade via ostree")
        self.origin_remote, self.origin_ref = parse_refspec(refspec)
        override = origin.get("origin", "override-commit")
        if override is not None and not is_checksum(override):
            raise UpgradeError(f"Invalid checksum '{override}' in origin override-commit")
        self.override_commit = override
        self._origin = KeyFile.parse(origin.to_text())

    @property
    def repo(self) -> Repo:
        return self.sysroot.repo

    def _refspec(self) -> str:
        return f"{self.origin_remote}:{self.origin_ref}" if self.origin_remote else self.origin_ref

    def _pull(self, refs: list, *, timestamp_check_from: Optional[str],
              progress: Optional[ProgressCallback], pull: Optional[PullFunction]) -> None:
        assert self.origin_remote is not None
        if pull is None:
            from ..remote.pull import pull_remote
            pull = pull_remote
        pull(self.repo, self.origin_remote, refs, timestamp_check_from_rev=timestamp_check_from,
             progress=progress)

    def pull(self, *, allow_older: bool = False, synthetic: bool = False,
             progress: Optional[ProgressCallback] = None, pull: Optional[PullFunction] = None) -> bool:
        """Fetch the origin's ref (or override commit) and resolve the new
        revision; True when it differs from the merge deployment's."""
        from_rev = self.merge_deployment.csum
        target = self.override_commit or self.origin_ref
        fetch = self.origin_remote is not None and not synthetic
        if fetch:
            self._pull([target], timestamp_check_from=None if allow_older else from_rev,
                       progress=progress, pull=pull)
        new = self.repo.resolve_rev(self._refspec())
        assert new is not None
        rebase = self.repo.load_commit(new).metadata.get(ENDOFLIFE_REBASE)
        if rebase is not None and rebase.type == "s":
            new_ref = rebase.value
            if fetch:
                self._pull([new_ref], timestamp_check_from=None, progress=progress, pull=pull)
            self.origin_ref = new_ref
            self._origin.set("origin", "refspec", self._refspec())
        if self.override_commit is not None:
            self.repo.set_ref(self._refspec(), self.override_commit)
            self.new_revision = self.override_commit
        else:
            self.new_revision = self.repo.resolve_rev(self._refspec())
        assert self.new_revision is not None
        if self.new_revision == from_rev:
            return False
        if not allow_older:
            compare_timestamps(from_rev, self.repo.load_commit(from_rev).timestamp,
                               self.new_revision, self.repo.load_commit(self.new_revision).timestamp)
        return True

    def deploy(self) -> Deployment:
        """Deploy the revision :meth:`pull` resolved, with the origin."""
        if self.new_revision is None:
            raise UpgradeError("Nothing to deploy: pull first")
        return self.sysroot.deploy(self.osname, self.new_revision, self._origin, stage=self.stage)


def upgrade(sysroot: Sysroot, osname: Optional[str] = None, *, override_commit: Optional[str] = None,
            allow_downgrade: bool = False, pull_only: bool = False, deploy_only: bool = False,
            stage: bool = False, progress: Optional[ProgressCallback] = None,
            pull: Optional[PullFunction] = None) -> SysrootUpgradeResult:
    """``ostree admin upgrade``: pull the origin's ref and deploy it when it moved."""
    if pull_only and deploy_only:
        raise UpgradeError("Cannot simultaneously specify --pull-only and --deploy-only")
    with sysroot.locked():
        up = Upgrader(sysroot, osname, stage=stage)
        origin = up.origin
        remove_transient_state(origin)
        if override_commit is not None:
            origin.set("origin", "override-commit", override_commit)
        up.set_origin(origin)
        from_rev = up.merge_deployment.csum
        try:
            changed = up.pull(allow_older=allow_downgrade, synthetic=deploy_only, progress=progress, pull=pull)
        except OstreeError:
            if pull_only:
                sysroot.cleanup()
            raise
        assert up.new_revision is not None
        dep = up.deploy() if changed and not pull_only else None
        return SysrootUpgradeResult(changed=changed, from_revision=from_rev, new_revision=up.new_revision, deployment=dep)
