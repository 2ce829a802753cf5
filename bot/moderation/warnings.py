"""Warning points: when they expire and when a member has collected enough to be timed out.

Points decay so that one bad week does not follow a member for ever; only points still active count toward
the guild's limit, and the limit triggers once, when it is crossed, not on every warning after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.timestamps import to_iso

DEFAULT_POINTS = 1
MAX_POINTS = 10


def expiry(now: datetime, days: int) -> str | None:
    """0 days means warnings never expire."""
    return to_iso(now + timedelta(days=days)) if days > 0 else None


@dataclass(frozen=True)
class Escalation:
    before: int
    after: int
    limit: int

    @property
    def crossed(self) -> bool:
        """True only for the warning that takes the member from under the limit to at or over it."""
        return self.limit > 0 and self.before < self.limit <= self.after


def escalation(active_before: int, added: int, limit: int) -> Escalation:
    return Escalation(active_before, active_before + added, limit)
