"""The SQLite connection: WAL, foreign keys, busy timeout, migrations, and serialised transactions.

One aiosqlite connection serves the whole process. Its queries run on aiosqlite's own thread, so the
event loop never waits on disk; an asyncio lock keeps one coroutine's transaction from interleaving with
another's on that shared connection.

The connection never leaves `bot/store/`: callers see the per-domain stores' methods and frozen row
dataclasses only, so another engine can stand behind the same methods.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

from bot.errors import WardenError
from bot.store.schema import LATEST_VERSION, MIGRATIONS

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000


class Record(Protocol):
    """A result row read by column name: what the row dataclasses' `from_row` needs from any engine."""

    def __getitem__(self, key: str, /) -> Any: ...


class StoreError(WardenError, RuntimeError):
    """A database problem the operator can act on; the message is one short line."""

    def for_moderator(self) -> str:
        return f"Database problem: {self.reason}"


def copy_database(source: Path, dest: Path) -> None:
    """A consistent snapshot of `source` at `dest`, safe while other connections write (blocking: run it in a
    thread).

    `VACUUM INTO` reads inside one read transaction, so under WAL writers carry on and the copy is one
    committed state, compacted. It refuses an existing file, so the copy goes to a temporary name next to
    `dest` and is renamed over it: a crash never leaves a half-written backup under the real name.
    """
    if dest.resolve() == source.resolve():
        raise StoreError(f"the backup would overwrite the database itself ({dest}): choose another path")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        conn = sqlite3.connect(
            f"{source.resolve().as_uri()}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_MS / 1000
        )
        try:
            conn.execute("VACUUM INTO ?", (str(partial),))
        finally:
            conn.close()
        os.replace(partial, dest)
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise explain(exc) from None
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise StoreError(f"cannot write the backup {dest}: {exc.strerror or exc}") from None


def explain(exc: sqlite3.Error) -> StoreError:
    """Turn sqlite's error into a line a moderator can act on."""
    text = str(exc)
    if "disk is full" in text or "database or disk is full" in text:
        return StoreError("the database disk is full: nothing was written; free some space and retry")
    if "locked" in text or "busy" in text:
        return StoreError("the database is locked by another process: nothing was written; retry shortly")
    if "readonly" in text:
        return StoreError("the database file is read-only: check its permissions")
    return StoreError(f"database error: {text}")


class Database:
    """An open database; use `await Database.open(path)` and `await db.close()`."""

    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path, *, migrate: bool = True, create: bool = True) -> Database:
        """Open (creating if needed) and bring the schema up to date.

        `create=False` for commands that read an existing database (`db export`, `db backup`): a typo in the
        path must be an error, not a new empty database that reports "0 cases".
        """
        path = Path(path)
        if str(path) != ":memory:":
            if not create and not path.is_file():
                raise StoreError(f"no database at {path.resolve()}: check --db or DATABASE_PATH")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except (
                OSError
            ) as exc:  # a parent that is a file, under /proc, not writable: one line, not a traceback
                raise StoreError(
                    f"cannot create the folder for the database {path}: {exc.strerror or exc}"
                ) from None
        try:
            conn = await aiosqlite.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the database at {path}: {exc}") from None
        conn.row_factory = aiosqlite.Row
        db = cls(conn, path)
        try:
            await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await conn.execute("PRAGMA foreign_keys = ON")
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA synchronous = NORMAL")
            if migrate:
                await db.migrate()
        except sqlite3.DatabaseError as exc:
            await conn.close()
            if "not a database" in str(exc):
                raise StoreError(f"{path} is not a commentwarden database (not SQLite)") from None
            raise explain(exc) from None
        except StoreError:
            await conn.close()
            raise
        return db

    async def schema_version(self) -> int:
        async with self.conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self) -> int:
        """Apply every migration newer than the file's version; refuse a file from a newer release."""
        version = await self.schema_version()
        if version > LATEST_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this commentwarden supports "
                f"({LATEST_VERSION}): upgrade commentwarden or use another DATABASE_PATH"
            )
        if 0 < version < LATEST_VERSION:
            backup = self.path.with_name(
                f"{self.path.stem}.v{version}-before-v{LATEST_VERSION}.{datetime.now(UTC):%Y%m%dT%H%M%SZ}{self.path.suffix}"
            )
            await self.backup(backup)
            log.warning(
                "backed up %s (schema version %d) to %s before migrating it", self.path, version, backup
            )
        for number in range(version + 1, LATEST_VERSION + 1):
            log.info("migrating %s to schema version %d", self.path, number)
            script = f"BEGIN IMMEDIATE;\n{MIGRATIONS[number - 1]}\nPRAGMA user_version = {number};\nCOMMIT;"
            try:
                await self.conn.executescript(script)
            except sqlite3.Error:
                await self._rollback_quietly()
                raise
        return LATEST_VERSION

    async def backup(self, dest: Path) -> None:
        """An online, consistent copy of this database at `dest` (see `copy_database`), off the event loop."""
        if str(self.path) == ":memory:":
            raise StoreError("an in-memory database has no file to back up")
        await asyncio.to_thread(copy_database, self.path, dest)

    async def _rollback_quietly(self) -> None:
        try:
            await self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # no transaction was open: nothing to undo

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """All-or-nothing writes: a failure rolls back, so no half-written case or mapping survives."""
        async with self._lock:
            try:
                await self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise explain(exc) from None
            try:
                yield self.conn
                await self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                await self._rollback_quietly()
                raise explain(exc) from None
            except BaseException:
                await self._rollback_quietly()
                raise

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
        async with self._lock:
            try:
                async with self.conn.execute(sql, params) as cur:
                    return list(await cur.fetchall())
            except sqlite3.Error as exc:
                raise explain(exc) from None

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Row | None:
        async with self._lock:
            try:
                async with self.conn.execute(sql, params) as cur:
                    return await cur.fetchone()
            except sqlite3.Error as exc:
                raise explain(exc) from None

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One write in its own transaction; returns the last row id."""
        async with self.transaction() as conn, conn.execute(sql, params) as cur:
            return cur.lastrowid or 0

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self.transaction() as conn:
            await conn.executemany(sql, rows)

    async def close(self) -> None:
        await self.conn.close()
