"""Application commands are synced only when they changed (Discord limits command creates per day), or when
an operator runs `commentwarden sync-commands`; each start says in the log which happened.

The real bot against the fake Discord, restarted on the same database.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from bot import factory
from bot.cli import main
from bot.config import Settings
from tests import changed_commands
from tests.fakediscord import FakeDiscord
from tests.test_mirror_discord import make_bot


@pytest.fixture
def settings(tmp_path: Path, detoxify_checkpoint: Any) -> Settings:
    return Settings(database_path=tmp_path / "cw.db", **detoxify_checkpoint.settings_kwargs())  # type: ignore[arg-type]


def toxicity_description(fake: FakeDiscord) -> str:
    return next(c["description"] for c in fake.state.commands[None] if c["name"] == "toxicity")


async def test_two_starts_sync_once_and_a_changed_description_syncs_again(
    fake_discord: FakeDiscord,
    discord_world: Any,
    bot_runner: Any,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    w = discord_world
    caplog.set_level(logging.INFO, logger="bot.command_sync")
    before = fake_discord.state.command_syncs
    async with bot_runner(make_bot(settings), within=60):
        pass
    assert fake_discord.state.command_syncs == before + 1
    assert "(first sync;" in caplog.text

    caplog.clear()
    async with bot_runner(make_bot(settings), within=60):
        # Not synced again, and the commands Discord holds still work.
        answer = await fake_discord.invoke_slash(
            "toxicity", {"text": "hello"}, user=w.moderator, channel=w.general
        )
        assert answer.ephemeral and "Top: toxicity" in (answer.content or "")
    assert fake_discord.state.command_syncs == before + 1
    assert "application commands unchanged since the last sync" in caplog.text

    caplog.clear()
    monkeypatch.setattr(factory, "EXTENSIONS", (*factory.EXTENSIONS, changed_commands.__name__))
    async with bot_runner(make_bot(settings), within=60):
        pass
    assert fake_discord.state.command_syncs == before + 2
    assert "(commands changed;" in caplog.text
    assert toxicity_description(fake_discord) == changed_commands.DESCRIPTION


@pytest.mark.usefixtures("cli_logging")
async def test_sync_commands_syncs_even_when_unchanged(
    fake_discord: FakeDiscord,
    bot_runner: Any,
    settings: Settings,
    detoxify_checkpoint: Any,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    async with bot_runner(make_bot(settings), within=60):
        pass
    synced = fake_discord.state.command_syncs
    for key in [k for k in os.environ if k.startswith(("DETOXIFY_", "DATABASE_", "DISCORD_", "LOG_"))]:
        monkeypatch.delenv(key)
    env = {
        "DISCORD_TOKEN": fake_discord.token,
        "DATABASE_PATH": str(settings.database_path),
        "LOG_LEVEL": "INFO",
        **detoxify_checkpoint.env(),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # The CLI runs its own event loop; the fake keeps serving on this one.
    assert await asyncio.to_thread(main, ["--env-file", os.devnull, "sync-commands"]) == 0
    assert fake_discord.state.command_syncs == synced + 1
    err = capfd.readouterr().err
    assert "(forced by sync-commands;" in err and "application commands synced" in err
    assert fake_discord.token not in err
