"""Durations typed by moderators ("90", "10m", "2h", "1d", "1h30m") for timeouts.

Discord caps a timeout at 28 days; a typo such as "100d" is refused with a line that says so instead of
being clipped silently.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from bot.errors import WardenError

MAX_TIMEOUT_SECONDS = 28 * 24 * 3600
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+)\s*([smhdw]?)")


class DurationError(WardenError, ValueError):
    """The message is one line a moderator can act on."""


def parse_duration(text: str) -> int:
    """Seconds in `text`; a bare number means minutes, the unit moderators think in for timeouts."""
    cleaned = text.strip().lower().replace(" ", "")
    if not cleaned or _PART.sub("", cleaned):
        raise DurationError(f"{text!r} is not a duration: use minutes (30) or units like 10m, 2h, 1d")
    total = sum(int(n) * _UNITS[unit or "m"] for n, unit in _PART.findall(cleaned))
    if total <= 0:
        raise DurationError("the duration must be longer than zero")
    if total > MAX_TIMEOUT_SECONDS:
        raise DurationError("Discord allows timeouts of at most 28 days")
    return total


def describe(seconds: int) -> str:
    """The shortest exact wording, e.g. 5400 -> "1h 30m"."""
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts) or "0s"


def parse_since(text: str, now: datetime) -> datetime:
    """A `since` filter: a date (2026-01-31) or an age (7d, 12h, 2w) counted back from now."""
    cleaned = text.strip()
    try:
        day = date.fromisoformat(cleaned)
    except ValueError:
        pass
    else:
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    match = re.fullmatch(r"(\d+)\s*([hdw])", cleaned.lower())
    if match is None:
        raise DurationError(f"{text!r} is not a date or an age: use 2026-01-31, 12h, 7d or 2w")
    return now - timedelta(seconds=int(match[1]) * _UNITS[match[2]])
