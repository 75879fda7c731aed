"""bootc over a sysroot: ``bootc status`` in bootc's host schema, ``upgrade``,
``switch``, ``rollback``, and ostree-ext's ``container image deploy``.

The first half is pure: the host document (``org.containers.bootc/v1``,
``BootcHost``) built from values, its JSON (RFC 8785 canonical, as bootc
writes it), YAML (serde_yaml's output, in struct order) and human-readable
renderings, the layer diff, bootc's progress-v0 JSON Lines events, and the
texts bootc prints. The second half does the I/O: it reads a sysroot's
deployments and their images, pulls through :mod:`ostreepy.container.store`
and deploys through :class:`ostreepy.sysroot.Sysroot`.

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

import json
import math
import os
import re
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import (Any, Callable, Dict, List, Mapping, Optional, Sequence, TextIO, Tuple,
                    Union)

import attrs

from .container.imgref import ImageRefError, ImageReference, OstreeImageReference, SigVerify, Transport
from .deployment import Deployment
from .errors import DeployError, OstreeError
from .keyfile import KeyFile
from .progress import ProgressEvent

__all__ = [
    "BootcError", "ImageMeta", "EntryFacts", "Slots", "partition", "host_document", "spec_image",
    "to_canonical_json", "to_yaml", "human_readable", "ManifestDiff", "PullProgressMapper",
    "stage_event", "start_event", "JsonlWriter", "Console", "host_status", "deploy_image", "upgrade",
    "switch", "rollback",
]

API_VERSION = "org.containers.bootc/v1"
KIND = "BootcHost"
#: progress_jsonl.rs API_VERSION
PROGRESS_API_VERSION = "0.1.0"
#: ostree-ext's ORIGIN_CONTAINER: the origin key holding the image reference
ORIGIN_CONTAINER = "container-image-reference"
BOOTC_COMPAT_LABEL = "containers.bootc"
OSTREE_BOOTABLE_LABEL = "ostree.bootable"
KARGS_D = "usr/lib/bootc/kargs.d"
#: the image reference key of the merge commit metadata, as ostree-ext writes it
META_MANIFEST_DIGEST = "ostree.manifest-digest"
META_MANIFEST = "ostree.manifest"
META_CONFIG = "ostree.container.image-config"
#: detached metadata of the deployed commit: an update seen by ``upgrade --check``
CACHED_MANIFEST_DIGEST = "ostree-ext.cached.manifest-digest"
CACHED_MANIFEST = "ostree-ext.cached.manifest"
CACHED_CONFIG = "ostree-ext.cached.config"
BLACK_CIRCLE = "\u25cf"


class BootcError(DeployError):
    """A bootc verb that cannot do what was asked; nothing was changed."""


# =============================================================================== pure: references


def transport_to_string(t: Transport) -> str:
    """bootc's ``transport_to_string``: ``registry``, ``oci``, ``oci-archive``..."""
    return t.value


def spec_image(oref: OstreeImageReference) -> Dict[str, Any]:
    """bootc's ``ImageReference`` (``image``, ``transport``, ``signature``?)
    of an ostree-ext reference; an unverified one has no ``signature``."""
    out: Dict[str, Any] = {"image": oref.imgref.name, "transport": transport_to_string(oref.imgref.transport)}
    if oref.sigverify is SigVerify.CONTAINER_POLICY:
        out["signature"] = "containerPolicy"
    elif oref.sigverify is SigVerify.OSTREE_REMOTE:
        out["signature"] = Tagged("ostreeRemote", oref.remote or "")
    return out


def imgref_of_spec(image: Mapping[str, Any]) -> OstreeImageReference:
    """The ostree-ext reference of a bootc ``ImageReference`` (for pulling)."""
    ref = ImageReference(Transport.parse(image["transport"]), image["image"])
    sig = image.get("signature")
    if isinstance(sig, Tagged):
        return OstreeImageReference(SigVerify.OSTREE_REMOTE, ref, sig.value)
    if sig == "containerPolicy":
        return OstreeImageReference(SigVerify.CONTAINER_POLICY, ref)
    return OstreeImageReference(SigVerify.INSECURE, ref)


def imgref_alternate(oref: OstreeImageReference) -> str:
    """ostree-ext's ``{:#}``: ``docker://NAME`` for an unverified registry
    image, the usual form otherwise."""
    if oref.sigverify is SigVerify.INSECURE and oref.imgref.transport is Transport.REGISTRY:
        return str(oref.imgref)
    return str(oref)


def imgref_for_switch(target: str, transport: str = "registry") -> OstreeImageReference:
    """``bootc switch TARGET --transport T``: an unverified reference."""
    try:
        t = Transport.parse(transport)
    except ImageRefError as e:
        raise BootcError(str(e)) from None
    if not target:
        raise BootcError("Invalid empty image name")
    return OstreeImageReference(SigVerify.INSECURE, ImageReference(t, target))


# =============================================================================== pure: image status


@attrs.frozen
class ImageMeta:
    """What the status needs of an image: its manifest digest, manifest and config (parsed JSON)."""

    manifest_digest: str
    manifest: Mapping[str, Any]
    config: Mapping[str, Any]

    @property
    def labels(self) -> Mapping[str, str]:
        return ((self.config.get("config") or {}).get("Labels") or {})

    @property
    def version(self) -> Optional[str]:
        """ostree-ext's ``version_for_config``: the OCI version label, then ``version``."""
        for k in ("org.opencontainers.image.version", "version"):
            v = self.labels.get(k)
            if v is not None:
                return v
        return None

    @property
    def timestamp(self) -> Optional[str]:
        """The ``org.opencontainers.image.created`` label, else the config's
        ``created``, as chrono prints a UTC time; None when unparsable."""
        t = self.labels.get("org.opencontainers.image.created") or self.config.get("created")
        return rfc3339_utc(t) if t else None

    @property
    def architecture(self) -> str:
        return str(self.config.get("architecture", ""))


