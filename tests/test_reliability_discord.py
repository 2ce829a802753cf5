"""Discord misbehaving under the real bot: 429s with Retry-After, 500/502 on sends, a refusal in the middle of
a backfill, a dropped gateway (RESUME) and an invalidated session (re-IDENTIFY). Afterwards every mirrored
comment is in its thread exactly once and in order, and every flagged comment or message has exactly one card.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.store import CaseFilter, Store
from tests.fakediscord import FakeDiscord
from tests.fakediscord.models import Message
from tests.test_mirror_discord import assert_thread_shows, make_bot, spec, thread_file, wait_mirrored
from tests.test_mirror_wordpress import wait_for

COMMENTS = 40
TOXIC_EVERY = 15


@pytest.fixture
def settings(tmp_path: Path, detoxify_checkpoint: Any) -> Settings:
    return Settings(
        database_path=tmp_path / "cw.db",
        allow_private_urls=True,
        poll_interval=3600,
        **detoxify_checkpoint.settings_kwargs(),
    )


def fast_reidentify(bot: Any) -> Any:
    """discord.py waits 5 s before IDENTIFYing again (Discord's limit); the fake has no such limit."""

    async def no_wait(shard_id: int | None, *, initial: bool = False) -> None:
        return None

    bot.before_identify_hook = no_wait
    return bot


def cards(fake: FakeDiscord, world: Any) -> list[Message]:
    return [m for m in fake.messages(world.review) if m.embeds]


def card_targets(fake: FakeDiscord, world: Any) -> list[int]:
    """The message each card links to, one entry per card."""
    links = [
        next(f["value"] for f in c.embeds[0]["fields"] if f["name"] == "Link") for c in cards(fake, world)
    ]
    return sorted(int(link.rsplit("/", 1)[-1].rstrip(")")) for link in links)


def on_landing(
    fake: FakeDiscord, nth: int, landed: Callable[[Message], bool], then: Callable[[Message], object]
) -> None:
    """Call `then(message)` once, right after the `nth` message matching `landed` is stored by the fake."""
    real = fake.publish
    seen = 0

    def publish(message: Message) -> None:
        nonlocal seen
        real(message)
        if landed(message):
            seen += 1
            if seen == nth:  # once; the wrapper stays, so hooks set later keep their place in the chain
                then(message)

    fake.publish = publish  # type: ignore[method-assign]


async def test_backfill_through_429s_5xx_and_a_refusal_posts_each_comment_once(
    fake_discord: FakeDiscord,
    discord_world: Any,
    bot_runner: Any,
    settings: Settings,
    tmp_path: Path,
    detoxify_checkpoint: Any,
) -> None:
    w = discord_world
    toxic = detoxify_checkpoint.toxic_word
    # Each too long to share a message, so every comment is one webhook post.
    comments = [
        spec(
            n,
            n - 1 if n % 4 == 2 else None,
            f"comment {n} " + "padding " * 160 + (toxic if n % TOXIC_EVERY == 0 else ""),
        )
        for n in range(1, COMMENTS + 1)
    ]
    path = thread_file(tmp_path, comments)
    faults = fake_discord.faults
    faults.fail_next("POST", "/channels/*/messages", status=500)  # the first review card

    def mirrored_post(message: Message) -> bool:
        return message.webhook_id not in (None, fake_discord.application_id)

    def mirror_hook(message: Message) -> str:
        """Only the mirror's webhook: interaction follow-ups are webhook calls too."""
        return f"/webhooks/{message.webhook_id}/*"

    # After the first post: two 429s with Retry-After; after the 5th a 502 and a 500 (discord.py retries
    # both); after the 8th a refusal, which fails the sync with its reason.
    on_landing(
        fake_discord,
        1,
        mirrored_post,
        lambda m: faults.fail_next("POST", mirror_hook(m), status=429, times=2, retry_after=0.2),
    )
    on_landing(
        fake_discord,
        5,
        mirrored_post,
        lambda m: (
            faults.fail_next("POST", mirror_hook(m), status=502),
            faults.fail_next("POST", mirror_hook(m), status=500),
        ),
    )
    on_landing(fake_discord, 8, mirrored_post, lambda m: faults.fail_next("POST", mirror_hook(m), status=403))
    async with bot_runner(make_bot(settings)) as bot:
        await bot.store.guilds.update(w.guild.id, review_channel_id=w.review.id)
        added = await fake_discord.invoke_slash(
            "mirror add", {"url": str(path), "channel": w.forum}, user=w.moderator, channel=w.general
        )
        assert "Mirroring source #1" in added.content

        async def failing() -> bool:
            row = await bot.store.mirror.source(1)
            return row is not None and row.status == "failing"

        await wait_for(failing, within=30)
        row = await bot.store.mirror.source(1)
        assert "permission" in row.last_error and row.failures == 1
        listing = await fake_discord.invoke_slash("mirror list", user=w.moderator, channel=w.general)
        assert "failing" in listing.content and "permission" in listing.content
        synced = await fake_discord.invoke_slash(
            "mirror sync", {"source": 1}, user=w.moderator, channel=w.general, within=30
        )
        assert "new" in synced.followups[-1].content, synced.followups[-1].content
        thread = await wait_mirrored(fake_discord, COMMENTS, w.forum, within=30)
        assert_thread_shows(fake_discord, thread, comments)  # each once, in order, replies linked
        toxic_ids = {c["id"] for c in comments if toxic in c["text"]}
        await fake_discord.wait_until(lambda: len(cards(fake_discord, w)) >= len(toxic_ids), within=10)
        flags = await bot.store.cases.query(w.guild.id, CaseFilter(action="flag"), limit=100)
        assert len(flags) == len(cards(fake_discord, w)) == len(toxic_ids)  # no card lost, none twice
        assert {f.target_name for f in flags} == {c["author"] for c in comments if c["id"] in toxic_ids}
    served = {status for _, _, status in faults.injected}
    assert served == {429, 500, 502, 403}, faults.injected  # every fault was really served
    assert (await _source_status(settings)) == "ok"


async def _source_status(settings: Settings) -> str:
    store = await Store.open(settings.database_path)
    try:
        row = await store.mirror.source(1)
        return row.status if row else "missing"
    finally:
        await store.close()


async def test_gateway_drop_and_invalid_session_lose_no_member_message(
    fake_discord: FakeDiscord,
    discord_world: Any,
    bot_runner: Any,
    settings: Settings,
    detoxify_checkpoint: Any,
) -> None:
    w = discord_world
    toxic = detoxify_checkpoint.toxic_word
    sent: list[Message] = []
    async with bot_runner(fast_reidentify(make_bot(settings))) as bot:
        await bot.store.guilds.update(w.guild.id, review_channel_id=w.review.id)
        sent.append(await fake_discord.send_message(w.general, w.member, f"before {toxic}"))
        await fake_discord.wait_until(lambda: len(cards(fake_discord, w)) == 1)

        # 1. The connection drops: Discord keeps the session and replays what happened meanwhile on RESUME.
        fake_discord.gateway.disconnect()
        await fake_discord.gateway.wait_disconnected()
        for i in range(3):
            sent.append(await fake_discord.send_message(w.general, w.member, f"while away {i} {toxic}"))
        await fake_discord.wait_until(lambda: fake_discord.gateway.resumes >= 1, within=10)
        await fake_discord.wait_until(lambda: len(cards(fake_discord, w)) == len(sent), within=10)
        assert fake_discord.gateway.replayed >= 3

        # 2. The session is invalidated: events sent before the new IDENTIFY are gone for good on Discord's
        # side; the bot reads the channel back after the new READY.
        identifies = fake_discord.gateway.identifies
        await fake_discord.gateway.invalidate_sessions()
        for i in range(3):
            sent.append(await fake_discord.send_message(w.general, w.member, f"lost event {i} {toxic}"))
        await fake_discord.wait_until(lambda: fake_discord.gateway.identifies > identifies, within=10)
        sent.append(await fake_discord.send_message(w.general, w.member, f"after {toxic}"))
        await fake_discord.wait_until(lambda: len(cards(fake_discord, w)) >= len(sent), within=10)
        await bot.get_cog("Watcher").batcher.drain()
        assert card_targets(fake_discord, w) == sorted(m.id for m in sent)  # one card each, none twice
        flags = await bot.store.cases.query(w.guild.id, CaseFilter(action="flag"), limit=100)
        assert sorted(f.message_id for f in flags) == sorted(m.id for m in sent)
        scored = await bot.store.db.fetchall("SELECT message_id FROM message_scores")
        assert sorted(r["message_id"] for r in scored) == sorted(m.id for m in sent)
