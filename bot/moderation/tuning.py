"""Threshold tuning from the moderators' own review decisions.

Every decided flag is a labelled example: Approve says the bot was wrong, any other decision (remove, warn,
timeout, ban) says it was right. Replaying those scores against candidate thresholds shows, per label, how
many flags each level would have raised and how many of them moderators confirmed, so a guild picks its
levels from its own evidence rather than from defaults tuned on somebody else's community.

Only flagged messages were ever reviewed, so recall here is "share of the confirmed flags this level would
still catch", not recall over every message the bot saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

CANDIDATES: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


@dataclass(frozen=True)
class Decided:
    scores: Mapping[str, float]
    confirmed: bool  # False: a moderator approved it (false positive)


@dataclass(frozen=True)
class Row:
    threshold: float
    flags: int
    confirmed: int
    total_confirmed: int

    @property
    def precision(self) -> float | None:
        return self.confirmed / self.flags if self.flags else None

    @property
    def recall(self) -> float | None:
        return self.confirmed / self.total_confirmed if self.total_confirmed else None


def table(decided: Sequence[Decided], label: str, candidates: Iterable[float] = CANDIDATES) -> list[Row]:
    total_confirmed = sum(d.confirmed for d in decided)
    rows = []
    for threshold in candidates:
        hits = [d for d in decided if d.scores.get(label, 0.0) >= threshold]
        rows.append(Row(threshold, len(hits), sum(d.confirmed for d in hits), total_confirmed))
    return rows


def _ratio(value: float | None) -> str:
    return "  -  " if value is None else f"{value:5.2f}"


def render(rows: Sequence[Row], current: float | None = None) -> str:
    """A monospace table for a code block; the row at the guild's current flag level is marked."""
    lines = ["level flags removed prec. recall"]
    for row in rows:
        mark = " ◀" if current is not None and abs(row.threshold - current) < 1e-9 else ""
        lines.append(
            f"{row.threshold:5.2f} {row.flags:5d} {row.confirmed:7d} {_ratio(row.precision)} {_ratio(row.recall)}{mark}"
        )
    return "\n".join(lines)