_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def rfc3339_utc(text: str) -> Optional[str]:
    """Parse RFC 3339 and print it as chrono's ``DateTime<Utc>`` serializes:
    ``YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]Z`` (fraction only when non-zero)."""
    m = _RFC3339.match(text.strip())
    if not m:
        return None
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    frac = (m.group(7) or ".")[1:]
    nanos = int((frac + "000000000")[:9]) if frac else 0
    tz = m.group(8)
    offset = timedelta(0)
    if tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        offset = sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
    try:
        # a leap second (:60) is read as :59, as chrono keeps it in the fraction
        dt = datetime(y, mo, d, h, mi, min(s, 59), tzinfo=timezone(offset)).astimezone(timezone.utc)
    except ValueError:
        return None
    out = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        if nanos % 1_000_000 == 0:
            out += f".{nanos // 1_000_000:03d}"
        elif nanos % 1000 == 0:
            out += f".{nanos // 1000:06d}"
        else:
            out += f".{nanos:09d}"
    return out + "Z"


def image_status(image: Mapping[str, Any], meta: ImageMeta) -> Dict[str, Any]:
    """bootc's ``create_imagestatus`` (``ImageStatus`` in struct order)."""
    return {"image": dict(image), "version": meta.version, "timestamp": meta.timestamp,
            "imageDigest": meta.manifest_digest, "architecture": meta.architecture}


@attrs.frozen
class EntryFacts:
    """What the I/O side found about one deployment."""

    deployment: Deployment
    imgref: Optional[OstreeImageReference] = None
    image: Optional[ImageMeta] = None
    cached: Optional[ImageMeta] = None
    incompatible: bool = False


def boot_entry(f: EntryFacts) -> Dict[str, Any]:
    """bootc's ``boot_entry_from_deployment`` (``BootEntry`` in struct order)."""
    d = f.deployment
    image = cached = None
    if f.imgref is not None and f.image is not None and not f.incompatible:
        ref = spec_image(f.imgref)
        image = image_status(ref, f.image)
        cached = image_status(ref, f.cached) if f.cached is not None else None
    return {
        "image": image,
        "cachedUpdate": cached,
        "incompatible": f.incompatible,
        "pinned": d.pinned,
        "softRebootCapable": False,
        "downloadOnly": d.staged and d.finalization_locked,
        "store": "ostreeContainer",
        "ostree": {"stateroot": d.osname, "checksum": d.csum, "deploySerial": d.deployserial},
        "composefs": None,
    }


@attrs.frozen
class Slots:
    """bootc's view of the deployment list (``status::get_status``)."""

    staged: Optional[Deployment]
    booted: Optional[Deployment]
    rollback: Optional[Deployment]
    other: Tuple[Deployment, ...]
    rollback_queued: bool


def partition(deployments: Sequence[Deployment], booted: Optional[Deployment]) -> Slots:
    """Staged and rollback come from the booted stateroot only: the rollback
    is the first deployment of it that is neither staged nor booted; the
    rest of it, then the other stateroots, are "other". Without a booted
    deployment nothing is staged or rollback."""
    stateroot = booted.osname if booted is not None else None
    related = [d for d in deployments if stateroot is not None and d.osname == stateroot]
    unrelated = [d for d in deployments if not (stateroot is not None and d.osname == stateroot)]
    staged = next((d for d in related if d.staged), None)
    related = [d for d in related if not d.staged and not d.same(booted)]
    rollback = related.pop(0) if related else None
    queued = booted is not None and rollback is not None and rollback.index < booted.index
    return Slots(staged, booted, rollback, tuple(related + unrelated), queued)


def host_document(slots: Slots, facts: Callable[[Deployment], EntryFacts], *,
                  booted_only: bool = False) -> Dict[str, Any]:
    """bootc's ``Host`` in struct order; ``booted_only`` is ``--booted``
    (``filter_to_slot(Booted)``: staged and rollback dropped, other kept)."""
    def entry(d: Optional[Deployment]) -> Optional[Dict[str, Any]]:
        return boot_entry(facts(d)) if d is not None else None

    staged, booted, rollback = entry(slots.staged), entry(slots.booted), entry(slots.rollback)
    others = [boot_entry(facts(d)) for d in slots.other]
    spec: Dict[str, Any] = {"image": None, "bootOrder": "rollback" if slots.rollback_queued else "default"}
    src = staged if staged is not None else booted
    if src is not None and src["image"] is not None:
        spec["image"] = src["image"]["image"]
    else:
        spec["bootOrder"] = "default"  # HostSpec::default()
    if booted_only:
        staged = rollback = None
    status: Dict[str, Any] = {"staged": staged, "booted": booted, "rollback": rollback}
    if others:
        status["otherDeployments"] = others
    status.update({
        "rollbackQueued": slots.rollback_queued,
        "type": "bootcHost" if booted is not None and booted["image"] is not None else None,
        "usrOverlay": None,
        "readOnly": False,
    })
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": "host"}, "spec": spec,
            "status": status}


# =============================================================================== pure: JSON and YAML


@attrs.frozen
class Tagged:
    """An externally tagged enum variant with a value (``{"ostreeRemote": "r"}``
    in JSON, ``!ostreeRemote r`` in YAML)."""

    tag: str
    value: Any


def _plain_json(obj: Any) -> Any:
    if isinstance(obj, Tagged):
        return {obj.tag: _plain_json(obj.value)}
    if isinstance(obj, dict):
        return {k: _plain_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain_json(v) for v in obj]
    return obj


