"""Scores of members' own messages, kept for /history, /stats and threshold tuning."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from bot.store.database import Database


@dataclass(frozen=True)
class MessageScore:
    guild_id: int
    channel_id: int
    message_id: int
    author_id: int
    scores: dict[str, float]
    top_label: str | None
    top_score: float
    flagged: bool = False


class ScoreStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add_many(self, items: Iterable[MessageScore]) -> None:
        """One transaction per batch: a burst of messages costs one commit, not one per message."""
        await self.db.executemany(
            "INSERT INTO message_scores (guild_id, channel_id, message_id, author_id, scores, top_label, top_score, "
            "flagged) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (s.guild_id, s.channel_id, s.message_id, s.author_id, json.dumps(s.scores, sort_keys=True),
                 s.top_label, s.top_score, int(s.flagged))
                for s in items
            ],
        )

    async def for_author(self, guild_id: int, author_id: int, *, limit: int = 10, offset: int = 0) -> list[dict]:
        rows = await self.db.fetchall(
            "SELECT * FROM message_scores WHERE guild_id = ? AND author_id = ? ORDER BY created_at DESC LIMIT ? OFFSET ?",
            (guild_id, author_id, limit, offset),
        )
        return [dict(r) | {"scores": json.loads(r["scores"])} for r in rows]
