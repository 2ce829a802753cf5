"""SQLite misbehaving under the running bot: another process holding the write lock (briefly: the busy
timeout rides it out; too long: one clear line), a full disk (simulated with `PRAGMA max_page_count` on the
bot's own connection) during a command, a flag and a mirror poll, with no partial rows left behind; a database
from an older schema version migrated with its data, one from a newer release refused with one line."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main as cli_main
from bot.config import Settings
from bot.store import CaseFilter, MessageScore, NewCase, StoreError
from bot.store.schema import LATEST_VERSION, MIGRATIONS
from tests.fakediscord import FakeDiscord
from tests.test_hostile_input import settled
from tests.test_mirror_discord import make_bot, spec, thread_file, wait_mirrored
from tests.test_mirror_wordpress import wait_for
from tests.test_moderation_bot import wait_card

FILLER_GUILD = 1  # rows that use up the disk's last room belong to no real guild
LOCKER = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.execute("COMMIT")
"""


@pytest.fixture
def settings(tmp_path: Path, detoxify_checkpoint: Any) -> Settings:
    return Settings(
        database_path=tmp_path / "cw.db",
        allow_private_urls=True,
        poll_interval=3600,
        **detoxify_checkpoint.settings_kwargs(),
    )


async def hold_write_lock(path: Path, seconds: float) -> asyncio.subprocess.Process:
    """Another process takes the database's write lock for `seconds`; returns once it holds it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LOCKER, str(path), str(seconds), stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    assert (await asyncio.wait_for(proc.stdout.readline(), 10)).strip() == b"locked"
    return proc


async def counts(bot: Any, guild_id: int) -> tuple[int, int, int]:
    """A guild's cases, message scores and review cards."""
    counted = []
    for table in ("cases", "message_scores", "review_cards"):
        row = await bot.store.db.fetchone(f"SELECT COUNT(*) FROM {table} WHERE guild_id = ?", (guild_id,))  # noqa: S608
        counted.append(row[0])
    return counted[0], counted[1], counted[2]


async def fill_the_disk(bot: Any) -> None:
    """The file may not grow any more, and the free room inside its pages is used up (by rows of another
    guild), so the next write that needs space fails as on a full disk."""
    conn = bot.store.db.conn
    pages = (await (await conn.execute("PRAGMA page_count")).fetchone())[0]
    await conn.execute(f"PRAGMA max_page_count = {pages}")
    filler = [
        lambda: bot.store.cases.add(
            NewCase(
                guild_id=FILLER_GUILD,
                action="flag",
                target_kind="member",
                target_id="1" * 18,
                reason="filler",
            )
        ),
        lambda: bot.store.scores.add_many([MessageScore(FILLER_GUILD, 1, 1, 1, {}, None, 0.0)]),
    ]
    for write in filler:
        for _ in range(100_000):
            try:
                await write()
            except StoreError as exc:
                assert "disk is full" in str(exc)
                break


async def free_the_disk(bot: Any) -> None:
    await bot.store.db.conn.execute("PRAGMA max_page_count = 1073741823")


