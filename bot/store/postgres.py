"""The PostgreSQL connection: psycopg 3's async pool behind the same surface as the SQLite `Database`.

Chosen by `DATABASE_URL=postgresql://…` when several bot processes share one history. The query modules
write their SQL once with `?` marks; this module turns them into psycopg's `%s` and hands back rows
readable by name or position, as aiosqlite's are. Where the dialects truly differ (case numbering, locks,
triggers, index hints) the query modules carry plain SQL per dialect, keyed on `db.dialect`.

Unlike SQLite, PostgreSQL serves many writing processes at once, so nothing here serialises transactions:
each takes a pooled connection and the locks it needs (see `CaseStore`), and the server orders them.
A dropped connection is retried with backoff wherever nothing of the caller's ran yet (taking a connection,
a self-contained statement); inside a caller's transaction it ends as a one-line `StoreError`, the whole
transaction rolled back, for the caller to retry (its writes carry dedup keys or are idempotent).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import RowMaker
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from bot.backoff import backoff_delay
from bot.store.database import StoreError
from bot.store.engines import redact
from bot.store.pg_schema import PG_LATEST_VERSION, PG_MIGRATIONS

log = logging.getLogger(__name__)

POOL_MAX = 10
POOL_TIMEOUT_S = 10.0
RETRIES = 6
RETRY_BASE_S = 0.1
RETRY_MAX_S = 2.0
MIGRATION_LOCK = 0x636F6D6D  # pg_advisory_xact_lock key: one migrating process at a time

T = TypeVar("T")


@lru_cache(maxsize=512)
def to_pg(sql: str) -> str:
    """`?` marks become `%s` and literal `%` becomes `%%`, outside quoted strings and identifiers."""
    out: list[str] = []
    quote: str | None = None
    for ch in sql:
        if quote is not None:
            if ch == quote:
                quote = None
            out.append("%%" if ch == "%" else ch)
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


class Row(dict[str, Any]):
    """A result row readable by column name or by position, as aiosqlite.Row is, so one query module serves
    both engines; `dict(row)` gives the columns."""

    __slots__ = ("_values",)

    def __init__(self, names: Sequence[str], values: Sequence[Any]) -> None:
        super().__init__(zip(names, values, strict=True))
        self._values = tuple(values)

    def __getitem__(self, key: str | int) -> Any:
        if isinstance(key, int):
            return self._values[key]
        return super().__getitem__(key)


def row_factory(cursor: psycopg.AsyncCursor[Any]) -> RowMaker[Row]:
    names = [c.name for c in cursor.description or ()]
    return lambda values: Row(names, values)


def _lost(exc: BaseException) -> bool:
    """The connection (or the server) went away: the statement can be tried again on another one."""
    if isinstance(exc, PoolClosed):
        return False  # this process closed the store: nothing to wait for
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, pg_errors.DiskFull | pg_errors.OutOfMemory | pg_errors.InsufficientResources):
        return False
    return isinstance(exc, psycopg.OperationalError | pg_errors.AdminShutdown | pg_errors.CannotConnectNow)


def explain(exc: psycopg.Error) -> StoreError:
    """The same one-line messages as SQLite's `explain`, from PostgreSQL's error classes."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, pg_errors.DiskFull):
        return StoreError("the database disk is full: nothing was written; free some space and retry")
    if isinstance(exc, pg_errors.ReadOnlySqlTransaction):
        return StoreError("the database is read-only: check the server (a standby?) and DATABASE_URL")
    if isinstance(exc, pg_errors.UniqueViolation):
        return StoreError(f"database error: UNIQUE constraint failed: {exc.diag.constraint_name or first}")
    if isinstance(
        exc, pg_errors.LockNotAvailable | pg_errors.DeadlockDetected | pg_errors.SerializationFailure
    ):
        return StoreError("the database is locked by another process: nothing was written; retry shortly")
    if _lost(exc):
        return StoreError(
            f"lost the connection to the database: nothing was written; retry shortly ({first})"
        )
    return StoreError(f"database error: {first}")


class _Result:
    """What `PgConnection.execute` returns: awaitable, or `async with` for its cursor, like aiosqlite's."""

    def __init__(self, conn: psycopg.AsyncConnection[Row], sql: str, params: Sequence[Any]) -> None:
        self._conn, self._sql, self._params = conn, sql, params
        self._cursor: psycopg.AsyncCursor[Row] | None = None

    async def _run(self) -> psycopg.AsyncCursor[Row]:
        self._cursor = self._conn.cursor()
        await self._cursor.execute(to_pg(self._sql), tuple(self._params))
        return self._cursor

    def __await__(self) -> Generator[Any, None, psycopg.AsyncCursor[Row]]:
        return self._run().__await__()

    async def __aenter__(self) -> psycopg.AsyncCursor[Row]:
        return await self._run()

    async def __aexit__(self, *exc: object) -> None:
        if self._cursor is not None:
            await self._cursor.close()