def to_canonical_json(obj: Any) -> str:
    """RFC 8785 for the values we have (ASCII keys, integers, strings): keys
    sorted, no whitespace, no trailing newline; what bootc's canon-json prints."""
    return json.dumps(_plain_json(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_YAML_INT = re.compile(r"^[+-]?(0x[0-9a-fA-F]+|0o[0-7]+|0b[01]+|[0-9]+)$")
_YAML_FLOAT = re.compile(r"^[+-]?([0-9]+\.?[0-9]*([eE][+-]?[0-9]+)?|\.[0-9]+([eE][+-]?[0-9]+)?"
                         r"|inf|infinity|nan|\.inf|\.Inf|\.INF|\.nan|\.NaN|\.NAN)$", re.IGNORECASE)


def _yaml_ambiguous(s: str) -> bool:
    """serde_yaml's ``InferScalarStyle``: a string a plain scalar would read
    back as null, a bool, a number, or leading-zero digits, is single-quoted."""
    if s in ("", "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE"):
        return True
    return bool(_YAML_INT.match(s) or _YAML_FLOAT.match(s))


def _yaml_plain_allowed(s: str) -> bool:
    # libyaml's yaml_emitter_analyze_scalar, block context
    if not s or s.startswith(("---", "...")) or s[0] in " \t" or s[-1] in " \t":
        return False
    if any(ord(c) < 0x20 or c == "\x7f" for c in s):
        return False
    if s[0] in "#,[]{}&*!|>'\"%@`":
        return False
    if s[0] in "?:-" and (len(s) == 1 or s[1] in " \t"):
        return False
    for i, c in enumerate(s):
        nxt = s[i + 1] if i + 1 < len(s) else ""
        if c == ":" and (nxt in (" ", "\t", "")):
            return False
        if c == "#" and i > 0 and s[i - 1] in " \t":
            return False
    return True


def _yaml_str(s: str) -> str:
    if not _yaml_ambiguous(s) and _yaml_plain_allowed(s):
        return s
    if any(ord(c) < 0x20 or c == "\x7f" for c in s):
        return json.dumps(s, ensure_ascii=False)  # libyaml falls back to double quotes
    return "'" + s.replace("'", "''") + "'"


def _yaml_scalar(v: Any) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, Tagged):
        return f"!{v.tag} {_yaml_scalar(v.value)}"
    return _yaml_str(str(v))


def _yaml_lines(obj: Any, indent: int, out: List[str]) -> None:
    pad = " " * indent
    if isinstance(obj, dict):
        for k, v in obj.items():
            key = _yaml_str(str(k))
            if isinstance(v, dict) and v:
                out.append(f"{pad}{key}:")
                _yaml_lines(v, indent + 2, out)
            elif isinstance(v, (list, tuple)) and v:
                out.append(f"{pad}{key}:")
                _yaml_lines(list(v), indent, out)  # libyaml: sequences in mappings are not indented
            else:
                out.append(f"{pad}{key}: {_yaml_inline(v)}")
    else:
        for item in obj:
            if isinstance(item, dict) and item:
                sub: List[str] = []
                _yaml_lines(item, indent + 2, sub)
                sub[0] = pad + "- " + sub[0][indent + 2:]
                out.extend(sub)
            elif isinstance(item, (list, tuple)) and item:
                sub = []
                _yaml_lines(list(item), indent + 2, sub)
                sub[0] = pad + "- " + sub[0][indent + 2:]
                out.extend(sub)
            else:
                out.append(f"{pad}- {_yaml_inline(item)}")


def _yaml_inline(v: Any) -> str:
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, (list, tuple)):
        return "[]"
    return _yaml_scalar(v)


def to_yaml(obj: Mapping[str, Any]) -> str:
    """serde_yaml 0.9's output for a struct: block style, two-space indent,
    keys in the given order, strings quoted only where a plain scalar would
    read back as something else."""
    out: List[str] = []
    _yaml_lines(dict(obj), 0, out)
    return "\n".join(out) + "\n"


# =============================================================================== pure: human readable


def _row(name: str, prefix_len: int) -> str:
    return " " * max(0, prefix_len - len(name)) + name + ": "


def _render_image_slot(slot: Optional[str], entry: Mapping[str, Any], image: Mapping[str, Any]) -> List[str]:
    ref = image["image"]
    imageref = ref["image"] if ref["transport"] == "registry" else f"{ref['transport']}:{ref['image']}"
    prefix = {"staged": "  Staged image", "booted": f"{BLACK_CIRCLE} Booted image",
              "rollback": "  Rollback image"}.get(slot or "", "   Other image")
    n = len(prefix)
    lines = [f"{prefix}: {imageref}", f"{_row('Digest', n)}{image['imageDigest']} ({image['architecture']})"]
    ts = image.get("timestamp")
    ts = ts[:19] + "Z" if ts else None  # without fractions, as bootc shows it
    if image.get("version") is not None:
        lines.append(f"{_row('Version', n)}{image['version']}" + (f" ({ts})" if ts else ""))
    elif ts:
        lines.append(f"{_row('Timestamp', n)}{ts}")
    if entry.get("pinned"):
        lines.append(f"{_row('Pinned', n)}yes")
    cached = entry.get("cachedUpdate")
    if cached and cached["imageDigest"] != image["imageDigest"]:
        if cached.get("version") is not None:
            cts = cached.get("timestamp")
            lines.append(f"{_row('UpdateVersion', n)}{cached['version']}"
                         + (f" ({cts[:19]}Z)" if cts else ""))
        else:
            lines.append(f"{_row('Update', n)}Available")
        lines.append(f"{_row('UpdateDigest', n)}{cached['imageDigest']}")
    return lines


def _render_ostree_slot(slot: Optional[str], entry: Mapping[str, Any]) -> List[str]:
    prefix = {"staged": "  Staged ostree", "booted": f"{BLACK_CIRCLE} Booted ostree",
              "rollback": "  Rollback ostree"}.get(slot or "", " Other ostree")
    n = len(prefix.encode())  # bootc uses the byte length here (the glyph is 3 bytes)
    lines = [prefix, f"{_row('Commit', n)}{entry['ostree']['checksum']}"]
    if entry.get("pinned"):
        lines.append(f"{_row('Pinned', n)}yes")
    return lines


def human_readable(host: Mapping[str, Any]) -> str:
    """``bootc status --format humanreadable``."""
    st = host["status"]
    if st.get("booted") is None:
        return "System is not deployed via bootc.\n"
    blocks: List[List[str]] = []
    for slot in ("staged", "booted", "rollback"):
        e = st.get(slot)
        if e is None:
            continue
        if e.get("image") is not None:
            blocks.append(_render_image_slot(slot, e, e["image"]))
        elif e.get("ostree") is not None:
            blocks.append(_render_ostree_slot(slot, e))
        else:
            blocks.append([f"Current {slot} state is unknown"])
    for e in st.get("otherDeployments", []):
        if e.get("image") is not None:
            blocks.append(_render_image_slot(None, e, e["image"]))
        elif e.get("ostree") is not None:
            blocks.append(_render_ostree_slot(None, e))
    return "\n".join("\n".join(b) + "\n" for b in blocks)


