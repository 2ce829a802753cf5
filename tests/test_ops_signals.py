"""SIGTERM (systemctl stop, docker stop) and SIGINT (Ctrl-C) stop the real bot process gracefully.

The bot runs as a subprocess (tests/crashbot.py, which leaves signals to the product's `serve`) against the
fake Discord served here; the signal arrives inside the fake, right after a mirrored post has landed and
before the bot has heard back, in the middle of a backfill. The process must exit 0 with the post recorded
and the WAL merged into the database file, and a restart must finish the backfill with every comment once.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.health import heartbeat_path
from tests.fakediscord import FakeDiscord
from tests.fakediscord.models import Message
from tests.fixtures.botprocess import BotProcess
from tests.test_mirror_discord import assert_thread_shows, mirrored, spec, thread_file, wait_mirrored
from tests.test_reliability_crash import counter

BACKFILL = 150
STOP_WITHIN = 20.0  # the bot's own bound is SHUTDOWN_GRACE_SECONDS (10 s) for running handlers


def recorded(database: Path) -> dict[str, int | None]:
    con = sqlite3.connect(database)
    try:
        return dict(con.execute("SELECT external_id, message_id FROM comments").fetchall())
    finally:
        con.close()


def leftovers(database: Path) -> list[str]:
    return [
        p.name
        for p in (Path(f"{database}-wal"), Path(f"{database}-shm"), heartbeat_path(database))
        if p.exists()
    ]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_mid_backfill_stops_cleanly_and_a_restart_finishes_the_backfill_once(
    fake_discord: FakeDiscord, discord_world: Any, processes: Any, tmp_path: Path, signum: signal.Signals
) -> None:
    w = discord_world
    database = tmp_path / "cw.db"
    comments = [spec(n, n - 1 if n % 3 == 2 else None) for n in range(1, BACKFILL + 1)]
    path = thread_file(tmp_path, comments)
    first: BotProcess = await processes().start()
    assert heartbeat_path(database).is_file(), "a connected bot keeps a heartbeat for `commentwarden health`"

    landed = counter(lambda m: m.webhook_id is not None, 8)
    real = fake_discord.publish
    signalled = asyncio.Event()

    def publish(message: Message) -> None:
        real(message)
        if not signalled.is_set() and landed(message):
            assert first.proc is not None
            first.proc.send_signal(signum)  # the bot has not seen Discord's answer for this post yet
            signalled.set()

    fake_discord.publish = publish  # type: ignore[method-assign]
    try:
        added = await fake_discord.invoke_slash(
            "mirror add", {"url": str(path), "channel": w.forum}, user=w.moderator, channel=w.general
        )
        assert "Mirroring source #1" in (added.content or ""), added.content
        await asyncio.wait_for(signalled.wait(), 60)
        assert first.proc is not None
        code = await asyncio.wait_for(first.proc.wait(), STOP_WITHIN)
    finally:
        fake_discord.publish = real  # type: ignore[method-assign]
    assert code == 0, first.tail()
    log = first.tail()
    assert f"received {signum.name}: shutting down gracefully" in log and "shut down cleanly" in log, log
    # Closing the store merges the WAL into the database file; a stopped bot leaves no heartbeat behind.
    assert leftovers(database) == []

    thread = fake_discord.state.threads_of(w.forum.id)[0]
    shown = {cid: message.id for cid, part, _, message in mirrored(fake_discord, thread) if part == 1}
    assert 0 < len(shown) < BACKFILL, "the signal came mid-backfill"
    ids = recorded(database)
    # The post in flight when the signal came was finished and recorded: nothing shown is unknown to the store.
    assert {cid: ids.get(cid) for cid in shown} == shown

    second = await processes().start()
    try:
        await wait_mirrored(fake_discord, BACKFILL, w.forum, within=60)
        await asyncio.sleep(0.3)  # anything posted twice would land now
    finally:
        await second.stop()
    assert second.proc is not None and second.proc.returncode == 0, second.tail()
    assert_thread_shows(fake_discord, thread, comments)  # every comment exactly once, in order
    assert not [
        m.id for m in fake_discord.state.message_index.values() if m.webhook_id is not None and m.deleted
    ]
