"""`commentwarden db copy`: move a community's whole history from its SQLite file into PostgreSQL.

Everything moves in one PostgreSQL transaction through COPY, in foreign-key order, keeping every id and
case number; the copy is checked (rows per table, and per guild the count, first, last and sum of the
case numbers) before it commits, so a failed or mismatched copy leaves the target as empty as it was.
The SQLite file is only read. The target must be empty: merging two histories would renumber cases.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.store.database import Database, StoreError
from bot.store.postgres import PgConnection, PostgresDatabase
from bot.store.schema import LATEST_VERSION

log = logging.getLogger(__name__)

# Parents before children, so foreign keys hold at every row.
TABLES = (
    "guild_settings",
    "thresholds",
    "sources",
    "articles",
    "comments",
    "message_scores",
    "cases",
    "review_cards",
    "command_sync",
)
WITH_IDENTITY = ("sources", "articles", "comments", "message_scores", "cases")
PAGE = 5000
# Per guild: how many cases, and which numbers (first, last, sum: dense numbering gives sum = n(n+1)/2).
CASE_NUMBERS = (
    "SELECT guild_id, COUNT(*), MIN(case_number), MAX(case_number), SUM(case_number) FROM cases "
    "GROUP BY guild_id ORDER BY guild_id"
)


@dataclass(frozen=True)
class CopyReport:
    rows: dict[str, int]  # table -> rows copied
    guilds: int  # guilds with cases
    cases_by_guild: dict[int, tuple[int, int, int, int]]  # guild -> (count, first, last, sum of numbers)


async def copy_sqlite_to_postgres(
    sqlite_path: Path,
    url: str,
    progress: Callable[[str, int], None] | None = None,
) -> CopyReport:
    """Copy the file at `sqlite_path` into the (empty) PostgreSQL database at `url`."""
    if not await asyncio.to_thread(sqlite_path.is_file):
        raise StoreError(f"{sqlite_path} does not exist: nothing to copy (check DATABASE_PATH or --db)")
    source = await Database.open(sqlite_path, migrate=False)
    try:
        version = await source.schema_version()
        if version != LATEST_VERSION:
            raise StoreError(
                f"{sqlite_path} has schema version {version}, this commentwarden copies version "
                f"{LATEST_VERSION}: run `commentwarden db migrate` on it first"
            )
        target = await PostgresDatabase.open(url)
        try:
            return await _copy(source, target, progress)
        finally:
            await target.close()
    finally:
        await source.close()


async def _copy(
    source: Database, target: PostgresDatabase, progress: Callable[[str, int], None] | None
) -> CopyReport:
    rows: dict[str, int] = {}
    async with target.transaction() as tx:
        for table in TABLES:
            if (await _count(tx, table)) != 0:
                raise StoreError(f"the target database already holds {table}: copy into an empty database")
        for table in TABLES:
            rows[table] = await _copy_table(source, tx, table)
            if progress is not None:
                progress(table, rows[table])
        for table in WITH_IDENTITY:
            # The next id PostgreSQL hands out follows the copied ones (the table names are constants).
            await tx.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) "  # noqa: S608
                f"FROM {table}"
            )
        await tx.execute(
            "INSERT INTO case_counters (guild_id, last) SELECT guild_id, MAX(case_number) FROM cases GROUP BY guild_id"
        )
        cases = await _verify(source, tx, rows)
    return CopyReport(rows=rows, guilds=len(cases), cases_by_guild=cases)


async def _columns(source: Database, table: str) -> list[str]:
    rows = await source.fetchall(f"SELECT name FROM pragma_table_info('{table}') ORDER BY cid")  # noqa: S608
    return [r[0] for r in rows]


async def _copy_table(source: Database, tx: PgConnection, table: str) -> int:
    columns = await _columns(source, table)
    names = ", ".join(columns)
    copied, last = 0, 0
    async with tx.raw.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # noqa: S608
        while True:
            page = await source.fetchall(
                f"SELECT rowid, {names} FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT ?",  # noqa: S608
                (last, PAGE),
            )
            if not page:
                break
            for row in page:
                await copy.write_row(tuple(row)[1:])
            copied += len(page)
            last = page[-1][0]
    return copied


async def _count(tx: PgConnection, table: str) -> int:
    async with tx.execute(f"SELECT COUNT(*) FROM {table}") as cur:  # noqa: S608 (table names are constants)
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def _verify(
    source: Database, tx: PgConnection, copied: dict[str, int]
) -> dict[int, tuple[int, int, int, int]]:
    """Refuse to commit unless every table and every guild's case numbers match the file."""
    for table in TABLES:
        row = await source.fetchone(f"SELECT COUNT(*) FROM {table}")  # noqa: S608
        expected = int(row[0]) if row else 0
        landed = await _count(tx, table)
        if not expected == copied[table] == landed:
            raise StoreError(
                f"copy check failed: {table} has {expected} rows in SQLite but {landed} in PostgreSQL; "
                "nothing was committed"
            )
    want = {int(r[0]): _numbers(r) for r in await source.fetchall(CASE_NUMBERS)}
    async with tx.execute(CASE_NUMBERS) as cur:
        got = {int(r[0]): _numbers(r) for r in await cur.fetchall()}
    if want != got:
        bad = sorted(g for g in want.keys() | got.keys() if want.get(g) != got.get(g))
        raise StoreError(f"copy check failed: case numbers differ for guild {bad[0]}; nothing was committed")
    return want


def _numbers(row: Any) -> tuple[int, int, int, int]:
    return int(row[1]), int(row[2]), int(row[3]), int(row[4])
