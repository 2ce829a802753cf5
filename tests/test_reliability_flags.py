"""No flag lost between a post and its case: the real bot against the fake Discord, with the database refusing
writes at the worst moments.

- A mirrored comment reaches Discord, then its flag cannot be written (every retry refused): the mirror will
  never announce that version again, so the recovery pass after the next READY, or the timed sweep in the
  same process, judges it from the store and flags it, once; a comment flagged already is not flagged again.
- A batch of member messages meets a database locked past the busy timeout, or a card whose recording fails:
  the batch is tried again with backoff and each message ends with one case and one card.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.scoring import TextScore
from bot.sources.base import Article, Comment
from bot.store import CaseFilter, Store, StoreError
from bot.store.mirror import MirrorStore
from bot.store.schema import MIGRATIONS
from tests.fakediscord import FakeDiscord
from tests.fakediscord.models import Message
from tests.test_mirror_discord import make_bot, spec, thread_file, wait_mirrored
from tests.test_mirror_wordpress import wait_for
from tests.test_moderation_bot import case_of, field
from tests.test_reliability_sqlite import hold_write_lock

FLAGS = CaseFilter(action="flag")
REFUSED = "the database is locked by another process: nothing was written; retry shortly"


@pytest.fixture
def settings(tmp_path: Path, detoxify_checkpoint: Any) -> Settings:
    return Settings(
        database_path=tmp_path / "cw.db",
        allow_private_urls=True,
        poll_interval=3600,
        **detoxify_checkpoint.settings_kwargs(),
    )


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cog_module("watch"), "RETRY_BASE", 0.02)


def cards(fake: FakeDiscord, world: Any) -> list[Message]:
    return [m for m in fake.messages(world.review) if m.embeds]


async def wait_cards(fake: FakeDiscord, world: Any, count: int, within: float = 10.0) -> list[Message]:
    await fake.wait_until(lambda: len(cards(fake, world)) >= count, within)
    await asyncio.sleep(0.3)  # a duplicate would land now
    return cards(fake, world)


def cog_module(name: str) -> Any:
    """A module of the moderation extension as the next bot will use it.

    Unloading the `cogs.moderation` extension (a bot closing) drops it and its submodules from sys.modules,
    while the `cogs` package keeps its stale attribute: a dotted-path patch would reach the old module. The
    module is looked up in (or re-imported into) sys.modules instead, which the next bot's import finds.
    """
    return importlib.import_module(f"cogs.moderation.{name}")


def service_class() -> Any:
    return cog_module("_service").ModerationService


async def add_source(fake: FakeDiscord, world: Any, path: Path) -> None:
    added = await fake.invoke_slash(
        "mirror add", {"url": str(path), "channel": world.forum}, user=world.moderator, channel=world.general
    )
    assert "Mirroring source #1" in added.content, added.content


async def comment_flags(bot: Any, guild_id: int) -> dict[str, int]:
    """External comment id -> how many flag cases it has."""
    found: dict[str, int] = {}
    for case in await bot.store.cases.query(guild_id, FLAGS, limit=100):
        assert case.target_kind == "comment", case
        row = await bot.store.mirror.comment_row(int(case.target_id))
        found[row.comment.external_id] = found.get(row.comment.external_id, 0) + 1
    return found


async def assert_carded_once(bot: Any, fake: FakeDiscord, world: Any) -> None:
    """Every flag has exactly one card in the review channel, and that card is the one recorded."""
    shown = cards(fake, world)
    flags = await bot.store.cases.query(world.guild.id, FLAGS, limit=100)
    assert sorted(case_of(c) for c in shown) == sorted(f.case_number for f in flags)
    for flag in flags:
        row = await bot.store.cases.card(world.guild.id, flag.case_number)
        assert row is not None and row.message_id in {c.id for c in shown}, flag.case_number


def comment(n: int, text: str | None = None) -> Comment:
    return Comment(
        external_id=f"c{n}",
        parent_id=None,
        author=f"Reader {n}",
        posted_at=None,
        text=text or f"comment {n}",
        url=None,
        avatar_url=None,
    )


async def test_only_live_versions_shown_and_never_judged_are_pending(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "cw.db")
    try:
        source = await store.mirror.add_source(1, 10, "file", "thread.json")
        elsewhere = await store.mirror.add_source(2, 10, "file", "thread.json")
        article = Article("a1", "Garden news", "https://news.example/a1", None, None, "")
        ids = {}
        for src in (source, elsewhere):
            article_id = await store.mirror.upsert_article(src.id, article)
            await store.mirror.set_article_thread(article_id, 100 + src.id, None)
            comments = [comment(n) for n in range(1, 7)]
            score = TextScore({"toxicity": 0.9}, "toxicity", 0.9, "x", None)
            await store.mirror.save_scored(article_id, [(c, score) for c in comments])
            for n, c in enumerate(comments, 1):
                if n != 2:  # c2 never reached Discord
                    await store.mirror.record_mirrored(article_id, [c.external_id], [1000 * src.id + n])
            rows = await store.mirror.mirror_comments(article_id)
            ids[src.guild_id] = {key: row.id for key, row in rows.items()}
            if src is source:
                await store.mirror.set_judged(ids[1]["c3"], comments[2].content_hash)  # judged
                await store.mirror.record_removed(article_id, "c4", [1004], "site")  # removed on the site
                edited = comment(5, "comment 5, edited on the site")  # saved, its message not edited yet
                await store.mirror.save_scored(article_id, [(edited, score)])
                await store.mirror.set_judged(
                    ids[1]["c6"], "an older version"
                )  # c6 changed since it was judged
        since = "2000-01-01T00:00:00Z"
        pending = await store.mirror.unjudged(1, since)
        assert [(p.row.comment.external_id, p.guild_id, p.thread_id) for p in pending] == [
            ("c1", 1, 100 + source.id),
            ("c6", 1, 100 + source.id),
        ]
        assert (
            pending[0].article == article
            and pending[0].row.message_id == 1001
            and pending[0].channel_id == 10
        )
        assert pending[0].row.content_hash == comment(1).content_hash  # the dedup key a live event would use
        assert [p.row.id for p in await store.mirror.unjudged(1, since, limit=1)] == [ids[1]["c1"]]
        assert (
            await store.mirror.unjudged(1, datetime.now(UTC).replace(year=2100).isoformat()) == []
        )  # the window
        assert len(await store.mirror.unjudged(2, since)) == 5  # the other guild's own
    finally:
        await store.close()


def test_comments_mirrored_before_schema_3_count_as_judged(tmp_path: Path) -> None:
    path = tmp_path / "cw.db"
    con = sqlite3.connect(path)
    con.executescript(MIGRATIONS[0] + MIGRATIONS[1] + "\nPRAGMA user_version = 2;")
    con.execute(
        "INSERT INTO sources (id, guild_id, channel_id, kind, url) VALUES (1, 1, 10, 'file', 't.json')"
    )
    con.execute(
        "INSERT INTO articles (id, source_id, external_id, title, thread_id) VALUES (1, 1, 'a1', 'T', 100)"
    )
    for n, message_id in ((1, 1001), (2, None)):
        con.execute(
            "INSERT INTO comments (article_id, external_id, author, text, content_hash, scored_hash, message_id, "
            "mirrored_hash, mirrored_at) VALUES (1, ?, 'R', 'x', 'h', 'h', ?, ?, '2026-01-01T00:00:00Z')",
            (f"c{n}", message_id, "h" if message_id else None),
        )
    con.commit()
    con.close()

    async def pending() -> list[Any]:
        store = await Store.open(path)
        try:
            return await store.mirror.unjudged(1, "2000-01-01T00:00:00Z")
        finally:
            await store.close()

    assert (
        asyncio.run(pending()) == []
    )  # judged by the release that mirrored it: not flagged again on upgrade


async def test_a_comment_whose_flag_was_refused_is_flagged_once_after_a_restart(
    fake_discord: FakeDiscord,
    discord_world: Any,
    bot_runner: Any,
    settings: Settings,
    tmp_path: Path,
    detoxify_checkpoint: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = discord_world
    toxic = detoxify_checkpoint.toxic_word
    refused_text, judged_text = f"you are a {toxic}", f"what a {toxic} take"
    path = thread_file(tmp_path, [spec(1), spec(2, text=refused_text), spec(3, text=judged_text)])
    outage = True  # the first process's database refuses the writes below, every time it is asked
    refusals = {"flag": 0, "judged": 0}
    service_cls = service_class()
    real_flag, real_set_judged = service_cls.flag, MirrorStore.set_judged

    async def flag(self: Any, target: Any, *args: Any, **kwargs: Any) -> Any:
        if outage and target.text == refused_text:  # c2: no case is written at all
            refusals["flag"] += 1
            raise StoreError(REFUSED)
        return await real_flag(self, target, *args, **kwargs)

    async def set_judged(self: MirrorStore, comment_id: int, content_hash: str) -> None:
        row = await self.comment_row(comment_id)
        if (
            outage and row.comment.external_id == "c3"
        ):  # c3: flagged and carded, but the version never marked judged
            refusals["judged"] += 1
            raise StoreError(REFUSED)
        await real_set_judged(self, comment_id, content_hash)

    monkeypatch.setattr(service_cls, "flag", flag)
    monkeypatch.setattr(MirrorStore, "set_judged", set_judged)

    async with bot_runner(make_bot(settings)) as bot:
        await bot.store.guilds.update(w.guild.id, review_channel_id=w.review.id)
        await add_source(fake_discord, w, path)
        await wait_mirrored(fake_discord, 3, w.forum)
        await fake_discord.wait_until(
            lambda: refusals["flag"] == refusals["judged"] == 4
        )  # every retry refused
        assert await comment_flags(bot, w.guild.id) == {"c3": 1}
        assert len(await wait_cards(fake_discord, w, 1)) == 1
    outage = False

    async with bot_runner(make_bot(settings)) as bot:  # READY: the recovery pass
        shown = await wait_cards(fake_discord, w, 2)
        assert await comment_flags(bot, w.guild.id) == {"c2": 1, "c3": 1}  # c1 is clean; nobody flagged twice
        assert len(shown) == 2
        await assert_carded_once(bot, fake_discord, w)
        late = next(c for c in shown if refused_text in c.embeds[0]["description"])
        flag = await bot.store.cases.get(w.guild.id, case_of(late))
        assert flag.dedup_key.startswith(f"flag:{w.guild.id}:comment:{flag.target_id}:")
        assert fake_discord.state.message_index[flag.message_id].webhook_id is not None  # links to the mirror
        assert "Gardening" in field(late, "Where")
        unjudged = await bot.store.mirror.unjudged(w.guild.id, "2000-01-01T00:00:00Z")
        assert unjudged == []  # every version is judged now, the clean one too
    assert refusals["flag"] == refusals["judged"] == 4  # the second process was never refused


async def test_the_timed_sweep_flags_a_refused_comment_without_a_restart(
    fake_discord: FakeDiscord,
    discord_world: Any,
    bot_runner: Any,
    settings: Settings,
    tmp_path: Path,
    detoxify_checkpoint: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = discord_world
    monkeypatch.setattr(cog_module("recovery"), "SWEEP_EVERY", 0.2)
    path = thread_file(tmp_path, [spec(1), spec(2, text=f"you are a {detoxify_checkpoint.toxic_word}")])
    refusals = 0
    service_cls = service_class()
    real_flag = service_cls.flag

    async def flag(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal refusals
        if refusals < 4:  # the live event and all its retries
            refusals += 1
            raise StoreError(REFUSED)
        return await real_flag(self, *args, **kwargs)

    monkeypatch.setattr(service_cls, "flag", flag)
    async with bot_runner(make_bot(settings)) as bot:
        await bot.store.guilds.update(w.guild.id, review_channel_id=w.review.id)
        await add_source(fake_discord, w, path)
        await wait_mirrored(fake_discord, 2, w.forum)
        shown = await wait_cards(fake_discord, w, 1)
        await asyncio.sleep(0.5)  # more sweeps: none flags it again
        assert refusals == 4
        assert len(cards(fake_discord, w)) == len(shown) == 1
        assert await comment_flags(bot, w.guild.id) == {"c2": 1}
        await assert_carded_once(bot, fake_discord, w)


async def test_a_batch_meeting_a_locked_database_is_retried_in_order_with_one_case_and_card_each(
    fake_discord: FakeDiscord,
    discord_world: Any,
    bot_runner: Any,
    settings: Settings,
    detoxify_checkpoint: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    w = discord_world
    monkeypatch.setattr("bot.store.database.BUSY_TIMEOUT_MS", 200)  # the lock below outlasts it several times
    monkeypatch.setattr(cog_module("watch"), "RETRY_BASE", 0.25)
    caplog.set_level(logging.WARNING, "cogs.moderation.watch")
    async with bot_runner(make_bot(settings)) as bot:
        await bot.store.guilds.update(w.guild.id, review_channel_id=w.review.id)
        locker = await hold_write_lock(settings.database_path, 1.0)
        first = await fake_discord.send_message(
            w.general, w.member, f"hello {detoxify_checkpoint.toxic_word} 1"
        )
        await asyncio.sleep(0.3)  # its batch is waiting out the lock when the next message comes
        second = await fake_discord.send_message(
            w.general, w.member, f"hello {detoxify_checkpoint.toxic_word} 2"
        )
        shown = await wait_cards(fake_discord, w, 2, within=15)
        assert await locker.wait() == 0
        assert "failed (attempt 1 of 4)" in caplog.text and "locked by another process" in caplog.text
        assert len(shown) == 2
        flags = await bot.store.cases.query(w.guild.id, FLAGS, limit=10)
        by_number = sorted(flags, key=lambda c: c.case_number)
        assert [c.message_id for c in by_number] == [first.id, second.id]  # logged in the order written
        scored = await bot.store.db.fetchall("SELECT message_id FROM message_scores")
        assert sorted(r["message_id"] for r in scored) == sorted([first.id, second.id])  # each once
        await assert_carded_once(bot, fake_discord, w)


async def test_a_card_whose_recording_is_refused_is_recorded_on_retry_not_posted_twice(
    fake_discord: FakeDiscord,
    discord_world: Any,
    bot_runner: Any,
    settings: Settings,
    detoxify_checkpoint: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        await bot.store.guilds.update(w.guild.id, review_channel_id=w.review.id)
        real_set_card = bot.store.cases.set_card
        refusals = 0

        async def set_card(*args: Any, **kwargs: Any) -> None:
            nonlocal refusals
            if refusals == 0:  # the card is in Discord, the database will not say so
                refusals += 1
                raise StoreError(REFUSED)
            await real_set_card(*args, **kwargs)

        monkeypatch.setattr(bot.store.cases, "set_card", set_card)
        sent = await fake_discord.send_message(w.general, w.member, f"hello {detoxify_checkpoint.toxic_word}")
        shown = await wait_cards(fake_discord, w, 1)
        assert refusals == 1
        assert len(shown) == 1 and str(sent.id) in field(shown[0], "Link")
        flags = await bot.store.cases.query(w.guild.id, FLAGS, limit=10)
        assert [f.message_id for f in flags] == [sent.id]
        row = await wait_for(lambda: bot.store.cases.card(w.guild.id, flags[0].case_number))
        assert row.message_id == shown[0].id  # the card that was sent is the one recorded