class PgConnection:
    """One pooled connection inside a transaction, offering the aiosqlite calls the query modules use."""

    dialect = "postgresql"

    def __init__(self, conn: psycopg.AsyncConnection[Row]) -> None:
        self.raw = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Result:
        return _Result(self.raw, sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self.raw.cursor() as cur:
            await cur.executemany(to_pg(sql), [tuple(r) for r in rows])


class PostgresDatabase:
    """An open PostgreSQL database; `await PostgresDatabase.open(url)` and `await db.close()`."""

    dialect = "postgresql"

    def __init__(self, pool: AsyncConnectionPool[psycopg.AsyncConnection[Row]], url: str) -> None:
        self.pool = pool
        self.url = url
        self.path = redact(url)  # what messages name, as the SQLite store names its file

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True, max_size: int = POOL_MAX) -> PostgresDatabase:
        """Connect (waiting for the first connection) and bring the schema up to date."""
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Row]] = AsyncConnectionPool(
            url,
            open=False,
            min_size=1,
            max_size=max_size,
            timeout=POOL_TIMEOUT_S,
            kwargs={"autocommit": True, "row_factory": row_factory},
            check=AsyncConnectionPool.check_connection,
            name="commentwarden",
        )
        try:
            await pool.open(wait=True, timeout=POOL_TIMEOUT_S)
        except (psycopg.Error, PoolTimeout) as exc:
            await pool.close()
            raise StoreError(
                f"cannot connect to the database at {redact(url)}: check DATABASE_URL and that "
                f"the server is up ({str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r})"
            ) from None
        db = cls(pool, url)
        if migrate:
            try:
                await db.migrate()
            except BaseException:
                await pool.close()
                raise
        return db

    async def _retrying(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run `attempt`, trying again with jittered backoff while the connection keeps being lost."""
        for failures in range(RETRIES + 1):
            try:
                return await attempt()
            except psycopg.Error as exc:
                if not _lost(exc) or failures == RETRIES:
                    raise explain(exc) from None
                delay = backoff_delay(RETRY_BASE_S, failures + 1, RETRY_MAX_S)
                log.warning("database connection lost (%s); retrying in %.1fs", type(exc).__name__, delay)
                await asyncio.sleep(delay)
        raise StoreError("lost the connection to the database: nothing was written; retry shortly")

    async def schema_version(self) -> int:
        async def read() -> int:
            async with self.pool.connection() as conn:
                return await _version(conn)

        return await self._retrying(read)

    async def migrate(self) -> int:
        """Apply every migration newer than the database's version; refuse a database from a newer release.

        One transaction under an advisory lock, so processes starting together migrate once, in order.
        """

        async def run() -> int:
            async with self.pool.connection() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                version = await _version(conn)
                if version > PG_LATEST_VERSION:
                    raise StoreError(
                        f"{self.path} has schema version {version}, newer than this commentwarden supports "
                        f"({PG_LATEST_VERSION}): upgrade commentwarden or use another DATABASE_URL"
                    )
                await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
                for number in range(version + 1, PG_LATEST_VERSION + 1):
                    log.info("migrating %s to schema version %d", self.path, number)
                    await conn.execute(PG_MIGRATIONS[number - 1])
                if version < PG_LATEST_VERSION:
                    await conn.execute("DELETE FROM schema_version")
                    await conn.execute(
                        "INSERT INTO schema_version (version) VALUES (%s)", (PG_LATEST_VERSION,)
                    )
            return PG_LATEST_VERSION

        return await self._retrying(run)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Row]]:
        """A pooled connection; taking one is retried while the server is unreachable."""
        conn = await self._retrying(self.pool.getconn)
        try:
            yield conn
        finally:
            await self.pool.putconn(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgConnection]:
        """All-or-nothing writes: a failure rolls back, so no half-written case or mapping survives."""
        async with self._connection() as conn:
            try:
                async with conn.transaction():
                    yield PgConnection(conn)
            except psycopg.Error as exc:
                raise explain(exc) from None

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async def run() -> list[Row]:
            async with self.pool.connection() as conn, conn.cursor() as cur:
                await cur.execute(to_pg(sql), tuple(params))
                return await cur.fetchall()

        return await self._retrying(run)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        async def run() -> Row | None:
            async with self.pool.connection() as conn, conn.cursor() as cur:
                await cur.execute(to_pg(sql), tuple(params))
                return await cur.fetchone()

        return await self._retrying(run)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One write in its own transaction; returns the number of rows it touched."""

        async def run() -> int:
            async with self.pool.connection() as conn, conn.cursor() as cur:
                await cur.execute(to_pg(sql), tuple(params))
                return cur.rowcount

        return await self._retrying(run)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = [tuple(r) for r in rows]

        async def run() -> None:
            async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                await cur.executemany(to_pg(sql), batch)

        await self._retrying(run)

    async def close(self) -> None:
        await self.pool.close()


async def _version(conn: psycopg.AsyncConnection[Row]) -> int:
    cur = await conn.execute("SELECT to_regclass('schema_version') IS NOT NULL")
    exists = await cur.fetchone()
    if not exists or not exists[0]:
        return 0
    cur = await conn.execute("SELECT MAX(version) FROM schema_version")
    row = await cur.fetchone()
    return int(row[0]) if row and row[0] is not None else 0
