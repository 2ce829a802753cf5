"""The SQLite store: one `Store` bundles the connection and the per-domain query objects."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.store.cases import AUTO, Case, CaseFilter, CaseStore, NewCase
from bot.store.database import Database, StoreError
from bot.store.guilds import GuildSettings, GuildStore, Level
from bot.store.mirror import CLI_GUILD, MirrorStore, SourceRow, StoredComment
from bot.store.scores import MessageScore, ScoreStore

__all__ = [
    "AUTO", "CLI_GUILD", "Case", "CaseFilter", "CaseStore", "Database", "GuildSettings", "GuildStore", "Level",
    "MessageScore", "MirrorStore", "NewCase", "ScoreStore", "SourceRow", "Store", "StoreError", "StoredComment",
]


@dataclass
class Store:
    db: Database
    cases: CaseStore
    guilds: GuildStore
    mirror: MirrorStore
    scores: ScoreStore

    @classmethod
    async def open(cls, path: str | Path) -> Store:
        db = await Database.open(path)
        return cls(db, CaseStore(db), GuildStore(db), MirrorStore(db), ScoreStore(db))

    async def close(self) -> None:
        await self.db.close()
