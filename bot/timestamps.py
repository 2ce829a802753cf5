"""Timestamps as the store keeps them: ISO-8601 UTC strings with millisecond precision, which sort as text.

Their own module because the store, the warnings, the mirror scheduler and the moderation cogs all write
or compare them; none of those should import the case log to get a clock.
"""

from __future__ import annotations

from datetime import UTC, datetime


def to_iso(moment: datetime) -> str:
    """`moment` (aware) as a stored timestamp, e.g. 2026-01-02T10:00:00.000Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def utcnow_iso() -> str:
    """Now, as a stored timestamp."""
    return to_iso(datetime.now(UTC))
