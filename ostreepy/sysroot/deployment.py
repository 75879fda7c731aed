"""Deployments as values, and the pure rules ostree applies to lists of them.

Mirrors ``ostree-deployment.c`` and the list logic of ``ostree-sysroot.c`` /
``ostree-sysroot-deploy.c``: deploy directory names and serial allocation
(``allocate_deployserial``), boot serials (``assign_bootserials``), the
``ostree=`` boot link (``_ostree_sysroot_parse_bootlink``), which
deployments ``simple_write_deployment`` keeps, when a new boot version is
needed (``deployment_bootconfigs_equal``), pending/rollback, and the text
``ostree admin status`` prints. Nothing here touches a file.
"""

from __future__ import annotations

import json
import re
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import attrs

from bootloader.bls import BLSEntry
from bootloader.kargs import KernelArgs

from ..errors import DeployError
from ..store.keyfile import KeyFile

__all__ = [
    "Deployment",
    "ORIGIN_TRANSIENT_GROUP",
    "parse_deploy_name",
    "parse_bootlink",
    "ostree_arg_of",
    "allocate_deployserial",
    "assign_bootserials",
    "bootconfigs_equal",
    "needs_new_bootversion",
    "simple_write_list",
    "query_pending_rollback",
    "merge_deployment_of",
    "origin_from_refspec",
    "format_status",
    "status_json",
]

#: ostree's OSTREE_ORIGIN_TRANSIENT_GROUP: origin keys that do not survive an upgrade (``pinned``).
ORIGIN_TRANSIENT_GROUP = "libostree-transient"

_DEPLOY_NAME_RE = re.compile(r"^([0-9a-f]+)\.([0-9]+)$")
_BOOTLINK_RE = re.compile(r"^/ostree/boot.([01])/([^/]+)/([^/]+)/([0-9]+)$")


@attrs.frozen
class Deployment:
    """One deployment: ``ostree/deploy/<osname>/deploy/<csum>.<deployserial>``.

    ``bootconfig`` is its boot entry as parsed (``options`` holds the kernel
    arguments); a new deployment carries only ``options`` until its entry is
    written. ``origin_text`` is the origin keyfile text (None: no origin
    file). ``index`` is the position in the sysroot's list, -1 when not in one.
    """

    osname: str
    csum: str
    deployserial: int
    bootcsum: str = ""
    bootserial: int = -1
    index: int = -1
    bootconfig: Optional[BLSEntry] = None
    origin_text: Optional[str] = None
    staged: bool = False
    finalization_locked: bool = False
    entry_filename: Optional[str] = None

    # -- identity ---------------------------------------------------------------
    @property
    def name(self) -> str:
        """``<csum>.<deployserial>``, the deploy directory's name."""
        return f"{self.csum}.{self.deployserial}"

    @property
    def key(self) -> Tuple[str, str, int]:
        """What ``ostree_deployment_equal`` compares."""
        return (self.osname, self.csum, self.deployserial)

    def same(self, other: Optional["Deployment"]) -> bool:
        return other is not None and self.key == other.key

    @property
    def dirpath(self) -> str:
        """Sysroot-relative path of the deployment root."""
        return f"ostree/deploy/{self.osname}/deploy/{self.name}"

    @property
    def origin_relpath(self) -> str:
        return f"ostree/deploy/{self.osname}/deploy/{self.name}.origin"

    # -- origin -------------------------------------------------------------------
    @property
    def origin(self) -> Optional[KeyFile]:
        """A fresh parsed copy of the origin (edit it, then write it back)."""
        return KeyFile.parse(self.origin_text) if self.origin_text is not None else None

    @property
    def origin_refspec(self) -> Optional[str]:
        o = self.origin
        return o.get("origin", "refspec") if o is not None else None

    @property
    def pinned(self) -> bool:
        o = self.origin
        if o is None:
            return False
        try:
            return o.get_bool(ORIGIN_TRANSIENT_GROUP, "pinned", False)
        except Exception:  # noqa: BLE001 - g_key_file_get_boolean errors read as FALSE
            return False

    @property
    def unlocked(self) -> str:
        o = self.origin
        if o is not None and o.get("origin", "unlocked") == "hotfix":
            return "hotfix"
        return "none"

    # -- boot ---------------------------------------------------------------------
    @property
    def kargs(self) -> KernelArgs:
        """The kernel arguments of its entry (``ostree=`` included if present)."""
        return KernelArgs.parse(self.bootconfig.get("options") if self.bootconfig else None)

    @property
    def nonostree_kargs(self) -> str:
        """``get_deployment_nonostree_kargs``: the options without ``ostree=``."""
        ka = self.kargs
        if "ostree" in ka.keys():
            ka = ka.delete_key("ostree")
        return str(ka)