# =============================================================================== pure: sizes, layer diff


def glib_format_size(size: int) -> str:
    """``g_format_size`` (SI, a no-break space before the unit)."""
    from .prune import format_size
    return format_size(size)


def human_bytes(n: float) -> str:
    """indicatif's ``HumanBytes``: ``512 B``, ``1.50 KiB``."""
    n = float(n)
    if n < 1024:
        return f"{n:.0f} B"
    for unit in ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi"):
        n /= 1024
        if n < 1024:
            return f"{n:.2f} {unit}B"
    return f"{n:.2f} YiB"


def human_duration(seconds: float) -> str:
    """indicatif's ``HumanDuration``: ``0 seconds``, ``1 second``, ``2 minutes``."""
    units = ((365 * 86400, "year"), (7 * 86400, "week"), (86400, "day"), (3600, "hour"), (60, "minute"),
             (1, "second"))
    idx = len(units) - 1
    for i, (cur, _name) in enumerate(units[:-1]):
        nxt = units[i + 1][0]
        if seconds + nxt / 2 >= cur + cur / 2:
            idx = i
            break
    unit, name = units[idx]
    t = int(math.floor(seconds / unit + 0.5))
    if idx < len(units) - 1:
        t = max(t, 2)
    return f"{t} {name}" if t == 1 else f"{t} {name}s"


@attrs.frozen
class ManifestDiff:
    """ostree-ext's ``ManifestDiff``: layers of ``new`` (by digest) against ``old``."""

    total: int
    total_size: int
    removed: Tuple[Mapping[str, Any], ...]
    added: Tuple[Mapping[str, Any], ...]

    @classmethod
    def between(cls, old: Mapping[str, Any], new: Mapping[str, Any]) -> "ManifestDiff":
        old_l, new_l = list(old.get("layers") or []), list(new.get("layers") or [])
        old_d, new_d = {x["digest"] for x in old_l}, {x["digest"] for x in new_l}
        return cls(len(new_l), sum(int(x.get("size", 0)) for x in new_l),
                   tuple(x for x in old_l if x["digest"] not in new_d),
                   tuple(x for x in new_l if x["digest"] not in old_d))

    def format(self) -> str:
        rs = sum(int(x.get("size", 0)) for x in self.removed)
        as_ = sum(int(x.get("size", 0)) for x in self.added)
        return (f"Total new layers: {self.total:<4}  Size: {glib_format_size(self.total_size)}\n"
                f"Removed layers:   {len(self.removed):<4}  Size: {glib_format_size(rs)}\n"
                f"Added layers:     {len(self.added):<4}  Size: {glib_format_size(as_)}\n")


# =============================================================================== pure: progress-v0


def start_event() -> Dict[str, Any]:
    return {"type": "Start", "version": PROGRESS_API_VERSION}


def _steps(task: str, description: str, ident: str, steps: int, total: int,
           subtasks: List[Dict[str, Any]]) -> Dict[str, Any]:
    return {"type": "ProgressSteps", "task": task, "description": description, "id": ident,
            "stepsCached": 0, "steps": steps, "stepsTotal": total, "subtasks": subtasks}


def importing_event(digest: str, done: bool) -> Dict[str, Any]:
    return _steps("importing", "Importing Image", digest, 1 if done else 0, 1,
                  [{"subtask": "importing", "description": "Importing Image", "id": "importing",
                    "completed": done}])


_STAGE_SUBTASKS = (("merging", "Merging Image", "fetching"), ("deploying", "Deploying Image", "deploying"),
                   ("bound_images", "Pulling Bound Images", "bound_images"),
                   ("cleanup", "Removing old images", "cleanup"))
_STAGE_STEPS = (0, 1, 1, 2, 3)


def stage_event(digest: str, phase: int) -> Dict[str, Any]:
    """The ``staging`` event bootc's ``deploy::stage`` sends at ``phase``
    0..4: done subtasks then the current one; the last one lists ``cleanup``
    twice, as bootc does."""
    subs = []
    for i, (name, desc, ident) in enumerate(_STAGE_SUBTASKS[:min(phase, 3) + 1]):
        subs.append({"subtask": name, "description": desc, "id": ident, "completed": i < phase})
    if phase == 4:
        name, desc, ident = _STAGE_SUBTASKS[3]
        subs.append({"subtask": name, "description": desc, "id": ident, "completed": True})
    return _steps("staging", "Deploying Image", digest, _STAGE_STEPS[phase], 3, subs)


def _hex_of(digest: str) -> str:
    return digest.split(":", 1)[-1]


