"""Which thresholds a score crosses, at the flag and the act level.

Kept apart from Discord and storage so the CLI scan, mirrored comments and member messages all judge
a score by the same rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from bot.store.guilds import GuildSettings, Level


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


def levels_for_model(
    guild: GuildSettings,
    channel_ids: Iterable[int | None],
    defaults: Mapping[str, float],
    labels: Iterable[str],
) -> dict[str, Level]:
    """The levels that apply in a channel, for the labels the loaded model actually produces.

    `channel_ids` runs from the outermost channel to the innermost (a thread's parent, then the thread), so
    an override on a mirror channel also covers the article threads under it, and a thread's own wins.
    """
    levels = default_levels(defaults)
    levels.update(guild.thresholds.get(0, {}))
    for channel_id in channel_ids:
        if channel_id:
            levels.update(guild.thresholds.get(channel_id, {}))
    known = set(labels)
    return {label: level for label, level in levels.items() if label in known}


class Outcome(Enum):
    IGNORE = "ignore"
    FLAG = "flag"
    ACT = "act"


def outcome(verdict: Verdict, *, shadow: bool) -> Outcome:
    """Shadow mode may flag but never act: a new guild watches the bot's judgement before trusting it."""
    if verdict.act and not shadow:
        return Outcome.ACT
    if verdict.flag:
        return Outcome.FLAG
    return Outcome.IGNORE
