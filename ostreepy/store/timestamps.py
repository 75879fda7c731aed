"""Commit timestamps as libostree compares them to refuse downgrades.

Pure: :func:`downgrade_message` says why a new commit is refused (or None), in
libostree's words (``_ostree_compare_timestamps``); the pull and the upgrader
raise it as their own error type.
"""

from __future__ import annotations

import time

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import Optional

__all__ = ["glib_ctime", "downgrade_message"]


def glib_ctime(ts: int) -> str:
    """GLib's ``g_date_time_format (dt, "%c")`` in the C locale for a UTC
    time: ``%a %b %e %H:%M:%S %Y``, with ``%e`` padded by a FIGURE SPACE
    (U+2007) as GLib pads it, not an ASCII space."""
    t = time.gmtime(ts)
    return time.strftime("%a %b ", t) + f"{t.tm_mday:\u2007>2}" + time.strftime(" %H:%M:%S %Y", t)


def downgrade_message(current_rev: str, current_ts: int, new_rev: str, new_ts: int) -> Optional[str]:
    """None when ``new_rev`` may replace ``current_rev`` (newer, or an equal
    timestamp even for another commit, as libostree allows), else the error."""
    if new_ts >= current_ts or current_rev == new_rev:
        return None
    try:
        cur, new = glib_ctime(current_ts), glib_ctime(new_ts)
    except (OverflowError, ValueError, OSError):
        return (f"Upgrade target revision '{new_rev}' timestamp ({new_ts}) or current revision "
                f"'{current_rev}' timestamp ({current_ts}) is invalid")
    return (f"Upgrade target revision '{new_rev}' with timestamp '{new}' is chronologically older than current "
            f"revision '{current_rev}' with timestamp '{cur}'; use --allow-downgrade to permit")
