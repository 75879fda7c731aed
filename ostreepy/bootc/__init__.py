"""bootc over a sysroot: ``bootc status`` in bootc's host schema, ``upgrade``,
``switch``, ``rollback``, and ostree-ext's ``container image deploy``.

The room holds four layers, each a module, lower ones knowing nothing of the
higher: :mod:`~ostreepy.bootc.schema` builds the host document
(``org.containers.bootc/v1``, ``BootcHost``) from values;
:mod:`~ostreepy.bootc.render` turns it and bootc's other texts into JSON
(RFC 8785 canonical, as bootc writes it), YAML (serde_yaml's output) and
human-readable form; :mod:`~ostreepy.bootc.progress` has bootc's
progress-v0 JSON Lines events and the console they go to; and, doing the
I/O, :mod:`~ostreepy.bootc.status` reads a sysroot's deployments and their
images while :mod:`~ostreepy.bootc.verbs` pulls through
:mod:`ostreepy.container.store` and deploys through
:class:`ostreepy.sysroot.sysroot.Sysroot`. The verbs print nothing: bootc's
messages go to the :class:`Console` a caller passes, and each returns a value
of :mod:`~ostreepy.bootc.results`; :mod:`~ostreepy.bootc.host` is the host
document as typed values.

A folder sysroot has no running system, so two things stand in for it:
"booted" is the default deployment unless the caller passes a kernel command
line with ``ostree=`` (``--booted-cmdline``), and ``--apply``, which reboots
in bootc, finalizes the staged deployment (what ``ostree-finalize-staged``
does at shutdown), so that it becomes the default and, without a command
line, the booted one.

Beyond bootc: before anything is changed, ``upgrade`` and ``switch`` print
what the ``/etc`` merge will keep, drop and conflict on (``--dry-run`` stops
there), and refuse when ``/boot`` or the repository's filesystem lacks space.
"""

from __future__ import annotations

from ..errors import BootcError
from .progress import Console, JsonlWriter, PullProgressMapper, TtyBar, importing_event, stage_event, start_event
from .render import (ManifestDiff, glib_format_size, human_bytes, human_duration, human_readable,
                     to_canonical_json, to_yaml)
from .schema import (API_VERSION, KIND, ORIGIN_CONTAINER, EntryFacts, ImageMeta, Slots, Tagged, boot_entry,
                     host_document, image_status, imgref_alternate, imgref_for_switch, imgref_of_spec,
                     partition, rfc3339_utc, spec_image, transport_to_string)
from .status import cached_update_of_commit, entry_facts, host_status, image_of_commit, origin_imgref
from .results import (DeployResult, Outcome, RollbackResult, SwitchResult, UpgradeResult,
                      VerbResult)
from .verbs import Fetched, apply_staged, deploy_image, kargs_for_deploy, pull, rollback, switch, upgrade

__all__ = [
    "API_VERSION", "KIND", "ORIGIN_CONTAINER", "BootcError", "Console", "DeployResult", "EntryFacts", "Fetched",
    "ImageMeta", "Outcome", "RollbackResult", "SwitchResult", "UpgradeResult", "VerbResult",
    "JsonlWriter", "ManifestDiff", "PullProgressMapper", "Slots", "Tagged", "TtyBar", "apply_staged",
    "boot_entry", "cached_update_of_commit", "deploy_image", "entry_facts", "glib_format_size",
    "host_document", "host_status", "human_bytes", "human_duration", "human_readable", "image_of_commit",
    "image_status", "imgref_alternate", "imgref_for_switch", "imgref_of_spec", "importing_event",
    "kargs_for_deploy", "origin_imgref", "partition", "pull", "rfc3339_utc", "rollback", "spec_image",
    "stage_event", "start_event", "switch", "to_canonical_json", "to_yaml", "transport_to_string", "upgrade",
]
