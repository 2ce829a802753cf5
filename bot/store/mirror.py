"""Sources, articles and comments: the map between a site's comment ids and Discord message ids.

The mirror engine writes a comment's Discord message id in the same transaction that records the post's
success, so after a crash the map says exactly which comments are already in Discord.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.store.database import Record, StoreError
from bot.store.engines import Engine
from bot.timestamps import to_iso, utcnow_iso

if TYPE_CHECKING:
    from bot.sources.base import Article, Comment

CLI_GUILD = 0  # sources scanned from the command line belong to no guild


@dataclass(frozen=True)
class SourceRow:
    id: int
    guild_id: int
    channel_id: int
    kind: str
    url: str
    paused: bool
    status: str
    last_error: str | None
    failures: int
    etag: str | None
    last_modified: str | None
    last_polled_at: str | None
    next_poll_at: str | None

    @classmethod
    def from_row(cls, row: Record) -> SourceRow:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__} | {"paused": bool(row["paused"])})

    @property
    def validators(self) -> dict[str, str]:
        return {k: v for k, v in (("etag", self.etag), ("last_modified", self.last_modified)) if v}


@dataclass(frozen=True)
class StoredComment:
    id: int
    article_id: int
    external_id: str
    parent_external_id: str | None
    author: str
    content_hash: str
    scored_hash: str | None
    scores: dict[str, float] | None
    top_label: str | None
    top_score: float | None
    message_id: int | None
    message_ids: list[int]
    status: str
    evidence: str | None = None
    coverage: float = 1.0

    @classmethod
    def from_row(cls, row: Record) -> StoredComment:
        data: dict[str, Any] = {name: row[name] for name in cls.__dataclass_fields__}
        data["scores"] = json.loads(data["scores"]) if data["scores"] else None
        data["message_ids"] = json.loads(data["message_ids"])
        return cls(**data)


@dataclass(frozen=True)
class MirrorComment:
    """A stored comment: everything the mirror engine needs to re-render one no longer in the fetch, and what
    moderation reads back about a flagged comment (its text, where it is, whether it was removed)."""

    id: int
    article_id: int
    comment: Comment
    content_hash: str
    scored_hash: str | None
    mirrored_hash: str | None
    scores: dict[str, float] | None
    top_label: str | None
    top_score: float | None
    evidence: str | None
    message_ids: list[int]
    status: str
    removed_by: str | None
    held: bool = False
    coverage: float = 1.0  # how much of the text its scores cover (< 1: a huge text only partly scored)  # pre-moderation withheld it: its message shows a notice, not the text

    @property
    def message_id(self) -> int | None:
        return self.message_ids[0] if self.message_ids else None

    @classmethod
    def from_row(cls, row: Record) -> MirrorComment:
        from bot.sources.base import Comment  # at run time only: the store must import without the sources

        posted = row["posted_at"]
        comment = Comment(
            external_id=row["external_id"],
            parent_id=row["parent_external_id"],
            author=row["author"],
            posted_at=datetime.fromisoformat(posted) if posted else None,
            text=row["text"],
            url=row["url"],
            avatar_url=row["avatar_url"],
        )
        return cls(
            id=row["id"],
            article_id=row["article_id"],
            comment=comment,
            content_hash=row["content_hash"],
            scored_hash=row["scored_hash"],
            mirrored_hash=row["mirrored_hash"],
            scores=json.loads(row["scores"]) if row["scores"] else None,
            top_label=row["top_label"],
            top_score=row["top_score"],
            evidence=row["evidence"],
            message_ids=json.loads(row["message_ids"]),
            status=row["status"],
            removed_by=row["removed_by"],
            held=bool(row["held"]),
            coverage=row["coverage"],
        )


@dataclass(frozen=True)
class ArticleRow:
    """A stored article and, once mirrored, its Discord thread and the card that opens it."""

    id: int
    source_id: int
    external_id: str
    title: str
    url: str | None
    author: str | None
    published_at: str | None
    excerpt: str
    thread_id: int | None
    card_message_id: int | None

    @classmethod
    def from_row(cls, row: Record) -> ArticleRow:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class UnjudgedComment:
    """A comment version shown in Discord that moderation never judged, with where it is shown."""

    guild_id: int
    source_id: int
    channel_id: int  # the source's text or forum channel
    thread_id: int
    article: Article
    row: MirrorComment

    @classmethod
    def from_row(cls, row: Record) -> UnjudgedComment:
        from bot.sources.base import Article  # at run time only, as in MirrorComment

        published = row["article_published_at"]
        article = Article(
            external_id=row["article_external_id"],
            title=row["article_title"],
            url=row["article_url"],
            author=row["article_author"],
            published_at=datetime.fromisoformat(published) if published else None,
            excerpt=row["article_excerpt"],
        )
        return cls(
            guild_id=row["guild_id"],
            source_id=row["source_id"],
            channel_id=row["channel_id"],
            thread_id=row["thread_id"],
            article=article,
            row=MirrorComment.from_row(row),
        )


_UNJUDGED_JOINS = {
    "sqlite": "FROM comments c INDEXED BY comments_unjudged CROSS JOIN articles a ON a.id = c.article_id "
    "CROSS JOIN sources s ON s.id = a.source_id",
    "postgresql": "FROM comments c JOIN articles a ON a.id = c.article_id JOIN sources s ON s.id = a.source_id",
}


def _iso(moment: Any) -> str | None:
    return to_iso(moment) if moment is not None else None


class MirrorStore:
    def __init__(self, db: Engine) -> None:
        self.db = db

    # Sources

    async def add_source(
        self, guild_id: int, channel_id: int, kind: str, url: str, created_by: int | None = None
    ) -> SourceRow:
        """Idempotent per (guild, url): adding the same URL again returns the existing source."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO sources (guild_id, channel_id, kind, url, created_by) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (guild_id, url) DO NOTHING",
                (guild_id, channel_id, kind, url, created_by),
            )
            async with tx.execute(
                "SELECT * FROM sources WHERE guild_id = ? AND url = ?", (guild_id, url)
            ) as cur:
                row = await cur.fetchone()
        if row is None:
            raise StoreError(f"the source {url} was not kept: nothing was added")
        return SourceRow.from_row(row)

    async def source(self, source_id: int) -> SourceRow | None:
        row = await self.db.fetchone("SELECT * FROM sources WHERE id = ?", (source_id,))
        return SourceRow.from_row(row) if row else None

    async def sources(self, guild_id: int | None = None) -> list[SourceRow]:
        if guild_id is None:
            rows = await self.db.fetchall(
                "SELECT * FROM sources WHERE guild_id != ? ORDER BY id", (CLI_GUILD,)
            )
        else:
            rows = await self.db.fetchall("SELECT * FROM sources WHERE guild_id = ? ORDER BY id", (guild_id,))
        return [SourceRow.from_row(r) for r in rows]

    async def remove_source(self, guild_id: int, source_id: int) -> bool:
        async with (
            self.db.transaction() as tx,
            tx.execute("DELETE FROM sources WHERE guild_id = ? AND id = ?", (guild_id, source_id)) as cur,
        ):
            return cur.rowcount == 1

    async def set_paused(self, guild_id: int, source_id: int, paused: bool) -> bool:
        async with (
            self.db.transaction() as tx,
            tx.execute(
                "UPDATE sources SET paused = ? WHERE guild_id = ? AND id = ?",
                (int(paused), guild_id, source_id),
            ) as cur,
        ):
            return cur.rowcount == 1

    async def record_poll(
        self,
        source_id: int,
        *,
        ok: bool,
        error: str | None = None,
        validators: dict[str, str] | None = None,
        next_poll_at: str | None = None,
    ) -> None:
        """Remember how the last poll went, so `/mirror list` can say why a source is failing."""
        if ok:
            v = validators or {}
            await self.db.execute(
                "UPDATE sources SET status = 'ok', last_error = NULL, failures = 0, last_polled_at = ?, "
                "next_poll_at = ?, etag = COALESCE(?, etag), last_modified = COALESCE(?, last_modified) WHERE id = ?",
                (utcnow_iso(), next_poll_at, v.get("etag"), v.get("last_modified"), source_id),
            )
        else:
            await self.db.execute(
                "UPDATE sources SET status = 'failing', last_error = ?, failures = failures + 1, last_polled_at = ?, "
                "next_poll_at = ? WHERE id = ?",
                (error, utcnow_iso(), next_poll_at, source_id),
            )

    # Articles

    async def upsert_article(self, source_id: int, article: Article) -> int:
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO articles (source_id, external_id, title, url, author, published_at, excerpt) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source_id, external_id) DO UPDATE SET "
                "title = excluded.title, url = excluded.url, author = excluded.author, "
                "published_at = excluded.published_at, excerpt = excluded.excerpt",
                (
                    source_id,
                    article.external_id,
                    article.title,
                    article.url,
                    article.author,
                    _iso(article.published_at),
                    article.excerpt,
                ),
            )
            async with tx.execute(
                "SELECT id FROM articles WHERE source_id = ? AND external_id = ?",
                (source_id, article.external_id),
            ) as cur:
                row = await cur.fetchone()
        if row is None:
            raise StoreError(f"the article {article.external_id} was not kept: nothing was stored")
        return int(row[0])

    async def article(self, article_id: int) -> ArticleRow | None:
        row = await self.db.fetchone("SELECT * FROM articles WHERE id = ?", (article_id,))
        return ArticleRow.from_row(row) if row else None

    async def set_article_thread(self, article_id: int, thread_id: int, card_message_id: int | None) -> None:
        await self.db.execute(
            "UPDATE articles SET thread_id = ?, card_message_id = ? WHERE id = ?",
            (thread_id, card_message_id, article_id),
        )

    # Comments

    async def comments(self, article_id: int) -> dict[str, StoredComment]:
        rows = await self.db.fetchall("SELECT * FROM comments WHERE article_id = ?", (article_id,))
        return {r["external_id"]: StoredComment.from_row(r) for r in rows}

    async def save_scored(self, article_id: int, scored: Iterable[tuple[Comment, Any]]) -> None:
        """Store comments with their scores (a TextScore), keeping any Discord mapping already recorded."""
        rows = [
            (
                article_id,
                c.external_id,
                c.parent_id,
                c.author,
                c.avatar_url,
                c.url,
                _iso(c.posted_at),
                c.text,
                c.content_hash,
                json.dumps(s.scores, sort_keys=True),
                s.top_label,
                s.top_score,
                s.evidence,
                s.coverage,
                c.content_hash,
                utcnow_iso(),
            )
            for c, s in scored
        ]
        async with self.db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO comments (article_id, external_id, parent_external_id, author, avatar_url, url, "
                "posted_at, text, content_hash, scores, top_label, top_score, evidence, coverage, scored_hash, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (article_id, external_id) DO UPDATE SET "
                "parent_external_id = excluded.parent_external_id, author = excluded.author, "
                "avatar_url = excluded.avatar_url, url = excluded.url, posted_at = excluded.posted_at, "
                "text = excluded.text, content_hash = excluded.content_hash, scores = excluded.scores, "
                "top_label = excluded.top_label, top_score = excluded.top_score, evidence = excluded.evidence, "
                "coverage = excluded.coverage, "
                "scored_hash = excluded.scored_hash, updated_at = excluded.updated_at",
                rows,
            )

    async def record_mirrored(
        self, article_id: int, external_ids: Sequence[str], message_ids: list[int], *, held: bool = False
    ) -> None:
        """Write the Discord side of the map: these comments (several when packed) are shown by these messages.

        One transaction for all of them, so a packed message is recorded for every comment in it or for none.
        `held`: the messages show a "held for review" notice in the comment's place, not its text.
        """
        # The version just published is the one whose text was saved before publishing it.
        now, first, ids = utcnow_iso(), message_ids[0] if message_ids else None, json.dumps(message_ids)
        await self.db.executemany(
            "UPDATE comments SET message_id = ?, message_ids = ?, mirrored_at = ?, status = 'live', "
            "mirrored_hash = content_hash, removed_by = NULL, held = ? WHERE article_id = ? AND external_id = ?",
            [(first, ids, now, int(held), article_id, external_id) for external_id in external_ids],
        )

    # The mirror engine's view (schema v2)

    async def mirror_comments(
        self, article_id: int, external_ids: Sequence[str] | None = None
    ) -> dict[str, MirrorComment]:
        """Stored comments of an article (all, or those named), in the order first seen (= posting order)."""
        if external_ids is None:
            rows = await self.db.fetchall(
                "SELECT * FROM comments WHERE article_id = ? ORDER BY id", (article_id,)
            )
        else:
            marks = ", ".join("?" * len(external_ids))
            rows = await self.db.fetchall(
                f"SELECT * FROM comments WHERE article_id = ? AND external_id IN ({marks}) ORDER BY id",  # noqa: S608
                (article_id, *external_ids),
            )
        return {r["external_id"]: MirrorComment.from_row(r) for r in rows}

    async def has_unpublished(self, source_id: int) -> bool:
        """True when a comment is stored but not (fully) in Discord: the next poll must not trust a 304."""
        row = await self.db.fetchone(
            "SELECT 1 FROM comments c JOIN articles a ON a.id = c.article_id WHERE a.source_id = ? AND "
            "c.removed_by IS NULL AND (c.message_id IS NULL OR c.mirrored_hash IS DISTINCT FROM c.content_hash) LIMIT 1",
            (source_id,),
        )
        return row is not None

    async def record_removed(
        self, article_id: int, external_id: str, message_ids: list[int], by: str
    ) -> None:
        """A comment left Discord (or was marked there); `message_ids` is what is still showing it."""
        await self.db.execute(
            "UPDATE comments SET status = 'removed', removed_by = ?, message_id = ?, message_ids = ?, "
            "updated_at = ? WHERE article_id = ? AND external_id = ?",
            (
                by,
                message_ids[0] if message_ids else None,
                json.dumps(message_ids),
                utcnow_iso(),
                article_id,
                external_id,
            ),
        )

    async def reset_article(self, article_id: int) -> None:
        """The article's Discord thread is gone: forget it and every message in it, to mirror afresh."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE articles SET thread_id = NULL, card_message_id = NULL WHERE id = ?", (article_id,)
            )
            await tx.execute(
                "UPDATE comments SET message_id = NULL, message_ids = '[]', mirrored_hash = NULL "
                "WHERE article_id = ?",
                (article_id,),
            )

    async def unjudged(self, guild_id: int, since: str, *, limit: int = 100) -> list[UnjudgedComment]:
        """Live comment versions mirrored since `since` into the guild's sources that moderation never judged,
        oldest first; only versions whose stored scores are those of the text Discord shows."""
        # Driven by the partial index (its conditions come first), which holds only the versions not judged
        # yet: a few rows, where the guild's sources can hold millions of comments.
        # SQLite is told the index and the join order; PostgreSQL's planner picks the partial index itself.
        joins = _UNJUDGED_JOINS[self.db.dialect]
        rows = await self.db.fetchall(
            "SELECT c.*, a.external_id AS article_external_id, a.title AS article_title, a.url AS article_url, "  # noqa: S608 (constant joins)
            "a.author AS article_author, a.published_at AS article_published_at, a.excerpt AS article_excerpt, "
            f"a.thread_id, s.id AS source_id, s.guild_id, s.channel_id {joins} "
            "WHERE c.message_id IS NOT NULL AND c.judged_hash IS DISTINCT FROM c.mirrored_hash AND c.mirrored_at >= ? "
            "AND s.guild_id = ? AND c.status = 'live' AND c.mirrored_hash = c.content_hash "
            "AND c.scored_hash = c.content_hash AND a.thread_id IS NOT NULL "
            "ORDER BY c.mirrored_at, c.id LIMIT ?",
            (since, guild_id, limit),
        )
        return [UnjudgedComment.from_row(r) for r in rows]

    async def set_judged(self, comment_id: int, content_hash: str) -> None:
        """Moderation judged this version (flagged it, or found it under every level)."""
        await self.db.execute("UPDATE comments SET judged_hash = ? WHERE id = ?", (content_hash, comment_id))

    async def comment_row(self, comment_id: int) -> MirrorComment | None:
        """One stored comment by its id (the id a comment flag names as its target)."""
        row = await self.db.fetchone("SELECT * FROM comments WHERE id = ?", (comment_id,))
        return MirrorComment.from_row(row) if row else None

    async def comment_by_message(self, message_id: int) -> MirrorComment | None:
        """The comment shown by a Discord message (its first one; served by the comments_message index)."""
        row = await self.db.fetchone("SELECT * FROM comments WHERE message_id = ?", (message_id,))
        return MirrorComment.from_row(row) if row else None

    async def source_of_comment(self, comment_id: int) -> SourceRow | None:
        row = await self.db.fetchone(
            "SELECT s.* FROM sources s JOIN articles a ON a.source_id = s.id JOIN comments c ON c.article_id = a.id "
            "WHERE c.id = ?",
            (comment_id,),
        )
        return SourceRow.from_row(row) if row else None
