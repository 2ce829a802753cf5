"""A thread Discord made but the database never recorded (a kill -9 between the two) is adopted, not doubled.

The real bot against the loopback fake Discord: the database write of the new thread's id fails, as a
killed process would leave it; the next sync must find the thread by its card's marker and fill it,
leaving exactly one thread for the article, in a forum and in a text channel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.store import StoreError
from tests.fakediscord import FakeDiscord
from tests.test_mirror_discord import assert_thread_shows, make_bot, spec, thread_file, wait_mirrored
from tests.test_mirror_wordpress import wait_for


@pytest.fixture
def settings(tmp_path: Path, detoxify_checkpoint: Any) -> Settings:
    return Settings(
        database_path=tmp_path / "cw.db",
        allow_private_urls=True,
        poll_interval=3600,
        **detoxify_checkpoint.settings_kwargs(),
    )


@pytest.mark.parametrize("where", ["forum", "general"])
async def test_unrecorded_thread_is_adopted_not_made_twice(
    fake_discord: FakeDiscord,
    discord_world: Any,
    bot_runner: Any,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    w = discord_world
    channel = getattr(w, where)
    comments = [spec(1), spec(2, 1), spec(3)]
    path = thread_file(tmp_path, comments)
    async with bot_runner(make_bot(settings)) as bot:

        async def killed(*args: object, **kwargs: object) -> None:
            raise StoreError("the process died before the thread id was written")

        async def failing() -> bool:
            row = await bot.store.mirror.source(1)
            return row is not None and row.status == "failing"

        # Its own context: the fixtures' patches (Discord's address) must outlive this one.
        with monkeypatch.context() as patch:
            patch.setattr(bot.store.mirror, "set_article_thread", killed)
            added = await fake_discord.invoke_slash(
                "mirror add", {"url": str(path), "channel": channel}, user=w.moderator, channel=w.general
            )
            assert "Mirroring source #1" in added.content, added.content
            await wait_for(failing, within=30)
        (orphan,) = fake_discord.state.threads_of(channel.id)
        card = fake_discord.messages(orphan)[0]
        assert card.embeds[0]["footer"]["text"] == "article a1 · source 1"

        synced = await fake_discord.invoke_slash(
            "mirror sync", {"source": 1}, user=w.moderator, channel=w.general, within=30
        )
        assert "3 new" in synced.followups[-1].content, synced.followups[-1].content
        thread = await wait_mirrored(fake_discord, len(comments), channel)
        assert thread.id == orphan.id and len(fake_discord.state.threads_of(channel.id)) == 1
        assert_thread_shows(fake_discord, thread, comments)
        article = await bot.store.mirror.article(1)
        assert article is not None and article.thread_id == orphan.id
        assert article.card_message_id == card.id
