"""The store: one `Store` bundles the per-domain stores behind which the database lives.

Callers use the domain stores' methods (`store.cases`, `store.guilds`, `store.mirror`, `store.scores`) and
the frozen row dataclasses they return, nothing else: no connection, transaction or engine row leaves this
package. A write that must be atomic (case numbering, a warning against the points limit, a card's claim, a
batch's scores with its flags, a packed message's comments) is one method here, never SQL composed by a
caller; that is the seam a second database engine implements.

SQLite (a file path) is the embedded default; a `postgresql://` URL opens PostgreSQL instead, for several
bot processes sharing one history (see `postgres.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.store.cases import AUTO, Case, CaseFilter, CaseStore, NewCase, ReviewCard
from bot.store.commands import CommandSyncStore
from bot.store.database import Database, StoreError
from bot.store.engines import is_postgres_url, missing_driver
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

if TYPE_CHECKING:
    from bot.store.postgres import PostgresDatabase

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
    db: Database | PostgresDatabase  # the engine, for the store's own modules and the tests that inspect it
    cases: CaseStore
    guilds: GuildStore
    mirror: MirrorStore
    scores: ScoreStore
    commands: CommandSyncStore

    @classmethod
    async def open(cls, target: str | Path, *, create: bool = True, migrate: bool = True) -> Store:
        """`target` is a SQLite file path or a `postgresql://` URL. `create=False`: refuse a path with no
        database; `migrate=False`: leave its schema as it is (a backup copies the database as found). See
        `Database.open`; a PostgreSQL database always exists on its server (a missing one fails to connect)."""
        db: Database | PostgresDatabase
        if is_postgres_url(target):
            try:
                from bot.store.postgres import PostgresDatabase  # psycopg is the optional `postgres` extra
            except ImportError:
                raise StoreError(missing_driver()) from None

            db = await PostgresDatabase.open(str(target), migrate=migrate)
        else:
            db = await Database.open(target, create=create, migrate=migrate)
        return cls(db, CaseStore(db), GuildStore(db), MirrorStore(db), ScoreStore(db), CommandSyncStore(db))

    async def backup(self, dest: Path) -> None:
        """An online, consistent copy of the database at `dest`; the bot may keep writing meanwhile."""
        if not isinstance(self.db, Database):
            raise StoreError("db backup copies the SQLite file; back PostgreSQL up with pg_dump instead")
        await self.db.backup(dest)

    @property
    def location(self) -> str:
        """The file, or the URL without its password, for messages."""
        return str(self.db.path)

    async def schema_version(self) -> int:
        """The schema version of the open database (`db migrate` reports it)."""
        return await self.db.schema_version()

    async def close(self) -> None:
        await self.db.close()