def parse_deploy_name(name: str) -> Tuple[str, int]:
    """``<csum>.<serial>`` -> (csum, serial); raises :class:`DeployError`."""
    m = _DEPLOY_NAME_RE.match(name)
    if not m:
        raise DeployError(f"Invalid deploy name '{name}', expected CHECKSUM.TREESERIAL")
    return m.group(1), int(m.group(2))


def parse_bootlink(bootlink: str) -> Tuple[int, str, str, int]:
    """The value of ``ostree=`` -> (bootversion, osname, bootcsum, bootserial)."""
    m = _BOOTLINK_RE.match(bootlink)
    if not m:
        raise DeployError(f"Invalid ostree= argument '{bootlink}', expected "
                          "ostree=/ostree/boot.BOOTVERSION/OSNAME/BOOTCSUM/TREESERIAL")
    return int(m.group(1)), m.group(2), m.group(3), int(m.group(4))


def ostree_arg_of(options: Optional[str]) -> Optional[str]:
    """``get_ostree_kernel_arg_from_config``: the first ``ostree=`` value of
    ``options`` split on single spaces (as ostree splits it)."""
    if not options:
        return None
    for opt in options.split(" "):
        if opt.startswith("ostree="):
            return opt[len("ostree="):]
    return None


def allocate_deployserial(existing: Iterable[Tuple[str, int]], csum: str) -> int:
    """1 + the largest serial of a deploy directory of the same commit in the
    stateroot (``existing`` lists all its ``(csum, serial)``), else 0."""
    serial = 0
    for c, s in existing:
        if c == csum:
            serial = max(serial, s + 1)
    return serial


def assign_bootserials(deployments: Sequence[Deployment]) -> List[Deployment]:
    """Number the deployments sharing a bootcsum from 0, in list order, and
    set each one's index."""
    counts: Dict[str, int] = {}
    out = []
    for i, d in enumerate(deployments):
        n = counts.get(d.bootcsum, 0)
        counts[d.bootcsum] = n + 1
        out.append(attrs.evolve(d, bootserial=n, index=i))
    return out


def bootconfigs_equal(a: Deployment, b: Deployment, version_a: Optional[str],
                      version_b: Optional[str]) -> bool:
    """``deployment_bootconfigs_equal``: same kernel, kargs (without
    ``ostree=``), commit version (the title shows it) and stateroot."""
    return (a.bootcsum == b.bootcsum and a.nonostree_kargs == b.nonostree_kargs
            and version_a == version_b and a.osname == b.osname)


def needs_new_bootversion(current: Sequence[Deployment], new: Sequence[Deployment],
                          version_of: Mapping[str, Optional[str]]) -> bool:
    """True when the entries must be rewritten (a ``boot/loader`` swap);
    False when only the deployments behind unchanged entries change, so
    flipping the subbootversion links is enough. ``current`` excludes the
    staged deployment; ``version_of`` maps a commit to its version."""
    if len(new) != len(current):
        return True
    return any(not bootconfigs_equal(c, n, version_of.get(c.csum), version_of.get(n.csum))
               for c, n in zip(current, new))


def query_pending_rollback(deployments: Sequence[Deployment], osname: Optional[str],
                           booted: Optional[Deployment]
                           ) -> Tuple[Optional[Deployment], Optional[Deployment]]:
    """``ostree_sysroot_query_deployments_for``: the first deployment of
    ``osname`` before the booted one (pending) and the first after it
    (rollback). Without a booted deployment everything is "before"."""
    if osname is None:
        if booted is None:
            raise DeployError("Not currently booted into an OSTree system and no --os= argument given")
        osname = booted.osname
    pending = rollback = None
    found_booted = False
    for d in deployments:
        if d.osname != osname:
            continue
        if booted is not None and d.same(booted):
            found_booted = True
            continue
        if not found_booted and pending is None:
            pending = d
        elif found_booted and rollback is None:
            rollback = d
    return pending, rollback


def merge_deployment_of(deployments: Sequence[Deployment], osname: Optional[str],
                        booted: Optional[Deployment]) -> Optional[Deployment]:
    """``ostree_sysroot_get_merge_deployment``: the booted deployment when it
    is of ``osname``, else the first deployment of ``osname``."""
    if osname is None and booted is None:
        raise DeployError("Not currently booted into an OSTree system and no --os= argument given")
    if booted is not None and (osname is None or booted.osname == osname):
        return booted
    pending, _ = query_pending_rollback([d for d in deployments if not d.staged], osname, booted)
    return pending


