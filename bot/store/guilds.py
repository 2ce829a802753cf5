"""Per-guild settings and thresholds.

A guild that never configured anything still gets a complete, conservative configuration: shadow mode
on, flag levels from the process defaults, automatic actions off.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bot.store.engines import Engine
from bot.timestamps import utcnow_iso

EDITABLE = (
    "review_channel_id",
    "shadow_mode",
    "mod_role_ids",
    "watched_channel_ids",
    "act_timeout_minutes",
    "warn_expiry_days",
    "warn_point_limit",
    "warn_action",
    "warn_timeout_minutes",
    "removed_comment_mode",
    "dm_members",
    "dm_template",
    "appeal",
    "premod",
    "score_moderators",
)


@dataclass(frozen=True)
class Level:
    """One label's levels: flag sends to review; act (None = off) acts automatically."""

    flag: float
    act: float | None = None


@dataclass(frozen=True)
class GuildSettings:
    guild_id: int
    review_channel_id: int | None = None
    shadow_mode: bool = True
    mod_role_ids: tuple[int, ...] = ()
    watched_channel_ids: tuple[int, ...] = ()  # empty: every channel the bot can read
    act_timeout_minutes: int = 0  # 0: an automatic action deletes but does not time out
    warn_expiry_days: int = 30
    warn_point_limit: int = 3
    warn_action: str = "timeout"
    warn_timeout_minutes: int = 60
    removed_comment_mode: str = "mark"
    dm_members: bool = True  # a member is told by DM when warned, timed out, kicked or banned
    dm_template: str | None = None  # None: the built-in wording (bot.moderation.notices.DEFAULT_TEMPLATE)
    appeal: str | None = None  # how to appeal, added to every DM
    premod: bool = False  # mirrored comments at an act level are held for review before they appear
    score_moderators: bool = False  # moderators' own messages are scored too
    thresholds: Mapping[int, Mapping[str, Level]] = field(default_factory=dict)

    def watches(self, channel_id: int) -> bool:
        return not self.watched_channel_ids or channel_id in self.watched_channel_ids


class GuildStore:
    def __init__(self, db: Engine) -> None:
        self.db = db

    async def get(self, guild_id: int) -> GuildSettings:
        row = await self.db.fetchone("SELECT * FROM guild_settings WHERE guild_id = ?", (guild_id,))
        settings = GuildSettings(guild_id=guild_id)
        if row is not None:
            settings = replace(
                settings,
                review_channel_id=row["review_channel_id"],
                shadow_mode=bool(row["shadow_mode"]),
                mod_role_ids=tuple(json.loads(row["mod_role_ids"])),
                watched_channel_ids=tuple(json.loads(row["watched_channel_ids"])),
                act_timeout_minutes=row["act_timeout_minutes"],
                warn_expiry_days=row["warn_expiry_days"],
                warn_point_limit=row["warn_point_limit"],
                warn_action=row["warn_action"],
                warn_timeout_minutes=row["warn_timeout_minutes"],
                removed_comment_mode=row["removed_comment_mode"],
                dm_members=bool(row["dm_members"]),
                dm_template=row["dm_template"],
                appeal=row["appeal"],
                premod=bool(row["premod"]),
                score_moderators=bool(row["score_moderators"]),
            )
        thresholds: dict[int, dict[str, Level]] = {}
        for t in await self.db.fetchall(
            "SELECT channel_id, label, flag, act FROM thresholds WHERE guild_id = ?", (guild_id,)
        ):
            thresholds.setdefault(t["channel_id"], {})[t["label"]] = Level(t["flag"], t["act"])
        return replace(settings, thresholds=thresholds)

    async def update(self, guild_id: int, **changes: Any) -> GuildSettings:
        """Change named settings; unknown names are a programming error, not user input."""
        unknown = set(changes) - set(EDITABLE)
        if unknown:
            raise ValueError(f"unknown guild settings: {sorted(unknown)}")
        values = {
            k: json.dumps(list(v))
            if k in ("mod_role_ids", "watched_channel_ids")
            else (int(v) if isinstance(v, bool) else v)
            for k, v in changes.items()
        }
        columns = list(values)
        assignments = ", ".join(f"{c} = excluded.{c}" for c in columns)
        async with self.db.transaction() as tx:
            await tx.execute(
                f"INSERT INTO guild_settings (guild_id, updated_at{''.join(', ' + c for c in columns)}) "  # noqa: S608
                f"VALUES (?, ?{', ?' * len(columns)}) ON CONFLICT (guild_id) DO UPDATE SET updated_at = excluded.updated_at"
                + (f", {assignments}" if assignments else ""),
                (guild_id, utcnow_iso(), *values.values()),
            )
        return await self.get(guild_id)

    async def set_threshold(
        self, guild_id: int, label: str, flag: float, act: float | None, channel_id: int = 0
    ) -> None:
        """Validated here as well as by the CHECK constraints, so the caller gets a readable message."""
        if not 0.0 <= flag <= 1.0 or (act is not None and not 0.0 <= act <= 1.0):
            raise ValueError("thresholds must be between 0 and 1")
        if act is not None and act < flag:
            raise ValueError("the act level must be at least the flag level")
        await self.db.execute(
            "INSERT INTO thresholds (guild_id, channel_id, label, flag, act) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (guild_id, channel_id, label) DO UPDATE SET flag = excluded.flag, act = excluded.act",
            (guild_id, channel_id, label, flag, act),
        )

    async def clear_threshold(self, guild_id: int, label: str, channel_id: int) -> None:
        await self.db.execute(
            "DELETE FROM thresholds WHERE guild_id = ? AND channel_id = ? AND label = ?",
            (guild_id, channel_id, label),
        )