class PullProgressMapper:
    """Turns the pull's :class:`ProgressEvent` s into bootc's ``pulling``
    and ``importing`` events (``handle_layer_progress_print``). ``feed``
    returns ``(event, lossy)`` pairs to send."""

    def __init__(self, digest: str, *, layers_total: int, layers_to_fetch: int, bytes_total: int,
                 bytes_to_fetch: int) -> None:
        self.digest = digest
        self.layers_total, self.layers_to_fetch = layers_total, layers_to_fetch
        self.bytes_total, self.bytes_to_fetch = bytes_total, bytes_to_fetch
        self.total_read = 0
        self.steps = 0
        self.done: List[Dict[str, Any]] = []
        # layers being fetched, by digest (the store fetches a few at once)
        self.current: Dict[str, Dict[str, Any]] = {}
        self.import_started = False
        self.import_done = False

    def _bytes_event(self, current_bytes: int, subtasks: List[Dict[str, Any]]) -> Dict[str, Any]:
        return {"type": "ProgressBytes", "task": "pulling", "description": f"Pulling Image: {self.digest}",
                "id": self.digest, "bytesCached": self.bytes_total - self.bytes_to_fetch,
                "bytes": self.total_read + current_bytes, "bytesTotal": self.bytes_to_fetch,
                "stepsCached": self.layers_total - self.layers_to_fetch, "steps": self.steps,
                "stepsTotal": self.layers_to_fetch, "subtasks": subtasks}

    def _in_flight(self) -> Tuple[int, List[Dict[str, Any]]]:
        cur = list(self.current.values())
        return sum(c["bytes"] for c in cur), [dict(c) for c in cur]

    def feed(self, ev: ProgressEvent) -> List[Tuple[Dict[str, Any], bool]]:
        digest = ev.get("digest")
        if ev.kind == "layer-start":
            kind = ev.get("kind") or "layer"
            short = _hex_of(digest)[:21]
            self.current[digest] = {"subtask": kind, "description": f"{kind}: {short}", "id": short,
                                    "bytesCached": 0, "bytes": 0, "bytesTotal": int(ev.get("size") or 0)}
            return []
        if ev.kind == "layer-bytes" and digest in self.current:
            cur = self.current[digest]
            if ev.get("total") is not None:
                cur["bytesTotal"] = int(ev["total"])
            cur["bytes"] = int(ev.get("done") or 0)
            n, subs = self._in_flight()
            return [(self._bytes_event(n, self.done + subs), True)]
        if ev.kind == "layer-done" and digest in self.current:
            cur = self.current.pop(digest)
            cur["bytes"] = cur["bytesTotal"]  # bytes == total signals completion
            self.steps += 1
            self.total_read += cur["bytesTotal"]
            self.done.append(cur)
            n, subs = self._in_flight()
            return [(self._bytes_event(n, self.done + subs), False)]
        if ev.kind == "import-start":
            return self.start_import()
        if ev.kind == "import-done":
            return self.finish_import()
        return []

    def start_import(self) -> List[Tuple[Dict[str, Any], bool]]:
        if self.import_started:
            return []
        self.import_started = True
        return [(importing_event(self.digest, False), False)]

    def finish_import(self) -> List[Tuple[Dict[str, Any], bool]]:
        out = self.start_import()
        if not self.import_done:
            self.import_done = True
            out.append((importing_event(self.digest, True), False))
        return out


# =============================================================================== I/O: output


class JsonlWriter:
    """``--progress-fd``: one canonical JSON document per line, flushed,
    ``Start`` first; lossy events within 200 ms of the last write dropped;
    a write error disables the writer (as bootc's ``ProgressWriter``)."""

    REFRESH = 0.2

    def __init__(self, fd: int) -> None:
        if fd in (0, 1, 2):
            raise BootcError(f"Cannot use fd {fd} for progress JSON")
        try:
            self._f: Optional[Any] = os.fdopen(fd, "wb", buffering=0, closefd=True)
        except OSError as e:
            raise BootcError(f"Opening progress fd {fd}: {e.strerror}") from None
        self._started = False
        self._last: Optional[float] = None

    def send(self, event: Mapping[str, Any], lossy: bool = False) -> None:
        if self._f is None:
            return
        try:
            if not self._started:
                self._started = True
                self._f.write(to_canonical_json(start_event()).encode() + b"\n")
            now = time.monotonic()
            if lossy and self._last is not None and now - self._last < self.REFRESH:
                return
            self._f.write(to_canonical_json(event).encode() + b"\n")
            self._last = now
        except OSError as e:
            sys.stderr.write(f"Failed to write to jsonl: {e}\n")
            self._f = None

    def close(self) -> None:
        if self._f is not None:
            try:
                self._f.close()
            except OSError:
                pass
            self._f = None


