"""Scores of members' own messages, kept for /history, /stats and threshold tuning."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.store.cases import Case, NewCase, insert_case, lock_guild
from bot.store.database import Record
from bot.store.engines import Engine


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


@dataclass(frozen=True)
class RecentScore:
    """One scored text of an author (a member's message or a mirrored comment), for /history."""

    top_label: str | None
    top_score: float
    scores: dict[str, float]
    created_at: str

    @classmethod
    def from_row(cls, row: Record) -> RecentScore:
        return cls(
            top_label=row["top_label"],
            top_score=float(row["top_score"] or 0.0),
            scores=json.loads(row["scores"]),
            created_at=row["created_at"],
        )


class ScoreStore:
    def __init__(self, db: Engine) -> None:
        self.db = db

    async def add_many(self, items: Iterable[MessageScore], flags: Sequence[NewCase] = ()) -> list[Case]:
        """Store a batch's scores and log the flag cases they raised, in one transaction.

        A burst of messages costs one commit, not one per message; and after a kill -9 a message is either
        fully logged (scores and flag) or not at all, so a refused commit can simply be tried again.
        Returns the flags' cases in the order given.
        """
        sql = (
            "INSERT INTO message_scores (guild_id, channel_id, message_id, author_id, scores, top_label, "
            "top_score, flagged) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )
        rows = [
            (
                s.guild_id,
                s.channel_id,
                s.message_id,
                s.author_id,
                json.dumps(s.scores, sort_keys=True),
                s.top_label,
                s.top_score,
                int(s.flagged),
            )
            for s in items
        ]
        async with self.db.transaction() as tx:
            for guild_id in sorted(
                {case.guild_id for case in flags}
            ):  # PostgreSQL: one lock order, no deadlock
                await lock_guild(tx, guild_id)
            await tx.executemany(sql, rows)
            return [await insert_case(tx, case) for case in flags]

    async def scored_ids(self, message_ids: Iterable[int]) -> set[int]:
        """Which of these messages already have a score (the catch-up after a restart skips them)."""
        ids = list(message_ids)
        found: set[int] = set()
        for start in range(0, len(ids), 500):  # SQLite's parameter limit
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = await self.db.fetchall(
                f"SELECT DISTINCT message_id FROM message_scores WHERE message_id IN ({marks})",  # noqa: S608
                chunk,
            )
            found.update(int(r[0]) for r in rows)
        return found

    async def newest_in_channel(self, guild_id: int, channel_id: int) -> int | None:
        """The id of the newest scored message in a channel: where a catch-up starts reading."""
        row = await self.db.fetchone(
            "SELECT MAX(message_id) FROM message_scores WHERE guild_id = ? AND channel_id = ?",
            (guild_id, channel_id),
        )
        return int(row[0]) if row and row[0] is not None else None

    async def for_author(
        self, guild_id: int, author_id: int, *, limit: int = 10, offset: int = 0
    ) -> list[RecentScore]:
        """A member's scored messages, newest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM message_scores WHERE guild_id = ? AND author_id = ? ORDER BY created_at DESC LIMIT ? OFFSET ?",
            (guild_id, author_id, limit, offset),
        )
        return [RecentScore.from_row(r) for r in rows]

    async def per_day(self, guild_id: int, since: str) -> dict[str, int]:
        """Member messages and mirrored comments scored per UTC day, for /stats."""
        rows = await self.db.fetchall(
            "SELECT day, SUM(n) AS n FROM ("
            " SELECT substr(created_at, 1, 10) AS day, COUNT(*) AS n FROM message_scores"
            " WHERE guild_id = ? AND created_at >= ? GROUP BY day"
            " UNION ALL"
            " SELECT substr(c.updated_at, 1, 10) AS day, COUNT(*) AS n FROM comments c"
            " JOIN articles a ON a.id = c.article_id JOIN sources s ON s.id = a.source_id"
            " WHERE s.guild_id = ? AND c.updated_at >= ? AND c.scores IS NOT NULL GROUP BY day"
            ") AS per_source GROUP BY day",
            (guild_id, since, guild_id, since),
        )
        return {r["day"]: int(r["n"]) for r in rows}

    async def for_comment_author(
        self, guild_id: int, author: str, *, limit: int = 10, offset: int = 0
    ) -> list[RecentScore]:
        """A mirrored author's scored comments, newest first (they have no Discord id, only a name)."""
        rows = await self.db.fetchall(
            "SELECT c.external_id, c.url, c.top_label, c.top_score, c.scores, c.updated_at AS created_at, "
            "a.title AS article FROM comments c JOIN articles a ON a.id = c.article_id "
            "JOIN sources s ON s.id = a.source_id WHERE s.guild_id = ? AND c.author = ? AND c.scores IS NOT NULL "
            "ORDER BY c.updated_at DESC LIMIT ? OFFSET ?",
            (guild_id, author, limit, offset),
        )
        return [RecentScore.from_row(r) for r in rows]
