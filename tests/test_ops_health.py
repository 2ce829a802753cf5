"""`commentwarden health` (the container's HEALTHCHECK): healthy only while the bot is connected to Discord,
as its heartbeat file says."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.config import Settings
from bot.health import STALE_AFTER_SECONDS, heartbeat_path, problem
from tests.fakediscord import FakeDiscord
from tests.test_mirror_discord import make_bot

pytestmark = pytest.mark.usefixtures("cli_logging")


@pytest.fixture
def settings(tmp_path: Path, detoxify_checkpoint: Any) -> Settings:
    return Settings(database_path=tmp_path / "cw.db", **detoxify_checkpoint.settings_kwargs())  # type: ignore[arg-type]


async def health(database: Path) -> int:
    """The CLI, in a thread with its own event loop, as a separate HEALTHCHECK process would run it."""
    return await asyncio.to_thread(main, ["--env-file", os.devnull, "--db", str(database), "health"])


async def test_healthy_while_connected_and_not_after_stopping(
    fake_discord: FakeDiscord, bot_runner: Any, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    beat = heartbeat_path(settings.database_path)
    assert await health(settings.database_path) == 1  # not started yet
    async with bot_runner(make_bot(settings), within=60):
        await fake_discord.wait_until(beat.is_file, within=10)
        capsys.readouterr()
        assert await health(settings.database_path) == 0
        assert capsys.readouterr().out.strip() == "healthy"
    assert await health(settings.database_path) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"commentwarden: unhealthy: no heartbeat at {beat}: the bot is not running or has not "
        "connected to Discord yet"
    ]


def test_a_stale_heartbeat_is_unhealthy(tmp_path: Path) -> None:
    beat = tmp_path / "cw.db.heartbeat"
    beat.write_text("1\n")
    now = time.time()
    assert problem(beat, now=now) is None
    stale = problem(beat, now=now + STALE_AFTER_SECONDS + 5)
    assert stale is not None and "not connected to Discord or is stuck" in stale