class TtyBar:
    """A one-line layer progress bar on a terminal (stderr)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown = False
        self.label = ""

    def __call__(self, ev: ProgressEvent) -> None:
        if ev.kind == "layer-start":
            self.label = f"Fetching {ev.get('kind') or 'layer'} {_hex_of(ev['digest'])[:19]}"
            self._draw(0, int(ev.get("size") or 0))
        elif ev.kind == "layer-bytes":
            self._draw(int(ev.get("done") or 0), int(ev.get("total") or 0))
        elif ev.kind == "import-start":
            self.clear()

    def _draw(self, done: int, total: int) -> None:
        width = 24
        fill = int(width * done / total) if total else 0
        self.stream.write(f"\r\x1b[K{self.label} [{'#' * fill}{' ' * (width - fill)}] "
                          f"{human_bytes(done)}/{human_bytes(total)}")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


@attrs.define
class Console:
    """Where an operation's output goes: stdout lines, stderr lines, the
    progress-v0 writer, and whether stderr is a terminal (progress bar)."""

    out: Callable[[str], None] = attrs.field(factory=lambda: _writer(sys.stdout))
    err: Callable[[str], None] = attrs.field(factory=lambda: _writer(sys.stderr))
    jsonl: Optional[JsonlWriter] = None
    tty: bool = False
    quiet: bool = False

    def send(self, event: Mapping[str, Any], lossy: bool = False) -> None:
        if self.jsonl is not None:
            self.jsonl.send(event, lossy)


def _writer(stream: TextIO) -> Callable[[str], None]:
    def w(line: str) -> None:
        stream.write(line + "\n")
        stream.flush()
    return w


# =============================================================================== I/O: reading images


def _meta_str(meta: Mapping[str, Any], key: str) -> Optional[str]:
    v = meta.get(key)
    if v is None:
        return None
    v = getattr(v, "value", v)
    return v if isinstance(v, str) else None


def _image_meta(meta: Mapping[str, Any], kd: str, km: str, kc: str) -> Optional[ImageMeta]:
    digest, manifest, config = _meta_str(meta, kd), _meta_str(meta, km), _meta_str(meta, kc)
    if digest is None or manifest is None or config is None:
        return None
    try:
        return ImageMeta(digest, json.loads(manifest), json.loads(config))
    except ValueError:
        return None


def image_of_commit(repo: Any, csum: str) -> Optional[ImageMeta]:
    """The image a merge commit was made from (ostree-ext's commit metadata)."""
    try:
        meta = repo.load_commit(csum).metadata
    except OstreeError:
        return None
    return _image_meta(meta, META_MANIFEST_DIGEST, META_MANIFEST, META_CONFIG)


def cached_update_of_commit(repo: Any, csum: str) -> Optional[ImageMeta]:
    """An update ``upgrade --check`` cached in the commit's detached metadata."""
    try:
        meta = repo.read_commit_detached_metadata(csum)
    except OstreeError:
        return None
    return _image_meta(meta or {}, CACHED_MANIFEST_DIGEST, CACHED_MANIFEST, CACHED_CONFIG)


def origin_imgref(origin: Optional[KeyFile]) -> Optional[OstreeImageReference]:
    v = origin.get("origin", ORIGIN_CONTAINER) if origin is not None else None
    if v is None:
        return None
    try:
        return OstreeImageReference.parse(v)
    except ImageRefError as e:
        raise BootcError(f"Parsing origin {ORIGIN_CONTAINER}={v}: {e}") from None


def entry_facts(sr: Any, d: Deployment) -> EntryFacts:
    origin = d.origin
    if origin is None:
        return EntryFacts(d)
    # rpm-ostree's client-side changes make a deployment unrepresentable as an image
    incompatible = any(origin.has_group(g) for g in ("rpmostree", "packages", "overrides", "modules"))
    ref = origin_imgref(origin)
    if ref is None or incompatible:
        return EntryFacts(d, incompatible=incompatible)
    return EntryFacts(d, ref, image_of_commit(sr.repo, d.csum), cached_update_of_commit(sr.repo, d.csum))


def host_status(sr: Any, *, booted_only: bool = False) -> Dict[str, Any]:
    """The host document of an opened :class:`~ostreepy.sysroot.Sysroot`."""
    slots = partition(sr.deployments, sr.booted)
    cache: Dict[Tuple[str, str, int], EntryFacts] = {}

    def facts(d: Deployment) -> EntryFacts:
        if d.key not in cache:
            cache[d.key] = entry_facts(sr, d)
        return cache[d.key]
    return host_document(slots, facts, booted_only=booted_only)


# =============================================================================== I/O: kargs.d


def _kargsd_of_commit(repo: Any, csum: str) -> Optional[List[Tuple[str, bytes]]]:
    """``(name, data)`` of the files in the commit's kargs.d, None when it has none."""
    tree = repo.load_commit(csum).root_tree
    for comp in KARGS_D.split("/"):
        tree = next((t for name, t, _m in repo.load_dirtree(tree).dirs if name == comp), None)
        if tree is None:
            return None
    out = []
    for name, fcsum in repo.load_dirtree(tree).files:
        header, stream = repo.load_file(fcsum)
        if header.is_symlink or stream is None:
            continue
        with stream:
            out.append((name, stream.read()))
    return out


def _kargsd_of_dir(root: str) -> List[Tuple[str, bytes]]:
    d = os.path.join(root, KARGS_D)
    out = []
    try:
        names = sorted(os.listdir(d))
    except (FileNotFoundError, NotADirectoryError):
        return []
    for n in names:
        p = os.path.join(d, n)
        if os.path.isfile(p) and not os.path.islink(p):
            with open(p, "rb") as f:
                out.append((n, f.read()))
    return out


def kargs_for_deploy(sr: Any, commit: str, merge: Optional[Deployment],
                     extra: Sequence[str] = ()) -> List[str]:
    """The kernel arguments of a new deployment of ``commit``: with a merge
    deployment, bootc's ``get_kargs`` (its kargs, minus the kargs.d kargs the
    new image dropped, plus those it added); without one, the new image's
    kargs.d kargs (as ``bootc install``). ``extra`` (``--karg``) goes last."""
    from bootloader.kargsd import kargs_for_upgrade, kargs_from_files, rust_arch
    arch = rust_arch()
    new_files = _kargsd_of_commit(sr.repo, commit)
    if merge is None:
        base = kargs_from_files(new_files or [], arch)
    else:
        old_files = _kargsd_of_dir(sr.deployment_dir(merge))
        base = kargs_for_upgrade(merge.nonostree_kargs, old_files, new_files, arch)
    return list(base) + list(extra)


# =============================================================================== I/O: pulling


@attrs.frozen
class Fetched:
    """An image in the repository, ready to deploy."""

    merge_commit: str
    manifest_digest: str
    meta: ImageMeta
    fetched: bool  # False: it was already there

    @property
    def version(self) -> Optional[str]:
        return self.meta.version


def check_bootc_label(config: Mapping[str, Any], console: Console) -> None:
    labels = ((config.get("config") or {}).get("Labels") or {})
    v = labels.get(BOOTC_COMPAT_LABEL)
    if v is None:
        console.err(f"notice: Image is missing label: {BOOTC_COMPAT_LABEL}")
    elif v != "1":
        console.err(f"notice: Unknown {BOOTC_COMPAT_LABEL} value {v}")


def _check_repo_space(sr: Any, needed: int, oref: OstreeImageReference) -> None:
    st = os.statvfs(sr.abspath("ostree/repo"))
    avail = st.f_bsize * st.f_bavail
    if needed > avail:
        raise BootcError(f"Insufficient free space for {oref.imgref.name} (available: "
                         f"{glib_format_size(avail)} required: {glib_format_size(needed)})")


def _as_meta(digest: str, manifest: Union[bytes, str, Mapping[str, Any]],
             config: Union[bytes, str, Mapping[str, Any]]) -> ImageMeta:
    def load(x: Any) -> Mapping[str, Any]:
        return x if isinstance(x, Mapping) else json.loads(x)
    return ImageMeta(digest, load(manifest), load(config))


def pull(sr: Any, oref: OstreeImageReference, console: Console, *, options: Any = None,
         bootable: bool = False, print_status: bool = True, target: Optional[OstreeImageReference] = None,
         write_image_ref: bool = True) -> Fetched:
    """bootc's ``deploy::pull``: nothing fetched when the stored image has the
    same manifest; else layer status, a space check, the layers (with
    progress), the import."""
    from .container import store
    repo = sr.repo
    prep = store.prepare_image(repo, str(oref), options=options)
    if bootable:
        labels = (json.loads(prep.config).get("config") or {}).get("Labels") or {}
        if OSTREE_BOOTABLE_LABEL not in labels and BOOTC_COMPAT_LABEL not in labels:
            raise BootcError(f"Target image does not have {OSTREE_BOOTABLE_LABEL} label")
    if prep.already_present and prep.previous is not None:
        if print_status:
            console.out(f"No changes in {imgref_alternate(oref)} => {prep.manifest_digest}")
        return Fetched(prep.previous.merge_commit, prep.manifest_digest,
                       _as_meta(prep.manifest_digest, prep.manifest, prep.config), False)
    cache_pending(repo, prep)
    if print_status:
        check_bootc_label(json.loads(prep.config), console)
        status = prep.format_layer_status()
        if status:
            console.out(status)
    _check_repo_space(sr, prep.bytes_needed, oref)
    layers = list(json.loads(prep.manifest).get("layers") or [])
    mapper = PullProgressMapper(prep.manifest_digest, layers_total=len(layers),
                                layers_to_fetch=prep.layers_needed,
                                bytes_total=sum(int(x.get("size", 0)) for x in layers),
                                bytes_to_fetch=prep.bytes_needed)
    bar = TtyBar(sys.stderr) if console.tty and not console.quiet else None
    lock = threading.Lock()  # layers arrive from the store's fetch threads
    started = time.monotonic()

    def on_progress(ev: ProgressEvent) -> None:
        with lock:
            if bar is not None:
                bar(ev)
            for event, lossy in mapper.feed(ev):
                console.send(event, lossy)
    # Take the repository lock here, before the store's fetch threads do: RepoLock
    # is not thread-safe, and two threads opening its fd at once leak a shared lock
    # that a later exclusive lock (the prune after deploy) waits on forever.
    with repo.locked():
        result = store.pull_image(repo, str(oref), options=options, progress=on_progress, prepared=prep,
                                  write_image_ref=write_image_ref,
                                  target_imgref=str(target) if target is not None else None)
    if bar is not None:
        bar.clear()
    if bar is not None and print_status:
        elapsed = time.monotonic() - started
        rate = mapper.total_read / elapsed if elapsed > 0 else 0
        console.err(f"Fetched layers: {human_bytes(mapper.total_read)} in {human_duration(elapsed)} "
                    f"({human_bytes(int(rate))}/s)")
    for event, lossy in mapper.finish_import():
        console.send(event, lossy)
    return Fetched(result.merge_commit, result.manifest_digest,
                   _as_meta(result.manifest_digest, result.manifest, result.config), not result.already_present)


def cache_pending(repo: Any, prep: Any) -> None:
    """ostree-ext's ``cache_pending`` (done by ``prepare`` when the image
    changed): the new manifest and config, canonical JSON, become the
    detached metadata of the stored image's commit, replacing what was
    there; status shows them as ``cachedUpdate``."""
    from .container.store import canonical_json
    from .gvariant import Variant
    if prep.previous is None or prep.already_present:
        return
    repo.write_commit_detached_metadata(prep.previous.merge_commit, {
        CACHED_MANIFEST_DIGEST: Variant("s", prep.manifest_digest),
        CACHED_MANIFEST: Variant("s", canonical_json(json.loads(prep.manifest))),
        CACHED_CONFIG: Variant("s", canonical_json(json.loads(prep.config))),
    })


# =============================================================================== I/O: deploying


def origin_for(oref: OstreeImageReference) -> KeyFile:
    """The origin bootc and ostree-ext write: ``[origin] container-image-reference=...``."""
    kf = KeyFile()
    kf.set("origin", ORIGIN_CONTAINER, str(oref))
    return kf


def preview(sr: Any, commit: str, osname: str, merge: Optional[Deployment], console: Console) -> None:
    """Say what the /etc merge will do, and refuse before anything changes
    when it cannot be done or the space is missing."""
    from .etcmerge import format_plan
    plan = sr.preview_etc_merge(commit, osname, merge)
    for line in format_plan(plan).rstrip("\n").split("\n"):
        console.out(line)
    if plan.error:
        raise BootcError(f"Refusing to deploy: {plan.error}")
    sr.check_space(commit)


def stage(sr: Any, osname: str, fetched: Fetched, oref: OstreeImageReference, console: Console,
          merge: Optional[Deployment], *, apply: bool = False) -> Deployment:
    """bootc's ``deploy::stage`` with its progress events and messages."""
    digest = fetched.manifest_digest
    console.send(stage_event(digest, 0))
    kargs = kargs_for_deploy(sr, fetched.merge_commit, merge)
    console.send(stage_event(digest, 1))
    d = sr.deploy(osname, fetched.merge_commit, origin_for(oref), override_kargs=kargs, stage=True,
                  check_space=False)
    console.send(stage_event(digest, 2))
    console.send(stage_event(digest, 3))
    console.out(f"Queued for next boot: {imgref_alternate(oref)}")
    if fetched.version is not None:
        console.out(f"  Version: {fetched.version}")
    console.out(f"  Digest: {digest}")
    console.send(stage_event(digest, 4))
    return d


def apply_staged(sr: Any, console: Console) -> None:
    """``--apply`` in a folder sysroot: finalize the staged deployment now
    (what happens at shutdown before the reboot bootc would do)."""
    d = sr.finalize_staged()
    if d is not None:
        console.out(f"Applied: {d.osname} {d.name} is now the default deployment")


def _require_booted(sr: Any) -> Deployment:
    if sr.booted is None:
        raise BootcError("Not booted into a bootc deployment (no deployments in "
                         f"{sr.path}, or --booted-cmdline names none)")
    return sr.booted


def upgrade(sr: Any, console: Console, *, check: bool = False, download_only: bool = False,
            from_downloaded: bool = False, apply: bool = False, dry_run: bool = False,
            options: Any = None) -> int:
    """``bootc upgrade``."""
    from .container import store
    booted = _require_booted(sr)
    host = host_status(sr)
    spec_img = host["spec"]["image"]
    if spec_img is None:
        if any(host["status"].get(s) and host["status"][s]["incompatible"] for s in ("booted", "staged")):
            raise BootcError("Deployment contains local rpm-ostree modifications; cannot upgrade via bootc. "
                             "You can run `rpm-ostree reset` to undo the modifications.")
        raise BootcError("No image source specified")
    oref = imgref_of_spec(spec_img)
    booted_image = image_of_commit(sr.repo, booted.csum) if host["status"]["booted"]["image"] else None
    staged_entry = host["status"]["staged"]
    staged_digest = staged_entry["image"]["imageDigest"] if staged_entry and staged_entry["image"] else None

    if from_downloaded:
        # the image --download-only fetched, staged now without touching the source
        state = store.query_image(sr.repo, oref)
        if state is None:
            raise BootcError(f"No downloaded image for {imgref_alternate(oref)}; run upgrade --download-only")
        if staged_digest == state.manifest_digest:
            console.out("Staged deployment is already set to apply on reboot")
        elif booted_image is not None and booted_image.manifest_digest == state.manifest_digest:
            console.out("No update available.")
            return 0
        else:
            fetched = Fetched(state.merge_commit, state.manifest_digest,
                              _as_meta(state.manifest_digest, state.manifest, state.config), False)
            merge = sr.get_merge_deployment(booted.osname)
            preview(sr, fetched.merge_commit, booted.osname, merge, console)
            stage(sr, booted.osname, fetched, oref, console, merge)
            console.out("Staged deployment will now be applied on reboot")
        if apply:
            apply_staged(sr, console)
        return 0

    if check:
        prep = store.prepare_image(sr.repo, str(oref), options=options)
        if prep.already_present:
            console.out(f"No changes in: {imgref_alternate(oref)}")
            return 0
        config = json.loads(prep.config)
        check_bootc_label(config, console)
        console.out(f"Update available for: {imgref_alternate(oref)}")
        version = ImageMeta(prep.manifest_digest, {}, config).version
        if version is not None:
            console.out(f"  Version: {version}")
        console.out(f"  Digest: {prep.manifest_digest}")
        cache_pending(sr.repo, prep)
        if booted_image is not None:
            console.out(ManifestDiff.between(booted_image.manifest, json.loads(prep.manifest)).format().rstrip("\n"))
        return 0

    fetched = pull(sr, oref, console, options=options)
    if staged_digest is not None and staged_digest == fetched.manifest_digest:
        console.out("Staged update present, not changed")
        if apply:
            apply_staged(sr, console)
        return 0
    if booted_image is not None and booted_image.manifest_digest == fetched.manifest_digest:
        console.out("No update available.")
        return 0
    if download_only:
        console.out("Image downloaded, but will not be applied on reboot")
        return 0
    merge = sr.get_merge_deployment(booted.osname)
    preview(sr, fetched.merge_commit, booted.osname, merge, console)
    if dry_run:
        return 0
    stage(sr, booted.osname, fetched, oref, console, merge)
    if booted_image is not None:
        console.out(ManifestDiff.between(booted_image.manifest, fetched.meta.manifest).format().rstrip("\n"))
    if apply:
        apply_staged(sr, console)
    return 0


def switch(sr: Any, console: Console, target: OstreeImageReference, *, apply: bool = False,
           retain: bool = False, dry_run: bool = False, options: Any = None) -> int:
    """``bootc switch``."""
    booted = _require_booted(sr)
    host = host_status(sr)
    if host["spec"]["image"] == spec_image(target):
        console.out("Image specification is unchanged.")
        if apply and host["status"]["staged"] is not None:
            apply_staged(sr, console)
        return 0
    fetched = pull(sr, target, console, options=options)
    merge = sr.get_merge_deployment(booted.osname)
    preview(sr, fetched.merge_commit, booted.osname, merge, console)
    if dry_run:
        return 0
    if not retain:
        # the previous ostree ref goes, so that it is pruned after later upgrades
        refspec = booted.origin.get("origin", "refspec") if booted.origin is not None else None
        if refspec:
            ref = refspec.split(":", 1)[-1]
            if sr.repo.resolve_rev(ref, allow_noent=True) is not None:
                sr.repo.set_ref(ref, None)
    stage(sr, booted.osname, fetched, target, console, merge)
    if apply:
        apply_staged(sr, console)
    return 0


def rollback(sr: Any, console: Console) -> int:
    """``bootc rollback``: the rollback deployment first (or, when a rollback
    is queued, the booted one first again); a staged deployment is dropped."""
    booted = _require_booted(sr)
    slots = partition(sr.deployments, booted)
    reverting = slots.rollback_queued
    if reverting:
        console.out("notice: Reverting queued rollback state")
    if slots.rollback is None:
        raise BootcError("No rollback available")
    if origin_imgref(slots.rollback.origin) is None or image_of_commit(sr.repo, slots.rollback.csum) is None:
        raise BootcError("Rollback is not container image based")
    first = [booted, slots.rollback] if reverting else [slots.rollback, booted]
    sr.write_deployments(first + [d for d in slots.other if not d.staged])
    console.out("Next boot: current deployment" if reverting else "Next boot: rollback deployment")
    return 0


def deploy_image(sr: Any, stateroot: str, oref: OstreeImageReference, console: Console, *,
                 target: Optional[OstreeImageReference] = None, kargs: Sequence[str] = (),
                 no_imgref: bool = False, options: Any = None) -> Fetched:
    """ostree-ext's ``container image deploy``: pull (the image must be
    bootable), then deploy with the origin ``container-image-reference`` of
    ``target`` (or ``oref``); staged when a deployment is booted. Kernel
    arguments: bootc kargs.d of the image (carried over from the merge
    deployment as ``bootc upgrade`` does), then ``kargs``."""
    fetched = pull(sr, oref, console, options=options, bootable=True, print_status=False, target=target,
                   write_image_ref=not no_imgref)
    merge = sr.get_merge_deployment(stateroot)
    override = kargs_for_deploy(sr, fetched.merge_commit, merge if not kargs else None, kargs)
    origin = origin_for(target or oref)
    sr.deploy(stateroot, fetched.merge_commit, origin, override_kargs=override,
              stage=sr.booted is not None)
    return fetched
