"""The bot token and WordPress application passwords never appear in a log record, an error shown to a
moderator, or `/config` — checked on every record of every logger at DEBUG over whole bot sessions that log
in, mirror a real WordPress with write-back credentials, hit Discord and site errors, and write back with a
wrong password; and the CLI's `run` installs the redacting filter on its log output."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import bot.factory
from bot.cli import main as cli_main
from bot.config import Settings
from bot.logging_setup import REDACTED
from tests.fakediscord import FakeDiscord
from tests.test_mirror_discord import make_bot, wait_mirrored
from tests.test_moderation_bot import case_of, decide, wait_card

WRONG_PASSWORD = "wrong app pass 1234"


def secret_forms(secret: str) -> list[str]:
    return [secret, base64.b64encode(secret.encode()).decode()]


def leaked(texts: list[str], secrets: list[str]) -> list[str]:
    return [f"{secret!r} in {text[:300]!r}" for text in texts for secret in secrets if secret in text]


def record_texts(records: list[logging.LogRecord]) -> list[str]:
    texts = []
    for record in records:
        text = f"{record.name}: {record.getMessage()} {record.args!r}"
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        texts.append(text + (record.exc_text or ""))
    return texts


def discord_texts(fake: FakeDiscord) -> list[str]:
    """Everything the bot said in Discord: messages, embeds, interaction answers and follow-ups."""
    return [f"{m.content} {m.embeds} {m.author.username}" for m in fake.state.message_index.values()] + [
        str(i.callbacks) for i in fake.interactions.values()
    ]


@pytest.mark.wordpress
async def test_no_secret_in_logs_errors_or_config_over_whole_sessions(
    fake_discord: FakeDiscord,
    discord_world: Any,
    bot_runner: Any,
    wordpress_site: Any,
    tmp_path: Path,
    detoxify_checkpoint: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: ours, discord.py's, aiohttp's, asyncio's
    w, wp = discord_world, wordpress_site
    user, password = wp.credentials[wp.origin]
    secrets = [
        *secret_forms(fake_discord.token),
        *secret_forms(password),
        *secret_forms(f"{user}:{password}"),
        *secret_forms(WRONG_PASSWORD),
        *secret_forms(f"{user}:{WRONG_PASSWORD}"),
    ]
    toxic = f"hello you are a {detoxify_checkpoint.toxic_word}"
    post = await asyncio.to_thread(wp.create_post, "Secrets article")
    first, _ = await asyncio.to_thread(
        wp.create_comments, post["id"], [{"content": toxic, "author": "Rude"}, {"content": "nice article"}]
    )
    settings = Settings(
        database_path=tmp_path / "cw.db",
        allow_private_urls=True,
        poll_interval=3600,
        discord_token=fake_discord.token,
        wordpress_credentials=wp.credentials,
        **detoxify_checkpoint.settings_kwargs(),
    )
    async with bot_runner(make_bot(settings)) as bot:
        await bot.store.guilds.update(w.guild.id, review_channel_id=w.review.id)
        added = await fake_discord.invoke_slash(
            "mirror add", {"url": post["link"], "channel": w.forum}, user=w.moderator, channel=w.general
        )
        assert "(wordpress)" in added.followups[-1].content
        await wait_mirrored(fake_discord, 2, w.forum, within=30)
        card = await wait_card(fake_discord, w)
        removed = await decide(fake_discord, w, card, case_of(card), "remove", {"reason": "insult"})
        assert "held for moderation" in removed.content, removed.content
        assert await asyncio.to_thread(wp.comment_status, first) == "unapproved"
        # Discord errors: a refused card update, a 500 the client retries, a missing source.
        fake_discord.faults.fail_next("POST", "/channels/*/messages", status=500)
        await fake_discord.send_message(w.general, w.member, toxic + " again")
        await wait_card(fake_discord, w, 2)
        bad = await fake_discord.invoke_slash(
            "mirror add",
            {"url": f"{wp.url}/no-such-page/feed", "channel": w.forum},
            user=w.moderator,
            channel=w.general,
        )
        assert "Mirroring source #2" in bad.followups[-1].content
        failed = await fake_discord.invoke_slash(
            "mirror sync", {"source": 2}, user=w.moderator, channel=w.general
        )
        assert "failed" in failed.followups[-1].content
        shown = await fake_discord.invoke_slash("config show", user=w.owner, channel=w.general)
        assert "Shadow mode" in shown.content

    # A restart with a wrong application password: the write-back fails and says why, without the password.
    wrong = replace(settings, wordpress_credentials={wp.origin: (user, WRONG_PASSWORD)})
    second = (await asyncio.to_thread(wp.create_comments, post["id"], [{"content": toxic + " twice"}]))[0]
    async with bot_runner(make_bot(wrong)) as bot:
        synced = await fake_discord.invoke_slash(
            "mirror sync", {"source": 1}, user=w.moderator, channel=w.general
        )
        assert "1 new" in synced.followups[-1].content, synced.followups[-1].content
        card = await wait_card(fake_discord, w, 3)
        refused = await decide(fake_discord, w, card, case_of(card), "remove", {"reason": "insult"})
        assert "Discord only" in refused.content, refused.content
        assert await asyncio.to_thread(wp.comment_status, second) == "approved"

    levels = {r.levelno for r in caplog.records}
    assert logging.DEBUG in levels and logging.WARNING in levels  # the capture really saw everything
    assert {r.name.split(".")[0] for r in caplog.records} >= {"discord", "bot"}
    assert not leaked(record_texts(caplog.records), secrets)
    assert not leaked(discord_texts(fake_discord), secrets)


def test_cli_run_redacts_secrets_in_its_log_output(
    fake_discord_thread: tuple[FakeDiscord, Any],
    cli_logging: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    detoxify_checkpoint: Any,
) -> None:
    """`commentwarden run` with the token and a site password in its environment: whatever any library
    logs, the handler it installs writes `[redacted]` in their place."""
    fake, loop = fake_discord_thread
    password = "site app password 42"
    env = {
        "DISCORD_TOKEN": fake.token,
        "DATABASE_PATH": str(tmp_path / "cw.db"),
        "LOG_LEVEL": "DEBUG",
        "WORDPRESS_CREDENTIALS": f"https://blog.example=editor:{password}",
        **detoxify_checkpoint.env(),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    started: list[Any] = []
    real_create = bot.factory.create_bot

    def create(settings: Settings, **kwargs: Any) -> Any:
        started.append(real_create(settings, guild_ready_timeout=0.05, **kwargs))
        return started[-1]

    monkeypatch.setattr(bot.factory, "create_bot", create)
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(cli_main(["--env-file", os.devnull, "run"])))
    runner.start()
    deadline = loop.time() + 30
    while not (started and started[0].is_ready()):
        assert runner.is_alive() and loop.time() < deadline, "the bot did not get ready"
        threading.Event().wait(0.02)
    logging.getLogger("discord.http").error("echoing a request for %s with token %s", "editor", fake.token)
    logging.getLogger("aiohttp.client").warning("auth failed for editor:%s", password)
    asyncio.run_coroutine_threadsafe(started[0].close(), started[0].loop)  # `run` returns once closed
    runner.join(15)
    assert result == [0]
    err = capfd.readouterr().err
    assert "echoing a request for editor with token " + REDACTED in err
    assert "auth failed for " + REDACTED in err
    assert fake.token not in err and password not in err


@pytest.fixture
def fake_discord_thread(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The fake Discord on its own event loop in a thread, for a test whose code under test calls
    `asyncio.run` itself (the CLI)."""
    loop = asyncio.new_event_loop()
    fake = FakeDiscord()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(fake.start(), loop).result(10)
    fake.world = asyncio.run_coroutine_threadsafe(_world(fake), loop).result(10)
    fake.patch(monkeypatch)
    yield fake, loop
    asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()
    assert not fake.problems(), fake.problems()


async def _world(fake: FakeDiscord) -> Any:
    return fake.create_default_world()
