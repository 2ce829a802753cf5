"""Which thresholds a score crosses, at the flag and the act level.

Kept apart from Discord and storage so the CLI scan, mirrored comments and member messages all judge
a score by the same rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.store.guilds import Level


@dataclass(frozen=True)
class Crossing:
    label: str
    score: float
    threshold: float

    def describe(self) -> str:
        return f"{self.label} {self.score:.2f} ≥ {self.threshold:.2f}"


@dataclass(frozen=True)
class Verdict:
    flagged: tuple[Crossing, ...]
    acted: tuple[Crossing, ...]

    @property
    def flag(self) -> bool:
        return bool(self.flagged)

    @property
    def act(self) -> bool:
        return bool(self.acted)

    @property
    def strongest(self) -> Crossing | None:
        """The crossing furthest above its threshold explains the flag best."""
        crossings = self.acted or self.flagged
        return max(crossings, key=lambda c: c.score - c.threshold) if crossings else None

    def reason(self) -> str:
        return ", ".join(c.describe() for c in (self.acted or self.flagged))


def evaluate(scores: Mapping[str, float], levels: Mapping[str, Level]) -> Verdict:
    """Compare each label the model produced with its levels; labels without a level are ignored."""
    flagged, acted = [], []
    for label, score in scores.items():
        level = levels.get(label)
        if level is None:
            continue
        if score >= level.flag:
            flagged.append(Crossing(label, score, level.flag))
        if level.act is not None and score >= level.act:
            acted.append(Crossing(label, score, level.act))
    return Verdict(tuple(flagged), tuple(acted))


def default_levels(thresholds: Mapping[str, float]) -> dict[str, Level]:
    """The process-wide flag levels, with automatic action off."""
    return {label: Level(flag) for label, flag in thresholds.items()}
