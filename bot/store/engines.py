"""Which engine a database setting names, without importing either engine's driver.

psycopg is an optional extra (`pip install .[postgres]`): a SQLite install must be able to ask whether a
target is PostgreSQL without having it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(target: str | Path) -> bool:
    return isinstance(target, str) and target.startswith(POSTGRES_SCHEMES)


def redact(url: str) -> str:
    """The URL without its password, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def missing_driver() -> str:
    """The line to show when a postgresql:// target meets an install without the `postgres` extra."""
    return (
        "DATABASE_URL names PostgreSQL, but psycopg is not installed: pip install 'commentwarden[postgres]'"
    )


class Engine(Protocol):
    """What the query modules need from a database: SQLite's `Database` and `PostgresDatabase` both offer it.

    SQL is written once with `?` marks; `dialect` ("sqlite" | "postgresql") picks the statement where the
    two differ. `transaction()` yields a connection with aiosqlite's `execute`/`executemany`.
    """

    dialect: str

    @property
    def path(self) -> Any: ...
    def transaction(self) -> AbstractAsyncContextManager[Any]: ...
    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...
    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...
    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...
    async def schema_version(self) -> int: ...
    async def close(self) -> None: ...