async def test_another_process_holding_the_lock(
    fake_discord: FakeDiscord,
    discord_world: Any,
    bot_runner: Any,
    settings: Settings,
    detoxify_checkpoint: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = discord_world
    monkeypatch.setattr("bot.store.database.BUSY_TIMEOUT_MS", 1500)
    async with bot_runner(make_bot(settings)) as bot:
        await bot.store.guilds.update(w.guild.id, review_channel_id=w.review.id)
        # A short lock (a backup, `sqlite3` in a shell): the busy timeout waits it out and nothing is lost.
        locker = await hold_write_lock(settings.database_path, 0.5)
        await fake_discord.send_message(w.general, w.member, f"hello {detoxify_checkpoint.toxic_word}")
        warned = await fake_discord.invoke_slash(
            "warn", {"member": w.member, "reason": "during a lock"}, user=w.moderator, channel=w.general
        )
        assert "active points: 1" in warned.content, warned.content
        await wait_card(fake_discord, w)
        assert await locker.wait() == 0
        assert await counts(bot, w.guild.id) == (2, 1, 1)  # the flag and the warning, the score, the card

        # A lock held past the busy timeout: one line saying so, nothing half-written, and it works afterwards.
        locker = await hold_write_lock(settings.database_path, 3.0)
        refused = await fake_discord.invoke_slash(
            "warn",
            {"member": w.member, "reason": "still locked"},
            user=w.moderator,
            channel=w.general,
            within=10,
        )
        text = refused.content or refused.followups[-1].content
        assert (
            text.startswith("Database problem:") and "locked by another process" in text and "\n" not in text
        )
        assert await counts(bot, w.guild.id) == (2, 1, 1)
        assert await locker.wait() == 0
        again = await fake_discord.invoke_slash(
            "warn", {"member": w.member, "reason": "after"}, user=w.moderator, channel=w.general
        )
        assert "active points: 2" in again.content


async def test_disk_full_gives_one_clear_line_and_leaves_no_partial_rows(
    fake_discord: FakeDiscord,
    discord_world: Any,
    bot_runner: Any,
    settings: Settings,
    tmp_path: Path,
    detoxify_checkpoint: Any,
) -> None:
    w = discord_world
    path = thread_file(tmp_path, [spec(n) for n in range(1, 4)])
    async with bot_runner(make_bot(settings)) as bot:
        await bot.store.guilds.update(w.guild.id, review_channel_id=w.review.id)
        added = await fake_discord.invoke_slash(
            "mirror add", {"url": str(path), "channel": w.forum}, user=w.moderator, channel=w.general
        )
        assert "Mirroring source #1" in added.content
        await wait_mirrored(fake_discord, 3, w.forum)
        await wait_for(lambda: settled(bot, w.guild.id))
        before = await counts(bot, w.guild.id)
        bot.get_cog("Watcher").batcher.window = 0.5  # the burst below lands in one batch
        await fill_the_disk(bot)
        try:
            # A command: one line, nothing logged.
            refused = await fake_discord.invoke_slash(
                "warn", {"member": w.member, "reason": "while full"}, user=w.moderator, channel=w.general
            )
            text = refused.content or refused.followups[-1].content
            assert text.startswith("Database problem: the database disk is full") and "\n" not in text, text
            # A burst of flags: their scores and cases are written together or not at all, and no card says
            # otherwise.
            for i in range(8):
                await fake_discord.send_message(
                    w.general, w.member, f"hello {detoxify_checkpoint.toxic_word} {i}"
                )
            await bot.get_cog("Watcher").batcher.drain()
            assert await counts(bot, w.guild.id) == before
            assert not [m for m in fake_discord.messages(w.review) if m.embeds]
            # A mirror poll that must store an edited comment: the sync fails with the reason.
            path.write_text(
                path.read_text().replace('"comment 3"', '"comment 3, edited ' + "z " * 5000 + '"')
            )
            sync = await fake_discord.invoke_slash(
                "mirror sync", {"source": 1}, user=w.moderator, channel=w.general
            )
            assert "disk is full" in sync.followups[-1].content, sync.followups[-1].content
            listing = await fake_discord.invoke_slash("mirror list", user=w.moderator, channel=w.general)
            assert "disk is full" in listing.content or "✅ ok" in listing.content, listing.content
            assert (await bot.store.db.fetchone("PRAGMA integrity_check"))[0] == "ok"
        finally:
            await free_the_disk(bot)
        synced = await fake_discord.invoke_slash(
            "mirror sync", {"source": 1}, user=w.moderator, channel=w.general
        )
        assert "1 edited" in synced.followups[-1].content, synced.followups[-1].content
        row = await bot.store.mirror.source(1)
        assert row.status == "ok"
        warned = await fake_discord.invoke_slash(
            "warn", {"member": w.member, "reason": "space again"}, user=w.moderator, channel=w.general
        )
        assert "active points: 1" in warned.content
        assert await bot.store.cases.count(w.guild.id, CaseFilter(action="warn")) == 1


def make_v1_database(path: Path, guild_id: int, channel_id: int, thread_file_path: Path) -> None:
    """A database as the first release left it: schema 1, one source with a mirrored comment."""
    con = sqlite3.connect(path)
    con.executescript(MIGRATIONS[0] + "\nPRAGMA user_version = 1;")
    con.execute(
        "INSERT INTO sources (id, guild_id, channel_id, kind, url, status) VALUES (1, ?, ?, 'file', ?, 'ok')",
        (guild_id, channel_id, str(thread_file_path)),
    )
    con.execute("INSERT INTO articles (id, source_id, external_id, title) VALUES (1, 1, 'a1', 'Old article')")
    con.execute(
        "INSERT INTO comments (article_id, external_id, author, text, content_hash, message_id, message_ids) "
        "VALUES (1, 'c1', 'Old Reader', 'old text', 'hash-c1', 42, '[42]')"
    )
    con.commit()
    con.close()


async def test_older_database_is_migrated_with_its_data(
    fake_discord: FakeDiscord, discord_world: Any, bot_runner: Any, settings: Settings, tmp_path: Path
) -> None:
    w = discord_world
    assert LATEST_VERSION > 1  # there is a migration to run
    make_v1_database(settings.database_path, w.guild.id, w.forum.id, tmp_path / "thread.json")
    async with bot_runner(make_bot(settings)) as bot:
        assert await bot.store.db.schema_version() == LATEST_VERSION
        listing = await fake_discord.invoke_slash("mirror list", user=w.moderator, channel=w.general)
        assert "**#1** file" in listing.content and "thread.json" in listing.content
        row = await bot.store.db.fetchone("SELECT author, text, mirrored_hash, removed_by FROM comments")
        assert tuple(row) == (
            "Old Reader",
            "old text",
            "hash-c1",
            None,
        )  # migration 2 filled in what it knows


@pytest.mark.usefixtures("cli_logging")
def test_newer_database_is_refused_with_one_line_by_every_command(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    detoxify_checkpoint: Any,
) -> None:
    path = tmp_path / "future.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE from_the_future (x)")
    con.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    con.commit()
    con.close()
    for key, value in detoxify_checkpoint.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DATABASE_PATH", str(path))
    for argv in (["db", "migrate"], ["scan"], ["db", "export", "--guild", "1"]):
        assert cli_main(["--env-file", os.devnull, *argv]) == 2, argv  # an --env-file must exist
        err = capsys.readouterr().err.strip()
        assert err.startswith("commentwarden: ") and "newer than this commentwarden supports" in err, (
            argv,
            err,
        )
        assert "\n" not in err and "Traceback" not in err
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION + 1  # left untouched
    assert [r[0] for r in con.execute("SELECT name FROM sqlite_master")] == ["from_the_future"]
    con.close()


