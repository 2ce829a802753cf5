"""The SQLite store: one `Store` bundles the connection and the per-domain query objects."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.store.cases import AUTO, Case, CaseFilter, CaseStore, NewCase
from bot.store.commands import CommandSyncStore
from bot.store.database import Database, StoreError
from bot.store.guilds import GuildSettings, GuildStore, Level
from bot.store.mirror import CLI_GUILD, MirrorStore, SourceRow, StoredComment
from bot.store.scores import MessageScore, ScoreStore

__all__ = [
    "AUTO",
    "CLI_GUILD",
    "Case",
    "CaseFilter",
    "CaseStore",
    "CommandSyncStore",
    "Database",
    "GuildSettings",
    "GuildStore",
    "Level",
    "MessageScore",
    "MirrorStore",
    "NewCase",
    "ScoreStore",
    "SourceRow",
    "Store",
    "StoreError",
    "StoredComment",
]


@dataclass
class Store:
    db: Database
    cases: CaseStore
    guilds: GuildStore
    mirror: MirrorStore
    scores: ScoreStore
    commands: CommandSyncStore

    @classmethod
    async def open(cls, path: str | Path, *, create: bool = True) -> Store:
        """`create=False`: refuse a path with no database (see `Database.open`)."""
        db = await Database.open(path, create=create)
        return cls(db, CaseStore(db), GuildStore(db), MirrorStore(db), ScoreStore(db), CommandSyncStore(db))

    async def backup(self, dest: Path) -> None:
        """An online, consistent copy of the database at `dest`; the bot may keep writing meanwhile."""
        await self.db.backup(dest)

    async def close(self) -> None:
        await self.db.close()
