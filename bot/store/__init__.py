"""The store: one `Store` bundles the connection and the per-domain query objects.

SQLite (a file path) is the embedded default; a `postgresql://` URL opens PostgreSQL instead, for several
bot processes sharing one history (see `postgres.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.store.cases import AUTO, Case, CaseFilter, CaseStore, NewCase
from bot.store.database import Database, StoreError
from bot.store.engines import is_postgres_url, missing_driver
from bot.store.guilds import GuildSettings, GuildStore, Level
from bot.store.mirror import CLI_GUILD, MirrorStore, SourceRow, StoredComment
from bot.store.scores import MessageScore, ScoreStore

if TYPE_CHECKING:
    from bot.store.postgres import PostgresDatabase

__all__ = [
    "AUTO", "CLI_GUILD", "Case", "CaseFilter", "CaseStore", "Database", "GuildSettings", "GuildStore", "Level",
    "MessageScore", "MirrorStore", "NewCase", "ScoreStore", "SourceRow", "Store", "StoreError", "StoredComment",
]


@dataclass
class Store:
    db: Database | PostgresDatabase
    cases: CaseStore
    guilds: GuildStore
    mirror: MirrorStore
    scores: ScoreStore

    @classmethod
    async def open(cls, target: str | Path) -> Store:
        """`target` is a SQLite file path or a `postgresql://` URL."""
        db: Database | PostgresDatabase
        if is_postgres_url(target):
            try:
                from bot.store.postgres import PostgresDatabase  # psycopg is the optional `postgres` extra
            except ImportError:
                raise StoreError(missing_driver()) from None

            db = await PostgresDatabase.open(str(target))
        else:
            db = await Database.open(target)
        return cls(db, CaseStore(db), GuildStore(db), MirrorStore(db), ScoreStore(db))

    async def close(self) -> None:
        await self.db.close()
