"""Date strings as ``ostree commit --timestamp`` accepts them (a useful subset of gnulib's parse_datetime)."""

from __future__ import annotations

import datetime as _dt
import re

from .errors import OstreeError

_ISO = re.compile(
    r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
    r"\s*(Z|UTC|[+-]\d{2}:?\d{2}|[+-]\d{2})?\s*$",
    re.IGNORECASE,
)


def parse_datetime(value: str) -> int:
    """Seconds since the epoch for ``@EPOCH`` or an ISO-8601-like date (UTC unless a zone is given)."""
    v = value.strip()
    if v.startswith("@"):
        try:
            return int(v[1:])
        except ValueError:
            raise OstreeError(f"Could not parse '{value}'") from None
    m = _ISO.match(v)
    if not m:
        raise OstreeError(f"Could not parse '{value}'")
    y, mo, d, h, mi, s, tz = m.groups()
    tzinfo = _dt.timezone.utc
    if tz and tz.upper() not in ("Z", "UTC"):
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        hours = int(digits[:2])
        mins = int(digits[2:4] or 0)
        tzinfo = _dt.timezone(sign * _dt.timedelta(hours=hours, minutes=mins))
    try:
        when = _dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), tzinfo=tzinfo)
    except ValueError as e:
        raise OstreeError(f"Could not parse '{value}': {e}") from None
    return int(when.timestamp())