async def test_scheduled_polls_back_off_while_the_disk_is_full(
    fake_discord: FakeDiscord,
    discord_world: Any,
    bot_runner: Any,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Polls that fail on a full disk are retried later each time, not in a tight loop, even when the failure
    itself cannot be written down."""
    w = discord_world
    path = thread_file(tmp_path, [spec(1)])
    quick = Settings(**{**settings.__dict__, "poll_interval": 0.3})
    async with bot_runner(make_bot(quick)) as bot:
        added = await fake_discord.invoke_slash(
            "mirror add", {"url": str(path), "channel": w.forum}, user=w.moderator, channel=w.general
        )
        assert "Mirroring source #1" in added.content
        await wait_mirrored(fake_discord, 1, w.forum)
        engine = bot.get_cog("Mirror").engine
        syncs = 0
        real_sync = engine.sync

        async def counted(row: Any) -> Any:
            nonlocal syncs
            syncs += 1
            return await real_sync(row)

        monkeypatch.setattr(engine, "sync", counted)
        path.write_text(path.read_text().replace('"comment 1"', '"comment 1 ' + "z " * 5000 + '"'))
        await fill_the_disk(bot)
        try:
            syncs = 0
            await asyncio.sleep(1.5)
            assert 1 <= syncs <= 5, syncs  # backed off: 0.15-0.3 s, then 0.3-0.6 s, then 0.6-1.2 s…
            row = await bot.store.mirror.source(1)
            assert row.status == "failing" and "disk is full" in row.last_error

            # Worse: not even the failure can be recorded. Still no tight loop, and no task error escapes.
            async def full(*args: Any, **kwargs: Any) -> None:
                raise StoreError("the database disk is full: nothing was written; free some space and retry")

            real_record = bot.store.mirror.record_poll
            monkeypatch.setattr(bot.store.mirror, "record_poll", full)
            syncs = 0
            await asyncio.sleep(1.5)
            assert syncs <= 5, syncs  # without the hold-off: every 50 ms
            monkeypatch.setattr(bot.store.mirror, "record_poll", real_record)
        finally:
            await free_the_disk(bot)
        await wait_for(lambda: _ok(bot), within=10)


async def _ok(bot: Any) -> bool:
    row = await bot.store.mirror.source(1)
    return row is not None and row.status == "ok"
