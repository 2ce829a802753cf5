"""The store: one `Store` bundles the per-domain stores behind which the database lives.

Callers use the domain stores' methods (`store.cases`, `store.guilds`, `store.mirror`, `store.scores`) and
the frozen row dataclasses they return, nothing else: no connection, transaction or engine row leaves this
package. A write that must be atomic (case numbering, a warning against the points limit, a card's claim, a
batch's scores with its flags, a packed message's comments) is one method here, never SQL composed by a
caller; that is the seam a second database engine implements.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.store.cases import AUTO, Case, CaseFilter, CaseStore, NewCase, ReviewCard
from bot.store.commands import CommandSyncStore
from bot.store.database import Database, StoreError
from bot.store.guilds import GuildSettings, GuildStore, Level
from bot.store.mirror import (
    CLI_GUILD,
    ArticleRow,
    MirrorComment,
    MirrorStore,
    SourceRow,
    StoredComment,
    UnjudgedComment,
)
from bot.store.scores import MessageScore, RecentScore, ScoreStore

__all__ = [
    "AUTO",
    "CLI_GUILD",
    "ArticleRow",
    "Case",
    "CaseFilter",
    "CaseStore",
    "CommandSyncStore",
    "Database",
    "GuildSettings",
    "GuildStore",
    "Level",
    "MessageScore",
    "MirrorComment",
    "MirrorStore",
    "NewCase",
    "RecentScore",
    "ReviewCard",
    "ScoreStore",
    "SourceRow",
    "Store",
    "StoreError",
    "StoredComment",
    "UnjudgedComment",
]


@dataclass
class Store:
    db: Database  # the engine, for the store's own modules and the tests that inspect the file
    cases: CaseStore
    guilds: GuildStore
    mirror: MirrorStore
    scores: ScoreStore
    commands: CommandSyncStore

    @classmethod
    async def open(cls, path: str | Path, *, create: bool = True, migrate: bool = True) -> Store:
        """`create=False`: refuse a path with no database; `migrate=False`: leave its schema as it is (a backup
        copies the database as found). See `Database.open`."""
        db = await Database.open(path, create=create, migrate=migrate)
        return cls(db, CaseStore(db), GuildStore(db), MirrorStore(db), ScoreStore(db), CommandSyncStore(db))

    async def backup(self, dest: Path) -> None:
        """An online, consistent copy of the database at `dest`; the bot may keep writing meanwhile."""
        await self.db.backup(dest)

    async def schema_version(self) -> int:
        """The schema version of the open database (`db migrate` reports it)."""
        return await self.db.schema_version()

    async def close(self) -> None:
        await self.db.close()
