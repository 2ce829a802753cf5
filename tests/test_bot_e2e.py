"""End to end: the real discord.py client logs in to the fake Discord, syncs, and answers /toxicity."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from bot.config import Settings
from bot.factory import create_bot


@pytest.fixture
def settings(tmp_path, detoxify_checkpoint) -> Settings:
    return replace(Settings(), database_path=tmp_path / "cw.db", **detoxify_checkpoint.settings_kwargs())


async def test_bot_logs_in_syncs_and_answers_toxicity(
    fake_discord, discord_world, bot_runner, settings, detoxify_checkpoint
):
    w = discord_world
    async with bot_runner(create_bot(settings, guild_ready_timeout=0.05)) as bot:
        assert bot.user is not None and bot.user.id == fake_discord.bot_user.id
        assert fake_discord.gateway.identifies >= 1
        synced = {c["name"] for c in fake_discord.commands()}
        assert {"toxicity", "mirror", "flags", "case", "modlog", "thresholds"} <= synced

        toxic = await fake_discord.invoke_slash(
            "toxicity",
            {"text": f"you {detoxify_checkpoint.toxic_word} @everyone"},
            user=w.moderator,
            channel=w.general,
        )
        assert toxic.ephemeral
        assert "Top: toxicity" in toxic.content or "Top: insult" in toxic.content
        assert "threat" in toxic.content  # every label is listed, not just the top one

        calm = await fake_discord.invoke_slash(
            "toxicity", {"text": "thanks for the nice article"}, user=w.moderator, channel=w.general
        )
        assert calm.ephemeral
        assert float(re.search(r"Top: \w+ (\d\.\d\d)", calm.content).group(1)) < 0.1
        assert float(re.search(r"Top: \w+ (\d\.\d\d)", toxic.content).group(1)) > 0.9


async def test_toxicity_is_refused_to_non_moderators(fake_discord, discord_world, bot_runner, settings):
    w = discord_world
    async with bot_runner(create_bot(settings, guild_ready_timeout=0.05)) as bot:
        with pytest.raises(PermissionError):  # hidden from members by default_member_permissions
            await fake_discord.invoke_slash("toxicity", {"text": "hello"}, user=w.member, channel=w.general)
        for synced in [
            c for cs in fake_discord.state.commands.values() for c in cs if c["name"] == "toxicity"
        ]:
            synced["default_member_permissions"] = None  # a server override shows it; the bot still refuses
        answer = await fake_discord.invoke_slash(
            "toxicity", {"text": "hello"}, user=w.member, channel=w.general
        )
        assert answer.ephemeral and "Only moderators" in answer.content
        assert bot.scorer is not None
