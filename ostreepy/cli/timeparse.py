"""Date strings as ``ostree commit --timestamp`` accepts them (a useful subset of gnulib's parse_datetime)."""

from __future__ import annotations

import datetime as _dt
import re

from ..errors import OstreeError

_ISO = re.compile(
    r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
    r"\s*(Z|UTC|[+-]\d{2}:?\d{2}|[+-]\d{2})?\s*$",
    re.IGNORECASE,
)


_MONTHS = {m: i + 1 for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])}
_WORDY = re.compile(
    r"^\s*(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s+)?"
    r"(?:(\d{1,2})\s+([a-z]{3})[a-z]*\.?|([a-z]{3})[a-z]*\.?\s+(\d{1,2}),?)\s+(\d{4})"
    r"(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*(Z|UTC|GMT|[+-]\d{2}:?\d{2})?\s*$",
    re.IGNORECASE,
)


def _wordy(value: str):
    m = _WORDY.match(value)
    if not m:
        return None
    d1, mon1, mon2, d2, y, h, mi, s, tz = m.groups()
    month = _MONTHS.get((mon1 or mon2).lower())
    if month is None:
        return None
    day = int(d1 or d2)
    return f"{int(y):04d}-{month:02d}-{day:02d} {int(h or 0):02d}:{int(mi or 0):02d}:{int(s or 0):02d}" + (
        "" if not tz else " Z" if tz.upper() in ("UTC", "GMT", "Z") else " " + tz)


_RELATIVE = re.compile(
    r"^\s*(\d+|an?)?\s*(sec|second|min|minute|hour|day|week|fortnight|month|year)s?\s+ago\s*$",
    re.IGNORECASE)
_UNIT_SECONDS = {"sec": 1, "second": 1, "min": 60, "minute": 60, "hour": 3600, "day": 86400,
                 "week": 7 * 86400, "fortnight": 14 * 86400}


def _relative(v: str) -> "int | None":
    """gnulib's ``N UNIT ago`` (``1 week ago``, as ``prune --keep-younger-than`` is given)."""
    m = _RELATIVE.match(v)
    if not m:
        return None
    n = 1 if m.group(1) in (None, "a", "an", "A", "An", "AN") else int(m.group(1))
    unit = m.group(2).lower()
    now = _dt.datetime.now().astimezone()
    if unit in _UNIT_SECONDS:
        return int(now.timestamp()) - n * _UNIT_SECONDS[unit]
    # months and years move the calendar date, keeping the time of day
    months = n * (12 if unit == "year" else 1)
    y, mo = divmod(now.year * 12 + now.month - 1 - months, 12)
    import calendar
    day = min(now.day, calendar.monthrange(y, mo + 1)[1])
    return int(now.replace(year=y, month=mo + 1, day=day).timestamp())


def parse_datetime(value: str) -> int:
    """Seconds since the epoch for ``@EPOCH``, ``N UNIT ago`` or an ISO-8601-like date (UTC unless a zone is given)."""
    v = value.strip()
    rel = _relative(v)
    if rel is not None:
        return rel
    if v.startswith("@"):
        try:
            return int(v[1:])
        except ValueError:
            raise OstreeError(f"Could not parse '{value}'") from None
    m = _ISO.match(v)
    if not m:
        iso = _wordy(v)
        m = _ISO.match(iso) if iso else None
    if not m:
        raise OstreeError(f"Could not parse '{value}'")
    y, mo, d, h, mi, s, tz = m.groups()
    # like gnulib's parse_datetime, a time without a zone is local time
    tzinfo: _dt.tzinfo | None = None if not tz else _dt.timezone.utc
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
