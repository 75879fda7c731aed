"""Renderings of the host document and of the texts bootc prints: RFC 8785
canonical JSON (as bootc writes it), YAML in serde_yaml's output and struct
order, the human-readable status, sizes and durations, and the layer diff
of an upgrade. Pure functions of values.
"""

from __future__ import annotations

import json
import math
import re
from typing import (Any, List, Mapping, Optional, Tuple)

import attrs

from .schema import Tagged


BLACK_CIRCLE = "\u25cf"


# =============================================================================== pure: JSON and YAML


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


def signature_text(sig: Any) -> Optional[str]:
    """bootc's verbose ``Signature:`` row for an ``ImageReference.signature``: how the
    image is verified (``ostree-remote:NAME``, ``container-policy``, ``insecure``)."""
    if sig is None:
        return None
    if isinstance(sig, Tagged) and sig.tag == "ostreeRemote":
        return f"ostree-remote:{sig.value}"
    if isinstance(sig, Mapping) and "ostreeRemote" in sig:  # a document read back from JSON
        return f"ostree-remote:{sig['ostreeRemote']}"
    return {"containerPolicy": "container-policy", "insecure": "insecure"}.get(str(sig), str(sig))


def _verbose_ostree_rows(slot: Optional[str], entry: Mapping[str, Any], n: int) -> List[str]:
    o = entry.get("ostree")
    if not o:
        return []
    return [f"{_row('StateRoot', n)}{o['stateroot']}", f"{_row('Deploy serial', n)}{o['deploySerial']}",
            f"{_row('Staged', n)}{'yes' if slot == 'staged' else 'no'}"]


def _verbose_tail_rows(slot: Optional[str], entry: Mapping[str, Any], n: int, fsverity: bool) -> List[str]:
    lines = [f"{_row('Soft-reboot', n)}{'yes' if entry.get('softRebootCapable') else 'no'}"]
    cfs = entry.get("composefs")
    if fsverity and cfs:
        lines.append(f"{_row('FsVerity', n)}{'Not Enforced' if cfs.get('missingVerityAllowed') else 'Enforced'}")
    if slot == "staged":
        lines.append(f"{_row('Download-only', n)}{'yes' if entry.get('downloadOnly') else 'no'}")
    return lines


def _render_image_slot(slot: Optional[str], entry: Mapping[str, Any], image: Mapping[str, Any],
                       verbose: bool = False) -> List[str]:
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
    if verbose:
        # bootc's order: the ostree rows, Commit, Signature, Soft-reboot, FsVerity, Download-only
        lines += _verbose_ostree_rows(slot, entry, n)
        if entry.get("ostree"):
            lines.append(f"{_row('Commit', n)}{entry['ostree']['checksum']}")
        sig = signature_text(ref.get("signature"))
        if sig is not None:
            lines.append(f"{_row('Signature', n)}{sig}")
        lines += _verbose_tail_rows(slot, entry, n, True)
    return lines


def _render_ostree_slot(slot: Optional[str], entry: Mapping[str, Any], verbose: bool = False) -> List[str]:
    prefix = {"staged": "  Staged ostree", "booted": f"{BLACK_CIRCLE} Booted ostree",
              "rollback": "  Rollback ostree"}.get(slot or "", " Other ostree")
    n = len(prefix.encode())  # bootc uses the byte length here (the glyph is 3 bytes)
    lines = [prefix, f"{_row('Commit', n)}{entry['ostree']['checksum']}"]
    if entry.get("pinned"):
        lines.append(f"{_row('Pinned', n)}yes")
    if verbose:
        lines += _verbose_ostree_rows(slot, entry, n) + _verbose_tail_rows(slot, entry, n, False)
    return lines


def human_readable(host: Mapping[str, Any], verbose: bool = False) -> str:
    """``bootc status --format humanreadable`` (``--verbose``: bootc's extra rows, the
    image's ``Signature:`` among them)."""
    st = host["status"]
    if st.get("booted") is None:
        return "System is not deployed via bootc.\n"
    blocks: List[List[str]] = []
    for slot in ("staged", "booted", "rollback"):
        e = st.get(slot)
        if e is None:
            continue
        if e.get("image") is not None:
            blocks.append(_render_image_slot(slot, e, e["image"], verbose))
        elif e.get("ostree") is not None:
            blocks.append(_render_ostree_slot(slot, e, verbose))
        else:
            blocks.append([f"Current {slot} state is unknown"])
    for e in st.get("otherDeployments", []):
        if e.get("image") is not None:
            blocks.append(_render_image_slot(None, e, e["image"], verbose))
        elif e.get("ostree") is not None:
            blocks.append(_render_ostree_slot(None, e, verbose))
    return "\n".join("\n".join(b) + "\n" for b in blocks)


# =============================================================================== pure: sizes, layer diff


def glib_format_size(size: int) -> str:
    """``g_format_size`` (SI, a no-break space before the unit)."""
    from ..store.prune import format_size
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