def simple_write_list(deployments: Sequence[Deployment], new: Deployment, osname: Optional[str],
                      merge: Optional[Deployment], booted: Optional[Deployment], *,
                      retain: bool = False, retain_pending: bool = False,
                      retain_rollback: bool = False, make_default: bool = True) -> List[Deployment]:
    """The list ``ostree_sysroot_simple_write_deployment`` writes: ``new``
    first (or right after the booted/merge deployment with
    ``make_default=False``), then the deployments kept: pinned ones, other
    stateroots, the booted and merge ones, and what ``retain*`` asks for."""
    if osname is None and booted is not None:
        osname = booted.osname
    out: List[Deployment] = []
    added = False
    if make_default:
        out.append(new)
        added = True
    if booted is None and merge is None and (retain_pending or retain_rollback):
        retain = True
    before_booted = before_merge = True
    for d in deployments:
        osname_matches = osname is None or d.osname == osname
        is_booted = d.same(booted)
        is_merge = d.same(merge)
        if is_booted:
            before_booted = False
        if is_merge:
            before_merge = False
        passed = (not before_booted) if booted is not None else (not before_merge)
        if (retain or d.pinned or not osname_matches or (retain_pending and not passed)
                or is_booted or is_merge or (retain_rollback and passed)):
            out.append(d)
        if not added and passed:
            out.append(new)
            added = True
    if not added:
        out.append(new)
    return out


def origin_from_refspec(refspec: str) -> KeyFile:
    """``ostree_sysroot_origin_new_from_refspec``."""
    kf = KeyFile()
    kf.set("origin", "refspec", refspec)
    return kf


# ----------------------------------------------------------------------------- status


@attrs.frozen
class StatusRow:
    """What ``ostree admin status`` shows of one deployment."""

    deployment: Deployment
    version: Optional[str] = None
    source_title: Optional[str] = None
    booted: bool = False
    pending: bool = False
    rollback: bool = False


def format_status(rows: Sequence[StatusRow], signatures: Optional[Callable[[StatusRow], str]] = None) -> str:
    """The text ``ostree admin status`` prints; ``signatures`` gives the lines
    that follow each deployment (its GPG signatures, or ``--verify``'s text),
    which need the remote's keys this room does not read."""
    if not rows:
        return "No deployments.\n"
    out = []
    for r in rows:
        d = r.deployment
        label = ""
        if d.finalization_locked:
            label = " (finalization locked)"
        elif d.staged:
            label = " (staged)"
        elif r.pending:
            label = " (pending)"
        elif r.rollback:
            label = " (rollback)"
        out.append(f"{'*' if r.booted else ' '} {d.osname} {d.name}{label}\n")
        if r.version:
            out.append(f"    Version: {r.version}\n")
        if d.unlocked != "none":
            out.append(f"    Unlocked: {d.unlocked}\n")
        if d.pinned:
            out.append("    Pinned: yes\n")
        origin = d.origin
        if origin is None:
            out.append("    origin: none\n")
        else:
            refspec = origin.get("origin", "refspec")
            if refspec is None:
                out.append("    origin: <unknown origin type>\n")
            else:
                out.append(f"    origin refspec: {refspec}\n")
            if r.source_title:
                out.append(f"    `- {r.source_title}\n")
        if signatures is not None:
            out.append(signatures(r))
    return "".join(out)


def status_json(rows: Sequence[StatusRow]) -> str:
    """``ostree admin status --json`` (upstream's keys and order)."""
    deps = []
    for r in rows:
        d = r.deployment
        obj: Dict[str, object] = {
            "checksum": d.csum,
            "stateroot": d.osname,
            "refspec": d.origin_refspec,
            "serial": d.deployserial,
            "index": d.index,
            "booted": r.booted,
            "pending": r.pending,
            "rollback": r.rollback,
            "finalization-locked": d.finalization_locked,
            "soft-reboot-target": False,
            "staged": d.staged,
            "pinned": d.pinned,
            "unlocked": d.unlocked,
        }
        if r.version:
            obj["version"] = r.version
        if r.source_title:
            obj["source-title"] = r.source_title
        deps.append(obj)
    return json.dumps({"deployments": deps}, indent=3, ensure_ascii=False) + "\n"
