"""Data safety for operators: `db backup` (online and consistent), the automatic backup before a schema
migration, commands that read a database refusing a path with none, `--version`, LOG_LEVEL for every
command and paths resolved once and logged."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from pathlib import Path

import pytest

from bot.cli import main
from bot.store import NewCase, Store
from bot.store import database as database_module
from bot.store.schema import LATEST_VERSION

pytestmark = pytest.mark.usefixtures("cli_logging")


def query(path: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def files(directory: Path, pattern: str = "*") -> list[Path]:
    return sorted(directory.glob(pattern))


def flag(i: int) -> NewCase:
    return NewCase(guild_id=7, action="flag", target_kind="member", target_id=str(i), reason=f"case {i}")


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No developer .env, no inherited settings; the working directory is the test's."""
    for key in [
        k for k in os.environ if k.startswith(("DETOXIFY_", "DATABASE_", "DISCORD_", "LOG_", "DEMO_"))
    ]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


async def test_backup_while_a_writer_writes_is_consistent_and_holds_every_committed_case(
    cli_env: Path,
) -> None:
    db = cli_env / "cw.db"
    store = await Store.open(db)
    await store.cases.add_many(flag(i) for i in range(2000))  # enough pages that a copy takes a while
    written = 2000
    stop = asyncio.Event()

    async def writer() -> None:
        nonlocal written
        while not stop.is_set():
            await store.cases.add(flag(written))
            written += 1

    task = asyncio.create_task(writer())
    try:
        results = []
        for n in range(5):
            before = written
            # The CLI in its own thread and event loop: another connection, as from another process.
            code = await asyncio.to_thread(
                main, ["--env-file", os.devnull, "--db", str(db), "db", "backup", f"b{n}.db"]
            )
            results.append((code, before, written))
    finally:
        stop.set()
        await task
        await store.close()
    assert results[-1][2] > results[0][1], "the writer kept writing while the backups ran"
    for n, (code, before, after) in enumerate(results):
        backup = cli_env / f"b{n}.db"
        assert code == 0
        assert query(backup, "PRAGMA integrity_check") == [("ok",)]
        numbers = [r[0] for r in query(backup, "SELECT case_number FROM cases WHERE guild_id = 7 ORDER BY 1")]
        # One committed state: every case committed before the backup began, no gap, nothing half-written.
        assert before <= len(numbers) <= after
        assert numbers == list(range(1, len(numbers) + 1))
    assert not files(cli_env, ".*.partial")


async def test_a_schema_migration_backs_the_database_up_first(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    db = cli_env / "cw.db"
    old = LATEST_VERSION - 1
    with monkeypatch.context() as release:  # the previous release: its schema is one migration shorter
        release.setattr(database_module, "LATEST_VERSION", old)
        store = await Store.open(db)
        await store.cases.add_many(flag(i) for i in range(3))
        await store.close()
    assert query(db, "PRAGMA user_version") == [(old,)]

    caplog.set_level(logging.INFO, logger="bot.store.database")
    store = await Store.open(db)  # this release migrates it
    await store.close()
    assert query(db, "PRAGMA user_version") == [(LATEST_VERSION,)]
    backups = files(cli_env, f"cw.v{old}-before-v{LATEST_VERSION}.*.db")
    assert len(backups) == 1
    assert query(backups[0], "PRAGMA user_version") == [(old,)]
    assert query(backups[0], "PRAGMA integrity_check") == [("ok",)]
    assert query(backups[0], "SELECT count(*) FROM cases") == [(3,)]
    assert f"backed up {db} (schema version {old}) to {backups[0]} before migrating it" in caplog.text

    store = await Store.open(db)  # up to date now: no second backup
    await store.close()
    assert len(files(cli_env, "cw.v*.db")) == 1


async def test_a_new_database_needs_no_backup(cli_env: Path) -> None:
    store = await Store.open(cli_env / "fresh.db")
    await store.close()
    assert [p.name for p in files(cli_env)] == ["fresh.db"]


@pytest.mark.parametrize("args", [["db", "export"], ["db", "backup", "copy.db"]], ids=["export", "backup"])
def test_reading_commands_refuse_a_missing_database_without_creating_one(
    cli_env: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    assert main(["--env-file", os.devnull, "--db", "typo.db", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"commentwarden: no database at {cli_env / 'typo.db'}: check --db or DATABASE_PATH"
    assert list(cli_env.iterdir()) == []


async def test_backup_refuses_to_overwrite_the_database_itself(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = await Store.open(cli_env / "cw.db")
    await store.close()
    assert (
        await asyncio.to_thread(main, ["--env-file", os.devnull, "--db", "cw.db", "db", "backup", "./cw.db"])
        == 2
    )
    assert "would overwrite the database itself" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    from importlib.metadata import version

    assert capsys.readouterr().out.strip() == f"commentwarden {version('commentwarden')}"


def test_log_level_applies_to_one_shot_commands_and_paths_are_resolved_and_logged(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (cli_env / "state").mkdir()
    store_path = cli_env / "state" / "cw.db"
    assert asyncio.run(_make(store_path)) is None
    monkeypatch.setenv("DATABASE_PATH", "state/cw.db")  # relative: resolved against the working directory
    assert main(["--env-file", os.devnull, "db", "migrate"]) == 0
    assert "INFO" not in capsys.readouterr().err  # LOG_LEVEL unset: a one-shot command stays quiet

    monkeypatch.setenv("LOG_LEVEL", "info")
    assert main(["--env-file", os.devnull, "db", "migrate"]) == 0
    captured = capsys.readouterr()
    assert f"INFO    commentwarden: paths: database_path={store_path}," in captured.err
    assert captured.out.strip() == f"{store_path}: schema version {LATEST_VERSION}"


async def _make(path: Path) -> None:
    store = await Store.open(path)
    await store.close()
